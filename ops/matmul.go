package ops

// Gemm and MatMul, after the ONNX operator specification (Gemm-1 to -13:
// https://onnx.ai/onnx/operators/onnx__Gemm.html; MatMul-1 to -13, with
// numpy.matmul semantics: https://onnx.ai/onnx/operators/onnx__MatMul.html).
// Both run on gemm.Sgemm; mmParallel spreads one product over goroutines
// and is shared with Conv.

import (
	"errors"
	"fmt"

	"github.com/gradcam/gradcam/gemm"
	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/tensor"
)

func init() {
	Register("Gemm", newGemm)
	Register("MatMul", newMatMul)
}

// mmParallel computes C = alpha*op(A)*op(B) + beta*C exactly as gemm.Sgemm
// does, with rowBias (nil, or m values) added to the rows of C, on at most
// ctx's thread count goroutines (gemm splits large products itself).
func mmParallel(ctx *Ctx, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, rowBias []float32) {
	if m == 0 || n == 0 {
		return
	}
	gemm.SgemmWith(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, &gemm.Options{Threads: ctx.threadCount(), RowBias: rowBias})
}

// gemmOp is a built Gemm node: Y = alpha*op(A)*op(B) + beta*C.
type gemmOp struct {
	alpha, beta    float32
	transA, transB bool
}

func newGemm(n *graph.Node, opset int64) (Op, error) {
	// Opsets before 7 had a "broadcast" attribute; C broadcasting is
	// accepted whatever it says.
	return &gemmOp{
		alpha:  n.AttrFloat("alpha", 1),
		beta:   n.AttrFloat("beta", 1),
		transA: n.AttrInt("transA", 0) != 0,
		transB: n.AttrInt("transB", 0) != 0,
	}, nil
}

// gemmDims checks the shapes (c may be nil) and returns M, N, K.
func (o *gemmOp) gemmDims(a, b, c []int) (m, n, k int, err error) {
	if len(a) != 2 || len(b) != 2 {
		return 0, 0, 0, fmt.Errorf("Gemm needs 2-D A and B, got %v and %v", a, b)
	}
	m, k = a[0], a[1]
	if o.transA {
		m, k = k, m
	}
	kb, n := b[0], b[1]
	if o.transB {
		kb, n = n, kb
	}
	if k != kb {
		return 0, 0, 0, fmt.Errorf("Gemm inner dimensions differ: op(A) is %dx%d, op(B) is %dx%d", m, k, kb, n)
	}
	if c != nil {
		if _, _, err := gemmBiasStrides(c, m, n); err != nil {
			return 0, 0, 0, err
		}
	}
	return m, n, k, nil
}

// gemmBiasStrides returns the row and column strides with which C (shape
// c) is read when broadcast to m x n (0 along a broadcast dimension).
func gemmBiasStrides(c []int, m, n int) (rs, cs int, err error) {
	if len(c) > 2 {
		return 0, 0, fmt.Errorf("Gemm C has shape %v; want rank 2 or less", c)
	}
	cm, cn := 1, 1
	if len(c) == 2 {
		cm, cn = c[0], c[1]
	} else if len(c) == 1 {
		cn = c[0]
	}
	if (cm != 1 && cm != m) || (cn != 1 && cn != n) {
		return 0, 0, fmt.Errorf("Gemm C of shape %v does not broadcast to [%d %d]", c, m, n)
	}
	if cm != 1 {
		rs = cn
	}
	if cn != 1 {
		cs = 1
	}
	return rs, cs, nil
}

// Infer implements Op.
func (o *gemmOp) Infer(in []Value) ([]Value, error) {
	if len(in) < 2 {
		return nil, errors.New("Gemm needs inputs A and B")
	}
	var c []int
	if len(in) > 2 && in[2].DType != 0 {
		c = in[2].Shape
		if c == nil {
			c = []int{}
		}
	}
	for i, v := range in {
		if v.DType != 0 && v.DType != tensor.Float32 {
			return nil, fmt.Errorf("input %d is %s; Gemm needs float", i, v.DType)
		}
	}
	m, n, _, err := o.gemmDims(in[0].Shape, in[1].Shape, c)
	if err != nil {
		return nil, err
	}
	return []Value{{DType: tensor.Float32, Shape: []int{m, n}}}, nil
}

