//go:build amd64 && !purego

package ops

// The Winograd transforms on machines with AVX2 but not AVX-512, one
// group of eight tiles an assembly call (conv_wino_avx2_amd64.s).

// winoInputAVX2 is winoInputGo for the eight tiles at rows (floats 0 to
// 17 of each of its four rows, ld floats apart) into v (xs floats from
// one position to the next), through the scratch s; with mask not nil,
// only the tiles of its set lanes are stored.
//
//go:noescape
func winoInputAVX2(v, rows *float32, ld, xs int, s *[288]float32, mask *[8]int32)

// wino4InputAVX2 is wino4InputGo for the eight tiles at rows (floats 0
// to 33 of each of its six rows) likewise.
//
//go:noescape
func wino4InputAVX2(v, rows *float32, ld, xs int, s *[288]float32, mask *[8]int32)

// winoOutputAVX2 is winoOutputGo for the eight tiles of a (16 outputs a
// row from a.y0 and a.y1); a.mask selects the outputs that exist.
//
//go:noescape
func winoOutputAVX2(a *winoOutArgs)

// wino4OutputAVX2 is wino4OutputGo for the eight tiles of a (32 outputs
// a row), through the scratch a.s; a.mask selects the outputs that exist.
//
//go:noescape
func wino4OutputAVX2(a *wino4OutArgs)

// winoS2InputAVX2 is winoS2InputGo for the eight tiles at rows (floats 0
// to 32 of each of its five rows) into v, through the scratch s.
//
//go:noescape
func winoS2InputAVX2(v, rows *float32, ld, xs int, s *[288]float32)

// winoS2OutputAVX2 is winoS2OutputGo for the eight tiles of a (16
// outputs a row from a.y0 and a.y1); a.mask selects the outputs that
// exist.
//
//go:noescape
func winoS2OutputAVX2(a *winoOutArgs)

// laneMasks[n] has its first n lanes set (VMASKMOVPS masks).
var laneMasks = func() (m [33][32]int32) {
	for n := range m {
		for j := range n {
			m[n][j] = -1
		}
	}
	return m
}()

// winoInputGroups is winoInputGo (tw >= 1) on the AVX2 kernel.
func winoInputGroups(v, rows []float32, ld, tw, xs int, s *[288]float32) {
	inputGroups(2, v, rows, ld, tw, xs, s)
}

// wino4InputGroups is wino4InputGo (tw >= 1) on the AVX2 kernel.
func wino4InputGroups(v, rows []float32, ld, tw, xs int, s *[288]float32) {
	inputGroups(4, v, rows, ld, tw, xs, s)
}

// inputGroups runs the input transform kernel of F(n x n, 3x3), n 2 or
// 4, on the tw tiles, eight a call, through the caller's scratch s (a
// scratch declared here was zeroed at every call: 1.2 KB, about 195
// thousand calls in a ResNet50 batch of 16). When tw is not a multiple of eight, the
// last group overlaps the one before it (the transform of a tile does not
// depend on the others). Fewer than eight tiles are stored as eight: the
// caller leaves room after the tiles of each position (winoVPad), whose
// values the next tiles overwrite or nothing reads. Masked stores instead
// took 91 ns a call of F(2x2, 3x3), 38 ns unmasked (AMD Zen 3).
func inputGroups(n int, v, rows []float32, ld, tw, xs int, s *[288]float32) {
	for t0 := 0; t0 < tw; t0 += 8 {
		if tw >= 8 && t0+8 > tw {
			t0 = tw - 8
		}
		// Bounds the assembly relies on: 8n+2 floats of each of the
		// n+2 rows, and the (n+2)^2 positions of the tiles.
		_ = rows[(n+1)*ld+n*t0+8*n+1]
		_ = v[((n+2)*(n+2)-1)*xs+t0+7]
		var mask *[8]int32
		if n == 4 {
			wino4InputAVX2(&v[t0], &rows[n*t0], ld, xs, s, mask)
		} else {
			winoInputAVX2(&v[t0], &rows[n*t0], ld, xs, s, mask)
		}
	}
}

