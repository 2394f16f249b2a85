package onnx

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/gradcam/gradcam/tensor"
)

// pb builds protobuf messages by hand for the tests.
type pb []byte

func (b pb) varint(num protowire.Number, v uint64) pb {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func (b pb) int(num protowire.Number, v int64) pb { return b.varint(num, uint64(v)) }

func (b pb) bytes(num protowire.Number, v []byte) pb {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func (b pb) str(num protowire.Number, s string) pb { return b.bytes(num, []byte(s)) }

func (b pb) msg(num protowire.Number, m pb) pb { return b.bytes(num, m) }

func (b pb) fixed32(num protowire.Number, v uint32) pb {
	b = protowire.AppendTag(b, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, v)
}

func (b pb) fixed64(num protowire.Number, v uint64) pb {
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, v)
}

// packed encodes values as a packed varint run.
func packed(vs ...int64) []byte {
	var b []byte
	for _, v := range vs {
		b = protowire.AppendVarint(b, uint64(v))
	}
	return b
}

// tp starts a TensorProto with dims, data type and name.
func tp(name string, dt int32, dims ...int64) pb {
	var b pb
	for _, d := range dims {
		b = b.int(1, d)
	}
	b = b.int(2, int64(dt))
	if name != "" {
		b = b.str(8, name)
	}
	return b
}

func le16(vs ...uint16) []byte {
	b := make([]byte, 2*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return b
}

func le32(vs ...uint32) []byte {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	return b
}

func le64(vs ...uint64) []byte {
	b := make([]byte, 8*len(vs))
	for i, v := range vs {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b
}

func f32bits(vs ...float32) []uint32 {
	out := make([]uint32, len(vs))
	for i, v := range vs {
		out[i] = math.Float32bits(v)
	}
	return out
}

func ft(shape []int, v ...float32) *tensor.Tensor {
	return &tensor.Tensor{DType: tensor.Float32, Shape: shape, F: v}
}

func it(shape []int, v ...int64) *tensor.Tensor {
	return &tensor.Tensor{DType: tensor.Int64, Shape: shape, I: v}
}

func TestDecodeTensorTypes(t *testing.T) {
	f16 := []uint16{0x3c00, 0xc000, 0x7c00, 0x0001, 0x7bff, 0x8000}
	f16want := []float32{1, -2, float32(math.Inf(1)), 0x1p-24, 65504, float32(math.Copysign(0, -1))}
	var f16int32 []int64
	for _, v := range f16 {
		f16int32 = append(f16int32, int64(v))
	}
	maxU64 := uint64(1<<63 + 5)
	cases := []struct {
		name string
		data pb
		want *tensor.Tensor
	}{
		{"FLOAT raw", tp("x", typeFloat, 2, 2).bytes(9, le32(f32bits(1, -2, 3.5, 0)...)), ft([]int{2, 2}, 1, -2, 3.5, 0)},
		{"FLOAT packed float_data", tp("x", typeFloat, 3).bytes(4, le32(f32bits(1, 2, 3)...)), ft([]int{3}, 1, 2, 3)},
		{"FLOAT unpacked float_data", tp("x", typeFloat, 2).fixed32(4, math.Float32bits(7)).fixed32(4, math.Float32bits(-8)), ft([]int{2}, 7, -8)},
		{"FLOAT raw before data_type", pb(nil).int(1, 2).bytes(9, le32(f32bits(4, 5)...)).int(2, typeFloat), ft([]int{2}, 4, 5)},
		{"FLOAT scalar", tp("s", typeFloat).bytes(9, le32(f32bits(6)...)), ft([]int{}, 6)},
		{"FLOAT empty", tp("e", typeFloat, 0, 3), ft([]int{0, 3})},
		{"FLOAT empty raw", tp("e", typeFloat, 2, 0).bytes(9, nil), ft([]int{2, 0})},
		{"FLOAT16 raw", tp("h", typeFloat16, 6).bytes(9, le16(f16...)), ft([]int{6}, f16want...)},
		{"FLOAT16 int32_data", tp("h", typeFloat16, 6).bytes(5, packed(f16int32...)), ft([]int{6}, f16want...)},
		{"BFLOAT16 raw", tp("b", typeBfloat16, 3).bytes(9, le16(0x3f80, 0xc000, 0x4049)), ft([]int{3}, 1, -2, 3.140625)},
		{"BFLOAT16 int32_data", tp("b", typeBfloat16, 2).int(5, 0x3f80).int(5, 0xc000), ft([]int{2}, 1, -2)},
		{"DOUBLE raw", tp("d", typeDouble, 2).bytes(9, le64(math.Float64bits(0.1), math.Float64bits(-1e300))),
			ft([]int{2}, float32(0.1), float32(math.Inf(-1)))},
		{"DOUBLE packed double_data", tp("d", typeDouble, 2).bytes(10, le64(math.Float64bits(2.5), math.Float64bits(-3))), ft([]int{2}, 2.5, -3)},
		{"DOUBLE unpacked double_data", tp("d", typeDouble, 1).fixed64(10, math.Float64bits(9)), ft([]int{1}, 9)},
		{"INT64 raw", tp("i", typeInt64, 3).bytes(9, le64(1, uint64(1<<62), math.MaxUint64)), it([]int{3}, 1, 1<<62, -1)},
		{"INT64 int64_data packed", tp("i", typeInt64, 3).bytes(7, packed(-5, 0, math.MaxInt64)), it([]int{3}, -5, 0, math.MaxInt64)},
		{"INT64 int64_data unpacked", tp("i", typeInt64, 2).int(7, -1).int(7, 2), it([]int{2}, -1, 2)},
		{"INT32 raw", tp("i", typeInt32, 2).bytes(9, le32(0xffffffff, 7)), it([]int{2}, -1, 7)},
		{"INT32 int32_data", tp("i", typeInt32, 2).bytes(5, packed(-5, math.MaxInt32)), it([]int{2}, -5, math.MaxInt32)},
		{"INT16 raw", tp("i", typeInt16, 2).bytes(9, le16(0x8000, 0x7fff)), it([]int{2}, -32768, 32767)},
		{"INT16 int32_data", tp("i", typeInt16, 2).bytes(5, packed(-300, 300)), it([]int{2}, -300, 300)},
		{"INT8 raw", tp("i", typeInt8, 3).bytes(9, []byte{0xff, 0x7f, 0x80}), it([]int{3}, -1, 127, -128)},
		{"INT8 int32_data", tp("i", typeInt8, 2).bytes(5, packed(-128, 5)), it([]int{2}, -128, 5)},
		{"UINT8 raw", tp("u", typeUint8, 2).bytes(9, []byte{255, 0}), it([]int{2}, 255, 0)},
		{"UINT8 int32_data", tp("u", typeUint8, 2).bytes(5, packed(255, 1)), it([]int{2}, 255, 1)},
		{"UINT16 raw", tp("u", typeUint16, 1).bytes(9, le16(65535)), it([]int{1}, 65535)},
		{"UINT16 int32_data", tp("u", typeUint16, 1).int(5, 65535), it([]int{1}, 65535)},
		{"UINT32 raw", tp("u", typeUint32, 1).bytes(9, le32(0xffffffff)), it([]int{1}, 4294967295)},
		{"UINT32 uint64_data", tp("u", typeUint32, 1).bytes(11, packed(4294967295)), it([]int{1}, 4294967295)},
		{"UINT64 raw wraps", tp("u", typeUint64, 1).bytes(9, le64(maxU64)), it([]int{1}, int64(maxU64))},
		{"UINT64 uint64_data", tp("u", typeUint64, 2).int(11, 3).varint(11, maxU64), it([]int{2}, 3, int64(maxU64))},
		{"BOOL raw", tp("b", typeBool, 3).bytes(9, []byte{0, 1, 2}), it([]int{3}, 0, 1, 1)},
		{"BOOL int32_data", tp("b", typeBool, 2).bytes(5, packed(1, 0)), it([]int{2}, 1, 0)},
		{"dims packed", pb(nil).bytes(1, packed(2, 1)).int(2, typeInt64).bytes(9, le64(4, 5)), it([]int{2, 1}, 4, 5)},
		{"unknown fields skipped", tp("x", typeFloat, 1).str(12, "doc").fixed64(99, 1).bytes(9, le32(f32bits(1)...)).int(1000, 3), ft([]int{1}, 1)},
	}
	for _, c := range cases {
		got, err := DecodeTensor(c.data)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got.F == nil && got.DType == tensor.Float32 || got.I == nil && got.DType == tensor.Int64 {
			t.Errorf("%s: nil data slice", c.name)
		}
		if c.want.DType == tensor.Float32 && c.want.F == nil {
			c.want.F = []float32{}
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.name, got, c.want)
		}
	}
}

func TestDecodeTensorErrors(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		want []string // substrings of the error
	}{
		{"STRING", tp("words", typeString, 1).str(6, "hi"), []string{`"words"`, "STRING"}},
		{"COMPLEX64", tp("c", typeComplex64, 1).bytes(9, make([]byte, 8)), []string{`"c"`, "COMPLEX64", "not supported"}},
		{"FLOAT8", tp("f8", 17, 1).bytes(9, []byte{1}), []string{"FLOAT8E4M3FN", "not supported"}},
		{"unknown type", tp("u", 99, 1).bytes(9, []byte{1}), []string{`"u"`, "unknown data type 99"}},
		{"no type", pb(nil).int(1, 1).str(8, "nt").bytes(9, le32(1)), []string{`"nt"`, "data_type"}},
		{"negative dim", tp("n", typeFloat, 2, -3), []string{`"n"`, "dims[1] = -3 is negative"}},
		{"overflowing dims", tp("o", typeFloat, 1<<40, 1<<40, 0), []string{`"o"`, "overflows"}},
		{"overflowing dims 2", tp("o", typeFloat, 1<<31, 1<<31), []string{"overflows"}},
		{"raw too short", tp("r", typeFloat, 2, 2).bytes(9, le32(1, 2, 3)), []string{`"r"`, "raw_data has 12 bytes", "need 16"}},
		{"raw odd length", tp("r", typeFloat, 1).bytes(9, []byte{1, 2, 3}), []string{"raw_data has 3 bytes"}},
		{"raw too long", tp("r", typeInt8, 2).bytes(9, []byte{1, 2, 3}), []string{"raw_data has 3 bytes", "need 2"}},
		{"typed count", tp("c", typeInt64, 3).bytes(7, packed(1, 2)), []string{`"c"`, "int64_data has 2 values", "need 3"}},
		{"typed field for wrong type", tp("w", typeInt64, 1).fixed32(4, 0), []string{`"w"`, "float_data does not hold data of type INT64"}},
		{"two sources", tp("t", typeFloat, 1).fixed32(4, 0).bytes(9, le32(0)), []string{`"t"`, "given twice", "raw_data", "float_data"}},
		{"no data", tp("nd", typeFloat, 2), []string{`"nd"`, "no data"}},
		{"segment", tp("s", typeFloat, 1).msg(3, pb(nil).int(1, 0)).bytes(9, le32(0)), []string{"segmented"}},
		{"bad location", tp("l", typeFloat, 1).int(14, 7), []string{"data_location 7"}},
		{"external without directory", tp("e", typeFloat, 1).msg(13, pb(nil).str(1, "location").str(2, "w.bin")).int(14, 1),
			[]string{`"e"`, "directory is unknown"}},
		{"dims wire type", pb(nil).fixed32(1, 3).int(2, typeFloat), []string{"field dims (1) has wire type fixed32, want varint or bytes"}},
		{"data_type wire type", pb(nil).str(2, "x"), []string{"field data_type (2) has wire type bytes, want varint"}},
		{"raw_data wire type", tp("rw", typeFloat, 1).int(9, 1), []string{`"rw"`, "field raw_data (9) has wire type varint"}},
		{"name wire type", pb(nil).int(8, 1), []string{"field name (8) has wire type varint"}},
		{"float_data packed length", tp("fp", typeFloat, 1).bytes(4, []byte{1, 2, 3}), []string{"float_data", "not a multiple of 4"}},
		{"absurd length", append(tp("big", typeFloat, 1<<20), protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.BytesType), 1<<40)...),
			[]string{`"big"`, "raw_data", "exceeds"}},
		{"truncated varint", append(tp("tv", typeInt64, 1), 0x38, 0xff), []string{"truncated"}},
		{"varint overflow", append(pb(nil), 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), []string{"overflow"}},
		{"field number 0", []byte{0x00, 0x01}, []string{"invalid field number 0"}},
		{"wire type 7", []byte{0x0f}, []string{"invalid wire type 7"}},
		{"group", []byte{0x63, 0x64}, []string{"groups"}},
		{"packed varints cut", tp("pv", typeInt64, 1).bytes(7, []byte{0x80}), []string{"int64_data", "middle of a value"}},
	}
	for _, c := range cases {
		_, err := DecodeTensor(c.data)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}
}

