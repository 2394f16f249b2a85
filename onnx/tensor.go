package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/gradcam/gradcam/tensor"
)

// ONNX TensorProto.DataType codes.
const (
	typeUndefined  = 0
	typeFloat      = 1
	typeUint8      = 2
	typeInt8       = 3
	typeUint16     = 4
	typeInt16      = 5
	typeInt32      = 6
	typeInt64      = 7
	typeString     = 8
	typeBool       = 9
	typeFloat16    = 10
	typeDouble     = 11
	typeUint32     = 12
	typeUint64     = 13
	typeComplex64  = 14
	typeComplex128 = 15
	typeBfloat16   = 16
)

var dataTypeNames = map[int32]string{
	0: "UNDEFINED", 1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64",
	8: "STRING", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64", 14: "COMPLEX64",
	15: "COMPLEX128", 16: "BFLOAT16", 17: "FLOAT8E4M3FN", 18: "FLOAT8E4M3FNUZ", 19: "FLOAT8E5M2",
	20: "FLOAT8E5M2FNUZ", 21: "UINT4", 22: "INT4", 23: "FLOAT4E2M1", 24: "FLOAT8E8M0", 25: "UINT2", 26: "INT2",
}

// DataTypeName returns the ONNX name of a TensorProto data type code, such
// as "FLOAT" for 1.
func DataTypeName(code int32) string {
	if n, ok := dataTypeNames[code]; ok {
		return n
	}
	return fmt.Sprintf("data type %d", code)
}

// elemSize returns the bytes per element of the data types this package
// reads, and 0 for the others.
func elemSize(dt int32) int {
	switch dt {
	case typeUint8, typeInt8, typeBool:
		return 1
	case typeUint16, typeInt16, typeFloat16, typeBfloat16:
		return 2
	case typeFloat, typeInt32, typeUint32:
		return 4
	case typeInt64, typeUint64, typeDouble:
		return 8
	}
	return 0
}

// isFloat reports whether a data type becomes a tensor.Float32.
func isFloat(dt int32) bool {
	return dt == typeFloat || dt == typeFloat16 || dt == typeBfloat16 || dt == typeDouble
}

// tensorProto is a TensorProto as read from the wire, before validation.
type tensorProto struct {
	name     string
	dims     []int64
	dataType int32
	segment  bool
	location int64 // data_location: 0 default, 1 external
	external [][2]string

	hasRaw bool
	raw    []byte    // raw_data, when not read straight into rawF or rawI
	rawF   []float32 // raw_data of a FLOAT tensor, read in place
	rawI   []int64   // raw_data of an INT64 tensor, read in place

	floats  []float32 // float_data
	int32s  []int32   // int32_data
	int64s  []int64   // int64_data
	doubles []float64 // double_data
	uint64s []uint64  // uint64_data
	strings int       // string_data count
}

// readTensorProto decodes the TensorProto that fills s.left.
func readTensorProto(s *stream) (*tensorProto, error) {
	tp := &tensorProto{}
	for s.left > 0 {
		num, typ, err := s.tag()
		if err != nil {
			return tp, err
		}
		switch num {
		case 1:
			tp.dims, err = readVarints(s, tp.dims, "dims", num, typ)
		case 2:
			var v int64
			v, err = s.int("data_type", num, typ)
			tp.dataType = int32(v)
		case 3:
			tp.segment = true
			err = s.skip(num, typ)
		case 4:
			err = tp.readFloats(s, num, typ)
		case 5:
			tp.int32s, err = readVarints(s, tp.int32s, "int32_data", num, typ)
		case 6:
			tp.strings++
			err = s.skip(num, typ)
		case 7:
			tp.int64s, err = readVarints(s, tp.int64s, "int64_data", num, typ)
		case 8:
			tp.name, err = s.str("name", num, typ)
		case 9:
			err = tp.readRaw(s, num, typ)
		case 10:
			err = tp.readDoubles(s, num, typ)
		case 11:
			tp.uint64s, err = readVarints(s, tp.uint64s, "uint64_data", num, typ)
		case 13:
			if typ != protowire.BytesType {
				return tp, wrongWire("external_data", num, typ, protowire.BytesType)
			}
			var kv [2]string
			kv, err = readStringPair(s)
			if err != nil {
				err = fmt.Errorf("field external_data: %w", err)
			}
			tp.external = append(tp.external, kv)
		case 14:
			tp.location, err = s.int("data_location", num, typ)
		default:
			err = s.skip(num, typ)
		}
		if err != nil {
			return tp, err
		}
	}
	return tp, nil
}

