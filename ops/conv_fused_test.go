package ops_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

// TestFusedConv checks ops.FusedConv against the float64 reference
// convolution followed, in separate steps, by BatchNormalization, the
// residual addition and the clamp; with and without packed weights, one
// and two threads, on the ordinary im2col path, the 1x1 path and the
// depthwise paths (rows wider than the vector width, strides 1 and 2,
// odd sizes).
func TestFusedConv(t *testing.T) {
	type tc struct {
		name     string
		x, w     []int
		group    int
		strides  []int
		dils     []int
		pads     []int
		bias, bn bool
		residual bool
		clamp    bool
		lo, hi   float32
	}
	cases := []tc{
		{name: "3x3 bias relu", x: []int{1, 5, 9, 11}, w: []int{7, 5, 3, 3}, pads: []int{1, 1, 1, 1}, bias: true, clamp: true, lo: 0, hi: float32(math.Inf(1))},
		{name: "3x3 batchnorm residual relu", x: []int{2, 4, 8, 8}, w: []int{6, 4, 3, 3}, pads: []int{1, 1, 1, 1}, bn: true, residual: true, clamp: true, lo: 0, hi: float32(math.Inf(1))},
		{name: "1x1 bias residual", x: []int{1, 16, 7, 9}, w: []int{20, 16, 1, 1}, bias: true, residual: true},
		{name: "1x1 batch across images residual relu", x: []int{3, 16, 7, 9}, w: []int{20, 16, 1, 1}, bias: true, residual: true, clamp: true, lo: 0, hi: float32(math.Inf(1))},
		{name: "1x1 batch of 12x12 images in place residual", x: []int{3, 16, 12, 12}, w: []int{20, 16, 1, 1}, bias: true, residual: true, clamp: true, lo: 0, hi: 6},
		{name: "3x3 batch across images grouped", x: []int{5, 6, 6, 5}, w: []int{4, 3, 3, 3}, group: 2, pads: []int{1, 0, 1, 2}, bias: true},
		{name: "1x1 stride 2 batchnorm", x: []int{1, 8, 9, 9}, w: []int{12, 8, 1, 1}, strides: []int{2, 2}, bn: true, bias: true},
		{name: "grouped relu6", x: []int{1, 6, 10, 10}, w: []int{9, 2, 3, 3}, group: 3, pads: []int{1, 1, 1, 1}, bias: true, clamp: true, lo: 0, hi: 6},
		{name: "depthwise 3x3 s1 wide relu6", x: []int{2, 5, 13, 37}, w: []int{5, 1, 3, 3}, group: 5, pads: []int{1, 1, 1, 1}, bias: true, clamp: true, lo: 0, hi: 0.5},
		{name: "depthwise 3x3 s2 wide", x: []int{1, 4, 23, 40}, w: []int{4, 1, 3, 3}, group: 4, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}, bias: true},
		{name: "depthwise 3x3 s2 odd pad end", x: []int{1, 3, 21, 33}, w: []int{3, 1, 3, 3}, group: 3, strides: []int{2, 2}, pads: []int{0, 0, 1, 1}, bn: true, clamp: true, lo: -0.2, hi: 0.3},
		{name: "depthwise 3x3 s1 no pad residual", x: []int{1, 3, 12, 19}, w: []int{3, 1, 3, 3}, group: 3, bias: true, residual: true, clamp: true, lo: 0, hi: 1},
		{name: "depthwise 5x5 general", x: []int{1, 2, 11, 17}, w: []int{4, 1, 5, 5}, group: 2, pads: []int{2, 2, 2, 2}, bias: true, residual: true, clamp: true, lo: -0.5, hi: 0.5},
		{name: "depthwise 3x3 s1 narrow", x: []int{1, 3, 5, 5}, w: []int{3, 1, 3, 3}, group: 3, pads: []int{1, 1, 1, 1}},
		{name: "depthwise 3x3 strides 1 and 2", x: []int{1, 2, 10, 19}, w: []int{2, 1, 3, 3}, group: 2, strides: []int{1, 2}, pads: []int{1, 1, 1, 1}, bias: true},
		// More than 256 output positions: the packed weights take the
		// rows path (no im2col) when the strides are 1.
		{name: "rows 3x3 bias relu", x: []int{1, 5, 17, 19}, w: []int{7, 5, 3, 3}, pads: []int{1, 1, 1, 1}, bias: true, clamp: true, lo: 0, hi: float32(math.Inf(1))},
		{name: "rows 3x3 batchnorm residual relu6 batch", x: []int{2, 9, 20, 16}, w: []int{17, 9, 3, 3}, pads: []int{1, 1, 1, 1}, bn: true, residual: true, clamp: true, lo: 0, hi: 6},
		{name: "rows 5x3 dilated asymmetric pads", x: []int{1, 3, 24, 21}, w: []int{30, 3, 5, 3}, dils: []int{2, 3}, pads: []int{3, 0, 1, 4}, bias: true},
		{name: "rows 3x3 no pad grouped", x: []int{1, 8, 23, 19}, w: []int{10, 4, 3, 3}, group: 2, residual: true},
		{name: "3x3 stride 2 batchnorm relu", x: []int{1, 6, 30, 31}, w: []int{9, 6, 3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}, bn: true, clamp: true, lo: 0, hi: float32(math.Inf(1))},
		{name: "7x7 stride 2 stem", x: []int{1, 3, 20, 90}, w: []int{16, 3, 7, 7}, strides: []int{2, 2}, pads: []int{3, 3, 3, 3}, bias: true, residual: true},
		{name: "3x3 stride 2 odd no start pad", x: []int{1, 5, 31, 33}, w: []int{7, 5, 3, 3}, strides: []int{2, 2}, pads: []int{0, 0, 1, 1}, bias: true, clamp: true, lo: 0, hi: 6},
		{name: "3x3 strides 2 and 3 dilated", x: []int{1, 4, 29, 49}, w: []int{5, 4, 3, 3}, strides: []int{2, 3}, dils: []int{2, 1}, pads: []int{2, 1, 0, 2}, bias: true},
		{name: "5x4 stride 3 grouped batch", x: []int{2, 6, 60, 44}, w: []int{8, 3, 5, 4}, group: 2, strides: []int{3, 3}, pads: []int{2, 4, 1, 0}, residual: true},
		{name: "rows 2x2 wide", x: []int{1, 33, 9, 70}, w: []int{40, 33, 2, 2}, bias: true, clamp: true, lo: -0.1, hi: 0.1},
		// Large enough to be split over two threads, few columns: split
		// by rows (whole slivers of the packed weights, which are packed
		// when their row stride is 1024 floats).
		{name: "split 1x1 narrow residual relu", x: []int{1, 1024, 7, 9}, w: []int{40, 1024, 1, 1}, bias: true, residual: true, clamp: true, lo: 0, hi: float32(math.Inf(1))},
		{name: "split 3x3 7x7 batchnorm residual", x: []int{1, 64, 7, 7}, w: []int{45, 64, 3, 3}, pads: []int{1, 1, 1, 1}, bn: true, residual: true},
		{name: "split 1x1 stride 2 to 7x7", x: []int{1, 1024, 13, 14}, w: []int{73, 1024, 1, 1}, strides: []int{2, 2}, bias: true, clamp: true, lo: 0, hi: 6},
		// Few rows and 128 to 255 columns: split by columns into equal
		// shares (98 + 98, 85 + 84), whose last columns take the narrow
		// kernels.
		{name: "split 1x1 columns 14x14 residual relu6", x: []int{1, 384, 14, 14}, w: []int{64, 384, 1, 1}, bias: true, residual: true, clamp: true, lo: 0, hi: 6},
		{name: "split 1x1 columns 13x13", x: []int{1, 300, 13, 13}, w: []int{100, 300, 1, 1}, bn: true},
		{name: "depthwise 3x3 s2 7x7 relu6", x: []int{1, 5, 14, 14}, w: []int{5, 1, 3, 3}, group: 5, strides: []int{2, 2}, pads: []int{0, 0, 1, 1}, bias: true, clamp: true, lo: 0, hi: 6},
	}
	for _, c := range cases {
		for _, pack := range []bool{false, true} {
			for _, threads := range []int{1, 2} {
				name := c.name
				if pack {
					name += "/packed"
				}
				if threads > 1 {
					name += "/2threads"
				}
				t.Run(name, func(t *testing.T) {
					group := max(c.group, 1)
					n := cvNode("Conv", 1, cvInt("group", int64(group)))
					if c.strides != nil {
						n.Attrs["strides"] = cvInts("strides", cvInts64(c.strides)...)
					}
					if c.dils != nil {
						n.Attrs["dilations"] = cvInts("dilations", cvInts64(c.dils)...)
					}
					if c.pads != nil {
						n.Attrs["pads"] = cvInts("pads", cvInts64(c.pads)...)
					}
					x := cvRand(1, c.x...)
					w := cvRand(2, c.w...)
					var b *tensor.Tensor
					if c.bias {
						b = cvRand(3, c.w[0])
					}
					want, shape := refConv(x, w, b, group, c.strides, c.dils, c.pads)
					opt := ops.FusedConvOptions{Clamp: c.clamp, Min: c.lo, Max: c.hi, Pack: pack}
					res := fusedExpect(want, shape, c.w[0], c.bn, c.residual, c.clamp, c.lo, c.hi, &opt)
					f, err := ops.NewFusedConv(n, 13, w, b, opt)
					if err != nil {
						t.Fatal(err)
					}
					got, err := f.OutShape(x.Shape)
					if err != nil || !tensor.EqualShape(got, shape) {
						t.Fatalf("OutShape %v, %v; want %v", got, err, shape)
					}
					ctx := &ops.Ctx{Threads: threads}
					for run := range 2 { // the second run uses the packed weights and recycled scratch
						y := make([]float32, len(want))
						for i := range y {
							y[i] = float32(math.NaN()) // not read
						}
						if err := f.Forward(ctx, x, res, y); err != nil {
							t.Fatal(err)
						}
						cvClose(t, "output", y, want, 1e-5)
						if c.residual && run == 1 {
							// In place: the residual buffer is the output.
							y := append([]float32(nil), res...)
							if err := f.Forward(ctx, x, y, y); err != nil {
								t.Fatal(err)
							}
							cvClose(t, "in-place output", y, want, 1e-5)
						}
					}
				})
			}
		}
	}
}

