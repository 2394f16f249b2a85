package ops

// The Winograd path of the forward convolution: a dense 3x3 convolution
// with unit strides and dilations computed by the minimal filtering
// algorithm F(2x2, 3x3) of A. Lavin and S. Gray, "Fast Algorithms for
// Convolutional Neural Networks", CVPR 2016.
//
// The output is cut into tiles of 2x2; tile (ty, tx) reads the 4x4 patch
// d of each input channel at rows 2ty-pt.., columns 2tx-pl.. (zero
// outside the input). With
//
//	B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//	G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//	A^T = [1 1 1 0; 0 1 -1 -1]
//
// each input patch becomes V = B^T d B and each 3x3 filter g becomes
// U = G g G^T (once per model), both 4x4. For each of the 16 positions xi
// of those 4x4 matrices, M_xi = U_xi V_xi is a product of the output
// channels x input channels matrix U_xi by the input channels x tiles
// matrix V_xi, and the output tile is Y = A^T M A (+ bias, residual,
// clamp). The 16 products do 16/36 of the multiplications of the direct
// convolution; the transforms are additions only. The rounding differs
// from the direct sum's: on random data the error stays within that of
// the other paths (about 1e-7 to 4e-6 of the output scale in the tests),
// but a ReLU gate whose input is within rounding of zero may flip where
// the other paths' does not.
//
// Large outputs with small weights take the larger tile of F(4x4, 3x3)
// instead (conv_wino4.go), and 3x3 convolutions with strides of 2 a
// polyphase form with 2x2 tiles and 25 positions (conv_wino_s2.go); the
// rest of this file serves all three, with the tile size n (2 or 4) and
// side^2 positions (see winoWeights.side).
//
// The tiles of a run are numbered by tile rows ("units": image, ty) then
// columns, and cut into chunks of whole units; each chunk is transformed
// into V (16 x C x T floats for T tiles), multiplied into M (16 x M x T),
// and transformed back into the output, by one thread, with the chunks
// shared out over the crew (or, with too few tiles for every thread,
// each chunk shared out by channels: see convWinoForward). The
// transformed weights take 16/9 of the weights' memory; the path replaces
// the packing of the ordinary weights, which is not done for the
// convolutions that take it. The input transform of one unit of one
// channel reads n+2 zero-padded input rows; the output transform of one
// unit of one output channel writes n output rows. Both have AVX-512
// kernels (conv_wino_amd64.s); the Go versions are their reference and
// compute exactly the same sums in the same order.

import (
	"github.com/gradcam/gradcam/gemm"
)

// winoWeights holds the transformed weights U_xi (M x C each) of the
// positions of F(n x n, 3x3) ((n+2)^2 of them) or of the stride-2 path
// (25; conv_wino_s2.go), packed for gemm.SgemmPackedA.
type winoWeights struct {
	n      int // output tile: 2 or 4 (see conv_wino4.go)
	stride int // 1, or 2 for the stride-2 path (n 2)
	u      []*gemm.PackedA
}

// side returns the side of the transformed tiles (positions side^2),
// which is also the side of the input patch of a tile.
func (wt *winoWeights) side() int {
	if wt.stride == 2 {
		return 5
	}
	return wt.n + 2
}

