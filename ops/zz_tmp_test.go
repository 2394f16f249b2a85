package ops_test

import (
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/gradcam/gradcam/ops"
	"github.com/gradcam/gradcam/tensor"
)

func BenchmarkTmpShapes(b *testing.B) {
	cases := []struct {
		name        string
		c, hw, m, k int
		stride, pad int
	}{
		{"p576to96_14", 576, 14, 96, 1, 1, 0},
		{"p384to64_14", 384, 14, 64, 1, 1, 0},
		{"e96to576_14", 96, 14, 576, 1, 1, 0},
		{"p960to160_7", 960, 7, 160, 1, 1, 0},
		{"e160to960_7", 160, 7, 960, 1, 1, 0},
		{"c320to1280_7", 320, 7, 1280, 1, 1, 0},
		{"1x1_7_512to2048", 512, 7, 2048, 1, 1, 0},
		{"1x1_7_2048to512", 2048, 7, 512, 1, 1, 0},
		{"1x1_14_1024to256", 1024, 14, 256, 1, 1, 0},
		{"1x1_14_256to1024", 256, 14, 1024, 1, 1, 0},
	}
	th, _ := strconv.Atoi(os.Getenv("TH"))
	pack := os.Getenv("PACK") != "0"
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			n := cvNode("Conv", 1, cvInts("pads", int64(c.pad), int64(c.pad), int64(c.pad), int64(c.pad)))
			n.Attrs["strides"] = cvInts("strides", int64(c.stride), int64(c.stride))
			f, err := ops.NewFusedConv(n, 13, cvRand(2, c.m, c.c, c.k, c.k), cvRand(3, c.m), ops.FusedConvOptions{Clamp: true, Max: float32(math.Inf(1)), Pack: pack})
			if err != nil {
				b.Fatal(err)
			}
			x := cvRand(1, 1, c.c, c.hw, c.hw)
			shape, _ := f.OutShape(x.Shape)
			y := make([]float32, tensor.Size(shape))
			ctx := &ops.Ctx{Threads: max(th, 1)}
			for b.Loop() {
				if err := f.Forward(ctx, x, nil, y); err != nil {
					b.Fatal(err)
				}
			}
			macs := float64(c.m*c.c*c.k*c.k) * float64(tensor.Size(shape)/c.m)
			b.ReportMetric(2*macs/1e9/(b.Elapsed().Seconds()/float64(b.N)), "GFLOP/s")
		})
	}
}
