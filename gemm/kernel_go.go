package gemm

import "unsafe"

// goSet is the pure-Go kernel family, used where no assembly kernel runs.
var goSet = &kernelSet{
	name:  "go",
	mr:    4,
	nr:    4,
	nrMin: 4,
	kc:    256,
	nc:    512,
	mc:    256,
	pack:  packGo,
	tile:  tileGo,
}

// tileGo is the pure-Go micro-kernel: a 4x4 tile of C from slivers of 4
// rows of A and 4 columns of B per k step.
func tileGo(mr, ncols, k int, a, b, c []float32, ldc int, p *kparams) {
	var acc [16]float32
	if mr == 4 {
		var c00, c01, c02, c03, c10, c11, c12, c13 float32
		var c20, c21, c22, c23, c30, c31, c32, c33 float32
		a = a[:4*k]
		b = b[:4*k]
		for i := 0; i+4 <= len(a); i += 4 {
			av := a[i : i+4 : i+4]
			bv := b[i : i+4 : i+4]
			b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
			a0 := av[0]
			c00 += a0 * b0
			c01 += a0 * b1
			c02 += a0 * b2
			c03 += a0 * b3
			a1 := av[1]
			c10 += a1 * b0
			c11 += a1 * b1
			c12 += a1 * b2
			c13 += a1 * b3
			a2 := av[2]
			c20 += a2 * b0
			c21 += a2 * b1
			c22 += a2 * b2
			c23 += a2 * b3
			a3 := av[3]
			c30 += a3 * b0
			c31 += a3 * b1
			c32 += a3 * b2
			c33 += a3 * b3
		}
		acc = [16]float32{c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33}
	} else {
		for i := 0; i < k; i++ {
			av := a[i*mr : i*mr+mr]
			bv := b[i*4 : i*4+4]
			for r, x := range av {
				for j, y := range bv {
					acc[r*4+j] += x * y
				}
			}
		}
	}
	storeTile(&acc, 4, mr, ncols, c, ldc, p)
}

// storeTile finishes a tile computed in acc (row stride nr): it applies
// the epilogue of p and stores rows [0, mr) and columns [0, ncols) into c.
func storeTile(acc *[16]float32, nr, mr, ncols int, c []float32, ldc int, p *kparams) {
	var rowBias, colBias []float32
	if p.flags&flagRowBias != 0 {
		rowBias = unsafe.Slice(p.rowBias, mr)
	}
	if p.flags&flagColBias != 0 {
		colBias = unsafe.Slice(p.colBias, ncols)
	}
	for r := 0; r < mr; r++ {
		cr := c[r*ldc : r*ldc+ncols]
		for j := range cr {
			v := p.alpha * acc[r*nr+j]
			if p.flags&flagLoadC != 0 {
				v += p.beta * cr[j]
			}
			if rowBias != nil {
				v += rowBias[r]
			}
			if colBias != nil {
				v += colBias[j]
			}
			if p.flags&flagClamp != 0 {
				v = clamp(v, p.lo, p.hi)
			}
			cr[j] = v
		}
	}
}
