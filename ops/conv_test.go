package ops_test

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gradcam/gradcam/graph"
	"github.com/gradcam/gradcam/internal/gradcheck"
	"github.com/gradcam/gradcam/onnx"
	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

// Helpers shared by conv_test.go, pool_test.go, norm_test.go and
// matmul_test.go (prefixed cv to keep clear of other test files).

func cvInts(name string, v ...int64) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrInts, Ints: v}
}

func cvInt(name string, v int64) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrInt, I: v}
}

func cvFloat(name string, v float32) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrFloat, F: v}
}

func cvStr(name, v string) *graph.Attr {
	return &graph.Attr{Name: name, Type: graph.AttrString, S: v}
}

// cvNode builds a node with the given outputs count and attributes.
func cvNode(op string, outputs int, attrs ...*graph.Attr) *graph.Node {
	n := &graph.Node{OpType: op, Attrs: map[string]*graph.Attr{}}
	for i := range outputs {
		n.Outputs = append(n.Outputs, fmt.Sprintf("y%d", i))
	}
	for _, a := range attrs {
		if a != nil {
			n.Attrs[a.Name] = a
		}
	}
	return n
}

// cvBuild builds a differentiable op or fails the test.
func cvBuild(t *testing.T, n *graph.Node, opset int64) ops.Differentiable {
	t.Helper()
	op, err := ops.New(n, opset)
	if err != nil {
		t.Fatalf("building %s: %v", n.OpType, err)
	}
	d, ok := op.(ops.Differentiable)
	if !ok {
		t.Fatalf("%s is not differentiable", n.OpType)
	}
	return d
}

// cvValues describes inputs for Infer.
func cvValues(in []*tensor.Tensor) []ops.Value {
	v := make([]ops.Value, len(in))
	for i, t := range in {
		if t != nil {
			v[i] = ops.Value{DType: t.DType, Shape: t.Shape}
		}
	}
	return v
}

// cvRun infers and runs op, checking that Infer agrees with Forward.
func cvRun(t *testing.T, op ops.Op, ctx *ops.Ctx, in []*tensor.Tensor) []*tensor.Tensor {
	t.Helper()
	vals, err := op.Infer(cvValues(in))
	if err != nil {
		t.Fatalf("Infer: %v", err)
	}
	out, err := op.Forward(ctx, in)
	if err != nil {
		t.Fatalf("Forward: %v", err)
	}
	for i, o := range out {
		if i < len(vals) && (!tensor.EqualShape(vals[i].Shape, o.Shape) || vals[i].DType != o.DType) {
			t.Fatalf("output %d: Infer says %s%v, Forward gives %s%v", i, vals[i].DType, vals[i].Shape, o.DType, o.Shape)
		}
	}
	return out
}

// cvClose fails unless got matches want within tol relative to the
// largest magnitude of want (and at least tol absolutely).
func cvClose(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	scale := 1.0
	for _, v := range want {
		scale = math.Max(scale, math.Abs(v))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); d > tol*scale || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s: element %d is %g, want %g (diff %g)", what, i, got[i], want[i], d)
		}
	}
}

// cvRand returns a seeded random tensor in [-1, 1).
func cvRand(seed uint64, shape ...int) *tensor.Tensor {
	return gradcheck.Rand(rand.New(rand.NewPCG(seed, 11)), -1, 1, shape...)
}

