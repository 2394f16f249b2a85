package ops

import (
	"math/rand/v2"
	"testing"

	"github.com/gradcam/gradcam/tensor"
)

// naiveOffset returns the element of an operand of shape s that output
// index idx (of shape out) reads under numpy broadcasting.
func naiveOffset(out, s, idx []int) int {
	off := 0
	for j, d := range s {
		i := idx[len(out)-len(s)+j]
		if d == 1 {
			i = 0
		}
		off = off*d + i
	}
	return off
}

// unravel returns the multi-index of flat position o in shape.
func unravel(shape []int, o int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		idx[d] = o % shape[d]
		o /= shape[d]
	}
	return idx
}

// randBroadcastPair returns an output shape and operand shapes that
// broadcast to it, with dimensions dropped, set to 1 or kept at random.
func randBroadcastShapes(r *rand.Rand, k int) (out []int, shapes [][]int) {
	rank := r.IntN(5)
	out = make([]int, rank)
	for i := range out {
		out[i] = 1 + r.IntN(4)
	}
	for range k {
		lead := r.IntN(rank + 1)
		s := append([]int(nil), out[lead:]...)
		for i := range s {
			if r.IntN(3) == 0 {
				s[i] = 1
			}
		}
		shapes = append(shapes, s)
	}
	return out, shapes
}

func TestBcastPlanWalk(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := range 500 {
		out, shapes := randBroadcastShapes(r, 1+r.IntN(3))
		p := newBcastPlan(out, shapes...)
		n := tensor.Size(out)
		lo := r.IntN(n + 1)
		hi := lo + r.IntN(n-lo+1)
		next := lo
		p.walk(lo, hi, func(o, m int, off []int) {
			if o != next || m <= 0 {
				t.Fatalf("trial %d %v %v: run at %d of %d, want start %d", trial, out, shapes, o, m, next)
			}
			next = o + m
			for i := range m {
				idx := unravel(out, o+i)
				for k, s := range shapes {
					if got, want := off[k]+i*p.inc[k], naiveOffset(out, s, idx); got != want {
						t.Fatalf("trial %d out %v shapes %v: element %d operand %d at %d, want %d", trial, out, shapes, o+i, k, got, want)
					}
				}
			}
		})
		if next != hi && hi > lo {
			t.Fatalf("trial %d: walk stopped at %d, want %d", trial, next, hi)
		}
	}
}

// TestBcastPlanMerge checks the merging that gives the per-channel and
// same-shape fast paths.
func TestBcastPlanMerge(t *testing.T) {
	tests := []struct {
		out    []int
		shapes [][]int
		dims   []int
		inc    []int
	}{
		{[]int{2, 3, 4, 5}, [][]int{{2, 3, 4, 5}, {2, 3, 4, 5}}, []int{120}, []int{1, 1}},
		{[]int{2, 3, 4, 5}, [][]int{{2, 3, 4, 5}, {1, 3, 1, 1}}, []int{2, 3, 20}, []int{1, 0}},
		{[]int{2, 3, 4, 5}, [][]int{{2, 3, 4, 5}, {3, 1, 1}}, []int{2, 3, 20}, []int{1, 0}},
		{[]int{2, 3, 4, 5}, [][]int{{2, 3, 4, 5}, {2, 3, 1, 1}}, []int{6, 20}, []int{1, 0}},
		{[]int{2, 3, 4, 5}, [][]int{{2, 3, 4, 5}, {}}, []int{120}, []int{1, 0}},
		{[]int{2, 3, 4, 5}, [][]int{{2, 3, 4, 5}, {5}}, []int{24, 5}, []int{1, 1}},
		{[]int{}, [][]int{{}, {}}, []int{1}, []int{0, 0}},
		{[]int{3, 4}, [][]int{{3, 1}, {1, 4}}, []int{3, 4}, []int{0, 1}},
	}
	for _, tc := range tests {
		p := newBcastPlan(tc.out, tc.shapes...)
		if !tensor.EqualShape(p.dims, tc.dims) || !tensor.EqualShape(p.inc, tc.inc) {
			t.Errorf("%v %v: dims %v inc %v, want %v %v", tc.out, tc.shapes, p.dims, p.inc, tc.dims, tc.inc)
		}
	}
}

func TestReduceToAndBroadcastTo(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 200 {
		out, shapes := randBroadcastShapes(r, 1)
		s := shapes[0]
		g := tensor.Zeros(out...)
		for i := range g.F {
			g.F[i] = float32(r.IntN(7) - 3)
		}
		want := make([]float32, tensor.Size(s))
		for o, v := range g.F {
			want[naiveOffset(out, s, unravel(out, o))] += v
		}
		got := reduceTo(g, s)
		if !tensor.EqualShape(got.Shape, s) || tensor.MaxAbsDiff(got.F, want) != 0 {
			t.Fatalf("reduceTo %v -> %v: got %v, want %v", out, s, got.F, want)
		}
		x := tensor.Zeros(s...)
		for i := range x.F {
			x.F[i] = float32(i)
		}
		b := broadcastTo(&Ctx{Threads: 3}, x, out)
		for o, v := range b.F {
			if w := x.F[naiveOffset(out, s, unravel(out, o))]; v != w {
				t.Fatalf("broadcastTo %v -> %v: element %d = %v, want %v", s, out, o, v, w)
			}
		}
	}
}

func TestBroadcastShapes(t *testing.T) {
	tests := []struct {
		in   [][]int
		want []int // nil: incompatible
	}{
		{[][]int{{2, 3, 4, 5}, {3, 1, 1}}, []int{2, 3, 4, 5}},
		{[][]int{{2, 3, 4, 5}, {}}, []int{2, 3, 4, 5}},
		{[][]int{{3, 1, 5}, {1, 4, 1}, {2, 1, 1, 1}}, []int{2, 3, 4, 5}},
		{[][]int{{2, 3}, {3, 2}}, nil},
		{[][]int{{0, 3}, {1, 3}}, []int{0, 3}},
	}
	for _, tc := range tests {
		got, err := broadcastShapes(tc.in...)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%v: got %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !tensor.EqualShape(got, tc.want) {
			t.Errorf("%v: got %v, %v, want %v", tc.in, got, err, tc.want)
		}
	}
	if !broadcastsTo([]int{3, 1, 1}, []int{2, 3, 4, 5}) || broadcastsTo([]int{2, 3, 4, 5}, []int{3, 4, 5}) || broadcastsTo([]int{4, 1}, []int{3, 5}) {
		t.Error("broadcastsTo is wrong")
	}
}

// TestParallelMatchesSerial runs a broadcast Mul over many goroutines.
func TestParallelMatchesSerial(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	a := tensor.Zeros(2, 16, 40, 41)
	b := tensor.Zeros(16, 1, 1)
	for i := range a.F {
		a.F[i] = r.Float32()
	}
	for i := range b.F {
		b.F[i] = r.Float32()
	}
	one, err := binaryForward(&Ctx{Threads: 1}, "Mul", bMul, a, b)
	if err != nil {
		t.Fatal(err)
	}
	many, err := binaryForward(&Ctx{Threads: 7}, "Mul", bMul, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if d := tensor.MaxAbsDiff(one.F, many.F); d != 0 {
		t.Errorf("parallel result differs by %g", d)
	}
	for o := range one.F {
		idx := unravel(a.Shape, o)
		if w := a.F[o] * b.F[idx[1]]; one.F[o] != w {
			t.Fatalf("element %d = %v, want %v", o, one.F[o], w)
		}
	}
}
