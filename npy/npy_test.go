package npy

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gradcam/gradcam/internal/shared"
	"github.com/gradcam/gradcam/tensor"
)

// The hex strings below are the exact bytes numpy 1.24.2 (Debian 12
// python3-numpy) wrote with np.save for the arrays named in each case.
const (
	npF4x2x2   = "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c2032292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0000c03f000000c00000803ee6b1617f"
	npF8BEFort = "934e554d5059010076007b276465736372273a20273e6638272c2027666f727472616e5f6f72646572273a20547275652c20277368617065273a2028322c2033292c207d20202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a000000000000000040080000000000003ff0000000000000401000000000000040000000000000004014000000000000"
	npF2       = "934e554d5059010076007b276465736372273a20273c6632272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028352c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a003c00b8ff7b0100007c"
	npU1       = "934e554d5059010076007b276465736372273a20277c7531272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028332c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a00ff07"
	npB1       = "934e554d5059010076007b276465736372273a20277c6231272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0100"
	npI8Scalar = "934e554d5059010076007b276465736372273a20273c6938272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028292c207d20202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200af9ffffffffffffff"
	npI2x2x2x2 = "934e554d5059010076007b276465736372273a20273c6932272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028322c20322c2032292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200afcfffdfffeffffff0000010002000300"
	npEmpty0x3 = "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028302c2033292c207d202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a"
	npF4x3     = "934e554d5059010076007b276465736372273a20273c6634272c2027666f727472616e5f6f72646572273a2046616c73652c20277368617065273a2028332c292c207d2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020200a0000803f0000004000004040"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadNumPyFiles(t *testing.T) {
	tests := []struct {
		name  string
		hex   string
		shape []int
		f     []float32
		i     []int64
	}{
		// np.array([[1.5,-2],[0.25,3e38]], dtype='<f4')
		{"f4 2x2", npF4x2x2, []int{2, 2}, []float32{1.5, -2, 0.25, 3e38}, nil},
		// np.asfortranarray(np.arange(6, dtype='>f8').reshape(2,3))
		{"f8 big-endian fortran", npF8BEFort, []int{2, 3}, []float32{0, 1, 2, 3, 4, 5}, nil},
		// np.array([1,-0.5,65504,6e-8,inf], dtype='<f2'); 6e-8 rounds to the subnormal 2^-24
		{"f2", npF2, []int{5}, []float32{1, -0.5, 65504, 1.0 / (1 << 24), float32(math.Inf(1))}, nil},
		{"u1", npU1, []int{3}, nil, []int64{0, 255, 7}},
		{"bool", npB1, []int{2}, nil, []int64{1, 0}},
		{"i8 scalar", npI8Scalar, []int{}, nil, []int64{-7}},
		{"i2 2x2x2", npI2x2x2x2, []int{2, 2, 2}, nil, []int64{-4, -3, -2, -1, 0, 1, 2, 3}},
		{"empty 0x3", npEmpty0x3, []int{0, 3}, []float32{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(bytes.NewReader(mustHex(t, tc.hex)))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Shape, tc.shape) {
				t.Fatalf("shape %v, want %v", got.Shape, tc.shape)
			}
			if tc.f != nil {
				if got.DType != tensor.Float32 || len(got.F) != len(tc.f) {
					t.Fatalf("got %v %d values, want float32 %d", got.DType, len(got.F), len(tc.f))
				}
				for k := range tc.f {
					if got.F[k] != tc.f[k] {
						t.Errorf("F[%d] = %g, want %g", k, got.F[k], tc.f[k])
					}
				}
			} else if got.DType != tensor.Int64 || !reflect.DeepEqual(got.I, tc.i) {
				t.Fatalf("got %v %v, want int64 %v", got.DType, got.I, tc.i)
			}
		})
	}
}

func TestWriteMatchesNumPy(t *testing.T) {
	tests := []struct {
		name string
		t    *tensor.Tensor
		hex  string
	}{
		{"f4 2x2", tensor.FromFloat32([]int{2, 2}, []float32{1.5, -2, 0.25, 3e38}), npF4x2x2},
		{"f4 1d", tensor.FromFloat32([]int{3}, []float32{1, 2, 3}), npF4x3},
		{"i8 scalar", &tensor.Tensor{DType: tensor.Int64, Shape: []int{}, I: []int64{-7}}, npI8Scalar},
		{"empty", tensor.FromFloat32([]int{0, 3}, []float32{}), npEmpty0x3},
	}
	for _, tc := range tests {
		var b bytes.Buffer
		if err := Write(&b, tc.t); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := hex.EncodeToString(b.Bytes()); got != tc.hex {
			t.Errorf("%s: wrote\n%s\nnumpy wrote\n%s", tc.name, got, tc.hex)
		}
	}
}

