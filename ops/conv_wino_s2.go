package ops

// The Winograd path for 3x3 convolutions with stride 2 ("polyphase"
// Winograd): an output tile of 2x2 reads a 5x5 input patch d, rows
// 4ty-pt.. and columns 4tx-pl... Along one axis, the two outputs of a tile
// are y0 = w0 d0 + w1 d1 + w2 d2 and y1 = w0 d2 + w1 d3 + w2 d4: on the
// odd samples d0, d2, d4 the taps w0 and w2 form a two-tap correlation,
// computed by F(2, 2) (three multiplications for two outputs:
// (d0-d2) w0, d2 (w0+w2), (d4-d2) w2), and on the even samples d1, d3 the
// tap w1 is one multiplication an output. With
//
//	B^T = [1 0 -1 0 0; 0 0 1 0 0; 0 0 -1 0 1; 0 1 0 0 0; 0 0 0 1 0]
//	G   = [1 0 0; 1 0 1; 0 0 1; 0 1 0; 0 1 0]
//	A^T = [1 1 0 1 0; 0 1 1 0 1]
//
// V = B^T d B, U = G g G^T and Y = A^T M A as for F(2x2, 3x3) (see
// conv_wino.go), with 25 positions: the products do 25/36 of the direct
// convolution's multiplications. The phases of the input are those of
// the polyphase decomposition of a strided convolution; the transforms
// are subtractions only, so the rounding is close to the direct sum's.
// ResNet50 has three such convolutions (the first of stages 2-4).

// winoS2MinOut is the least output height and width for which a 3x3
// convolution with stride 2 takes the Winograd path for single images,
// and winoS2MaxWeights the most weights (output x input channels): their
// transformed weights (25/9 of the weights) are memory the direct path
// does not need. Batches of winoBatch or more take any weights and
// outputs down to winoBatchMinOut (a 7x7 output has 16 tiles of 2x2 for
// 49 outputs: 400 multiplications against the direct 441, but the
// unfolded input the direct path reads is larger than V). Variables for
// the tests.
//
// ResNet50's three (one thread, medians of 30 calls alternated with the
// direct path): 128ch 56x56 -> 28x28 2.95 -> 2.49 ms for one image, 49.2
// -> 41.1 ms for 16; 256ch 28x28 -> 14x14 2.87 -> 2.23 and 49.4 -> 38.8
// ms; 512ch 14x14 -> 7x7 3.40 -> 3.37 ms for one (not taken) and 51.2 ->
// 47.0 ms for 16.
var (
	winoS2MinOut     = 14
	winoS2MaxWeights = 256 * 256
)

// winoS2OK reports whether a FusedConv with packed weights takes the
// stride-2 Winograd path for s.
func winoS2OK(s *convShape) bool {
	if !winoEnabled || !winoS2Enabled || !winoGeomOK(s, 2) || s.c < winoMinC {
		return false
	}
	if s.n >= winoBatch {
		return min(s.g.out[1], s.g.out[2]) >= winoBatchMinOut
	}
	return min(s.g.out[1], s.g.out[2]) >= winoS2MinOut && s.m*s.c <= winoS2MaxWeights
}

// winoS2Gx returns G x for a column x of a 3x3 filter, G the filter
// transform matrix of the stride-2 path.
func winoS2Gx(x0, x1, x2 float64) [6]float64 {
	return [6]float64{x0, x0 + x2, x2, x1, x1}
}

// winoS2InputGo is the input transform of the stride-2 path for one unit
// of one channel: rows holds five padded input rows of ld floats each (at
// least 4*tw+1 of them), and V of tile t at position xi goes to
// v[xi*xs+t] for t < tw. Columns first, then rows: with c_j the column
// combinations of a row d (d0-d2, d2, d4-d2, d1, d3),
// V[i][j] = (c_j(r0)-c_j(r2), c_j(r2), c_j(r4)-c_j(r2), c_j(r1), c_j(r3))[i].
func winoS2InputGo(v, rows []float32, ld, tw, xs int) {
	for t := range tw {
		var cc [5][5]float32
		for r := range 5 {
			d := rows[r*ld+4*t : r*ld+4*t+5]
			cc[r] = [5]float32{d[0] - d[2], d[2], d[4] - d[2], d[1], d[3]}
		}
		for j := range 5 {
			v[(0*5+j)*xs+t] = cc[0][j] - cc[2][j]
			v[(1*5+j)*xs+t] = cc[2][j]
			v[(2*5+j)*xs+t] = cc[4][j] - cc[2][j]
			v[(3*5+j)*xs+t] = cc[1][j]
			v[(4*5+j)*xs+t] = cc[3][j]
		}
	}
}

// winoS2OutputGo is the output transform of the stride-2 path for one
// unit of one output channel, with the arguments of winoOutputGo (M of
// tile t at position xi is m[xi*xs+t], 25 positions). Rows first:
// s_j = m0j+m1j+m3j, d_j = m1j+m2j+m4j; then y00 = s0+s1+s3,
// y01 = s1+s2+s4, y10 = d0+d1+d3, y11 = d1+d2+d4.
func winoS2OutputGo(m []float32, xs int, y0, y1, r0, r1 []float32, ow int, b, lo, hi float32) {
	for t := range (ow + 1) / 2 {
		var s, d [5]float32
		for j := range 5 {
			s[j] = m[j*xs+t] + m[(5+j)*xs+t] + m[(15+j)*xs+t]
			d[j] = m[(5+j)*xs+t] + m[(10+j)*xs+t] + m[(20+j)*xs+t]
		}
		out := [2][2]float32{
			{s[0] + s[1] + s[3] + b, s[1] + s[2] + s[4] + b},
			{d[0] + d[1] + d[3] + b, d[1] + d[2] + d[4] + b},
		}
		winoStore2(&out, t, y0, y1, r0, r1, ow, lo, hi)
	}
}