// cvInts64 converts for attributes.
func cvInts64(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// refConv is a direct convolution in float64 on 1 to 3 spatial dimensions
// with explicit pads (begin values then end values), the definition in
// the ONNX Conv specification. It returns the output and its shape.
func refConv(x *tensor.Tensor, w *tensor.Tensor, b *tensor.Tensor, group int, strides, dil, pads []int) ([]float64, []int) {
	nsp := len(x.Shape) - 2
	// Lift everything to three spatial dimensions.
	in := []int{1, 1, 1}
	k := []int{1, 1, 1}
	s := []int{1, 1, 1}
	d := []int{1, 1, 1}
	pb := []int{0, 0, 0}
	pe := []int{0, 0, 0}
	for i := range nsp {
		j := 3 - nsp + i
		in[j], k[j] = x.Shape[2+i], w.Shape[2+i]
		if strides != nil {
			s[j] = strides[i]
		}
		if dil != nil {
			d[j] = dil[i]
		}
		if pads != nil {
			pb[j], pe[j] = pads[i], pads[nsp+i]
		}
	}
	n, c, m := x.Shape[0], x.Shape[1], w.Shape[0]
	cg, mg := c/group, m/group
	out := make([]int, 3)
	for j := range 3 {
		out[j] = (in[j]+pb[j]+pe[j]-(k[j]-1)*d[j]-1)/s[j] + 1
	}
	shape := append([]int{n, m}, out[3-nsp:]...)
	y := make([]float64, n*m*out[0]*out[1]*out[2])
	i := 0
	for bn := range n {
		for om := range m {
			g := om / mg
			for od := range out[0] {
				for oh := range out[1] {
					for ow := range out[2] {
						var acc float64
						if b != nil {
							acc = float64(b.F[om])
						}
						for ic := range cg {
							for kd := range k[0] {
								id := od*s[0] - pb[0] + kd*d[0]
								for kh := range k[1] {
									ih := oh*s[1] - pb[1] + kh*d[1]
									for kw := range k[2] {
										iw := ow*s[2] - pb[2] + kw*d[2]
										if id < 0 || id >= in[0] || ih < 0 || ih >= in[1] || iw < 0 || iw >= in[2] {
											continue
										}
										xv := x.F[(((bn*c+g*cg+ic)*in[0]+id)*in[1]+ih)*in[2]+iw]
										wv := w.F[(((om*cg+ic)*k[0]+kd)*k[1]+kh)*k[2]+kw]
										acc += float64(xv) * float64(wv)
									}
								}
							}
						}
						y[i] = acc
						i++
					}
				}
			}
		}
	}
	return y, shape
}

type convCase struct {
	name          string
	x, w          []int
	bias          bool
	group         int
	strides, dil  []int
	pads          []int  // attribute
	autoPad       string // attribute
	kernelAttr    bool   // also give kernel_shape
	refPads       []int  // pads the reference uses under auto_pad (by hand)
	want          []int  // output shape, by hand
	skipGradcheck bool
}

var convCases = []convCase{
	{name: "3x3 pad1", x: []int{1, 1, 5, 5}, w: []int{1, 1, 3, 3}, pads: []int{1, 1, 1, 1}, want: []int{1, 1, 5, 5}},
	{name: "odd sizes stride 2x3 asym pads bias", x: []int{2, 3, 7, 9}, w: []int{4, 3, 3, 2}, bias: true,
		strides: []int{2, 3}, pads: []int{1, 0, 2, 1}, want: []int{2, 4, 4, 3}},
	{name: "dilation 2 group 2", x: []int{1, 4, 8, 7}, w: []int{6, 2, 3, 3}, group: 2, dil: []int{2, 2},
		pads: []int{2, 1, 2, 1}, bias: true, want: []int{1, 6, 8, 5}},
	{name: "dilation 2x3 stride 3", x: []int{1, 2, 11, 13}, w: []int{3, 2, 2, 3}, dil: []int{2, 3},
		strides: []int{3, 3}, pads: []int{0, 2, 1, 0}, want: []int{1, 3, 4, 3}},
	{name: "depthwise stride 2", x: []int{2, 5, 7, 6}, w: []int{5, 1, 3, 3}, group: 5, strides: []int{2, 2},
		pads: []int{1, 1, 1, 1}, bias: true, want: []int{2, 5, 4, 3}},
	{name: "depthwise multiplier 2 dilated", x: []int{1, 3, 6, 8}, w: []int{6, 1, 3, 2}, group: 3,
		dil: []int{2, 1}, strides: []int{1, 3}, pads: []int{2, 0, 1, 2}, want: []int{1, 6, 5, 3}},
	{name: "depthwise stride 1 asym", x: []int{1, 4, 5, 5}, w: []int{4, 1, 3, 3}, group: 4,
		pads: []int{0, 1, 2, 0}, want: []int{1, 4, 5, 4}},
	{name: "1x1 direct", x: []int{2, 6, 3, 5}, w: []int{4, 6, 1, 1}, bias: true, want: []int{2, 4, 3, 5}},
	{name: "1x1 direct group 2", x: []int{1, 6, 4, 3}, w: []int{4, 3, 1, 1}, group: 2, want: []int{1, 4, 4, 3}},
	{name: "1x1 stride 2", x: []int{1, 3, 5, 6}, w: []int{2, 3, 1, 1}, strides: []int{2, 2}, want: []int{1, 2, 3, 3}},
	{name: "1x1 padded", x: []int{1, 2, 3, 3}, w: []int{2, 2, 1, 1}, pads: []int{1, 0, 0, 1}, want: []int{1, 2, 4, 4}},
	{name: "SAME_UPPER odd stride 2", x: []int{1, 2, 7, 7}, w: []int{3, 2, 3, 3}, autoPad: "SAME_UPPER",
		strides: []int{2, 2}, refPads: []int{1, 1, 1, 1}, want: []int{1, 3, 4, 4}},
	{name: "SAME_UPPER even stride 2", x: []int{1, 2, 6, 8}, w: []int{3, 2, 3, 4}, autoPad: "SAME_UPPER",
		strides: []int{2, 2}, refPads: []int{0, 1, 1, 1}, want: []int{1, 3, 3, 4}},
	{name: "SAME_LOWER even stride 2", x: []int{1, 2, 6, 8}, w: []int{3, 2, 3, 4}, autoPad: "SAME_LOWER",
		strides: []int{2, 2}, refPads: []int{1, 1, 0, 1}, want: []int{1, 3, 3, 4}},
	{name: "SAME_LOWER stride 3 dilated", x: []int{1, 1, 10, 7}, w: []int{2, 1, 3, 2}, autoPad: "SAME_LOWER",
		strides: []int{3, 1}, dil: []int{2, 1}, refPads: []int{2, 1, 2, 0}, want: []int{1, 2, 4, 7}},
	{name: "VALID stride 3", x: []int{1, 2, 10, 8}, w: []int{2, 2, 3, 3}, autoPad: "VALID",
		strides: []int{3, 2}, refPads: []int{0, 0, 0, 0}, want: []int{1, 2, 3, 3}},
	{name: "kernel_shape attribute", x: []int{1, 2, 5, 4}, w: []int{3, 2, 2, 3}, kernelAttr: true,
		pads: []int{1, 1, 1, 1}, want: []int{1, 3, 6, 4}},
	{name: "batch 3 groups 3", x: []int{3, 6, 5, 5}, w: []int{3, 2, 3, 3}, group: 3, bias: true,
		strides: []int{2, 1}, pads: []int{1, 1, 1, 1}, want: []int{3, 3, 3, 5}},
	{name: "1-D", x: []int{2, 3, 11}, w: []int{4, 3, 3}, strides: []int{2}, dil: []int{2}, pads: []int{1, 2},
		bias: true, want: []int{2, 4, 5}},
	{name: "1-D depthwise", x: []int{1, 3, 9}, w: []int{3, 1, 4}, group: 3, pads: []int{2, 1}, want: []int{1, 3, 9}},
	{name: "3-D", x: []int{1, 2, 4, 5, 6}, w: []int{3, 2, 2, 3, 2}, strides: []int{1, 2, 2},
		pads: []int{1, 1, 0, 0, 1, 1}, bias: true, want: []int{1, 3, 4, 3, 3}},
}

func convNodeFor(c convCase) *graph.Node {
	var attrs []*graph.Attr
	if c.group != 0 {
		attrs = append(attrs, cvInt("group", int64(c.group)))
	}
	if c.strides != nil {
		attrs = append(attrs, cvInts("strides", cvInts64(c.strides)...))
	}
	if c.dil != nil {
		attrs = append(attrs, cvInts("dilations", cvInts64(c.dil)...))
	}
	if c.pads != nil {
		attrs = append(attrs, cvInts("pads", cvInts64(c.pads)...))
	}
	if c.autoPad != "" {
		attrs = append(attrs, cvStr("auto_pad", c.autoPad))
	}
	if c.kernelAttr {
		attrs = append(attrs, cvInts("kernel_shape", cvInts64(c.w[2:])...))
	}
	return cvNode("Conv", 1, attrs...)
}

func convInputs(c convCase, seed uint64) []*tensor.Tensor {
	in := []*tensor.Tensor{cvRand(seed, c.x...), cvRand(seed+1, c.w...)}
	if c.bias {
		in = append(in, cvRand(seed+2, c.w[0]))
	}
	return in
}

func TestConvForward(t *testing.T) {
	for i, c := range convCases {
		t.Run(c.name, func(t *testing.T) {
			op := cvBuild(t, convNodeFor(c), 13)
			in := convInputs(c, uint64(10*i))
			var b *tensor.Tensor
			if c.bias {
				b = in[2]
			}
			group := max(c.group, 1)
			pads := c.pads
			if c.autoPad != "" {
				pads = c.refPads
			}
			want, wantShape := refConv(in[0], in[1], b, group, c.strides, c.dil, pads)
			if !tensor.EqualShape(wantShape, c.want) {
				t.Fatalf("test table: reference shape %v, table says %v", wantShape, c.want)
			}
			for _, threads := range []int{1, 2, 5} {
				out := cvRun(t, op, &ops.Ctx{Threads: threads}, in)
				if !tensor.EqualShape(out[0].Shape, c.want) {
					t.Fatalf("threads %d: shape %v, want %v", threads, out[0].Shape, c.want)
				}
				cvClose(t, fmt.Sprintf("threads %d", threads), out[0].F, want, 1e-5)
			}
		})
	}
}

// TestConvSpecExample checks the worked example of the ONNX Conv
// specification (test_basic_conv_with_padding): a 5x5 ramp 0..24 under an
// all-ones 3x3 kernel with unit padding; each output is the sum of the
// ramp values in its window.
func TestConvSpecExample(t *testing.T) {
	x := tensor.Zeros(1, 1, 5, 5)
	for i := range x.F {
		x.F[i] = float32(i)
	}
	w := tensor.Zeros(1, 1, 3, 3)
	for i := range w.F {
		w.F[i] = 1
	}
	op := cvBuild(t, cvNode("Conv", 1, cvInts("kernel_shape", 3, 3), cvInts("pads", 1, 1, 1, 1)), 11)
	out := cvRun(t, op, nil, []*tensor.Tensor{x, w})
	want := []float64{
		12, 21, 27, 33, 24,
		33, 54, 63, 72, 51,
		63, 99, 108, 117, 81,
		93, 144, 153, 162, 111,
		72, 111, 117, 123, 84,
	}
	cvClose(t, "spec example", out[0].F, want, 0)
}

func TestConvGradient(t *testing.T) {
	for i, c := range convCases {
		if c.skipGradcheck {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			op := cvBuild(t, convNodeFor(c), 13)
			in := convInputs(c, uint64(10*i+3))
			need := []bool{true, true, c.bias}
			gradcheck.Check(t, op, in, need, gradcheck.Options{Seed: uint64(i)})
		})
	}
}

