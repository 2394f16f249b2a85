package cam

import (
	"math"
)

// projection returns the first principal component of a feature map, the
// Eigen-CAM map (Muhammad & Yeasin 2020, "Eigen-CAM: Class Activation Map
// using Principal Components", IJCNN), as pytorch-grad-cam's
// get_2d_projection computes it: with X the map as a P x C matrix
// (positions by channels, x is channel-major: x[k*P+p]) with NaNs set to
// zero and each channel's mean over the positions subtracted, the result
// is X v1, v1 the first right singular vector of X.
//
// v1 is found as the leading eigenvector of the Gram matrix of X on its
// smaller side (X^T X, C x C, or X X^T, P x P, in which case X v1 = s1 u1),
// in float64 with the cyclic Jacobi eigenvalue algorithm (Golub & Van
// Loan, Matrix Computations, §8.5), which is deterministic and accurate
// to rounding whatever the gap between the first two eigenvalues.
//
// Sign convention: a singular vector's sign is arbitrary (the reference
// gets LAPACK's choice). We choose the sign that makes the entries of v1
// sum to a non-negative value, so that the map is high where the channels
// are, on balance, more active than their mean; when that sum is zero the
// projection's entry of largest magnitude is made positive.
func projection(x []float32, C, P int) []float32 {
	out := make([]float32, P)
	if C == 0 || P == 0 {
		return out
	}
	// Centred P x C matrix, row-major.
	a := make([]float64, P*C)
	for k := 0; k < C; k++ {
		var mean float64
		row := x[k*P : (k+1)*P]
		for _, v := range row {
			if !math.IsNaN(float64(v)) {
				mean += float64(v)
			}
		}
		mean /= float64(P)
		for p, v := range row {
			f := float64(v)
			if math.IsNaN(f) {
				f = 0
			}
			a[p*C+k] = f - mean
		}
	}
	proj := make([]float64, P)
	v1 := make([]float64, C)
	if C <= P {
		g := make([]float64, C*C) // X^T X
		for p := 0; p < P; p++ {
			r := a[p*C : (p+1)*C]
			for i, ri := range r {
				if ri == 0 {
					continue
				}
				gi := g[i*C : (i+1)*C]
				for j := i; j < C; j++ {
					gi[j] += ri * r[j]
				}
			}
		}
		symmetrize(g, C)
		copy(v1, leadingEigenvector(g, C))
		for p := 0; p < P; p++ {
			var s float64
			for k, v := range a[p*C : (p+1)*C] {
				s += v * v1[k]
			}
			proj[p] = s
		}
	} else {
		g := make([]float64, P*P) // X X^T
		for i := 0; i < P; i++ {
			ri := a[i*C : (i+1)*C]
			for j := i; j < P; j++ {
				rj := a[j*C : (j+1)*C]
				var s float64
				for k := range ri {
					s += ri[k] * rj[k]
				}
				g[i*P+j] = s
			}
		}
		symmetrize(g, P)
		u1 := leadingEigenvector(g, P)
		// v1 = X^T u1 / s1 and X v1 = X X^T u1 / s1 = s1 u1.
		var s1 float64
		for k := 0; k < C; k++ {
			var s float64
			for p := 0; p < P; p++ {
				s += a[p*C+k] * u1[p]
			}
			v1[k] = s
			s1 += s * s
		}
		s1 = math.Sqrt(s1)
		if s1 > 0 {
			for k := range v1 {
				v1[k] /= s1
			}
		}
		for p := range proj {
			proj[p] = s1 * u1[p]
		}
	}
	var sum float64
	for _, v := range v1 {
		sum += v
	}
	flip := sum < 0
	if sum == 0 {
		big := 0
		for p, v := range proj {
			if math.Abs(v) > math.Abs(proj[big]) {
				big = p
			}
		}
		flip = proj[big] < 0
	}
	for p, v := range proj {
		if flip {
			v = -v
		}
		out[p] = float32(v)
	}
	return out
}

// symmetrize copies the upper triangle of the n x n matrix g to its lower
// triangle.
func symmetrize(g []float64, n int) {
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			g[j*n+i] = g[i*n+j]
		}
	}
}

// leadingEigenvector returns a unit eigenvector of the symmetric n x n
// matrix s (row-major, destroyed) for its largest eigenvalue, by cyclic
// Jacobi rotations until the off-diagonal part is negligible.
func leadingEigenvector(s []float64, n int) []float64 {
	v := make([]float64, n*n) // eigenvectors in columns
	for i := 0; i < n; i++ {
		v[i*n+i] = 1
	}
	var norm float64
	for _, x := range s {
		norm += x * x
	}
	if norm == 0 {
		out := make([]float64, n)
		out[0] = 1
		return out
	}
	tol := 1e-30 * norm
	for sweep := 0; sweep < 100; sweep++ {
		var off float64
		for i := 0; i < n; i++ {
			for j := i + 1; j < n; j++ {
				off += s[i*n+j] * s[i*n+j]
			}
		}
		if off <= tol {
			break
		}
		for p := 0; p < n; p++ {
			for q := p + 1; q < n; q++ {
				apq := s[p*n+q]
				if apq == 0 {
					continue
				}
				app, aqq := s[p*n+p], s[q*n+q]
				// Rotation angle that zeroes s[p,q] (Golub & Van Loan,
				// Algorithm 8.5.1, sym.schur2).
				tau := (aqq - app) / (2 * apq)
				var t float64
				if tau >= 0 {
					t = 1 / (tau + math.Sqrt(1+tau*tau))
				} else {
					t = -1 / (-tau + math.Sqrt(1+tau*tau))
				}
				c := 1 / math.Sqrt(1+t*t)
				sn := t * c
				// s = J^T s J, with J the rotation in the (p, q) plane.
				for k := 0; k < n; k++ {
					skp, skq := s[k*n+p], s[k*n+q]
					s[k*n+p] = c*skp - sn*skq
					s[k*n+q] = sn*skp + c*skq
				}
				for k := 0; k < n; k++ {
					spk, sqk := s[p*n+k], s[q*n+k]
					s[p*n+k] = c*spk - sn*sqk
					s[q*n+k] = sn*spk + c*sqk
				}
				s[p*n+q], s[q*n+p] = 0, 0
				for k := 0; k < n; k++ {
					vkp, vkq := v[k*n+p], v[k*n+q]
					v[k*n+p] = c*vkp - sn*vkq
					v[k*n+q] = sn*vkp + c*vkq
				}
			}
		}
	}
	best := 0
	for i := 1; i < n; i++ {
		if s[i*n+i] > s[best*n+best] {
			best = i
		}
	}
	out := make([]float64, n)
	for k := 0; k < n; k++ {
		out[k] = v[k*n+best]
	}
	return out
}