func (o *gemmOp) gemmArgs(in []*tensor.Tensor) (a, b, c *tensor.Tensor, m, n, k int, err error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, nil, nil, 0, 0, 0, errors.New("Gemm needs inputs A and B")
	}
	a, b = in[0], in[1]
	if len(in) > 2 {
		c = in[2]
	}
	for i, t := range []*tensor.Tensor{a, b, c} {
		if t != nil && t.DType != tensor.Float32 {
			return nil, nil, nil, 0, 0, 0, fmt.Errorf("input %d is %s; Gemm needs float", i, t.DType)
		}
	}
	var cs []int
	if c != nil {
		cs = c.Shape
		if cs == nil {
			cs = []int{}
		}
	}
	m, n, k, err = o.gemmDims(a.Shape, b.Shape, cs)
	return a, b, c, m, n, k, err
}

// Forward implements Op.
func (o *gemmOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	a, b, c, m, n, k, err := o.gemmArgs(in)
	if err != nil {
		return nil, err
	}
	y := tensor.Zeros(m, n)
	var beta float32
	if c != nil && o.beta != 0 {
		rs, cs, _ := gemmBiasStrides(c.Shape, m, n)
		for i := range m {
			row := y.F[i*n : (i+1)*n]
			for j := range row {
				row[j] = o.beta * c.F[i*rs+j*cs]
			}
		}
		beta = 1
	}
	if m <= gemmFewRows && n > m {
		gemmFewRowsForward(ctx, o.transA, o.transB, m, n, k, o.alpha, a.F, a.Shape[1], b.F, b.Shape[1], beta, y.F)
		return []*tensor.Tensor{y}, nil
	}
	mmParallel(ctx, o.transA, o.transB, m, n, k, o.alpha, a.F, a.Shape[1], b.F, b.Shape[1], beta, y.F, n, nil)
	return []*tensor.Tensor{y}, nil
}

// gemmFewRows is the most rows of A (images of a batch, for a dense
// layer) for which Gemm computes the transposed product.
const gemmFewRows = 32

// gemmFewRowsForward computes y = alpha*op(A)*op(B) + beta*y (m x n, few
// rows) as its transpose, yᵀ = alpha*op(B)ᵀ*op(A)ᵀ + beta*yᵀ: the large
// matrix op(B)ᵀ, the weights of a dense layer, is then the left operand,
// which gemm reads in place for so few columns instead of packing all of
// it on every call.
func gemmFewRowsForward(ctx *Ctx, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, y []float32) {
	if m == 1 && transB {
		// One image and weights stored as rows: dot products, which
		// read the weights at the memory's pace.
		gemvRows(ctx, n, alpha, b, ldb, a[:k], beta, y)
		return
	}
	var yt []float32
	if m == 1 {
		yt = y // a row and a column hold the same values
	} else {
		yt = make([]float32, n*m)
		if beta != 0 {
			for i := range m {
				for j := range n {
					yt[j*m+i] = y[i*n+j]
				}
			}
		}
	}
	// op(B)ᵀ is B as stored when transB, and op(A)ᵀ as the right operand
	// is A transposed back unless transA. The rows of yᵀ are shared out
	// over the crew: the product streams the weights from memory, and two
	// cores stream faster than one.
	threads := ctx.threadCount()
	per := n
	if threads > 1 && n*k >= 1<<18 {
		per = (n + threads - 1) / threads
	}
	parts := (n + per - 1) / per
	crew.do(parts, threads-1, func(i int) {
		r0, r1 := i*per, min((i+1)*per, n)
		bs := b[r0*ldb:] // rows r0.. of op(B)ᵀ stored as rows of B
		if !transB {
			bs = b[r0:] // its columns
		}
		gemm.SgemmWith(!transB, !transA, r1-r0, m, k, alpha, bs, ldb, a, lda, beta, yt[r0*m:], m, &gemm.Options{Threads: 1})
	})
	if m > 1 {
		for i := range m {
			for j := range n {
				y[i*n+j] = yt[j*m+i]
			}
		}
	}
}