// winoMinOut is the least output height and width, and winoMinC the
// least number of input channels, for which a convolution takes the
// Winograd path; winoCols is the number of tiles (columns of the
// products) a chunk aims at. Variables for the tests; the AVX2 kernels
// lower winoMinOut to 7 (conv_wino_amd64.go).
//
// Measured in the models (AVX-512, 2-core VM, fastest call of each
// convolution over 15-20 forward passes, packed weights before ->
// Winograd), one thread: ResNet50's 64ch 56x56 1.68 -> 1.30 ms, 128ch
// 28x28 1.76 -> 1.23, 256ch 14x14 1.70 -> 1.33, but 512ch 7x7 2.17 ->
// 2.53 (its 16 tiles an image do too little work for the 17 MB of
// transformed weights, which come from memory in a whole model; alone in
// a benchmark, with the weights in the cache, it gained); VGG16's 64ch
// 224x224 28.9 -> 19.2, 128ch 112x112 27.3 -> 17.2, 256ch 56x56 26.6 ->
// 14.3, 512ch 28x28 27.8 -> 14.8, 512ch 14x14 6.7 -> 4.8. Two threads:
// ResNet50 0.89 -> 0.78, 0.96 -> 0.74, 0.98 -> 0.79, 7x7 1.14 -> 1.35;
// VGG16 16.1 -> 12.8, 15.8 -> 10.3, 19.1 -> 9.9, 18.4 -> 10.0, 3.7 ->
// 3.2. Alone in a benchmark (effective GFLOP/s, one thread), fewer
// channels and smaller outputs lose: 16ch 56x56 102 -> 72, 32ch 56x56
// 124 -> 118, 256ch 4x4 95 -> 57, 512ch 5x5 105 -> 92; VGG16's first
// convolution (3 channels) is a draw. Chunks of 64 to 384 tiles ran
// within the noise of each other; 128 was best or close on most shapes.
//
// Outputs of 14x14 gain too, but their transformed weights are memory the
// other paths do not take (they read such weights in place, unpacked):
// ResNet50's five in stage 3 add 21 MB. They were left out while that
// took the peak RSS of a ResNet50 Grad-CAM bench over its budget of 250
// MiB (253 MiB); with less garbage a run, it is 189 MiB without them and
// 219-224 MiB with them (232 MiB over 20 runs). ResNet50's forward, two
// threads, medians of 80 runs in four alternating rounds: 36.67, 36.74,
// 36.26, 35.70 ms without them, 35.81, 35.94, 35.84, 35.96 ms with them.
var (
	winoMinOut = 14
	winoMinC   = 64
	winoCols   = 128
)

// winoGeomOK reports whether the geometry of s suits the Winograd path
// with the given stride (1, or 2 for conv_wino_s2.go): a 2-D dense
// convolution (one group) with a 3x3 window, that stride on both axes and
// unit dilations.
func winoGeomOK(s *convShape, stride int) bool {
	g := &s.g
	return s.group == 1 && g.in[0] == 1 && g.k[0] == 1 && g.out[0] == 1 &&
		g.k[1] == 3 && g.k[2] == 3 && g.s[1] == stride && g.s[2] == stride &&
		g.d[1] == 1 && g.d[2] == 1 && g.out[1] > 0 && g.out[2] > 0
}

// winoOK reports whether a FusedConv with packed weights takes the
// Winograd path for s: the geometry suits it, the vector kernels are
// there, and the output is large enough for the transforms to pay
// (winoMinOut, or winoBatchMinOut in batches of winoBatch or more).
func winoOK(s *convShape) bool {
	least := winoMinOut
	if s.n >= winoBatch {
		least = winoBatchMinOut
	}
	return winoEnabled && winoGeomOK(s, 1) && min(s.g.out[1], s.g.out[2]) >= least && s.c >= winoMinC
}

// winoBatch is the least batch for which the Winograd path also takes
// outputs of winoBatchMinOut (ResNet50's 7x7 stage 4) and always with the
// larger tile F(4x4, 3x3) (see winoTile): a batch gives the products
// enough tiles to pay for the transformed weights, which take 4x the
// memory of the weights (ResNet50: 122 MB more for stages 3 and 4, made
// on the first batch). ResNet50 in batches of 16 (Score-CAM's), two
// threads, AMD Zen 3: 662-668 -> 635-641 ms a batch (F(2x2, 3x3) on 7x7
// instead: 648-658). Variables for the tests.
var (
	winoBatch       = 4
	winoBatchMinOut = 7
)

// winoGx returns G x for a column x of a 3x3 filter, G the filter
// transform matrix of F(2x2, 3x3): [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2;
// 0 0 1] (four values of six, for winoTransformWeights).
func winoGx(x0, x1, x2 float64) [6]float64 {
	e := x0 + x2
	return [6]float64{x0, (e + x1) / 2, (e - x1) / 2, x2}
}

