//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

//go:generate go run ./internal/asmgen -out kernels_amd64.s -goout kernels_amd64.go

// asmKernel is the signature of the assembly micro-kernels: the tile at c
// (row stride ldc) from packed slivers a and b over k steps.
type asmKernel func(k int, a, b, c *float32, ldc int, p *kparams)

// avx512MR is the height of the AVX-512 tiles (mr512 in internal/asmgen).
const avx512MR = 14

// avx512Set uses 14x32 tiles held in 28 zmm registers. A 14 x kc sliver
// of A (21 KiB at kc 384) stays in the 48 KiB L1 while the kc x nc block
// of B (1 MiB) streams from the 2 MiB L2.
var avx512Set = &kernelSet{
	name:     "avx512",
	mr:       avx512MR,
	nr:       32,
	nrMin:    16,
	directA:  true,
	kc:       384,
	nc:       672,
	mc:       1008,
	pack:     packAVX512,
	tile:     tileAVX512,
	tileRows: tileRowsAVX512,
	// N=49 (a 7x7 plane), M=K=512, one thread: 219 us as 32 + a
	// masked 32; 164 us for N=48.
	narrow:        narrowAVX512,
	narrowMax:     len(avx512NarrowKernels[0]),
	narrowSlivers: narrowSliverCounts(avx512NarrowKernels[:]),
}

// avx2Set uses 6x16 tiles held in 12 ymm registers.
var avx2Set = &kernelSet{
	name:    "avx2",
	mr:      6,
	nr:      16,
	nrMin:   16,
	directA: true,
	kc:      256,
	nc:      1024,
	mc:      1008,
	pack:    packAVX2,
	tile:    tileAVX2,
	tiles:   tilesAVX2,
	// N=49 (a 7x7 plane), M=K=512, one thread: three 16-column tiles
	// and one narrow column instead of four tiles.
	narrow:        narrowAVX2,
	narrowMax:     len(avx2NarrowKernels[0]),
	narrowSlivers: narrowSliverCounts(avx2NarrowKernels[:]),
	// Half of a 512 KiB L2 (AMD Zen 3) each. One thread: ResNet50's
	// 1x1 256->64 on 56x56 1247 -> 1154 us, its stem 3136 -> 2957 us,
	// its forward 83.7-84.8 -> 82.5-82.9 ms; MobileNetV2 unchanged
	// (9.41-9.50 -> 9.36-9.44 ms; without colMinB, 9.47-9.71).
	colMaxA: 256 << 10,
	colMinB: 256 << 10,
}

// narrowSliverCounts returns, for each width w of a narrow kernel table
// (kernels[s-1][w-1] for s slivers), the most slivers it has a kernel for.
func narrowSliverCounts(kernels [][4]asmKernel) []int {
	n := make([]int, len(kernels[0]))
	for s, row := range kernels {
		for w, k := range row {
			if k != nil {
				n[w] = s + 1
			}
		}
	}
	return n
}

// kernelSets returns the kernel families this machine runs, best first.
func kernelSets() []*kernelSet {
	var s []*kernelSet
	if cpu.X86.HasAVX512F {
		s = append(s, avx512Set)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		s = append(s, avx2Set)
	}
	return append(s, goSet)
}

func tileAVX512(mr, ncols, k int, a, b, c []float32, ldc int, p *kparams) {
	p.mask = uint32(uint64(1)<<ncols - 1)
	v := 0
	if ncols > 16 {
		v = 1
	}
	d := 0
	if p.flags&flagDirectA != 0 {
		d = 1
	}
	avx512Kernels[d][v][mr-1](k, &a[0], &b[0], &c[0], ldc, p)
}

func tileRowsAVX512(mr, ncols, k int, a []float32, b *float32, c []float32, ldc int, p *kparams) {
	p.mask = uint32(uint64(1)<<ncols - 1)
	avx512OffsKernels[mr-1](k, &a[0], b, &c[0], ldc, p)
}

func narrowAVX512(s, w, k int, a, b, c []float32, ldc int, p *kparams) {
	// Bounds the assembly relies on: s slivers of p.rows values a k
	// step, w values of B a k step, and the rows of C it writes.
	_ = a[s*p.rows*k-1]
	_ = b[w*k-1]
	_ = c[((s-1)*avx512MR+p.rows-1)*ldc+w-1]
	avx512NarrowKernels[s-1][w-1](k, &a[0], &b[0], &c[0], ldc, p)
}

