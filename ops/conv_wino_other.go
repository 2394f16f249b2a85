//go:build !amd64 || purego

package ops

// winoEnabled says whether FusedConv may take the Winograd path: never
// without the AVX-512 transform kernels, which is here (the Go transforms
// cost as much as the products save).
var winoEnabled = false

// wino4Enabled says whether the Winograd path may take F(4x4, 3x3).
var wino4Enabled = false

// wino4Input is wino4InputGo.
func wino4Input(v, rows []float32, ld, tw, xs int, _ *[288]float32) {
	wino4InputGo(v, rows, ld, tw, xs)
}

// wino4Output is wino4OutputGo.
func wino4Output(a *wino4OutSlices) { wino4OutputGo(a) }

// winoInput is winoInputGo.
func winoInput(v, rows []float32, ld, tw, xs int, _ *[288]float32) {
	winoInputGo(v, rows, ld, tw, xs)
}

// winoOutput is winoOutputGo of the arguments a.
func winoOutput(a *winoOutSlices) {
	winoOutputGo(a.m, a.xs, a.y0, a.y1, a.r0, a.r1, a.ow, a.b, a.lo, a.hi)
}

// winoS2Enabled says whether FusedConv may take the stride-2 Winograd
// path: never without the vector transform kernels.
var winoS2Enabled = false

// winoS2Input is winoS2InputGo.
func winoS2Input(v, rows []float32, ld, tw, xs int, _ *[288]float32) {
	winoS2InputGo(v, rows, ld, tw, xs)
}

// winoS2Output is winoS2OutputGo of the arguments a.
func winoS2Output(a *winoOutSlices) {
	winoS2OutputGo(a.m, a.xs, a.y0, a.y1, a.r0, a.r1, a.ow, a.b, a.lo, a.hi)
}