// winoTransformWeights returns U = G g G^T of the m x c filters w (3x3
// each, row-major m x c x 3 x 3) for F(n x n, 3x3), n 2 or 4, with stride
// 1, or for the stride-2 path (n 2, stride 2), computed in float64 and
// packed as side^2 matrices of m x c (see winoWeights.side); ctx's
// threads share the work (the first run of a model transforms all its
// weights). It goes a row i of U at a time (side positions), so that its
// scratch takes side/9 of the weights' size.
func winoTransformWeights(ctx *Ctx, w []float32, m, c, n, stride int) *winoWeights {
	wt := &winoWeights{n: n, stride: stride}
	a := wt.side()
	mc := m * c
	u := make([]float32, a*mc)
	wt.u = make([]*gemm.PackedA, a*a)
	// Row i of G g, then of (G g) G^T, for filter k (the G of each tile
	// called directly, so that it is inlined).
	row := func(k, i int) {
		g := w[k*9 : k*9+9]
		var t [3]float64
		var r [6]float64
		if stride == 2 {
			for b := range 3 {
				t[b] = winoS2Gx(float64(g[b]), float64(g[3+b]), float64(g[6+b]))[i]
			}
			r = winoS2Gx(t[0], t[1], t[2])
		} else if n == 4 {
			for b := range 3 {
				t[b] = wino4Gx(float64(g[b]), float64(g[3+b]), float64(g[6+b]))[i]
			}
			r = wino4Gx(t[0], t[1], t[2])
		} else {
			for b := range 3 {
				t[b] = winoGx(float64(g[b]), float64(g[3+b]), float64(g[6+b]))[i]
			}
			r = winoGx(t[0], t[1], t[2])
		}
		for j, v := range r[:a] {
			u[j*mc+k] = float32(v)
		}
	}
	for i := range a {
		crewFor(ctx, mc, 1024, func(lo, hi int) {
			for k := lo; k < hi; k++ {
				row(k, i)
			}
		})
		crewFor(ctx, a, 1, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				wt.u[a*i+j] = gemm.PackA(false, m, c, u[j*mc:(j+1)*mc], c)
			}
		})
	}
	return wt
}

// winoInputGo is the input transform of one unit of one channel: rows
// holds four padded input rows of ld floats each (at least 2*tw+2 of
// them), and V of tile t at position xi goes to v[xi*xs+t] for t < tw.
// Columns first, then rows: with c_j the column combinations of a row
// (a0-a2, a1+a2, a2-a1, a1-a3 of its four values),
// V[i][j] = (c_j(r0)-c_j(r2), c_j(r1)+c_j(r2), c_j(r2)-c_j(r1), c_j(r1)-c_j(r3))[i].
func winoInputGo(v, rows []float32, ld, tw, xs int) {
	for t := range tw {
		var cc [4][4]float32
		for r := range 4 {
			d := rows[r*ld+2*t : r*ld+2*t+4]
			cc[r] = [4]float32{d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3]}
		}
		for j := range 4 {
			v[(0*4+j)*xs+t] = cc[0][j] - cc[2][j]
			v[(1*4+j)*xs+t] = cc[1][j] + cc[2][j]
			v[(2*4+j)*xs+t] = cc[2][j] - cc[1][j]
			v[(3*4+j)*xs+t] = cc[1][j] - cc[3][j]
		}
	}
}

// winoOutArgs is the arguments of the output transform of one unit of one
// output channel; keep the offsets in conv_wino_amd64.s in step.
type winoOutArgs struct {
	m      *float32 // 0: M of the unit's first tile at position 0
	xs     int      // 8: floats from one position's M to the next
	y0, y1 *float32 // 16, 24: the two output rows (y1 nil: one row only)
	r0, r1 *float32 // 32, 40: their residual rows (nil: no residual)
	ow     int      // 48: outputs a row
	b      float32  // 56: bias
	lo, hi float32  // 60, 64: clamp bounds (infinite when none)
	mask   *int32   // 72: AVX2: the 16 outputs that exist (nil: all)
}

// winoOutputGo is the output transform of one unit of one output channel
// given as a (with slices instead of pointers): Y = A^T M A of each tile,
// + bias, + residual, clamped, into rows y0 and y1 (nil when the tile row
// has one output row), ow outputs each. M of tile t at position xi is
// m[xi*xs+t]. Rows first: s_j = m0j+m1j+m2j, d_j = m1j-m2j-m3j; then
// y00 = s0+s1+s2, y01 = s1-s2-s3, y10 = d0+d1+d2, y11 = d1-d2-d3.
func winoOutputGo(m []float32, xs int, y0, y1, r0, r1 []float32, ow int, b, lo, hi float32) {
	for t := range (ow + 1) / 2 {
		var s, d [4]float32
		for j := range 4 {
			s[j] = m[j*xs+t] + m[(4+j)*xs+t] + m[(8+j)*xs+t]
			d[j] = m[(4+j)*xs+t] - m[(8+j)*xs+t] - m[(12+j)*xs+t]
		}
		out := [2][2]float32{
			{s[0] + s[1] + s[2] + b, s[1] - s[2] - s[3] + b},
			{d[0] + d[1] + d[2] + b, d[1] - d[2] - d[3] + b},
		}
		winoStore2(&out, t, y0, y1, r0, r1, ow, lo, hi)
	}
}