// TestFusedConvErrors checks argument validation.
func TestFusedConvErrors(t *testing.T) {
	n := cvNode("Conv", 1)
	w := cvRand(1, 4, 3, 3, 3)
	if _, err := ops.NewFusedConv(n, 13, w, cvRand(2, 5), ops.FusedConvOptions{}); err == nil {
		t.Errorf("bias of the wrong length: no error")
	}
	bn := &ops.BatchNormParams{Scale: make([]float32, 3), Bias: make([]float32, 3), Mean: make([]float32, 3), Var: make([]float32, 3)}
	if _, err := ops.NewFusedConv(n, 13, w, nil, ops.FusedConvOptions{BatchNorm: bn}); err == nil {
		t.Errorf("BatchNorm of the wrong length: no error")
	}
	f, err := ops.NewFusedConv(n, 13, w, nil, ops.FusedConvOptions{})
	if err != nil {
		t.Fatal(err)
	}
	x := cvRand(3, 1, 3, 5, 5)
	if err := f.Forward(nil, x, nil, make([]float32, 10)); err == nil {
		t.Errorf("short output buffer: no error")
	}
	if err := f.Forward(nil, cvRand(3, 1, 2, 5, 5), nil, make([]float32, 36)); err == nil {
		t.Errorf("wrong input channels: no error")
	}
}

