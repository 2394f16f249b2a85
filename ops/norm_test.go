package ops_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/internal/gradcheck"
	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

// TestBatchNormSpecExample checks the example of the ONNX
// BatchNormalization specification by the formula
// Y = (X - mean) / sqrt(var + eps) * scale + B.
func TestBatchNormSpecExample(t *testing.T) {
	x := tensor.FromFloat32([]int{1, 2, 1, 3}, []float32{-1, 0, 1, 2, 3, 4})
	s := tensor.FromFloat32([]int{2}, []float32{1, 1.5})
	b := tensor.FromFloat32([]int{2}, []float32{0, 1})
	mean := tensor.FromFloat32([]int{2}, []float32{0, 3})
	vr := tensor.FromFloat32([]int{2}, []float32{1, 1.5})
	op := cvBuild(t, cvNode("BatchNormalization", 1, cvFloat("epsilon", 1e-2)), 15)
	out := cvRun(t, op, nil, []*tensor.Tensor{x, s, b, mean, vr})
	r0, r1 := 1/math.Sqrt(1.01), 1.5/math.Sqrt(1.51)
	want := []float64{-r0, 0, r0, 1 - r1, 1, 1 + r1}
	cvClose(t, "Y", out[0].F, want, 1e-6)
}

func bnInputs(seed uint64, x []int, param []int) []*tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 3))
	return []*tensor.Tensor{
		gradcheck.Rand(r, -2, 2, x...),
		gradcheck.Rand(r, 0.5, 1.5, param...),
		gradcheck.Rand(r, -1, 1, param...),
		gradcheck.Rand(r, -0.5, 0.5, param...),
		gradcheck.Rand(r, 0.3, 1.5, param...),
	}
}

func TestBatchNorm(t *testing.T) {
	cases := []struct {
		name  string
		opset int64
		attrs []*graph.Attr
		x     []int
		param []int
	}{
		{"NCHW", 15, nil, []int{2, 3, 4, 5}, []int{3}},
		{"NC", 15, nil, []int{4, 3}, []int{3}},
		{"NCL", 9, []*graph.Attr{cvFloat("epsilon", 1e-3)}, []int{2, 3, 7}, []int{3}},
		{"NCDHW", 14, []*graph.Attr{cvInt("training_mode", 0)}, []int{1, 2, 3, 2, 2}, []int{2}},
		{"opset 6 is_test", 6, []*graph.Attr{cvInt("is_test", 1), cvInts("consumed_inputs", 0, 0, 0, 1, 1)}, []int{2, 3, 2, 2}, []int{3}},
		{"opset 7 spatial 0", 7, []*graph.Attr{cvInt("spatial", 0)}, []int{2, 3, 2, 4}, []int{3, 2, 4}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op := cvBuild(t, cvNode("BatchNormalization", 1, c.attrs...), c.opset)
			in := bnInputs(uint64(i), c.x, c.param)
			eps := 1e-5
			for _, a := range c.attrs {
				if a.Name == "epsilon" {
					eps = float64(a.F)
				}
			}
			out := cvRun(t, op, nil, in)
			channels, inner := c.x[1], tensor.Size(c.x[2:])
			per := tensor.Size(c.param) / channels // parameters per channel
			want := make([]float64, len(in[0].F))
			for j := range want {
				ch := j / inner % channels
				k := ch*per + (j%inner)%per
				p := func(t int) float64 { return float64(in[t].F[k]) }
				want[j] = (float64(in[0].F[j])-p(3))/math.Sqrt(p(4)+eps)*p(1) + p(2)
			}
			cvClose(t, "Y", out[0].F, want, 1e-5)
			gradcheck.Check(t, op, in, []bool{true, true, true, true, true}, gradcheck.Options{Seed: uint64(i)})
		})
	}
}

func TestBatchNormRefusesTraining(t *testing.T) {
	for _, n := range []*graph.Node{
		cvNode("BatchNormalization", 1, cvInt("training_mode", 1)),
		cvNode("BatchNormalization", 3),
	} {
		if _, err := ops.New(n, 15); err == nil {
			t.Errorf("New accepted a training-mode BatchNormalization (%d outputs)", len(n.Outputs))
		}
	}
	op := cvBuild(t, cvNode("BatchNormalization", 1), 15)
	in := []ops.Value{
		{DType: tensor.Float32, Shape: []int{1, 3, 2, 2}},
		{DType: tensor.Float32, Shape: []int{4}}, {DType: tensor.Float32, Shape: []int{4}},
		{DType: tensor.Float32, Shape: []int{4}}, {DType: tensor.Float32, Shape: []int{4}},
	}
	if _, err := op.Infer(in); err == nil {
		t.Error("Infer accepted 4 parameters for 3 channels")
	}
}

// refLayerNorm normalises x over its trailing inner elements in float64.
func refLayerNorm(x, scale, bias []float32, inner int, eps float64) (y, mean, rstd []float64) {
	for r := 0; r < len(x)/inner; r++ {
		xs := x[r*inner : (r+1)*inner]
		var m, v float64
		for _, e := range xs {
			m += float64(e)
		}
		m /= float64(inner)
		for _, e := range xs {
			v += (float64(e) - m) * (float64(e) - m)
		}
		v /= float64(inner)
		rs := 1 / math.Sqrt(v+eps)
		mean, rstd = append(mean, m), append(rstd, rs)
		for i, e := range xs {
			o := (float64(e) - m) * rs * float64(scale[i])
			if bias != nil {
				o += float64(bias[i])
			}
			y = append(y, o)
		}
	}
	return y, mean, rstd
}

