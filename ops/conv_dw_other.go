//go:build !amd64 || purego

package ops

// dwVector is the number of outputs that dwRow9 computes at once: the 3x3
// depthwise path rounds its rows up to it.
const dwVector = 1

// dwRow9 sets y[i] = min(max(b + Σ_t w[t]*p[t][i], lo), hi) for every i
// in y; each p[t] has at least len(y) elements.
func dwRow9(y []float32, p *[9][]float32, w *[9]float32, b, lo, hi float32) {
	dwRow9Go(y, p, w, b, lo, hi)
}
