package labels

import (
	"strings"
	"testing"
)

func TestImageNet(t *testing.T) {
	l := ImageNet()
	for _, tc := range []struct {
		i     int
		short string
	}{{0, "tench"}, {243, "bull mastiff"}, {281, "tabby"}, {999, "toilet tissue"}} {
		if got := l.Short(tc.i); got != tc.short {
			t.Errorf("Short(%d) = %q, want %q", tc.i, got, tc.short)
		}
		if got := l.Find(tc.short); got != tc.i {
			t.Errorf("Find(%q) = %d, want %d", tc.short, got, tc.i)
		}
	}
	if got := l.Name(1000); got != "class 1000" {
		t.Errorf("Name(1000) = %q", got)
	}
	if ForClasses(1001).Short(244) != "bull mastiff" || ForClasses(10) != nil {
		t.Errorf("ForClasses")
	}
}

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		fail bool
	}{
		{"cat\ndog\n", 2, false},
		{"cat\ndog\n\n\n", 2, false},
		{"cat\n\ndog\n", 0, true},
		{"", 0, true},
	} {
		l, err := Read(strings.NewReader(tc.in))
		if (err != nil) != tc.fail || len(l) != tc.n {
			t.Errorf("Read(%q) = %v, %v", tc.in, l, err)
		}
	}
}