func narrowAVX2(s, w, k int, a, b, c []float32, ldc int, p *kparams) {
	// Bounds the assembly relies on, as in narrowAVX512; it also reads up
	// to 7 floats past the last step of A, which every packed A buffer
	// has room for (PackA, buffer).
	_ = a[s*p.rows*k-1]
	_ = b[w*k-1]
	_ = c[((s-1)*6+p.rows-1)*ldc+w-1]
	avx2NarrowKernels[s-1][w-1](k, &a[0], &b[0], &c[0], ldc, p)
}

func tileAVX2(mr, ncols, k int, a, b, c []float32, ldc int, p *kparams) {
	if ncols < 16 {
		p.flags |= flagPartial
	}
	p.tiles = 1
	if p.vcols != ncols {
		p.vmask = avx2Masks[min(ncols, 16)]
		p.vcols = ncols
	}
	d := 0
	if p.flags&flagDirectA != 0 {
		d = 1
	}
	avx2Kernels[d][mr-1](k, &a[0], &b[0], &c[0], ldc, p)
}

// tilesAVX2 computes count whole 16-column tiles in one kernel call.
func tilesAVX2(mr, count, k int, a, b, c []float32, ldc int, p *kparams) {
	_ = b[count*16*k-1]
	_ = c[(mr-1)*ldc+count*16-1]
	p.tiles = count
	if p.vcols != 16 {
		p.vmask = avx2Masks[16]
		p.vcols = 16
	}
	d := 0
	if p.flags&flagDirectA != 0 {
		d = 1
	}
	avx2Kernels[d][mr-1](k, &a[0], &b[0], &c[0], ldc, p)
}

// avx2Masks[n] selects the first n of 16 lanes (VMASKMOVPS masks).
var avx2Masks = func() (m [17][16]int32) {
	for n := range m {
		for j := range n {
			m[n][j] = -1
		}
	}
	return m
}()

// packAVX2 is packGo with AVX2 moves for 16-wide slivers of rows of B and
// whole six-row slivers of A.
func packAVX2(dst, src []float32, base, ld, k, rows, stride int, gather bool) {
	if gather && rows == 6 && stride == 6 && k >= 8 {
		// Eight steps an iteration of the assembly, the rest in Go.
		n := k / 8
		_ = src[base+5*ld+8*n-1]
		_ = dst[48*n-1]
		gather6AVX2(&dst[0], &src[base], ld, n, &avx2Masks[6])
		if k > 8*n {
			packGo(dst[48*n:], src, base+8*n, ld, k-8*n, rows, stride, gather)
		}
		return
	}
	if gather || stride != 16 || rows < 1 || rows > 16 || k == 0 {
		packGo(dst, src, base, ld, k, rows, stride, gather)
		return
	}
	// Bounds the assembly relies on: the values of the last step, and
	// k whole steps of dst.
	_ = src[base+(k-1)*ld+rows-1]
	_ = dst[k*16-1]
	var mask *[16]int32
	if rows < 16 {
		mask = &avx2Masks[rows]
	}
	copyPack16AVX2(&dst[0], &src[base], ld, k, mask)
}

// packAVX512 is packGo with AVX-512 gathers and masked moves.
func packAVX512(dst, src []float32, base, ld, k, rows, stride int, gather bool) {
	if k == 0 {
		return
	}
	if ld >= 1<<25 || rows > 32 || stride > 32 {
		packGo(dst, src, base, ld, k, rows, stride, gather)
		return
	}
	last := base + (k-1)*ld + rows - 1
	if gather {
		last = base + (rows-1)*ld + k - 1
	}
	_ = src[last]
	_ = dst[k*stride-1]
	gmask := uint32(uint64(1)<<rows - 1)
	smask := uint32(uint64(1)<<stride - 1)
	if gather {
		gatherPack(&dst[0], &src[base], ld, k, gmask, smask)
	} else {
		copyPack(&dst[0], &src[base], ld, k, gmask, smask)
	}
}