// TestConvBackwardNeed checks that only the needed gradients are made and
// that the batch and thread split does not change them.
func TestConvBackwardNeed(t *testing.T) {
	c := convCases[1]
	op := cvBuild(t, convNodeFor(c), 13)
	in := convInputs(c, 99)
	out := cvRun(t, op, nil, in)
	dy := cvRand(5, out[0].Shape...)
	g, err := op.Backward(nil, in, out, []*tensor.Tensor{dy}, []bool{true, false, false})
	if err != nil {
		t.Fatal(err)
	}
	if g[0] == nil || g[1] != nil || g[2] != nil {
		t.Fatalf("need only dX: got dX %v, dW %v, dB %v", g[0] != nil, g[1] != nil, g[2] != nil)
	}
	all, err := op.Backward(&ops.Ctx{Threads: 1}, in, out, []*tensor.Tensor{dy}, []bool{true, true, true})
	if err != nil {
		t.Fatal(err)
	}
	if d := tensor.MaxAbsDiff(g[0].F, all[0].F); d > 1e-5 {
		t.Fatalf("dX differs between runs by %g", d)
	}
	// dB is the sum of dY over batch and positions.
	p := tensor.Size(c.want[2:])
	for m := range c.w[0] {
		var s float64
		for n := range c.x[0] {
			for _, v := range dy.F[(n*c.w[0]+m)*p : (n*c.w[0]+m+1)*p] {
				s += float64(v)
			}
		}
		if math.Abs(s-float64(all[2].F[m])) > 1e-4 {
			t.Fatalf("dB[%d] = %g, want %g", m, all[2].F[m], s)
		}
	}
	// A nil output gradient means zero.
	z, err := op.Backward(nil, in, out, []*tensor.Tensor{nil}, []bool{true, true, true})
	if err != nil {
		t.Fatal(err)
	}
	for i, gz := range z {
		for _, v := range gz.F {
			if v != 0 {
				t.Fatalf("gradient %d is not zero for a nil output gradient", i)
			}
		}
	}
}