// winoStore2 stores the 2x2 outputs out of tile t (bias added) into rows
// y0 and y1 (y1 nil: one row only), ow outputs each, plus the residual
// rows r0 and r1 (nil: none), clamped to [lo, hi].
func winoStore2(out *[2][2]float32, t int, y0, y1, r0, r1 []float32, ow int, lo, hi float32) {
	for r, y := range [2][]float32{y0, y1} {
		if y == nil {
			continue
		}
		res := r0
		if r == 1 {
			res = r1
		}
		for k := range 2 {
			x := 2*t + k
			if x >= ow {
				break
			}
			v := out[r][k]
			if res != nil {
				v += res[x]
			}
			y[x] = min(max(v, lo), hi)
		}
	}
}

// winoWeightsOf returns the transformed weights of f for F(n x n, 3x3),
// or for the stride-2 path when s has strides of 2 (n 2), made once.
func (f *FusedConv) winoWeightsOf(ctx *Ctx, s *convShape, n int) *winoWeights {
	if n == 4 {
		f.wino4Once.Do(func() {
			f.wino4 = winoTransformWeights(ctx, f.Weights(), s.m, s.c, 4, 1)
		})
		return f.wino4
	}
	f.winoOnce.Do(func() {
		f.wino = winoTransformWeights(ctx, f.Weights(), s.m, s.c, 2, s.g.s[1])
	})
	return f.wino
}

// winoChunks returns how many chunks the column mode cuts units (tile
// rows of tw tiles) into: chunks of about winoCols tiles (at least one
// unit), as many as a multiple of the threads when there are units
// enough, so that the threads get equal shares (see winoChunk).
func winoChunks(tw, units, threads int) int {
	rpc := max(1, winoCols/tw)
	chunks := (units + rpc - 1) / rpc
	chunks = (chunks + threads - 1) / threads * threads
	return max(1, min(chunks, units))
}

// winoChunk returns the units [u0, u1) of chunk ch of chunks: the larger
// chunks first, so that threads taking chunks in turn end together. With
// chunk ch at ch*units/chunks, ResNet50's 28 units of 56x56 in 8 chunks
// went 3, 4, 3, 4, ... and two threads took 12 and 16 units; one layer
// alone on two threads went 816-872 -> 662 us.
func winoChunk(ch, chunks, units int) (u0, u1 int) {
	q, r := units/chunks, units%chunks
	u0 = ch*q + min(ch, r)
	u1 = u0 + q
	if ch < r {
		u1++
	}
	return u0, u1
}

// winoRun is one forward pass on the Winograd path.
type winoRun struct {
	s              *convShape
	x, y           []float32
	ep             *convEpilogue
	wt             *winoWeights
	n, pos         int     // output tile size (2 or 4) and positions (side^2)
	s2             bool    // the stride-2 path (n 2)
	step, side     int     // input rows from one unit to the next, and a unit reads
	th, tw, ld     int     // tile rows and columns an image, padded row length
	lo, hi         float32 // clamp bounds
	inSz, outPlane int
}