// winoS2InputGroups is winoS2InputGo (tw >= 1) on the AVX2 kernel, as
// inputGroups does for F(n x n, 3x3).
func winoS2InputGroups(v, rows []float32, ld, tw, xs int, s *[288]float32) {
	for t0 := 0; t0 < tw; t0 += 8 {
		if tw >= 8 && t0+8 > tw {
			t0 = tw - 8
		}
		// Bounds the assembly relies on: 33 floats of each of the five
		// rows, and the 25 positions of the tiles.
		_ = rows[4*ld+4*t0+32]
		_ = v[24*xs+t0+7]
		winoS2InputAVX2(&v[t0], &rows[4*t0], ld, xs, s)
	}
}

// winoOutputGroups is winoOutputGo (ow >= 1) on the AVX2 kernel, eight
// tiles (16 outputs a row) a call; with s2, winoS2OutputGo on its kernel.
func winoOutputGroups(a *winoOutSlices, s2 bool) {
	tw := (a.ow + 1) / 2
	if s2 {
		_ = a.m[24*a.xs+8*((tw+7)/8)-1]
	} else {
		_ = a.m[15*a.xs+8*((tw+7)/8)-1]
	}
	for t0 := 0; t0 < tw; t0 += 8 {
		x := 2 * t0
		k := winoOutArgs{m: &a.m[t0], xs: a.xs, y0: &a.y0[:a.ow][x], ow: a.ow, b: a.b, lo: a.lo, hi: a.hi}
		if n := a.ow - x; n < 16 {
			k.mask = &laneMasks[n][0]
		}
		if a.y1 != nil {
			k.y1 = &a.y1[:a.ow][x]
		}
		if a.r0 != nil {
			k.r0 = &a.r0[:a.ow][x]
			if a.y1 != nil {
				k.r1 = &a.r1[:a.ow][x]
			}
		}
		if s2 {
			winoS2OutputAVX2(&k)
		} else {
			winoOutputAVX2(&k)
		}
	}
}

// wino4OutputGroups is wino4OutputGo (ow >= 1, a.y[0] not nil) on the
// AVX2 kernel, eight tiles (32 outputs a row) a call. A last group of
// fewer outputs goes through full rows on the stack, copied in and out:
// the kernel's masked loads and stores (VMASKMOVPS) are slow on AMD Zen 3
// (ResNet50's 64ch 56x56, whose rows end in such a group, 1.19 -> 1.17 ms
// and 128ch 28x28 1.10 -> 1.09 ms, one thread; F(2x2, 3x3) on 14x14,
// every group partial, was 1% slower so).
func wino4OutputGroups(a *wino4OutSlices) {
	tw := (a.ow + 3) / 4
	_ = a.m[35*a.xs+8*((tw+7)/8)-1]
	if a.sc == nil {
		a.sc = new(wino4Scratch)
	}
	s, ys, rs := &a.sc.s, &a.sc.ys, &a.sc.rs
	for t0 := 0; t0 < tw; t0 += 8 {
		x := 4 * t0
		n := min(32, a.ow-x)
		k := wino4OutArgs{m: &a.m[t0], xs: a.xs, ow: a.ow, b: a.b, lo: a.lo, hi: a.hi, s: &s[0]}
		for i, y := range a.y {
			if y == nil {
				break
			}
			if n < 32 {
				k.y[i] = &ys[i][0]
				if a.r[i] != nil {
					copy(rs[i][:n], a.r[i][x:x+n])
					k.r[i] = &rs[i][0]
				}
				continue
			}
			k.y[i] = &y[:a.ow][x]
			if a.r[i] != nil {
				k.r[i] = &a.r[i][:a.ow][x]
			}
		}
		wino4OutputAVX2(&k)
		if n < 32 {
			for i, y := range a.y {
				if y == nil {
					break
				}
				copy(y[x:x+n], ys[i][:n])
			}
		}
	}
}
