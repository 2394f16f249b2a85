// Package tensor holds the dense n-dimensional arrays that flow through a
// model: float32 activations and int64 shape and index values, stored
// row-major (C order).
package tensor

import (
	"fmt"
	"math"
	"strings"
)

// DType is the element type of a Tensor.
type DType uint8

// The element types a Tensor can hold. Every floating-point ONNX type is
// computed as Float32; every integer and boolean type as Int64.
const (
	Float32 DType = iota + 1
	Int64
)

func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Int64:
		return "int64"
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Tensor is a dense row-major array. Exactly one of F and I holds the data,
// as DType says. Shape may be empty for a scalar.
type Tensor struct {
	DType DType
	Shape []int
	F     []float32 // data when DType is Float32
	I     []int64   // data when DType is Int64
}

// New returns a zero tensor of the given type and shape.
func New(dtype DType, shape ...int) *Tensor {
	n := Size(shape)
	t := &Tensor{DType: dtype, Shape: append([]int(nil), shape...)}
	switch dtype {
	case Float32:
		t.F = make([]float32, n)
	case Int64:
		t.I = make([]int64, n)
	default:
		panic("tensor: unknown dtype " + dtype.String())
	}
	return t
}

// Zeros returns a float32 zero tensor of the given shape.
func Zeros(shape ...int) *Tensor { return New(Float32, shape...) }

// FromFloat32 wraps data (not copied) as a float32 tensor. It panics if the
// length of data does not match the shape.
func FromFloat32(shape []int, data []float32) *Tensor {
	if Size(shape) != len(data) {
		panic(fmt.Sprintf("tensor: %d values for shape %v", len(data), shape))
	}
	return &Tensor{DType: Float32, Shape: append([]int(nil), shape...), F: data}
}

// FromInt64 wraps data (not copied) as an int64 tensor. It panics if the
// length of data does not match the shape.
func FromInt64(shape []int, data []int64) *Tensor {
	if Size(shape) != len(data) {
		panic(fmt.Sprintf("tensor: %d values for shape %v", len(data), shape))
	}
	return &Tensor{DType: Int64, Shape: append([]int(nil), shape...), I: data}
}

// Scalar returns a rank-0 float32 tensor.
func Scalar(v float32) *Tensor { return &Tensor{DType: Float32, F: []float32{v}} }

// Len returns the number of elements.
func (t *Tensor) Len() int { return Size(t.Shape) }

// Rank returns the number of dimensions.
func (t *Tensor) Rank() int { return len(t.Shape) }

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{DType: t.DType, Shape: append([]int(nil), t.Shape...)}
	if t.F != nil {
		c.F = append([]float32(nil), t.F...)
	}
	if t.I != nil {
		c.I = append([]int64(nil), t.I...)
	}
	return c
}

// Reshaped returns a tensor sharing t's data with another shape of the same size.
func (t *Tensor) Reshaped(shape ...int) *Tensor {
	if Size(shape) != t.Len() {
		panic(fmt.Sprintf("tensor: cannot reshape %v to %v", t.Shape, shape))
	}
	return &Tensor{DType: t.DType, Shape: append([]int(nil), shape...), F: t.F, I: t.I}
}

// Int64s returns the values as int64, converting float32 values by truncation.
func (t *Tensor) Int64s() []int64 {
	if t.DType == Int64 {
		return t.I
	}
	out := make([]int64, len(t.F))
	for i, v := range t.F {
		out[i] = int64(v)
	}
	return out
}

// Float32s returns the values as float32, converting int64 values.
func (t *Tensor) Float32s() []float32 {
	if t.DType == Float32 {
		return t.F
	}
	out := make([]float32, len(t.I))
	for i, v := range t.I {
		out[i] = float32(v)
	}
	return out
}

// At returns the element at the given index as float64.
func (t *Tensor) At(idx ...int) float64 {
	off := Offset(t.Shape, idx)
	if t.DType == Int64 {
		return float64(t.I[off])
	}
	return float64(t.F[off])
}

// String gives the type, the shape and the first few values.
func (t *Tensor) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s%v", t.DType, t.Shape)
	n := min(t.Len(), 8)
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(" ")
		}
		if t.DType == Int64 {
			fmt.Fprint(&b, t.I[i])
		} else {
			fmt.Fprint(&b, t.F[i])
		}
	}
	if t.Len() > n {
		b.WriteString(" ...")
	}
	b.WriteString("]")
	return b.String()
}

// Size returns the number of elements of a shape (1 for a scalar).
func Size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Strides returns the row-major element strides of a shape.
func Strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// Offset returns the flat row-major offset of an index.
func Offset(shape, idx []int) int {
	if len(idx) != len(shape) {
		panic(fmt.Sprintf("tensor: index %v for shape %v", idx, shape))
	}
	off := 0
	for i, d := range shape {
		if idx[i] < 0 || idx[i] >= d {
			panic(fmt.Sprintf("tensor: index %v out of range for shape %v", idx, shape))
		}
		off = off*d + idx[i]
	}
	return off
}

// EqualShape reports whether two shapes are the same.
func EqualShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// BroadcastShape returns the numpy-broadcast shape of a and b, or an error
// when they are not compatible.
func BroadcastShape(a, b []int) ([]int, error) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := range n {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			out[i] = da
		case da == 1:
			out[i] = db
		case db == 1:
			out[i] = da
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

// MaxAbsDiff returns the largest absolute difference between two float32
// slices of equal length (NaN if they differ in length or hold a NaN).
func MaxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.NaN()
	}
	m := 0.0
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if d > m || d != d {
			m = d
		}
	}
	return m
}