// TestFloat16 checks every half-precision value against its definition.
func TestFloat16(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		got := Float16ToFloat32(uint16(h))
		sign := 1.0
		if h&0x8000 != 0 {
			sign = -1
		}
		exp := (h >> 10) & 0x1f
		mant := h & 0x3ff
		var want float64
		switch exp {
		case 0:
			want = sign * math.Ldexp(float64(mant), -24)
		case 0x1f:
			if mant == 0 {
				want = math.Inf(int(sign))
			} else {
				want = math.NaN()
			}
		default:
			want = sign * math.Ldexp(float64(mant|0x400), exp-25)
		}
		if math.IsNaN(want) {
			if !math.IsNaN(float64(got)) || math.Float32bits(got)&0x7fffff != uint32(mant)<<13 {
				t.Fatalf("%#04x: %v (%#08x), want NaN with payload", h, got, math.Float32bits(got))
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != (sign < 0) {
			t.Fatalf("%#04x: %v, want %v", h, got, want)
		}
	}
}

// extModel builds a model whose initializers live in external files.
func extModel(inits ...pb) []byte {
	var g pb
	g = g.msg(1, pb(nil).str(1, "x").str(1, "w").str(2, "y").str(4, "Add"))
	for _, t := range inits {
		g = g.msg(5, t)
	}
	g = g.msg(11, valueInfo("x", typeFloat, 2))
	g = g.msg(12, valueInfo("y", typeFloat, 2))
	return pb(nil).int(1, 8).msg(7, g).msg(8, pb(nil).int(2, 13))
}

func valueInfo(name string, elem int64, dims ...int64) pb {
	var shape pb
	for _, d := range dims {
		shape = shape.msg(1, pb(nil).int(1, d))
	}
	return pb(nil).str(1, name).msg(2, pb(nil).msg(1, pb(nil).int(1, elem).msg(2, shape)))
}

func ext(name string, dt int32, dims []int64, kv ...string) pb {
	b := tp(name, dt, dims...)
	for i := 0; i+1 < len(kv); i += 2 {
		b = b.msg(13, pb(nil).str(1, kv[i]).str(2, kv[i+1]))
	}
	return b.int(14, 1)
}

func TestExternalData(t *testing.T) {
	dir := t.TempDir()
	// weights.bin: 8 junk bytes, then 2 floats, then 3 int64.
	data := append([]byte("headerXX"), le32(f32bits(1.5, -2)...)...)
	data = append(data, le64(7, 8, math.MaxUint64)...)
	if err := os.WriteFile(filepath.Join(dir, "weights.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "h.bin"), le16(0x3c00, 0xc000), 0o644); err != nil {
		t.Fatal(err)
	}
	model := extModel(
		ext("w", typeFloat, []int64{2}, "location", "weights.bin", "offset", "8", "length", "8"),
		ext("i", typeInt64, []int64{3}, "location", "weights.bin", "offset", "16"),
		ext("h", typeFloat16, []int64{2}, "location", "sub/h.bin", "checksum", "ignored"),
	)
	path := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(path, model, 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(how string, inits map[string]*tensor.Tensor) {
		want := map[string]*tensor.Tensor{
			"w": ft([]int{2}, 1.5, -2),
			"i": it([]int{3}, 7, 8, -1),
			"h": ft([]int{2}, 1, -2),
		}
		if !reflect.DeepEqual(inits, want) {
			t.Errorf("%s: initializers %v, want %v", how, inits, want)
		}
	}
	g, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	check("Load", g.Initializers)
	if g, err = Decode(model, dir); err != nil {
		t.Fatal(err)
	}
	check("Decode", g.Initializers)
	if _, err := Decode(model, ""); err == nil || !strings.Contains(err.Error(), `initializer[0] "w"`) {
		t.Errorf("Decode without a directory: %v", err)
	}

	// A file outside the model's directory, and a link to it.
	outside := filepath.Join(t.TempDir(), "secret.bin")
	if err := os.WriteFile(outside, le32(1, 2), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "link.bin")); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		kv   []string
		want string
	}{
		{"absolute", []string{"location", outside}, "absolute"},
		{"dot-dot", []string{"location", "../" + filepath.Base(filepath.Dir(outside)) + "/secret.bin"}, "leaves the model's directory"},
		{"inner dot-dot", []string{"location", "sub/../../x.bin"}, "leaves the model's directory"},
		{"backslash dot-dot", []string{"location", `sub\..\..\x.bin`}, "leaves the model's directory"},
		{"symlink out", []string{"location", "link.bin"}, "link.bin"},
		{"missing file", []string{"location", "nope.bin"}, "nope.bin"},
		{"no location", []string{"offset", "0"}, "no location"},
		{"length mismatch", []string{"location", "weights.bin", "offset", "0", "length", "4"}, "has 4 bytes, the dims need 8"},
		{"rest mismatch", []string{"location", "weights.bin"}, "has 40 bytes, the dims need 8"},
		{"past the end", []string{"location", "weights.bin", "offset", "36", "length", "8"}, "runs past the end"},
		{"offset past the end", []string{"location", "weights.bin", "offset", "1000"}, "past the end"},
		{"negative offset", []string{"location", "weights.bin", "offset", "-1"}, "offset \"-1\""},
		{"bad length", []string{"location", "weights.bin", "length", "x"}, "length \"x\""},
	}
	for _, c := range bad {
		m := extModel(ext("w", typeFloat, []int64{2}, c.kv...))
		p := filepath.Join(dir, "bad.onnx")
		if err := os.WriteFile(p, m, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `"w"`) {
			t.Errorf("%s: error %v, want one naming \"w\" and saying %q", c.name, err, c.want)
		}
	}
	// Raw data and external data together.
	m := extModel(ext("w", typeFloat, []int64{2}, "location", "weights.bin").bytes(9, le32(1, 2)))
	if _, err := Decode(m, dir); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("raw and external data: %v", err)
	}

	// A lone tensor file with external data beside it.
	tpath := filepath.Join(dir, "input_0.pb")
	if err := os.WriteFile(tpath, ext("in", typeFloat, []int64{1, 2}, "location", "weights.bin", "offset", "8", "length", "8"), 0o644); err != nil {
		t.Fatal(err)
	}
	name, x, err := ReadNamedTensor(tpath)
	if err != nil || name != "in" || !reflect.DeepEqual(x, ft([]int{1, 2}, 1.5, -2)) {
		t.Errorf("ReadNamedTensor: %q %v %v", name, x, err)
	}
}
