//go:build !amd64 || purego

package ops

// dwUsePadded says whether the 3x3 depthwise forward pass takes the padded
// path (convDepthwise3x3Padded) rather than the masked one; tests set it.
var dwUsePadded = false

// dwVector is the number of outputs that dwRow9 computes at once: the
// padded path rounds its rows up to it.
const dwVector = 1

// dwRow9 sets y[i] = min(max(b + Σ_t w[t]*p[t][i], lo), hi) for every i
// in y; each p[t] has at least len(y) elements.
func dwRow9(y []float32, p *[9][]float32, w *[9]float32, b, lo, hi float32) {
	dwRow9Go(y, p, w, b, lo, hi)
}

// dwPlane computes one call of the 3x3 depthwise path: y[i] =
// min(max(b + Σ_t w[t]*src[t][off[t]+i], lo), hi) for every i of y, tap t
// counting for output i when bit i%16 of masks[(i/16)*dwMaskEntry + t] is
// set (src[t] is only read then; the index may be negative otherwise).
func dwPlane(y []float32, src *[9][]float32, off *[9]int, w *[9]float32, b, lo, hi float32, masks []uint16) {
	dwPlaneGo(y, src, off, w, b, lo, hi, masks)
}

// dwSplit2 splits the first rows rows of input plane x (rows of iw) into
// the four phase planes of the stride-2 path, each of psz elements with
// rows of ow, in ph: input element (r, c) goes to element (r>>1, c>>1) of
// phase 2*(r&1) + c&1, and columns past the input are zero.
func dwSplit2(ph, x []float32, rows, iw, ow, psz int) { dwSplit2Go(ph, x, rows, iw, ow, psz) }

// dwMaxPlane is dwPlane with a maximum: y[i] is the largest
// src[t][off[t]+i] over the taps whose mask bit is set for i (the lowest
// value when none is).
func dwMaxPlane(y []float32, src *[9][]float32, off *[9]int, masks []uint16) {
	dwMaxPlaneGo(y, src, off, masks)
}

// dwPlanes reports false: only dwPlane runs here.
func dwPlanes(l *dwLayout, src *[9][]float32, inStep int, w, bias, y []float32, lo, hi int, cl, ch float32) bool {
	return false
}

// dwSpread2 spreads the output gradient dy (oh x ow) over z (zero, rows of
// iw) for the stride-2 input gradient: z[(2*oy+1-pt)*iw + 2*ox+1-pl] =
// dy[oy*ow+ox] (see dwBackwardGeom).
func dwSpread2(z, dy []float32, oh, ow, iw, pt, pl int) { dwSpread2Go(z, dy, oh, ow, iw, pt, pl) }

// maxPool3s2 reports false: the 3x3 path's maximum (maxPool3x3Plane) runs
// here.
func maxPool3s2(g *winGeom, x, y, v []float32) bool { return false }

// maxPool3s2Vec reports false: there is no vector kernel.
func maxPool3s2Vec(g *winGeom) bool { return false }

// dwConv3s2 reports false: the masked 3x3 path runs here.
func dwConv3s2(g *winGeom, x, w, bias, y []float32, lo, hi int, cl, ch float32) bool {
	return false
}

// dwDirectOK reports whether dwDirect takes planes of g: never here.
func dwDirectOK(g *winGeom) bool { return false }

// dwDirMasks is not called where dwDirectOK is false.
func dwDirMasks(g *winGeom) []int32 { return nil }

// dwDirect is not called where dwDirectOK is false.
func dwDirect(s *convShape, x, w, y []float32, ep *convEpilogue, lo, hi int, masks []int32) {
	panic("ops: dwDirect without a kernel")
}

// dwT8OK reports whether dwT8 takes g: never here.
func dwT8OK(g *winGeom) bool { return false }

// dwT8 is not called where dwT8OK is false.
func dwT8(s *convShape, x, w, y []float32, ep *convEpilogue, lo, hi int) {
	panic("ops: dwT8 without a kernel")
}