// BenchmarkFusedConvResNet50 times, on one and two threads with packed
// weights, ResNet50's convolutions whose paths differ: the 7x7 stride-2
// stem, 3x3 with strides 1 and 2 on 56x56 to 7x7, and 1x1 ones.
func BenchmarkFusedConvResNet50(b *testing.B) {
	cases := []struct {
		name        string
		c, hw, m, k int
		stride, pad int
	}{
		{"stem7x7s2", 3, 224, 64, 7, 2, 3},
		{"3x3s1_56", 64, 56, 64, 3, 1, 1},
		{"3x3s2_56", 128, 56, 128, 3, 2, 1},
		{"3x3s1_28", 128, 28, 128, 3, 1, 1},
		{"3x3s2_28", 256, 28, 256, 3, 2, 1},
		{"3x3s1_14", 256, 14, 256, 3, 1, 1},
		{"3x3s2_14", 512, 14, 512, 3, 2, 1},
		{"3x3s1_7", 512, 7, 512, 3, 1, 1},
		{"1x1_56_256to64", 256, 56, 64, 1, 1, 0},
		{"1x1_14_1024to256", 1024, 14, 256, 1, 1, 0},
		{"1x1_14_256to1024", 256, 14, 1024, 1, 1, 0},
		{"1x1_7_512to2048", 512, 7, 2048, 1, 1, 0},
		{"1x1_7_2048to512", 2048, 7, 512, 1, 1, 0},
	}
	for _, c := range cases {
		for _, threads := range []int{1, 2} {
			benchFusedConv(b, fmt.Sprintf("%s/%d", c.name, threads), c.c, c.hw, c.m, c.k, c.stride, c.pad, threads)
		}
	}
}

