package gemm

import "fmt"

// PackedA is a matrix op(A) packed once for use as the left operand of many
// products, such as the weights of a convolution computed as
// W[Cout x K] * col[K x HW]. It is read-only after PackA and may be used by
// concurrent calls.
type PackedA struct {
	ks   *kernelSet
	m, k int
	data []float32
	// A view made by Rows holds rows [r0, r0+m) of a packing of ld rows.
	ld, r0 int
}

// PackA packs op(A), an m x k matrix stored row-major with row stride lda
// (transposed, as k x m, when transA), for SgemmPackedA.
func PackA(transA bool, m, k int, a []float32, lda int) *PackedA {
	if m < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative dimension m=%d k=%d", m, k))
	}
	if transA {
		checkMatrix("A", k, m, a, lda)
	} else {
		checkMatrix("A", m, k, a, lda)
	}
	ks := current.Load()
	pa := &PackedA{ks: ks, m: m, k: k, data: make([]float32, m*k, m*k+packSlack), ld: m}
	kc := blockDepth(k, ks.kc)
	for k0 := 0; k0 < k; k0 += kc {
		kb := min(kc, k-k0)
		ks.packA(pa.data[k0*m:], transA, a, lda, 0, m, k0, kb)
	}
	return pa
}

// Unpack writes the packed matrix back into a, row-major m x k with row
// stride lda: the inverse of PackA(false, m, k, a, lda), bit for bit (for
// PackA(true, ...), the transpose of its argument). pa must not be a view
// made by Rows.
func (pa *PackedA) Unpack(a []float32, lda int) {
	if pa.r0 != 0 || pa.ld != pa.m {
		panic("gemm: Unpack of a view of packed rows")
	}
	m, k := pa.m, pa.k
	checkMatrix("A", m, k, a, lda)
	mr := pa.ks.mr
	kc := blockDepth(k, pa.ks.kc)
	for k0 := 0; k0 < k; k0 += kc {
		kb := min(kc, k-k0)
		block := pa.data[k0*m:]
		for ir := 0; ir < m; ir += mr {
			h := min(mr, m-ir)
			s := block[ir*kb : ir*kb+h*kb]
			for r := range h {
				row := a[(ir+r)*lda+k0:][:kb]
				for p := range row {
					row[p] = s[p*h+r]
				}
			}
		}
	}
}

// packSlack is the room past the end of a packed A buffer that kernels
// may read (not use): the AVX2 narrow kernels load eight floats of a
// sliver of fewer rows a k step.
const packSlack = 8

// Dims returns the dimensions of op(A): m rows and k columns.
func (pa *PackedA) Dims() (m, k int) { return pa.m, pa.k }

// RowAlign is the granularity of Rows: the height of the packed slivers.
func (pa *PackedA) RowAlign() int { return pa.ks.mr }

// Rows returns the packed rows [i0, i1) of op(A) without copying them, for
// splitting a product by rows. i0 must be a multiple of RowAlign, and so
// must i1 unless it is the last row.
func (pa *PackedA) Rows(i0, i1 int) *PackedA {
	if i0 < 0 || i1 < i0 || i1 > pa.m || i0%pa.ks.mr != 0 || i1%pa.ks.mr != 0 && i1 != pa.m {
		panic(fmt.Sprintf("gemm: rows [%d, %d) of a packed %d-row matrix (alignment %d)", i0, i1, pa.m, pa.ks.mr))
	}
	v := *pa
	v.m, v.r0 = i1-i0, pa.r0+i0
	return &v
}

// panel returns the packed A from row i (of the view) in the k block that
// starts at k0 and is kb deep.
func (pa *PackedA) panel(k0, kb, i int) []float32 {
	return pa.data[k0*pa.ld+(pa.r0+i)*kb:]
}

// SgemmPackedA computes C = alpha*op(A)*op(B) + beta*C like SgemmWith, with
// op(A) (m x k) packed in advance by PackA. op(B) is k x n; opt may be nil.
func SgemmPackedA(pa *PackedA, transB bool, n int, alpha float32, b []float32, ldb int, beta float32, c []float32, ldc int, opt *Options) {
	if n < 0 {
		panic(fmt.Sprintf("gemm: negative dimension n=%d", n))
	}
	pr := problem{ks: pa.ks, pa: pa}
	pr.setup(transB, pa.m, n, pa.k, alpha, b, ldb, beta, c, ldc, opt)
	pr.run()
}