// Backward implements Differentiable. With Y = alpha*op(A)*op(B) + beta*C:
// d op(A) = alpha*dY*op(B)ᵀ, d op(B) = alpha*op(A)ᵀ*dY, and dC is beta*dY
// summed over the broadcast dimensions of C.
func (o *gemmOp) Backward(ctx *Ctx, in, out, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	a, b, c, m, n, k, err := o.gemmArgs(in)
	if err != nil {
		return nil, err
	}
	grads := make([]*tensor.Tensor, len(in))
	needs := func(i int) bool { return i < len(need) && need[i] && i < len(in) && in[i] != nil }
	var dy []float32
	if len(gradOut) > 0 && gradOut[0] != nil {
		dy = gradOut[0].F
	}
	lda, ldb := a.Shape[1], b.Shape[1]
	if needs(0) {
		da := tensor.Zeros(a.Shape...)
		if dy != nil && !o.transA && m <= gemmFewRows {
			gemmFewRowsBackward(ctx, o.transB, m, n, k, o.alpha, dy, b.F, ldb, da.F)
		} else if dy != nil {
			if !o.transA {
				// dA (m x k) = alpha * dY * op(B)ᵀ
				mmParallel(ctx, false, !o.transB, m, k, n, o.alpha, dy, n, b.F, ldb, 0, da.F, lda, nil)
			} else {
				// dA (k x m) = alpha * op(B) * dYᵀ
				mmParallel(ctx, o.transB, true, k, m, n, o.alpha, b.F, ldb, dy, n, 0, da.F, lda, nil)
			}
		}
		grads[0] = da
	}
	if needs(1) {
		db := tensor.Zeros(b.Shape...)
		if dy != nil {
			if !o.transB {
				// dB (k x n) = alpha * op(A)ᵀ * dY
				mmParallel(ctx, !o.transA, false, k, n, m, o.alpha, a.F, lda, dy, n, 0, db.F, ldb, nil)
			} else {
				// dB (n x k) = alpha * dYᵀ * op(A)
				mmParallel(ctx, true, o.transA, n, k, m, o.alpha, dy, n, a.F, lda, 0, db.F, ldb, nil)
			}
		}
		grads[1] = db
	}
	if needs(2) {
		dc := tensor.Zeros(c.Shape...)
		if dy != nil {
			rs, cs, _ := gemmBiasStrides(c.Shape, m, n)
			acc := make([]float64, len(dc.F))
			for i := range m {
				for j := range n {
					acc[i*rs+j*cs] += float64(dy[i*n+j])
				}
			}
			for i, v := range acc {
				dc.F[i] = o.beta * float32(v)
			}
		}
		grads[2] = dc
	}
	return grads, nil
}

// gemmFewRowsBackward computes dA = alpha * dY * op(B)ᵀ for few rows (m),
// dA being m x k (zero on entry), reading B once, in place: with transB,
// op(B)ᵀ is B as stored (n x k) and each row of dA is a sum of rows of B
// weighted by dY (zero weights skipped: a one-hot seed reads one row);
// otherwise dAᵀ = B * dYᵀ, a product gemm reads B for in place.
func gemmFewRowsBackward(ctx *Ctx, transB bool, m, n, k int, alpha float32, dy, b []float32, ldb int, da []float32) {
	if !transB {
		dt := make([]float32, k*m)
		mmParallel(ctx, false, true, k, m, n, alpha, b, ldb, dy, n, 0, dt, m, nil)
		for i := range m {
			for j := range k {
				da[i*k+j] = dt[j*m+i]
			}
		}
		return
	}
	parallelFor(ctx, k, 1<<13, func(lo, hi int) {
		for r := range m {
			row := da[r*k+lo : r*k+hi]
			for i, g := range dy[r*n : (r+1)*n] {
				if g != 0 {
					axpy(row, b[i*ldb+lo:], g)
				}
			}
			if alpha != 1 {
				for j := range row {
					row[j] *= alpha
				}
			}
		}
	})
}