// input transforms input channels [c0, c1) of units [u0, u1) into vb
// (the positions' c x nt matrices, nt the chunk's tiles). rows holds
// winoRowsLen(u1-u0) floats, zero when first used and kept zero past the
// input's columns: for each channel and each image the units span, the
// padded input rows they read are copied into it once (a unit reads side
// rows and shares side-step of them with the next), then transformed unit
// by unit.
func (r *winoRun) input(vb, rows []float32, u0, u1, c0, c1 int) {
	g := &r.s.g
	c := r.s.c
	ih, iw, pt, pl := g.in[1], g.in[2], g.pb[1], g.pb[2]
	tw, ld := r.tw, r.ld
	nt := (u1 - u0) * tw
	lv := nt + winoVPad
	var s [288]float32 // the transforms' scratch
	for ci := c0; ci < c1; ci++ {
		for ua := u0; ua < u1; {
			img, ta := ua/r.th, ua%r.th
			ub := min(u1, (img+1)*r.th) // units of this image
			src := r.x[(img*c+ci)*r.inSz:][:r.inSz]
			for k := range r.step*(ub-ua) + r.side - r.step {
				row := rows[k*ld+pl : k*ld+pl+iw]
				if iy := r.step*ta - pt + k; iy >= 0 && iy < ih {
					copy(row, src[iy*iw:(iy+1)*iw])
				} else {
					clear(row)
				}
			}
			for u := ua; u < ub; u++ {
				if r.s2 {
					winoS2Input(vb[ci*lv+(u-u0)*tw:], rows[4*(u-ua)*ld:], ld, tw, c*lv, &s)
				} else if r.n == 4 {
					wino4Input(vb[ci*lv+(u-u0)*tw:], rows[4*(u-ua)*ld:], ld, tw, c*lv, &s)
				} else {
					winoInput(vb[ci*lv+(u-u0)*tw:], rows[2*(u-ua)*ld:], ld, tw, c*lv, &s)
				}
			}
			ua = ub
		}
	}
}

// winoVPad is the gap, in floats, after each row of V (the nt tiles of
// one input channel at one position): room for the vector input
// transforms to store a whole group of eight tiles when a tile row has
// fewer (they then need no masked stores, which are slow on AMD Zen 3).
const winoVPad = 8

// winoRowsLen is the length of the row buffer of input for chunks of up
// to units units.
func (r *winoRun) winoRowsLen(units int) int {
	return (r.step*units + r.side - r.step) * r.ld
}

// products computes M (the positions' m x nt matrices in mb) at the
// positions [x0, x1) for the nt tiles of V in vb, on one thread.
func (r *winoRun) products(vb, mb []float32, nt, x0, x1 int) {
	c, m := r.s.c, r.s.m
	opt := gemm.Options{Threads: 1}
	for xi := x0; xi < x1; xi++ {
		gemm.SgemmPackedA(r.wt.u[xi], false, nt, 1, vb[xi*c*(nt+winoVPad):], nt+winoVPad, 0, mb[xi*m*nt:], nt, &opt)
	}
}

// output transforms output channels [m0, m1) of units [u0, u1) from M in
// mb into the output, with the bias, residual and clamp.
func (r *winoRun) output(mb []float32, u0, u1, m0, m1 int) {
	m, ow, oh, p := r.s.m, r.s.g.out[2], r.s.g.out[1], r.outPlane
	ep := r.ep
	nt := (u1 - u0) * r.tw
	var sc wino4Scratch
	if wino4Grouping && r.n == 4 && r.tw <= wino4GroupTiles/2 {
		r.output4Grouped(mb, u0, u1, m0, m1, &sc)
		return
	}
	for mo := m0; mo < m1; mo++ {
		var b float32
		if ep.bias != nil {
			b = ep.bias[mo]
		}
		for u := u0; u < u1; u++ {
			img, ty := u/r.th, u%r.th
			yp := r.y[(img*m+mo)*p:][:p]
			mu := mb[mo*nt+(u-u0)*r.tw:]
			if r.n == 4 {
				a := wino4OutSlices{m: mu, xs: m * nt, ow: ow, b: b, lo: r.lo, hi: r.hi, sc: &sc}
				for k := range 4 {
					if oy := 4*ty + k; oy < oh {
						a.y[k] = yp[oy*ow:][:ow]
						if ep.residual != nil {
							a.r[k] = ep.residual[(img*m+mo)*p+oy*ow:][:ow]
						}
					}
				}
				wino4Output(&a)
				continue
			}
			a := winoOutSlices{m: mu, xs: m * nt, ow: ow, b: b, lo: r.lo, hi: r.hi}
			a.y0 = yp[2*ty*ow:][:ow]
			if 2*ty+1 < oh {
				a.y1 = yp[(2*ty+1)*ow:][:ow]
			}
			if ep.residual != nil {
				rp := ep.residual[(img*m+mo)*p:][:p]
				a.r0 = rp[2*ty*ow:][:ow]
				if a.y1 != nil {
					a.r1 = rp[(2*ty+1)*ow:][:ow]
				}
			}
			if r.s2 {
				winoS2Output(&a)
			} else {
				winoOutput(&a)
			}
		}
	}
}

