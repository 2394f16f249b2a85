package cam

import "math"

// The formulas of the methods that need only the target layer's
// activation a and gradient g of one image, both channel-major
// (a[k*P+p], C channels, P positions). Sums are taken in float64.

// gradCAMWeights: w_k = mean_p g (Selvaraju et al. 2017, eq. 1).
func gradCAMWeights(g []float32, C, P int) []float32 {
	w := make([]float32, C)
	for k := range w {
		var s float64
		for _, v := range g[k*P : (k+1)*P] {
			s += float64(v)
		}
		w[k] = float32(s / float64(P))
	}
	return w
}

// gradCAMPlusPlusWeights (Chattopadhay et al. 2018, eq. 19 with the
// exponential score's closed form, as pytorch-grad-cam computes it):
// alpha = g² / (2 g² + sum_p(a_k) g³ + 1e-6), alpha = 0 where g = 0;
// w_k = sum_p max(g, 0) alpha.
func gradCAMPlusPlusWeights(a, g []float32, C, P int) []float32 {
	w := make([]float32, C)
	for k := range w {
		ak, gk := a[k*P:(k+1)*P], g[k*P:(k+1)*P]
		var sa float64
		for _, v := range ak {
			sa += float64(v)
		}
		var s float64
		for _, gv := range gk {
			if gv == 0 {
				continue
			}
			g1 := float64(gv)
			g2 := g1 * g1
			alpha := g2 / (2*g2 + sa*g2*g1 + 1e-6)
			s += math.Max(g1, 0) * alpha
		}
		w[k] = float32(s)
	}
	return w
}

// xGradCAMWeights: w_k = sum_p g a / (sum_p a + 1e-7) (Fu et al. 2020,
// eq. 11).
func xGradCAMWeights(a, g []float32, C, P int) []float32 {
	w := make([]float32, C)
	for k := range w {
		ak, gk := a[k*P:(k+1)*P], g[k*P:(k+1)*P]
		var sa, sga float64
		for p, v := range ak {
			sa += float64(v)
			sga += float64(v) * float64(gk[p])
		}
		w[k] = float32(sga / (sa + 1e-7))
	}
	return w
}

// scaleChannels returns w_k a_k for every channel.
func scaleChannels(a, w []float32, C, P int) []float32 {
	out := make([]float32, C*P)
	for k := 0; k < C; k++ {
		wk := w[k]
		for p, v := range a[k*P : (k+1)*P] {
			out[k*P+p] = wk * v
		}
	}
	return out
}

// elementwise returns f(a, g) at every element.
func elementwise(a, g []float32, f func(a, g float32) float32) []float32 {
	out := make([]float32, len(a))
	for i := range a {
		out[i] = f(a[i], g[i])
	}
	return out
}

// hiResProduct is HiResCAM's g * a (Draelos & Carin 2020); EigenGradCAM
// projects the same product.
func hiResProduct(a, g float32) float32 { return g * a }

// elementwiseProduct is pytorch-grad-cam's GradCAMElementWise: max(g a, 0).
func elementwiseProduct(a, g float32) float32 { return max(g*a, 0) }

// layerCAMProduct is LayerCAM's max(g, 0) * a (Jiang et al. 2021, eq. 7).
func layerCAMProduct(a, g float32) float32 { return max(g, 0) * a }

// sumChannels returns sum_k x_k, the raw map of a channel-weighted
// activation.
func sumChannels(x []float32, C, P int) []float32 {
	out := make([]float32, P)
	acc := make([]float64, P)
	for k := 0; k < C; k++ {
		for p, v := range x[k*P : (k+1)*P] {
			acc[p] += float64(v)
		}
	}
	for p, v := range acc {
		out[p] = float32(v)
	}
	return out
}

// weightedSum is sumChannels(scaleChannels(a, w, C, P), C, P) with the
// same bits, without the weighted copy of a: each product is rounded to
// float32 as scaleChannels stores it, then summed in float64.
func weightedSum(a, w []float32, C, P int) []float32 {
	acc := make([]float64, P)
	for k := 0; k < C; k++ {
		wk := w[k]
		for p, v := range a[k*P : (k+1)*P] {
			acc[p] += float64(float32(wk * v))
		}
	}
	out := make([]float32, P)
	for p, v := range acc {
		out[p] = float32(v)
	}
	return out
}

// combine reduces the weighted activation over channels: the sum, or its
// first principal component for Eigen-CAM and eigen_smooth.
func combine(x []float32, C, P int, eigen bool) []float32 {
	if eigen {
		return projection(x, C, P)
	}
	return sumChannels(x, C, P)
}

// softmax64 returns the softmax of v.
func softmax64(v []float64) []float32 {
	mx := math.Inf(-1)
	for _, x := range v {
		mx = math.Max(mx, x)
	}
	out := make([]float32, len(v))
	e := make([]float64, len(v))
	var s float64
	for i, x := range v {
		e[i] = math.Exp(x - mx)
		s += e[i]
	}
	for i := range e {
		out[i] = float32(e[i] / s)
	}
	return out
}