func TestRoundTripFileAndNPZ(t *testing.T) {
	dir := t.TempDir()
	a := tensor.FromFloat32([]int{2, 1, 3}, []float32{1, -2, 3.25, float32(math.Inf(-1)), 0, 7})
	b := tensor.FromInt64([]int{2}, []int64{math.MinInt64, math.MaxInt64})
	p := filepath.Join(dir, "a.npy")
	if err := WriteFile(p, a); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Errorf("file round trip: got %v, want %v", got, a)
	}
	var z bytes.Buffer
	if err := WriteNPZ(&z, map[string]*tensor.Tensor{"a": a, "b": b}); err != nil {
		t.Fatal(err)
	}
	m, err := ReadNPZFrom(bytes.NewReader(z.Bytes()), int64(z.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || !reflect.DeepEqual(m["a"], a) || !reflect.DeepEqual(m["b"], b) {
		t.Errorf("npz round trip: got %v", m)
	}
	// A long shape needs a version 2.0 header (length above 65535).
	long := make([]int, 30000)
	for i := range long {
		long[i] = 1
	}
	lt := tensor.FromFloat32(long, []float32{42})
	var lb bytes.Buffer
	if err := Write(&lb, lt); err != nil {
		t.Fatal(err)
	}
	if lb.Bytes()[6] != 2 {
		t.Errorf("version byte %d, want 2 for a long header", lb.Bytes()[6])
	}
	if got, err := Read(&lb); err != nil || len(got.Shape) != 30000 || got.F[0] != 42 {
		t.Errorf("version 2 round trip failed: %v", err)
	}
}

func TestReadErrors(t *testing.T) {
	valid := mustHex(t, npF4x2x2)
	withHeader := func(dict string) []byte {
		h := []byte(magic + "\x01\x00")
		h = append(h, byte(len(dict)), byte(len(dict)>>8))
		return append(h, dict...)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "reading magic"},
		{"bad magic", []byte("PK\x03\x04xxxxxxxxxxxx"), "bad magic"},
		{"bad version", []byte(magic + "\x07\x00\x10\x00"), "version 7.0"},
		{"truncated header", valid[:40], "header"},
		{"truncated data", valid[:len(valid)-3], "truncated after 0 of 4"},
		{"structured", withHeader("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n"), "structured"},
		{"complex", withHeader("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }\n"), "unsupported dtype"},
		{"no shape", withHeader("{'descr': '<f4', 'fortran_order': False}\n"), "'shape'"},
		{"negative dim", withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }\n"), "bad dimension"},
		{"huge shape", withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 100000), }\n"), "too many elements"},
		{"not a dict", withHeader("(1, 2)\n"), "not a dict"},
		{"garbage", withHeader("{'descr': @}\n"), "unexpected"},
		{"unterminated", withHeader("{'descr: '<f4'\n"), "expected ':'"},
	}
	for _, tc := range tests {
		_, err := Read(bytes.NewReader(tc.data))
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q, want ErrFormat mentioning %q", tc.name, err, tc.want)
		}
	}
	if _, err := ReadNPZFrom(bytes.NewReader(valid), int64(len(valid))); err == nil {
		t.Error("an .npy file was accepted as .npz")
	}
}

// TestSharedReferenceNPZ reads a pytorch-grad-cam reference archive written
// by numpy and checks it against facts stated beside it.
func TestSharedReferenceNPZ(t *testing.T) {
	p := shared.Path(t, "reference", "resnet18__photo-both.npz")
	m, err := ReadNPZ(p)
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Class int64 `json:"class"`
	}
	js, err := os.ReadFile(strings.TrimSuffix(p, ".npz") + ".json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &meta); err != nil {
		t.Fatal(err)
	}
	shapes := map[string][]int{
		"input": {1, 3, 224, 224}, "image": {224, 224, 3}, "logits": {1, 1000},
		"cam_GradCAM": {224, 224}, "raw_GradCAM": {7, 7}, "gb": {224, 224, 3},
		"guided_gradcam": {224, 224, 3}, "class": {},
	}
	for k, want := range shapes {
		got, ok := m[k]
		if !ok {
			t.Errorf("member %s missing", k)
			continue
		}
		if !reflect.DeepEqual(got.Shape, want) {
			t.Errorf("%s: shape %v, want %v", k, got.Shape, want)
		}
	}
	if c := m["class"]; c.DType != tensor.Int64 || c.I[0] != meta.Class {
		t.Errorf("class = %v, want %d from the JSON", c, meta.Class)
	}
	if g := m["guided_gradcam"]; g.DType != tensor.Int64 {
		t.Errorf("uint8 member read as %v, want int64", g.DType)
	}
	// The input is the image normalised with the ImageNet mean/std.
	img, in := m["image"].F, m["input"].F
	mean := []float32{0.485, 0.456, 0.406}
	std := []float32{0.229, 0.224, 0.225}
	for _, px := range []int{0, 1000, 224*224 - 1} {
		for c := 0; c < 3; c++ {
			want := (img[px*3+c] - mean[c]) / std[c]
			if d := math.Abs(float64(in[c*224*224+px] - want)); d > 1e-6 {
				t.Errorf("input[%d,%d] = %g, want %g", c, px, in[c*224*224+px], want)
			}
		}
	}
}

func FuzzRead(f *testing.F) {
	for _, h := range []string{npF4x2x2, npF8BEFort, npF2, npU1, npB1, npI8Scalar, npI2x2x2x2, npEmpty0x3} {
		f.Add(mustHex(f, h))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Read(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		var b bytes.Buffer
		if err := Write(&b, a); err != nil {
			t.Fatalf("cannot write back what was read: %v", err)
		}
		c, err := Read(&b)
		if err != nil {
			t.Fatalf("cannot read back what was written: %v", err)
		}
		if !reflect.DeepEqual(a.Shape, c.Shape) || a.DType != c.DType || a.Len() != c.Len() {
			t.Fatalf("round trip changed %v to %v", a, c)
		}
		for i := range a.F {
			if math.Float32bits(a.F[i]) != math.Float32bits(c.F[i]) {
				t.Fatalf("round trip changed F[%d]", i)
			}
		}
		if !reflect.DeepEqual(a.I, c.I) {
			t.Fatal("round trip changed int data")
		}
	})
}
