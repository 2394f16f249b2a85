//go:build amd64 && !purego

package ops

// winoEnabled says whether FusedConv may take the Winograd path: with the
// AVX-512 or AVX2 transform kernels (the Go transforms cost as much as
// the products save). Tests change it.
var winoEnabled = useDwAVX512 || useDwAVX2

func init() {
	if useDwAVX2 && !useDwAVX512 {
		// On the AVX2 machine measured (AMD EPYC, Zen 3), ResNet50's 7x7
		// stage-4 3x3 layers gain from F(2x2, 3x3) for single images too,
		// unlike on the AVX-512 one (see winoMinOut): one thread,
		// fastest of 30 forwards in four alternating rounds, 85.2, 88.1,
		// 85.5, 85.1 -> 84.5, 84.7, 82.5, 82.7 ms. Their transformed
		// weights take 34 MB more.
		winoMinOut = 7
	}
}

// wino4Enabled says whether the Winograd path may take F(4x4, 3x3).
var wino4Enabled = useDwAVX512 || useDwAVX2

// wino4InputAVX512 is wino4InputGo for tw >= 1, with ld and xs in floats;
// it reads 64*ceil(tw/16)+17 floats of each row, and from v the 36
// positions of 16*ceil(tw/16) tiles.
//
//go:noescape
func wino4InputAVX512(v, rows *float32, ld, tw, xs int)

// wino4OutArgs is wino4OutSlices for the vector kernel; keep the offsets
// in conv_wino_amd64.s in step.
type wino4OutArgs struct {
	m         *float32    // 0
	xs        int         // 8
	y         [4]*float32 // 16, 24, 32, 40 (nil past the last row)
	r         [4]*float32 // 48, 56, 64, 72 (nil: no residual)
	ow        int         // 80
	b, lo, hi float32     // 88, 92, 96
	mask      *int32      // 104: AVX2: the 32 outputs that exist (nil: all)
	s         *float32    // 112: AVX2: scratch of 24 vectors
}

// wino4OutputAVX512 is wino4OutputGo of the arguments a, for ow >= 1 and
// y[0] not nil, rows past the first nil one nil too; it reads M of
// 16*ceil(tw/16) tiles.
//
//go:noescape
func wino4OutputAVX512(a *wino4OutArgs)

// wino4Input is wino4InputGo, on the vector kernel when there is one. It
// may also write the slots of tiles tw to 7 of each position (see
// inputGroups): v needs room for max(tw, 8) tiles a position. s is
// scratch for the AVX2 kernel, kept by the caller across calls.
func wino4Input(v, rows []float32, ld, tw, xs int, s *[288]float32) {
	if !useDwAVX512 && useDwAVX2 && tw > 0 {
		wino4InputGroups(v, rows, ld, tw, xs, s)
		return
	}
	if !useDwAVX512 || tw == 0 {
		wino4InputGo(v, rows, ld, tw, xs)
		return
	}
	// Bounds the assembly relies on.
	_ = rows[5*ld+64*((tw+15)/16)+16]
	_ = v[35*xs+16*((tw+15)/16)-1]
	wino4InputAVX512(&v[0], &rows[0], ld, tw, xs)
}

// wino4Output is wino4OutputGo, on the vector kernel when there is one.
func wino4Output(a *wino4OutSlices) {
	if !useDwAVX512 && useDwAVX2 && a.ow > 0 && a.y[0] != nil {
		wino4OutputGroups(a)
		return
	}
	if !useDwAVX512 || a.ow == 0 || a.y[0] == nil {
		wino4OutputGo(a)
		return
	}
	tw := (a.ow + 3) / 4
	_ = a.m[35*a.xs+16*((tw+15)/16)-1]
	k := wino4OutArgs{m: &a.m[0], xs: a.xs, ow: a.ow, b: a.b, lo: a.lo, hi: a.hi}
	for i, y := range a.y {
		if y == nil {
			break
		}
		k.y[i] = &y[:a.ow][0]
		if a.r[i] != nil {
			k.r[i] = &a.r[i][:a.ow][0]
		}
	}
	wino4OutputAVX512(&k)
}

// winoInputAVX512 is winoInputGo for tw >= 1, with ld and xs in floats;
// it reads 32*ceil(tw/16)+2 floats of each row.
//
//go:noescape
func winoInputAVX512(v, rows *float32, ld, tw, xs int)

// winoOutputAVX512 is winoOutputGo of the arguments a, for ow >= 1; it
// reads M of 16*ceil(tw/16) tiles.
//
//go:noescape
func winoOutputAVX512(a *winoOutArgs)

// winoInput is winoInputGo, on the vector kernel when there is one; like
// wino4Input, it may write the slots of tiles tw to 7 of each position,
// and s is scratch.
func winoInput(v, rows []float32, ld, tw, xs int, s *[288]float32) {
	if !useDwAVX512 && useDwAVX2 && tw > 0 {
		winoInputGroups(v, rows, ld, tw, xs, s)
		return
	}
	if !useDwAVX512 || tw == 0 {
		winoInputGo(v, rows, ld, tw, xs)
		return
	}
	// Bounds the assembly relies on.
	_ = rows[3*ld+32*((tw+15)/16)+1]
	_ = v[15*xs+tw-1]
	winoInputAVX512(&v[0], &rows[0], ld, tw, xs)
}

// winoOutput is winoOutputGo of the arguments a, on the vector kernel
// when there is one.
func winoOutput(a *winoOutSlices) {
	if !useDwAVX512 && useDwAVX2 && a.ow > 0 {
		winoOutputGroups(a, false)
		return
	}
	if !useDwAVX512 || a.ow == 0 {
		winoOutputGo(a.m, a.xs, a.y0, a.y1, a.r0, a.r1, a.ow, a.b, a.lo, a.hi)
		return
	}
	tw := (a.ow + 1) / 2
	_ = a.m[15*a.xs+16*((tw+15)/16)-1]
	k := winoOutArgs{m: &a.m[0], xs: a.xs, y0: &a.y0[:a.ow][0], ow: a.ow, b: a.b, lo: a.lo, hi: a.hi}
	if a.y1 != nil {
		k.y1 = &a.y1[:a.ow][0]
	}
	if a.r0 != nil {
		k.r0 = &a.r0[:a.ow][0]
		if a.y1 != nil {
			k.r1 = &a.r1[:a.ow][0]
		}
	}
	winoOutputAVX512(&k)
}

// winoS2Enabled says whether FusedConv may take the stride-2 Winograd path
// (conv_wino_s2.go): with the AVX2 transform kernels, which AVX-512
// machines run too.
var winoS2Enabled = useDwAVX2

// winoS2Input is winoS2InputGo, on the vector kernel when there is one;
// like wino4Input, it may write the slots of tiles tw to 7 of each
// position, and s is scratch.
func winoS2Input(v, rows []float32, ld, tw, xs int, s *[288]float32) {
	if !useDwAVX2 || tw == 0 {
		winoS2InputGo(v, rows, ld, tw, xs)
		return
	}
	winoS2InputGroups(v, rows, ld, tw, xs, s)
}

// winoS2Output is winoS2OutputGo of the arguments a, on the vector kernel
// when there is one.
func winoS2Output(a *winoOutSlices) {
	if !useDwAVX2 || a.ow == 0 {
		winoS2OutputGo(a.m, a.xs, a.y0, a.y1, a.r0, a.r1, a.ow, a.b, a.lo, a.hi)
		return
	}
	winoOutputGroups(a, true)
}