// matMulOp is a built MatMul node.
type matMulOp struct{}

func newMatMul(n *graph.Node, opset int64) (Op, error) { return matMulOp{}, nil }

// mmPlan is a MatMul resolved for concrete shapes: batch matrices
// Y[i] = A[aIdx[i]] * B[bIdx[i]], each m x k times k x n.
type mmPlan struct {
	m, n, k    int
	out        []int // output shape
	batch      int
	aIdx, bIdx []int // batch index of A and B for each output matrix
	aDistinct  bool  // A is not broadcast over the batch
	bDistinct  bool
	bShared    bool // B is one matrix used by every batch entry
}

// matMulPlan applies numpy.matmul rules: a 1-D A is a row vector and a 1-D
// B a column vector, their added dimension removed from the result; the
// leading (batch) dimensions broadcast.
func matMulPlan(a, b []int) (*mmPlan, error) {
	if len(a) == 0 || len(b) == 0 {
		return nil, fmt.Errorf("MatMul of shapes %v and %v: scalars are not allowed", a, b)
	}
	p := &mmPlan{}
	a2, b2 := a, b
	if len(a) == 1 {
		a2 = []int{1, a[0]}
	}
	if len(b) == 1 {
		b2 = []int{b[0], 1}
	}
	p.m, p.k = a2[len(a2)-2], a2[len(a2)-1]
	var kb int
	kb, p.n = b2[len(b2)-2], b2[len(b2)-1]
	if p.k != kb {
		return nil, fmt.Errorf("MatMul of shapes %v and %v: inner dimensions %d and %d differ", a, b, p.k, kb)
	}
	ab, bb := a2[:len(a2)-2], b2[:len(b2)-2]
	batch, err := tensor.BroadcastShape(ab, bb)
	if err != nil {
		return nil, fmt.Errorf("MatMul of shapes %v and %v: %w", a, b, err)
	}
	p.batch = tensor.Size(batch)
	p.aIdx = mmBatchIndex(batch, ab)
	p.bIdx = mmBatchIndex(batch, bb)
	p.aDistinct = tensor.Size(ab) == p.batch
	p.bDistinct = tensor.Size(bb) == p.batch
	p.bShared = tensor.Size(bb) == 1
	p.out = append([]int(nil), batch...)
	if len(a) > 1 {
		p.out = append(p.out, p.m)
	}
	if len(b) > 1 {
		p.out = append(p.out, p.n)
	}
	return p, nil
}

// mmBatchIndex maps each flat index of shape out to the flat index of the
// right-aligned, broadcast shape sub.
func mmBatchIndex(out, sub []int) []int {
	total := tensor.Size(out)
	idx := make([]int, total)
	if tensor.Size(sub) == 1 {
		return idx
	}
	subStr := tensor.Strides(sub)
	off := len(out) - len(sub)
	coord := make([]int, len(out))
	for i := range total {
		s := 0
		for d := off; d < len(out); d++ {
			if sub[d-off] != 1 {
				s += coord[d] * subStr[d-off]
			}
		}
		idx[i] = s
		for d := len(out) - 1; d >= 0; d-- {
			coord[d]++
			if coord[d] < out[d] {
				break
			}
			coord[d] = 0
		}
	}
	return idx
}

// Infer implements Op.
func (matMulOp) Infer(in []Value) ([]Value, error) {
	if len(in) < 2 {
		return nil, errors.New("MatMul needs two inputs")
	}
	for i, v := range in[:2] {
		if v.DType != tensor.Float32 {
			return nil, fmt.Errorf("input %d is %s; MatMul needs float", i, v.DType)
		}
	}
	p, err := matMulPlan(in[0].Shape, in[1].Shape)
	if err != nil {
		return nil, err
	}
	return []Value{{DType: tensor.Float32, Shape: p.out}}, nil
}