// wino4GroupTiles is the tiles of one call of the vector output transform
// of F(4x4, 3x3) on AVX2 (32 outputs a row), and wino4Grouping turns
// output4Grouped on (a variable for the tests).
const wino4GroupTiles = 8

var wino4Grouping = true

// output4Grouped is output for F(4x4, 3x3) on outputs of at most
// wino4GroupTiles/2 tiles a row (14x14 and 7x7 planes): the units (tile
// rows, of one image or consecutive ones) are transformed several a call,
// wino4GroupTiles tiles side by side, into rows of scratch that are then
// copied to their planes. Each tile's arithmetic is that of one unit a
// call, so the bits are the same; a call a unit left half or three
// quarters of the kernel's lanes idle, and went through the scratch too.
func (r *winoRun) output4Grouped(mb []float32, u0, u1, m0, m1 int, sc *wino4Scratch) {
	m, ow, oh, p := r.s.m, r.s.g.out[2], r.s.g.out[1], r.outPlane
	ep := r.ep
	tw := r.tw
	nt := (u1 - u0) * tw
	per := wino4GroupTiles / tw // units a call
	wide := 4 * tw              // outputs of a unit's row in the scratch
	// rows calls fn for each output row of unit u that exists: its row
	// k of the scratch (from column (u-ua)*wide) and its offset in the
	// plane of image img, channel mo.
	rows := func(mo, ua, u int, fn func(k, col, off int)) {
		img, ty := u/r.th, u%r.th
		for k := range 4 {
			if oy := 4*ty + k; oy < oh {
				fn(k, (u-ua)*wide, (img*m+mo)*p+oy*ow)
			}
		}
	}
	for mo := m0; mo < m1; mo++ {
		var b float32
		if ep.bias != nil {
			b = ep.bias[mo]
		}
		for ua := u0; ua < u1; ua += per {
			ub := min(u1, ua+per)
			a := wino4OutSlices{m: mb[mo*nt+(ua-u0)*tw:], xs: m * nt, ow: (ub - ua) * wide, b: b, lo: r.lo, hi: r.hi, sc: sc}
			for k := range 4 {
				a.y[k] = sc.gy[k][:a.ow]
				if ep.residual != nil {
					a.r[k] = sc.gr[k][:a.ow]
				}
			}
			if ep.residual != nil {
				for u := ua; u < ub; u++ {
					rows(mo, ua, u, func(k, col, off int) { copy(sc.gr[k][col:][:ow], ep.residual[off:][:ow]) })
				}
			}
			wino4Output(&a)
			for u := ua; u < ub; u++ {
				rows(mo, ua, u, func(k, col, off int) { copy(r.y[off:][:ow], sc.gy[k][col:][:ow]) })
			}
		}
	}
}

// winoRowBelow is the share of tiles a thread below which the Winograd
// path runs in row mode (see convWinoForward). ResNet50's 28x28 layers
// (196 tiles, two threads) ran in row mode while the bound was winoCols
// (128), which then split the products by output rows: 128 output
// channels cut into slivers of 14 went 70 + 58 a thread. In column mode (two chunks of 98 tiles, each thread reading
// all of the 1 MB of transformed weights) ResNet50's forward went
// 35.3-36.3 -> 34.8-35.3 ms (medians of 60 runs, four alternating
// rounds), VGG16's 92.7-94.4 -> 91.6-92.0 ms (20 runs, three rounds).
var winoRowBelow = 64