// benchFusedConv times a FusedConv with packed weights and a ReLU on a
// c x hw x hw input, m outputs, a k x k window.
func benchFusedConv(b *testing.B, name string, c, hw, m, k, stride, pad, threads int) {
	b.Run(name, func(b *testing.B) {
		n := cvNode("Conv", 1, cvInts("pads", int64(pad), int64(pad), int64(pad), int64(pad)))
		n.Attrs["strides"] = cvInts("strides", int64(stride), int64(stride))
		f, err := ops.NewFusedConv(n, 13, cvRand(2, m, c, k, k), cvRand(3, m), ops.FusedConvOptions{Clamp: true, Max: float32(math.Inf(1)), Pack: true})
		if err != nil {
			b.Fatal(err)
		}
		x := cvRand(1, 1, c, hw, hw)
		shape, err := f.OutShape(x.Shape)
		if err != nil {
			b.Fatal(err)
		}
		y := make([]float32, tensor.Size(shape))
		ctx := &ops.Ctx{Threads: threads}
		for b.Loop() {
			if err := f.Forward(ctx, x, nil, y); err != nil {
				b.Fatal(err)
			}
		}
		macs := float64(m*c*k*k) * float64(tensor.Size(shape)/m)
		b.ReportMetric(2*macs/1e9/(b.Elapsed().Seconds()/float64(b.N)), "GFLOP/s")
	})
}

// fusedExpect applies to want, the float64 reference convolution of shape
// shape (m output channels), what a FusedConv adds after the product:
// BatchNormalization with random parameters (also set in opt), a random
// residual (returned; nil when residual is false) and the clamp to
// [lo, hi].
func fusedExpect(want []float64, shape []int, m int, bn, residual, clamp bool, lo, hi float32, opt *ops.FusedConvOptions) []float32 {
	per := len(want) / (shape[0] * m)
	if bn {
		p := &ops.BatchNormParams{Scale: cvRand(4, m).F, Bias: cvRand(5, m).F, Mean: cvRand(6, m).F, Var: cvRand(7, m).F, Epsilon: 1e-3}
		for i := range p.Var {
			p.Var[i] = p.Var[i]*p.Var[i] + 0.1
		}
		opt.BatchNorm = p
		for i := range want {
			k := (i / per) % m
			a := float64(p.Scale[k]) / math.Sqrt(float64(p.Var[k])+float64(p.Epsilon))
			want[i] = (want[i]-float64(p.Mean[k]))*a + float64(p.Bias[k])
		}
	}
	var res []float32
	if residual {
		res = cvRand(8, shape...).F
		for i := range want {
			want[i] += float64(res[i])
		}
	}
	if clamp {
		for i, v := range want {
			want[i] = math.Min(math.Max(v, float64(lo)), float64(hi))
		}
	}
	return res
}