func matMulArgs(in []*tensor.Tensor) (a, b *tensor.Tensor, p *mmPlan, err error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, nil, nil, errors.New("MatMul needs two inputs")
	}
	a, b = in[0], in[1]
	if a.DType != tensor.Float32 || b.DType != tensor.Float32 {
		return nil, nil, nil, fmt.Errorf("MatMul of %s and %s: only float is supported", a.DType, b.DType)
	}
	p, err = matMulPlan(a.Shape, b.Shape)
	return a, b, p, err
}

// Forward implements Op.
func (matMulOp) Forward(ctx *Ctx, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	a, b, p, err := matMulArgs(in)
	if err != nil {
		return nil, err
	}
	y := tensor.Zeros(p.out...)
	m, n, k := p.m, p.n, p.k
	if p.bShared && p.aDistinct {
		// One product with the batch folded into the rows.
		mmParallel(ctx, false, false, p.batch*m, n, k, 1, a.F, k, b.F, n, 0, y.F, n, nil)
		return []*tensor.Tensor{y}, nil
	}
	convTasks(ctx, p.batch, 0, func(i int, _ []float32, inner *Ctx) {
		mmParallel(inner, false, false, m, n, k, 1, a.F[p.aIdx[i]*m*k:], k, b.F[p.bIdx[i]*k*n:], n, 0, y.F[i*m*n:], n, nil)
	})
	return []*tensor.Tensor{y}, nil
}

// Backward implements Differentiable: dA[i] = dY[i]*B[i]ᵀ and dB[i] =
// A[i]ᵀ*dY[i], summed over the batch entries a broadcast input is used by.
func (matMulOp) Backward(ctx *Ctx, in, out, gradOut []*tensor.Tensor, need []bool) ([]*tensor.Tensor, error) {
	a, b, p, err := matMulArgs(in)
	if err != nil {
		return nil, err
	}
	grads := make([]*tensor.Tensor, len(in))
	needs := func(i int) bool { return i < len(need) && need[i] }
	var dy []float32
	if len(gradOut) > 0 && gradOut[0] != nil {
		dy = gradOut[0].F
	}
	m, n, k := p.m, p.n, p.k
	if needs(0) {
		da := tensor.Zeros(a.Shape...)
		switch {
		case dy == nil:
		case p.bShared && p.aDistinct:
			mmParallel(ctx, false, true, p.batch*m, k, n, 1, dy, n, b.F, n, 0, da.F, k, nil)
		case p.aDistinct:
			convTasks(ctx, p.batch, 0, func(i int, _ []float32, inner *Ctx) {
				mmParallel(inner, false, true, m, k, n, 1, dy[i*m*n:], n, b.F[p.bIdx[i]*k*n:], n, 0, da.F[p.aIdx[i]*m*k:], k, nil)
			})
		default:
			for i := range p.batch {
				mmParallel(ctx, false, true, m, k, n, 1, dy[i*m*n:], n, b.F[p.bIdx[i]*k*n:], n, 1, da.F[p.aIdx[i]*m*k:], k, nil)
			}
		}
		grads[0] = da
	}
	if needs(1) {
		db := tensor.Zeros(b.Shape...)
		switch {
		case dy == nil:
		case p.bShared && p.aDistinct:
			mmParallel(ctx, true, false, k, n, p.batch*m, 1, a.F, k, dy, n, 0, db.F, n, nil)
		case p.bDistinct:
			convTasks(ctx, p.batch, 0, func(i int, _ []float32, inner *Ctx) {
				mmParallel(inner, true, false, k, n, m, 1, a.F[p.aIdx[i]*m*k:], k, dy[i*m*n:], n, 0, db.F[p.bIdx[i]*k*n:], n, nil)
			})
		default:
			for i := range p.batch {
				mmParallel(ctx, true, false, k, n, m, 1, a.F[p.aIdx[i]*m*k:], k, dy[i*m*n:], n, 1, db.F[p.bIdx[i]*k*n:], n, nil)
			}
		}
		grads[1] = db
	}
	return grads, nil
}