// convWinoForward is the forward pass of FusedConv on the Winograd path
// (see winoOK) with transformed weights wt. With winoRowBelow tiles or
// more for every thread, the threads take whole chunks of about winoCols
// tiles in turn (column mode); otherwise (small images: 14x14 has 49
// tiles) the chunks are done one after the other in three shared steps
// (row mode): each thread transforms a share of the input channels, then
// computes a share of the 16 products, reading only their transformed
// weights (megabytes in the deep layers), then transforms back a share
// of the output channels. Splitting the products by output rows instead,
// each thread packing all 16 of V and doing 126 or 130 of 256 rows,
// took 621 us for ResNet50's 256ch 14x14 on two threads, 543 us so
// (ResNet50's forward 33.4-33.7 -> 33.0-33.3 ms, medians of 60 runs in
// three alternating rounds).
func convWinoForward(ctx *Ctx, s *convShape, x, y []float32, ep *convEpilogue, wt *winoWeights) {
	g := &s.g
	oh, ow := g.out[1], g.out[2]
	n := wt.n
	r := &winoRun{s: s, x: x, y: y, ep: ep, wt: wt, n: n, pos: wt.side() * wt.side(),
		s2: wt.stride == 2, step: n * wt.stride, side: wt.side(),
		th: (oh + n - 1) / n, tw: (ow + n - 1) / n,
		lo: negInf, hi: posInf, inSz: g.in[1] * g.in[2], outPlane: oh * ow}
	// Padded input rows: the vector kernel of F(2x2, 3x3) reads 32
	// floats and 32 more from 2 floats on for each 16 tiles, that of
	// F(4x4, 3x3) 64 floats and 17 more, that of the stride-2 path 33
	// floats for each 8 tiles (the last group overlapping the one before).
	switch {
	case r.s2:
		r.ld = max(32*((r.tw+7)/8)+1, g.pb[2]+g.in[2]) + 15
	case n == 4:
		r.ld = 64*((r.tw+15)/16) + 32
	default:
		r.ld = 32*((r.tw+15)/16) + 16
	}
	if ep.clamp {
		r.lo, r.hi = ep.lo, ep.hi
	}
	units := s.n * r.th
	threads := ctx.threadCount()
	if threads > 1 && units*r.tw < threads*winoRowBelow {
		convWinoRows(ctx, r, units, threads)
		return
	}
	chunks := winoChunks(r.tw, units, threads)
	take := counter()
	crewFor(ctx, min(threads, chunks), 1, func(_, _ int) {
		most := (units + chunks - 1) / chunks * r.tw
		vBuf, mBuf, rBuf := getScratch(r.pos*s.c*(most+winoVPad)+16), getScratch(r.pos*s.m*most+16), getScratch(r.winoRowsLen(most/r.tw))
		defer putScratch(vBuf)
		defer putScratch(mBuf)
		defer putScratch(rBuf)
		vb, mb, rows := *vBuf, *mBuf, *rBuf
		clear(rows)
		for ch := take(); ch < chunks; ch = take() {
			u0, u1 := winoChunk(ch, chunks, units)
			nt := (u1 - u0) * r.tw
			r.input(vb, rows, u0, u1, 0, s.c)
			r.products(vb, mb, nt, 0, r.pos)
			r.output(mb, u0, u1, 0, s.m)
		}
	})
}

// convWinoRows is convWinoForward in row mode (see there).
func convWinoRows(ctx *Ctx, r *winoRun, units, threads int) {
	s := r.s
	rpc := max(1, winoCols/r.tw)
	most := min(rpc, units) * r.tw
	vBuf, mBuf := getScratch(r.pos*s.c*(most+winoVPad)+16), getScratch(r.pos*s.m*most+16)
	defer putScratch(vBuf)
	defer putScratch(mBuf)
	vb, mb := *vBuf, *mBuf
	for u0 := 0; u0 < units; u0 += rpc {
		u1 := min(u0+rpc, units)
		nt := (u1 - u0) * r.tw
		crewFor(ctx, s.c, 8, func(c0, c1 int) {
			rBuf := getScratch(r.winoRowsLen(u1 - u0))
			defer putScratch(rBuf)
			clear(*rBuf)
			r.input(vb, *rBuf, u0, u1, c0, c1)
		})
		parts := min(threads, r.pos)
		crew.do(parts, threads-1, func(i int) {
			r.products(vb, mb, nt, i*r.pos/parts, (i+1)*r.pos/parts)
		})
		crewFor(ctx, s.m, 8, func(m0, m1 int) {
			r.output(mb, u0, u1, m0, m1)
		})
	}
}

// winoOutSlices is winoOutArgs with slices: y1 and r1 are nil when the
// unit has one output row, r0 and r1 when there is no residual; m holds
// the 16 positions' M from the unit's first tile, xs floats apart, and
// at least 15 more floats after the last tile.
type winoOutSlices struct {
	m              []float32
	xs             int
	y0, y1, r0, r1 []float32
	ow             int
	b, lo, hi      float32
}
