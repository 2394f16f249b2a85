package tensor

import "testing"

func TestBroadcastShape(t *testing.T) {
	for _, tc := range []struct {
		a, b, want []int
		fail       bool
	}{
		{[]int{2, 3, 4}, []int{4}, []int{2, 3, 4}, false},
		{[]int{1, 3, 1}, []int{5, 1, 7}, []int{5, 3, 7}, false},
		{nil, []int{2, 2}, []int{2, 2}, false},
		{[]int{3}, []int{4}, nil, true},
	} {
		got, err := BroadcastShape(tc.a, tc.b)
		if (err != nil) != tc.fail || (!tc.fail && !EqualShape(got, tc.want)) {
			t.Errorf("BroadcastShape(%v, %v) = %v, %v", tc.a, tc.b, got, err)
		}
	}
}

func TestIndexing(t *testing.T) {
	x := FromFloat32([]int{2, 3}, []float32{0, 1, 2, 3, 4, 5})
	if x.At(1, 2) != 5 || Offset(x.Shape, []int{1, 0}) != 3 {
		t.Errorf("At/Offset wrong")
	}
	if s := Strides([]int{2, 3, 4}); !EqualShape(s, []int{12, 4, 1}) {
		t.Errorf("Strides = %v", s)
	}
	r := x.Reshaped(3, 2)
	r.F[0] = 9
	if x.F[0] != 9 {
		t.Errorf("Reshaped does not share data")
	}
	c := x.Clone()
	c.F[1] = 7
	if x.F[1] == 7 {
		t.Errorf("Clone shares data")
	}
	if d := MaxAbsDiff([]float32{1, 2}, []float32{1, 2.5}); d != 0.5 {
		t.Errorf("MaxAbsDiff = %g", d)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("FromFloat32 with a wrong length did not panic")
		}
	}()
	FromFloat32([]int{2, 2}, []float32{1})
}