// readStringPair decodes a StringStringEntryProto.
func readStringPair(s *stream) (kv [2]string, err error) {
	err = s.message(func() error {
		for s.left > 0 {
			num, typ, err := s.tag()
			if err != nil {
				return err
			}
			switch num {
			case 1:
				kv[0], err = s.str("key", num, typ)
			case 2:
				kv[1], err = s.str("value", num, typ)
			default:
				err = s.skip(num, typ)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return kv, err
}

// readFloats reads float_data: a packed run of little-endian float32, read
// straight into the slice, or one unpacked value.
func (tp *tensorProto) readFloats(s *stream, num protowire.Number, typ protowire.Type) error {
	switch typ {
	case protowire.Fixed32Type:
		v, err := s.fixed32()
		if err != nil {
			return fmt.Errorf("field float_data: %w", err)
		}
		tp.floats = append(tp.floats, math.Float32frombits(v))
		return nil
	case protowire.BytesType:
		n, err := s.length()
		if err != nil {
			return fmt.Errorf("field float_data: %w", err)
		}
		if n%4 != 0 {
			return fmt.Errorf("field float_data: packed length %d is not a multiple of 4", n)
		}
		f := make([]float32, n/4)
		if err := s.read(asBytes(f)); err != nil {
			return fmt.Errorf("field float_data: %w", err)
		}
		fromLittleEndian32(asBytes(f))
		if tp.floats == nil {
			tp.floats = f
		} else {
			tp.floats = append(tp.floats, f...)
		}
		return nil
	}
	return wrongWire("float_data", num, typ, protowire.Fixed32Type, protowire.BytesType)
}

// readDoubles reads double_data, packed or not.
func (tp *tensorProto) readDoubles(s *stream, num protowire.Number, typ protowire.Type) error {
	switch typ {
	case protowire.Fixed64Type:
		v, err := s.fixed64()
		if err != nil {
			return fmt.Errorf("field double_data: %w", err)
		}
		tp.doubles = append(tp.doubles, math.Float64frombits(v))
		return nil
	case protowire.BytesType:
		n, err := s.length()
		if err != nil {
			return fmt.Errorf("field double_data: %w", err)
		}
		if n%8 != 0 {
			return fmt.Errorf("field double_data: packed length %d is not a multiple of 8", n)
		}
		d := make([]float64, n/8)
		if err := s.read(asBytes(d)); err != nil {
			return fmt.Errorf("field double_data: %w", err)
		}
		fromLittleEndian64(asBytes(d))
		tp.doubles = append(tp.doubles, d...)
		return nil
	}
	return wrongWire("double_data", num, typ, protowire.Fixed64Type, protowire.BytesType)
}

// readRaw reads raw_data. For FLOAT and INT64 tensors whose data_type came
// first (as every serializer writes it) the bytes land straight in the
// final slice, so a weight is held once.
func (tp *tensorProto) readRaw(s *stream, num protowire.Number, typ protowire.Type) error {
	if typ != protowire.BytesType {
		return wrongWire("raw_data", num, typ, protowire.BytesType)
	}
	n, err := s.length()
	if err != nil {
		return fmt.Errorf("field raw_data: %w", err)
	}
	tp.hasRaw = true
	tp.raw, tp.rawF, tp.rawI = nil, nil, nil
	switch {
	case tp.dataType == typeFloat && n%4 == 0:
		tp.rawF = make([]float32, n/4)
		err = s.read(asBytes(tp.rawF))
	case tp.dataType == typeInt64 && n%8 == 0:
		tp.rawI = make([]int64, n/8)
		err = s.read(asBytes(tp.rawI))
	default:
		tp.raw, err = s.bytes(n)
	}
	if err != nil {
		return fmt.Errorf("field raw_data: %w", err)
	}
	return nil
}

// rawBytes returns raw_data as bytes, wherever it was stored.
func (tp *tensorProto) rawBytes() []byte {
	switch {
	case tp.rawF != nil:
		return asBytes(tp.rawF)
	case tp.rawI != nil:
		return asBytes(tp.rawI)
	}
	return tp.raw
}

// extFiles opens the external data files of one model, each once, inside
// its directory.
type extFiles struct {
	dir   string
	root  *os.Root
	files map[string]*os.File
}

func (e *extFiles) close() {
	if e == nil {
		return
	}
	for _, f := range e.files {
		f.Close()
	}
	if e.root != nil {
		e.root.Close()
	}
}

// checkLocation refuses an external data location that could leave the
// model's directory.
func checkLocation(loc string) error {
	if loc == "" {
		return errors.New("external_data has no location")
	}
	if strings.ContainsRune(loc, 0) {
		return fmt.Errorf("external data location %q holds a NUL byte", loc)
	}
	if filepath.IsAbs(loc) || strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, `\`) || filepath.VolumeName(loc) != "" {
		return fmt.Errorf("external data location %q is absolute: it must name a file beside the model", loc)
	}
	for _, part := range strings.FieldsFunc(loc, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return fmt.Errorf("external data location %q leaves the model's directory", loc)
		}
	}
	return nil
}

func (e *extFiles) open(loc string) (*os.File, error) {
	if err := checkLocation(loc); err != nil {
		return nil, err
	}
	if e == nil || e.dir == "" {
		return nil, fmt.Errorf("external data file %q: the model's directory is unknown (use Load, or pass the directory to Decode)", loc)
	}
	if f, ok := e.files[loc]; ok {
		return f, nil
	}
	if e.root == nil {
		r, err := os.OpenRoot(e.dir)
		if err != nil {
			return nil, fmt.Errorf("external data: %w", err)
		}
		e.root = r
		e.files = make(map[string]*os.File)
	}
	// os.Root also refuses symbolic links that lead out of the directory.
	f, err := e.root.Open(filepath.FromSlash(loc))
	if err != nil {
		return nil, fmt.Errorf("external data file %q: %w", loc, err)
	}
	e.files[loc] = f
	return f, nil
}

// readExternal reads the external data of tp (need bytes) into its raw
// fields.
func (tp *tensorProto) readExternal(ext *extFiles, need int64) error {
	var loc string
	offset, length := int64(0), int64(-1)
	for _, kv := range tp.external {
		switch kv[0] {
		case "location":
			loc = kv[1]
		case "offset", "length":
			v, err := strconv.ParseInt(kv[1], 10, 64)
			if err != nil || v < 0 {
				return fmt.Errorf("external_data %s %q is not a non-negative integer", kv[0], kv[1])
			}
			if kv[0] == "offset" {
				offset = v
			} else {
				length = v
			}
		}
	}
	f, err := ext.open(loc)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("external data file %q: %w", loc, err)
	}
	size := st.Size()
	if offset > size {
		return fmt.Errorf("external data offset %d is past the end of %q (%d bytes)", offset, loc, size)
	}
	if length < 0 {
		length = size - offset
	} else if length > size-offset {
		return fmt.Errorf("external data of %d bytes at offset %d runs past the end of %q (%d bytes)", length, offset, loc, size)
	}
	if length != need {
		return fmt.Errorf("external data in %q has %d bytes, the dims need %d", loc, length, need)
	}
	var dst []byte
	tp.raw, tp.rawF, tp.rawI = nil, nil, nil
	switch {
	case tp.dataType == typeFloat:
		tp.rawF = make([]float32, need/4)
		dst = asBytes(tp.rawF)
	case tp.dataType == typeInt64:
		tp.rawI = make([]int64, need/8)
		dst = asBytes(tp.rawI)
	default:
		tp.raw = make([]byte, need)
		dst = tp.raw
	}
	if _, err := f.ReadAt(dst, offset); err != nil && !(err == io.EOF && len(dst) == 0) {
		return fmt.Errorf("external data file %q: %w", loc, err)
	}
	tp.hasRaw = true
	return nil
}

// toTensor validates tp and converts it to a tensor. ext (may be nil) opens
// external data files.
func (tp *tensorProto) toTensor(ext *extFiles) (*tensor.Tensor, error) {
	dt := tp.dataType
	switch {
	case dt == typeUndefined:
		return nil, errors.New("data_type is missing (UNDEFINED)")
	case dt == typeString:
		return nil, errors.New("STRING tensors are not supported")
	case elemSize(dt) == 0:
		if _, known := dataTypeNames[dt]; known {
			return nil, fmt.Errorf("data type %s is not supported", DataTypeName(dt))
		}
		return nil, fmt.Errorf("unknown data type %d", dt)
	}
	if tp.segment {
		return nil, errors.New("segmented tensors are not supported")
	}
	shape := make([]int, len(tp.dims))
	n := uint64(1)
	var big uint64 = 1 // product of the non-zero dims, to catch overflow hidden by a zero
	for i, d := range tp.dims {
		if d < 0 {
			return nil, fmt.Errorf("dims[%d] = %d is negative", i, d)
		}
		shape[i] = int(d)
		n *= uint64(d)
		if d != 0 {
			hi, lo := bits.Mul64(big, uint64(d))
			if hi != 0 || lo > math.MaxInt64/8 {
				return nil, fmt.Errorf("dims %v: the element count overflows", tp.dims)
			}
			big = lo
		}
	}
	if int64(n) > math.MaxInt {
		return nil, fmt.Errorf("dims %v: too many elements for this machine", tp.dims)
	}
	count := int(n)
	need := int64(n) * int64(elemSize(dt))

	// Where the data is.
	var sources []string
	if tp.location == 1 {
		sources = append(sources, "external_data")
	} else if tp.location != 0 {
		return nil, fmt.Errorf("data_location %d is not DEFAULT (0) or EXTERNAL (1)", tp.location)
	}
	if tp.hasRaw {
		sources = append(sources, "raw_data")
	}
	typed := ""
	for _, f := range []struct {
		name string
		n    int
	}{{"float_data", len(tp.floats)}, {"int32_data", len(tp.int32s)}, {"int64_data", len(tp.int64s)},
		{"double_data", len(tp.doubles)}, {"uint64_data", len(tp.uint64s)}, {"string_data", tp.strings}} {
		if f.n > 0 {
			sources = append(sources, f.name)
			typed = f.name
		}
	}
	if len(sources) > 1 {
		return nil, fmt.Errorf("data is given twice, in %s", strings.Join(sources, " and "))
	}
	if tp.location == 1 {
		if err := tp.readExternal(ext, need); err != nil {
			return nil, err
		}
	}

	t := &tensor.Tensor{Shape: shape}
	if isFloat(dt) {
		t.DType = tensor.Float32
	} else {
		t.DType = tensor.Int64
	}
	switch {
	case tp.hasRaw:
		raw := tp.rawBytes()
		if int64(len(raw)) != need {
			return nil, fmt.Errorf("raw_data has %d bytes, dims %v of %s need %d", len(raw), tp.dims, DataTypeName(dt), need)
		}
		switch {
		case tp.rawF != nil && dt == typeFloat:
			fromLittleEndian32(raw)
			t.F = tp.rawF
		case tp.rawI != nil && dt == typeInt64:
			fromLittleEndian64(raw)
			t.I = tp.rawI
		case t.DType == tensor.Float32:
			t.F = rawToFloat32(dt, raw, count)
		default:
			t.I = rawToInt64(dt, raw, count)
		}
	case typed == "":
		if count != 0 {
			return nil, fmt.Errorf("no data for dims %v (%d elements)", tp.dims, count)
		}
	default:
		var have int
		var ok bool
		switch typed {
		case "float_data":
			have, ok = len(tp.floats), dt == typeFloat
		case "int32_data":
			have = len(tp.int32s)
			switch dt {
			case typeInt32, typeInt16, typeInt8, typeUint16, typeUint8, typeBool, typeFloat16, typeBfloat16:
				ok = true
			}
		case "int64_data":
			have, ok = len(tp.int64s), dt == typeInt64
		case "double_data":
			have, ok = len(tp.doubles), dt == typeDouble
		case "uint64_data":
			have, ok = len(tp.uint64s), dt == typeUint32 || dt == typeUint64
		}
		if !ok {
			return nil, fmt.Errorf("%s does not hold data of type %s", typed, DataTypeName(dt))
		}
		if have != count {
			return nil, fmt.Errorf("%s has %d values, dims %v need %d", typed, have, tp.dims, count)
		}
		switch typed {
		case "float_data":
			t.F = tp.floats
		case "int32_data":
			if t.DType == tensor.Float32 {
				t.F = make([]float32, count)
				for i, v := range tp.int32s {
					if dt == typeFloat16 {
						t.F[i] = Float16ToFloat32(uint16(v))
					} else {
						t.F[i] = math.Float32frombits(uint32(uint16(v)) << 16)
					}
				}
			} else {
				t.I = make([]int64, count)
				for i, v := range tp.int32s {
					t.I[i] = narrowInt(dt, int64(v))
				}
			}
		case "int64_data":
			t.I = tp.int64s
		case "double_data":
			t.F = make([]float32, count)
			for i, v := range tp.doubles {
				t.F[i] = float32(v)
			}
		case "uint64_data":
			t.I = make([]int64, count)
			for i, v := range tp.uint64s {
				t.I[i] = narrowInt(dt, int64(v))
			}
		}
	}
	if t.DType == tensor.Float32 && t.F == nil {
		t.F = []float32{}
	}
	if t.DType == tensor.Int64 && t.I == nil {
		t.I = []int64{}
	}
	return t, nil
}

// narrowInt converts a value held in a wider field to the range of dt, as
// a C cast would.
func narrowInt(dt int32, v int64) int64 {
	switch dt {
	case typeInt8:
		return int64(int8(v))
	case typeUint8:
		return int64(uint8(v))
	case typeInt16:
		return int64(int16(v))
	case typeUint16:
		return int64(uint16(v))
	case typeInt32:
		return int64(int32(v))
	case typeUint32:
		return int64(uint32(v))
	case typeBool:
		if v != 0 {
			return 1
		}
		return 0
	}
	return v
}

func rawToFloat32(dt int32, raw []byte, n int) []float32 {
	out := make([]float32, n)
	le := binary.LittleEndian
	switch dt {
	case typeFloat:
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
	case typeFloat16:
		for i := range out {
			out[i] = Float16ToFloat32(le.Uint16(raw[2*i:]))
		}
	case typeBfloat16:
		for i := range out {
			out[i] = math.Float32frombits(uint32(le.Uint16(raw[2*i:])) << 16)
		}
	case typeDouble:
		for i := range out {
			out[i] = float32(math.Float64frombits(le.Uint64(raw[8*i:])))
		}
	}
	return out
}

func rawToInt64(dt int32, raw []byte, n int) []int64 {
	out := make([]int64, n)
	le := binary.LittleEndian
	switch dt {
	case typeUint8:
		for i := range out {
			out[i] = int64(raw[i])
		}
	case typeInt8:
		for i := range out {
			out[i] = int64(int8(raw[i]))
		}
	case typeBool:
		for i := range out {
			if raw[i] != 0 {
				out[i] = 1
			}
		}
	case typeUint16:
		for i := range out {
			out[i] = int64(le.Uint16(raw[2*i:]))
		}
	case typeInt16:
		for i := range out {
			out[i] = int64(int16(le.Uint16(raw[2*i:])))
		}
	case typeInt32:
		for i := range out {
			out[i] = int64(int32(le.Uint32(raw[4*i:])))
		}
	case typeUint32:
		for i := range out {
			out[i] = int64(le.Uint32(raw[4*i:]))
		}
	case typeInt64, typeUint64:
		for i := range out {
			out[i] = int64(le.Uint64(raw[8*i:]))
		}
	}
	return out
}

// fromLittleEndian32 turns little-endian 4-byte words into native order in
// place (nothing to do on a little-endian machine).
func fromLittleEndian32(b []byte) {
	if littleEndian {
		return
	}
	for i := 0; i+4 <= len(b); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.LittleEndian.Uint32(b[i:]))
	}
}

func fromLittleEndian64(b []byte) {
	if littleEndian {
		return
	}
	for i := 0; i+8 <= len(b); i += 8 {
		binary.NativeEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:]))
	}
}

// Float16ToFloat32 converts IEEE 754 half-precision bits to float32
// exactly (NaN payloads are kept in the high mantissa bits).
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// decodeTensorMessage decodes a TensorProto that fills s.left into a tensor,
// returning its name too (when it was read before an error).
func decodeTensorMessage(s *stream, ext *extFiles) (string, *tensor.Tensor, error) {
	tp, err := readTensorProto(s)
	if err != nil {
		return tp.name, nil, err
	}
	t, err := tp.toTensor(ext)
	return tp.name, t, err
}

func tensorCtx(ctx, name string) string {
	if name == "" {
		return ctx
	}
	return fmt.Sprintf("%s %q", ctx, name)
}

// DecodeTensor decodes a serialized TensorProto, such as the input_0.pb
// and output_0.pb files of the ONNX backend tests. A tensor with external
// data needs ReadTensor.
func DecodeTensor(data []byte) (*tensor.Tensor, error) {
	_, t, err := DecodeNamedTensor(data)
	return t, err
}

// DecodeNamedTensor is DecodeTensor that also returns the tensor's name.
func DecodeNamedTensor(data []byte) (string, *tensor.Tensor, error) {
	name, t, err := decodeTensorMessage(newByteStream(data), nil)
	if err != nil {
		return name, nil, fmt.Errorf("onnx: %s: %w", tensorCtx("tensor", name), err)
	}
	return name, t, nil
}

// ReadTensor reads a file holding one serialized TensorProto. External data
// is looked up beside the file.
func ReadTensor(path string) (*tensor.Tensor, error) {
	_, t, err := ReadNamedTensor(path)
	return t, err
}

// ReadNamedTensor is ReadTensor that also returns the tensor's name.
func ReadNamedTensor(path string) (string, *tensor.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, fmt.Errorf("onnx: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", nil, fmt.Errorf("onnx: %w", err)
	}
	ext := &extFiles{dir: filepath.Dir(path)}
	defer ext.close()
	name, t, err := decodeTensorMessage(newStream(f, st.Size()), ext)
	if err != nil {
		return name, nil, fmt.Errorf("onnx: %s: %s: %w", path, tensorCtx("tensor", name), err)
	}
	return name, t, nil
}