func TestConvErrors(t *testing.T) {
	cases := []struct {
		name  string
		n     *graph.Node
		x, w  []int
		b     []int
		build bool // the error comes from New
	}{
		{name: "channels", n: cvNode("Conv", 1), x: []int{1, 3, 5, 5}, w: []int{2, 2, 3, 3}},
		{name: "group does not divide", n: cvNode("Conv", 1, cvInt("group", 2)), x: []int{1, 3, 5, 5}, w: []int{2, 1, 3, 3}},
		{name: "kernel_shape mismatch", n: cvNode("Conv", 1, cvInts("kernel_shape", 2, 2)), x: []int{1, 1, 5, 5}, w: []int{1, 1, 3, 3}},
		{name: "kernel too large", n: cvNode("Conv", 1), x: []int{1, 1, 2, 5}, w: []int{1, 1, 3, 3}},
		{name: "rank", n: cvNode("Conv", 1), x: []int{1, 1, 5, 5}, w: []int{1, 1, 3}},
		{name: "bias shape", n: cvNode("Conv", 1), x: []int{1, 1, 5, 5}, w: []int{2, 1, 3, 3}, b: []int{3}},
		{name: "4-D spatial", n: cvNode("Conv", 1), x: []int{1, 1, 2, 2, 2, 2}, w: []int{1, 1, 1, 1, 1, 1}},
		{name: "pads length", n: cvNode("Conv", 1, cvInts("pads", 1, 1)), x: []int{1, 1, 5, 5}, w: []int{1, 1, 3, 3}},
		{name: "auto_pad", n: cvNode("Conv", 1, cvStr("auto_pad", "SAME")), build: true},
		{name: "negative pad", n: cvNode("Conv", 1, cvInts("pads", -1, 0, 0, 0)), build: true},
		{name: "zero stride", n: cvNode("Conv", 1, cvInts("strides", 0, 1)), build: true},
		{name: "zero group", n: cvNode("Conv", 1, cvInt("group", 0)), build: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op, err := ops.New(c.n, 13)
			if c.build {
				if err == nil {
					t.Fatal("New accepted a bad node")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			in := []ops.Value{{DType: tensor.Float32, Shape: c.x}, {DType: tensor.Float32, Shape: c.w}}
			if c.b != nil {
				in = append(in, ops.Value{DType: tensor.Float32, Shape: c.b})
			}
			if _, err := op.Infer(in); err == nil {
				t.Fatal("Infer accepted bad shapes")
			}
			tin := []*tensor.Tensor{tensor.Zeros(c.x...), tensor.Zeros(c.w...)}
			if c.b != nil {
				tin = append(tin, tensor.Zeros(c.b...))
			}
			if _, err := op.Forward(nil, tin); err == nil {
				t.Fatal("Forward accepted bad shapes")
			}
		})
	}
}

// BenchmarkConv3x3 times a ResNet-style 3x3 convolution, 256 to 256
// channels on 56x56 with unit padding.
func BenchmarkConv3x3(b *testing.B) {
	op, err := ops.New(cvNode("Conv", 1, cvInts("pads", 1, 1, 1, 1)), 13)
	if err != nil {
		b.Fatal(err)
	}
	in := []*tensor.Tensor{cvRand(1, 1, 256, 56, 56), cvRand(2, 256, 256, 3, 3), cvRand(3, 256)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := op.Forward(nil, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(2*256*256*9*56*56/1e9/(b.Elapsed().Seconds()/float64(b.N)), "GFLOP/s")
}

// BenchmarkConv3x3Backward times dX alone for the same convolution.
func BenchmarkConv3x3Backward(b *testing.B) {
	d, err := ops.New(cvNode("Conv", 1, cvInts("pads", 1, 1, 1, 1)), 13)
	if err != nil {
		b.Fatal(err)
	}
	op := d.(ops.Differentiable)
	in := []*tensor.Tensor{cvRand(1, 1, 256, 56, 56), cvRand(2, 256, 256, 3, 3)}
	out, err := op.Forward(nil, in)
	if err != nil {
		b.Fatal(err)
	}
	dy := cvRand(4, out[0].Shape...)
	for b.Loop() {
		if _, err := op.Backward(nil, in, out, []*tensor.Tensor{dy}, []bool{true, false}); err != nil {
			b.Fatal(err)
		}
	}
}

// onnxNodeDir holds Debian's libonnx-testdata copy of the ONNX backend
// node tests.
const onnxNodeDir = "/usr/share/libonnx-testdata/data/node"

// onnxNodePrefixes select the backend node tests of the operators in
// conv.go, pool.go, norm.go and matmul.go.
var onnxNodePrefixes = []string{
	"test_conv_", "test_basic_conv_", "test_maxpool_", "test_averagepool_", "test_globalaveragepool",
	"test_globalmaxpool", "test_batchnorm_", "test_gemm_", "test_matmul_", "test_lrn", "test_layer_normalization_",
}

// onnxNodeRefused lists the node tests whose models these operators refuse
// on purpose, with the reason.
var onnxNodeRefused = map[string]string{
	"test_batchnorm_epsilon_training_mode": "BatchNormalization training mode is not supported",
	"test_batchnorm_example_training_mode": "BatchNormalization training mode is not supported",
}

// TestONNXBackendNodes runs the single-node ONNX backend tests of these
// operators: each model's node is built with ops.New and run on the
// stored inputs, and its outputs compared with the stored ones
// (tolerances as the ONNX backend test runner's: rtol 1e-3, atol 1e-7,
// loosened to 1e-5 absolute for float32 sums).
func TestONNXBackendNodes(t *testing.T) {
	entries, err := os.ReadDir(onnxNodeDir)
	if err != nil {
		t.Skipf("ONNX backend node tests not found: %v", err)
	}
	ran := 0
	for _, e := range entries {
		name := e.Name()
		if !slices.ContainsFunc(onnxNodePrefixes, func(p string) bool { return strings.HasPrefix(name, p) }) ||
			strings.HasSuffix(name, "_expanded") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			g, err := onnx.Load(filepath.Join(onnxNodeDir, name, "model.onnx"))
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Nodes) != 1 {
				t.Fatalf("%d nodes; want a single-node model", len(g.Nodes))
			}
			node := g.Nodes[0]
			op, err := ops.New(node, g.Opset())
			if reason, ok := onnxNodeRefused[name]; ok {
				if err == nil {
					t.Fatalf("accepted, but listed as refused (%s)", reason)
				}
				t.Skipf("refused as intended: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			sets, _ := filepath.Glob(filepath.Join(onnxNodeDir, name, "test_data_set_*"))
			for _, set := range sets {
				values := map[string]*tensor.Tensor{}
				maps.Copy(values, g.Initializers)
				for i, vi := range g.Inputs {
					x, err := onnx.ReadTensor(filepath.Join(set, fmt.Sprintf("input_%d.pb", i)))
					if err != nil {
						t.Fatal(err)
					}
					values[vi.Name] = x
				}
				in := make([]*tensor.Tensor, len(node.Inputs))
				for i, n := range node.Inputs {
					if n != "" {
						in[i] = values[n]
					}
				}
				out := cvRun(t, op, nil, in)
				for j, vo := range g.Outputs {
					want, err := onnx.ReadTensor(filepath.Join(set, fmt.Sprintf("output_%d.pb", j)))
					if err != nil {
						t.Fatal(err)
					}
					k := slices.Index(node.Outputs, vo.Name)
					if k < 0 || k >= len(out) {
						t.Fatalf("graph output %q is not produced", vo.Name)
					}
					got := out[k]
					if !tensor.EqualShape(got.Shape, want.Shape) || got.DType != want.DType {
						t.Fatalf("output %q: %s%v, want %s%v", vo.Name, got.DType, got.Shape, want.DType, want.Shape)
					}
					if got.DType == tensor.Int64 {
						if !slices.Equal(got.I, want.I) {
							t.Fatalf("output %q: %v, want %v", vo.Name, got.I, want.I)
						}
						continue
					}
					for i, w := range want.F {
						if d := math.Abs(float64(got.F[i] - w)); d > 1e-5+1e-3*math.Abs(float64(w)) {
							t.Fatalf("output %q element %d: %g, want %g", vo.Name, i, got.F[i], w)
						}
					}
				}
			}
			ran++
		})
	}
	if ran == 0 {
		t.Error("no backend node test ran")
	}
	t.Logf("%d backend node tests passed", ran)
}