func TestLayerNorm(t *testing.T) {
	cases := []struct {
		name        string
		x           []int
		axis        int64 // 99: attribute absent (default -1)
		scale, bias []int // bias nil: no bias input
		eps         float32
	}{
		{"default axis", []int{2, 3, 5}, 99, []int{5}, []int{5}, 0},
		{"axis 1", []int{2, 3, 4}, 1, []int{3, 4}, []int{3, 4}, 1e-3},
		{"axis 0", []int{2, 3}, 0, []int{2, 3}, []int{2, 3}, 0},
		{"axis -2 no bias", []int{3, 2, 4}, -2, []int{2, 4}, nil, 0},
		{"broadcast scale", []int{2, 3, 4}, 1, []int{4}, []int{1, 4}, 0},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var attrs []*graph.Attr
			if c.axis != 99 {
				attrs = append(attrs, cvInt("axis", c.axis))
			}
			eps := 1e-5
			if c.eps != 0 {
				attrs = append(attrs, cvFloat("epsilon", c.eps))
				eps = float64(c.eps)
			}
			op := cvBuild(t, cvNode("LayerNormalization", 3, attrs...), 17)
			in := []*tensor.Tensor{cvRand(uint64(i), c.x...), cvRand(uint64(i)+1, c.scale...)}
			if c.bias != nil {
				in = append(in, cvRand(uint64(i)+2, c.bias...))
			}
			axis := int(c.axis)
			if c.axis == 99 {
				axis = -1
			}
			if axis < 0 {
				axis += len(c.x)
			}
			inner := tensor.Size(c.x[axis:])
			// Expand broadcast parameters by hand: they repeat along
			// the normalised dimensions they lack.
			expand := func(t *tensor.Tensor) []float32 {
				if t == nil {
					return nil
				}
				out := make([]float32, inner)
				for j := range out {
					out[j] = t.F[j%t.Len()]
				}
				return out
			}
			var bias []float32
			if c.bias != nil {
				bias = expand(in[2])
			}
			y, mean, rstd := refLayerNorm(in[0].F, expand(in[1]), bias, inner, eps)
			out := cvRun(t, op, nil, in)
			cvClose(t, "Y", out[0].F, y, 1e-5)
			cvClose(t, "Mean", out[1].F, mean, 1e-6)
			cvClose(t, "InvStdDev", out[2].F, rstd, 1e-5)
			statShape := append([]int(nil), c.x...)
			for j := axis; j < len(statShape); j++ {
				statShape[j] = 1
			}
			if !tensor.EqualShape(out[1].Shape, statShape) {
				t.Fatalf("Mean shape %v, want %v", out[1].Shape, statShape)
			}
			need := []bool{true, true, c.bias != nil}
			gradcheck.Check(t, op, in, need, gradcheck.Options{Seed: uint64(i)})
		})
	}
}

// refLRN is the ONNX LRN formula in float64.
func refLRN(x *tensor.Tensor, size int, alpha, beta, bias float64) []float64 {
	n, c, inner := x.Shape[0], x.Shape[1], tensor.Size(x.Shape[2:])
	y := make([]float64, len(x.F))
	for b := range n {
		for ch := range c {
			lo := max(0, ch-int(math.Floor(float64(size-1)/2)))
			hi := min(c-1, ch+int(math.Ceil(float64(size-1)/2)))
			for i := range inner {
				var sq float64
				for k := lo; k <= hi; k++ {
					v := float64(x.F[(b*c+k)*inner+i])
					sq += v * v
				}
				j := (b*c+ch)*inner + i
				y[j] = float64(x.F[j]) / math.Pow(bias+alpha/float64(size)*sq, beta)
			}
		}
	}
	return y
}

func TestLRN(t *testing.T) {
	cases := []struct {
		name              string
		x                 []int
		size              int
		alpha, beta, bias float32 // 0: attribute absent
	}{
		{"defaults size 3", []int{2, 5, 3, 3}, 3, 0, 0, 0},
		{"even size", []int{1, 6, 2, 3}, 4, 0.5, 0.6, 2},
		{"size 5 strong", []int{1, 7, 4}, 5, 1, 0.75, 1},
		{"size 1", []int{2, 3, 2, 2}, 1, 0.3, 1.2, 0.5},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			attrs := []*graph.Attr{cvInt("size", int64(c.size))}
			alpha, beta, bias := 1e-4, 0.75, 1.0
			if c.alpha != 0 {
				attrs = append(attrs, cvFloat("alpha", c.alpha), cvFloat("beta", c.beta), cvFloat("bias", c.bias))
				alpha, beta, bias = float64(c.alpha), float64(c.beta), float64(c.bias)
			}
			op := cvBuild(t, cvNode("LRN", 1, attrs...), 13)
			x := gradcheck.Rand(rand.New(rand.NewPCG(uint64(i), 1)), -2, 2, c.x...)
			out := cvRun(t, op, nil, []*tensor.Tensor{x})
			cvClose(t, "Y", out[0].F, refLRN(x, c.size, alpha, beta, bias), 1e-6)
			gradcheck.Check(t, op, []*tensor.Tensor{x}, []bool{true}, gradcheck.Options{Seed: uint64(i)})
		})
	}
	if _, err := ops.New(cvNode("LRN", 1), 13); err == nil {
		t.Error("LRN without size was accepted")
	}
}
