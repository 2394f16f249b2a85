package ops

import "testing"

// TestAlignedParts checks that the parts cover the rows in order, cut only
// at multiples of the alignment, and are as even as such cuts allow: no
// part is longer than the longest of the best cut.
func TestAlignedParts(t *testing.T) {
	tests := []struct {
		m, threads, al int
		want           [][2]int
	}{
		{256, 2, 14, [][2]int{{0, 126}, {126, 256}}},
		{64, 2, 14, [][2]int{{0, 28}, {28, 64}}},
		{128, 2, 14, [][2]int{{0, 70}, {70, 128}}},
		{2048, 2, 14, [][2]int{{0, 1022}, {1022, 2048}}},
		{10, 2, 14, [][2]int{{0, 10}}},
		{20, 4, 14, [][2]int{{0, 14}, {14, 20}}},
		{96, 3, 16, [][2]int{{0, 32}, {32, 64}, {64, 96}}},
	}
	for _, tt := range tests {
		parts, bounds := alignedParts(tt.m, tt.threads, tt.al)
		var got [][2]int
		for i := range parts {
			lo, hi := bounds(i)
			got = append(got, [2]int{lo, hi})
		}
		if len(got) != len(tt.want) {
			t.Errorf("alignedParts(%d, %d, %d) = %v, want %v", tt.m, tt.threads, tt.al, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("alignedParts(%d, %d, %d) = %v, want %v", tt.m, tt.threads, tt.al, got, tt.want)
				break
			}
		}
	}
	// Properties over many shapes: contiguous cover, aligned cuts, and
	// the longest part no longer than the best aligned two-way cut's.
	for m := 1; m <= 600; m++ {
		for _, al := range []int{1, 6, 14, 16} {
			parts, bounds := alignedParts(m, 2, al)
			next, longest := 0, 0
			for i := range parts {
				lo, hi := bounds(i)
				if lo != next || hi < lo || (i < parts-1 && hi%al != 0) {
					t.Fatalf("m=%d al=%d: part %d is [%d, %d) after %d", m, al, i, lo, hi, next)
				}
				next, longest = hi, max(longest, hi-lo)
			}
			if next != m {
				t.Fatalf("m=%d al=%d: parts end at %d", m, al, next)
			}
			best := m
			for c := 0; c <= m; c += al {
				best = min(best, max(c, m-c))
			}
			if longest > best {
				t.Errorf("m=%d al=%d: longest part %d, an aligned cut gives %d", m, al, longest, best)
			}
		}
	}
}
