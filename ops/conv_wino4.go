package ops

// F(4x4, 3x3), the larger Winograd tile (Lavin and Gray, CVPR 2016, with
// the interpolation points 0, 1, -1, 2, -2 and infinity): each output tile
// of 4x4 reads a 6x6 input patch d, and with
//
//	B^T = [4  0 -5  0 1 0; 0 -4 -4  1 1 0; 0  4 -4 -1 1 0;
//	       0 -2 -1  2 1 0; 0  2 -1 -2 1 0; 0  4  0 -5 0 1]
//	G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6;
//	       1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//	A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]
//
// V = B^T d B, U = G g G^T and Y = A^T M A as for F(2x2, 3x3), with 36
// positions: the products do 36/144 = 1/4 of the direct convolution's
// multiplications (F(2x2, 3x3): 16/36), and a tile row reads six input
// rows and writes four output rows. The transforms are written so that
// every multiplication is by a power of two (5x = 4x + x), hence exact:
// the vector kernels' fused multiply-adds then round as the Go versions'
// separate operations do, and both give the same bits. The rounding
// error is larger than F(2x2, 3x3)'s (the transforms add values scaled
// by up to 8 and 1/24); the tests bound it against float64 references.
//
// The transformed weights take 4x the weights' memory (16/9 for F(2x2,
// 3x3)), so the tile is taken only for small weights and large outputs
// (see winoTile).

// wino4MinOut is the least output height and width, and wino4MaxWeights
// the most weights (output x input channels), for which the Winograd
// path takes F(4x4, 3x3). Variables for the tests.
var (
	wino4MinOut     = 28
	wino4MaxWeights = 128 * 128
)

// winoTile returns the output tile of the Winograd path for s: 4 for
// batches of winoBatch or more and for outputs of at least wino4MinOut
// with at most wino4MaxWeights weights, when the vector kernels are there
// and ctx does not ask for precision, else 2.
func winoTile(ctx *Ctx, s *convShape) int {
	if !wino4Enabled || ctx != nil && ctx.Precise {
		return 2
	}
	if s.n >= winoBatch || min(s.g.out[1], s.g.out[2]) >= wino4MinOut && s.m*s.c <= wino4MaxWeights {
		return 4
	}
	return 2
}

// wino4Gx returns G x for a column x of a 3x3 filter, G the filter
// transform matrix of F(4x4, 3x3).
func wino4Gx(x0, x1, x2 float64) [6]float64 {
	return [6]float64{
		x0 / 4,
		-(x0 + x1 + x2) / 6,
		-(x0 - x1 + x2) / 6,
		(x0/4 + x1/2 + x2) / 6,
		(x0/4 - x1/2 + x2) / 6,
		x2,
	}
}

// wino4B returns B^T x for six values x, in the order of operations of
// the vector kernel.
func wino4B(x0, x1, x2, x3, x4, x5 float32) [6]float32 {
	a, b := x4-4*x2, x3-4*x1
	c, d := x4-x2, x3-x1
	return [6]float32{
		x4 + 4*x0 - 4*x2 - x2,
		a + b,
		a - b,
		c + 2*d,
		c - 2*d,
		x5 + 4*x1 - 4*x3 - x3,
	}
}

// wino4A returns A^T m for six values m, in the order of operations of
// the vector kernel.
func wino4A(m0, m1, m2, m3, m4, m5 float32) [4]float32 {
	p, q := m1+m2, m1-m2
	r, s := m3+m4, m3-m4
	return [4]float32{m0 + p + r, q + 2*s, p + 4*r, q + 8*s + m5}
}

// wino4InputGo is the input transform of F(4x4, 3x3) for one unit of one
// channel: rows holds six padded input rows of ld floats each (at least
// 4*tw+2 of them), and V of tile t at position xi goes to v[xi*xs+t] for
// t < tw. Rows first (d B), then columns.
func wino4InputGo(v, rows []float32, ld, tw, xs int) {
	for t := range tw {
		var y [6][6]float32
		for r := range 6 {
			d := rows[r*ld+4*t : r*ld+4*t+6]
			y[r] = wino4B(d[0], d[1], d[2], d[3], d[4], d[5])
		}
		for j := range 6 {
			col := wino4B(y[0][j], y[1][j], y[2][j], y[3][j], y[4][j], y[5][j])
			for i, x := range col {
				v[(i*6+j)*xs+t] = x
			}
		}
	}
}

// wino4OutSlices is the arguments of the output transform of F(4x4, 3x3)
// for one unit of one output channel: M of the 36 positions from the
// unit's first tile, xs floats apart (at least 15 more floats after the
// last tile), the unit's output rows y (nil past the output's last row)
// and their residual rows r (nil when there is none), ow outputs each,
// the bias and the clamp bounds.
type wino4OutSlices struct {
	m         []float32
	xs        int
	y, r      [4][]float32
	ow        int
	b, lo, hi float32
	sc        *wino4Scratch // scratch of the vector kernels, nil for none yet
}

// wino4Scratch is the scratch of the AVX2 output transform (see
// wino4OutputGroups), kept by the caller across calls: declared in each
// call, its 1.8 KB were zeroed every time (195 thousand calls in a
// ResNet50 batch of 16).
type wino4Scratch struct {
	s      [192]float32
	ys, rs [4][32]float32 // the rows of a partial group
	gy, gr [4][32]float32 // the rows of grouped units (winoRun.output4Grouped)
}

// wino4OutputGo is the output transform of F(4x4, 3x3) of the arguments
// a: Y = A^T M A of each tile (columns first), + bias, + residual,
// clamped.
func wino4OutputGo(a *wino4OutSlices) {
	m, xs := a.m, a.xs
	for t := range (a.ow + 3) / 4 {
		var z [4][6]float32
		for j := range 6 {
			c := wino4A(m[j*xs+t], m[(6+j)*xs+t], m[(12+j)*xs+t], m[(18+j)*xs+t], m[(24+j)*xs+t], m[(30+j)*xs+t])
			for k := range 4 {
				z[k][j] = c[k]
			}
		}
		for k, y := range a.y {
			if y == nil {
				continue
			}
			o := wino4A(z[k][0], z[k][1], z[k][2], z[k][3], z[k][4], z[k][5])
			for l, v := range o {
				x := 4*t + l
				if x >= a.ow {
					break
				}
				v += a.b
				if a.r[k] != nil {
					v += a.r[k][x]
				}
				y[x] = min(max(v, a.lo), a.hi)
			}
		}
	}
}
