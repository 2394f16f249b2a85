// Package npy reads and writes NumPy arrays in the .npy format and
// archives of them in the .npz format, as tensor.Tensor values.
//
// The format is NumPy Enhancement Proposal 1 ("A simple file format for
// NumPy arrays"): the magic string "\x93NUMPY", a major and minor version
// byte, a little-endian header length (2 bytes in version 1, 4 bytes in
// versions 2 and 3), an ASCII (version 3: UTF-8) Python dict literal with
// the keys 'descr', 'fortran_order' and 'shape', padded with spaces and a
// final newline, then the raw array data. An .npz file is a zip archive
// whose members are .npy files named after the arrays.
//
// Floating-point arrays (f2, f4, f8) are read as Float32 tensors and
// integer and boolean arrays (b1, i1..i8, u1..u8) as Int64 tensors, the
// two element types of package tensor. Fortran-ordered data is reordered
// to C order. Structured and object dtypes are refused.
package npy

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/gradcam/gradcam/tensor"
)

// magic starts every .npy file.
const magic = "\x93NUMPY"

// maxHeaderLen bounds the header dict length we accept when reading.
// NumPy itself refuses headers longer than 10000 bytes by default.
const maxHeaderLen = 1 << 20

// maxElements bounds the element count of an array we accept, so that
// a corrupt shape cannot make us allocate without bound.
const maxElements = 1 << 34

// Header is the metadata of one .npy array.
type Header struct {
	Descr   string // dtype descriptor, e.g. "<f4" or "|u1"
	Fortran bool   // data stored in column-major (Fortran) order
	Shape   []int  // array shape; empty for a scalar
}

// ErrFormat is wrapped by every error about malformed input.
var ErrFormat = errors.New("npy: malformed data")

func formatErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
}

// ReadHeader reads the magic string, version and header of an .npy
// stream, leaving r positioned at the first byte of the array data.
func ReadHeader(r io.Reader) (Header, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return Header{}, formatErr("reading magic: %v", err)
	}
	if string(pre[:6]) != magic {
		return Header{}, formatErr("not an .npy file (bad magic %q)", pre[:6])
	}
	major, minor := pre[6], pre[7]
	var hlen int
	switch major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return Header{}, formatErr("reading header length: %v", err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return Header{}, formatErr("reading header length: %v", err)
		}
		n := binary.LittleEndian.Uint32(b[:])
		if n > maxHeaderLen {
			return Header{}, formatErr("header length %d too large", n)
		}
		hlen = int(n)
	default:
		return Header{}, formatErr("unsupported format version %d.%d", major, minor)
	}
	buf := make([]byte, hlen)
	if _, err := io.ReadFull(r, buf); err != nil {
		return Header{}, formatErr("reading %d-byte header: %v", hlen, err)
	}
	return parseHeader(string(buf))
}

// parseHeader parses the Python dict literal of an .npy header.
func parseHeader(s string) (Header, error) {
	p := &parser{s: s}
	v, err := p.value()
	if err != nil {
		return Header{}, err
	}
	p.space()
	if p.i != len(p.s) {
		return Header{}, formatErr("trailing characters in header %q", s)
	}
	d, ok := v.(map[string]any)
	if !ok {
		return Header{}, formatErr("header is not a dict: %q", s)
	}
	var h Header
	descr, ok := d["descr"].(string)
	if !ok {
		if _, isList := d["descr"].([]any); isList {
			return Header{}, formatErr("structured dtypes are not supported")
		}
		return Header{}, formatErr("header has no string 'descr': %q", s)
	}
	h.Descr = descr
	fo, ok := d["fortran_order"].(bool)
	if !ok {
		return Header{}, formatErr("header has no boolean 'fortran_order': %q", s)
	}
	h.Fortran = fo
	shape, ok := d["shape"].([]any)
	if !ok {
		return Header{}, formatErr("header has no tuple 'shape': %q", s)
	}
	total := int64(1)
	for _, e := range shape {
		n, ok := e.(int64)
		if !ok || n < 0 {
			return Header{}, formatErr("bad dimension %v in shape", e)
		}
		if n > maxElements || (n > 0 && total > maxElements/n) {
			return Header{}, formatErr("shape %v has too many elements", shape)
		}
		total *= n
		h.Shape = append(h.Shape, int(n))
	}
	if _, _, err := elemType(h.Descr); err != nil {
		return Header{}, err
	}
	return h, nil
}

// parser parses the subset of Python literals used in .npy headers:
// dicts, tuples and lists, strings, integers, True, False and None.
type parser struct {
	s     string
	i     int
	depth int
}

func (p *parser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *parser) value() (any, error) {
	p.space()
	if p.i >= len(p.s) {
		return nil, formatErr("header ends early")
	}
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 16 {
		return nil, formatErr("header nested too deeply")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		p.i++
		d := map[string]any{}
		for {
			p.space()
			if p.i < len(p.s) && p.s[p.i] == '}' {
				p.i++
				return d, nil
			}
			k, err := p.value()
			if err != nil {
				return nil, err
			}
			key, ok := k.(string)
			if !ok {
				return nil, formatErr("non-string dict key %v", k)
			}
			p.space()
			if p.i >= len(p.s) || p.s[p.i] != ':' {
				return nil, formatErr("expected ':' after key %q", key)
			}
			p.i++
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			d[key] = v
			if !p.sep('}') {
				return nil, formatErr("expected ',' or '}' in dict")
			}
		}
	case c == '(' || c == '[':
		end := byte(')')
		if c == '[' {
			end = ']'
		}
		p.i++
		var l []any
		for {
			p.space()
			if p.i < len(p.s) && p.s[p.i] == end {
				p.i++
				if l == nil {
					l = []any{}
				}
				return l, nil
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			l = append(l, v)
			if !p.sep(end) {
				return nil, formatErr("expected ',' or %q in sequence", end)
			}
		}
	case c == '\'' || c == '"':
		j := strings.IndexByte(p.s[p.i+1:], c)
		if j < 0 {
			return nil, formatErr("unterminated string in header")
		}
		v := p.s[p.i+1 : p.i+1+j]
		p.i += j + 2
		return v, nil
	case c == '-' || c >= '0' && c <= '9':
		j := p.i + 1
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		n, err := strconv.ParseInt(p.s[p.i:j], 10, 64)
		if err != nil {
			return nil, formatErr("bad integer %q", p.s[p.i:j])
		}
		if j < len(p.s) && p.s[j] == 'L' { // Python 2 long suffix
			j++
		}
		p.i = j
		return n, nil
	default:
		for _, w := range []struct {
			word string
			v    any
		}{{"True", true}, {"False", false}, {"None", nil}} {
			if strings.HasPrefix(p.s[p.i:], w.word) {
				p.i += len(w.word)
				return w.v, nil
			}
		}
		return nil, formatErr("unexpected %q in header", p.s[p.i:min(len(p.s), p.i+10)])
	}
}

// sep consumes a ',' and reports true, or peeks the closing byte end and
// reports true without consuming it; otherwise it reports false.
func (p *parser) sep(end byte) bool {
	p.space()
	if p.i >= len(p.s) {
		return false
	}
	if p.s[p.i] == ',' {
		p.i++
		return true
	}
	return p.s[p.i] == end
}

// kind is the element kind of a descriptor.
type kind byte

const (
	kFloat kind = 'f'
	kInt   kind = 'i'
	kUint  kind = 'u'
	kBool  kind = 'b'
)

// elemType decodes a simple dtype descriptor into kind, byte order and size.
func elemType(descr string) (kind, int, error) {
	if len(descr) < 3 {
		return 0, 0, formatErr("unsupported dtype %q", descr)
	}
	order, k, size := descr[0], kind(descr[1]), descr[2:]
	n, err := strconv.Atoi(size)
	if err != nil {
		return 0, 0, formatErr("unsupported dtype %q", descr)
	}
	switch order {
	case '<', '>', '|', '=':
	default:
		return 0, 0, formatErr("unsupported byte order in dtype %q", descr)
	}
	ok := false
	switch k {
	case kFloat:
		ok = n == 2 || n == 4 || n == 8
	case kInt, kUint:
		ok = n == 1 || n == 2 || n == 4 || n == 8
	case kBool:
		ok = n == 1
	}
	if !ok {
		return 0, 0, formatErr("unsupported dtype %q (want f2/f4/f8, i1..i8, u1..u8 or b1)", descr)
	}
	return k, n, nil
}

func byteOrder(descr string) binary.ByteOrder {
	switch descr[0] {
	case '>':
		return binary.BigEndian
	case '=':
		return binary.NativeEndian
	}
	return binary.LittleEndian
}

// Read reads one .npy array from r.
func Read(r io.Reader) (*tensor.Tensor, error) {
	h, err := ReadHeader(r)
	if err != nil {
		return nil, err
	}
	k, size, _ := elemType(h.Descr)
	order := byteOrder(h.Descr)
	n := tensor.Size(h.Shape)
	var t *tensor.Tensor
	if k == kFloat {
		t = &tensor.Tensor{DType: tensor.Float32, Shape: h.Shape, F: make([]float32, 0, min(n, 1<<16))}
	} else {
		t = &tensor.Tensor{DType: tensor.Int64, Shape: h.Shape, I: make([]int64, 0, min(n, 1<<16))}
	}
	if t.Shape == nil {
		t.Shape = []int{}
	}
	// Read in chunks so that a header promising more data than the
	// stream holds fails without a huge allocation up front.
	const chunk = 1 << 16
	buf := make([]byte, chunk*size)
	for done := 0; done < n; {
		m := min(n-done, chunk)
		b := buf[:m*size]
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, formatErr("array data truncated after %d of %d elements: %v", done, n, err)
		}
		for i := 0; i < m; i++ {
			e := b[i*size : (i+1)*size]
			switch k {
			case kFloat:
				var v float32
				switch size {
				case 2:
					v = halfToFloat(order.Uint16(e))
				case 4:
					v = math.Float32frombits(order.Uint32(e))
				case 8:
					v = float32(math.Float64frombits(order.Uint64(e)))
				}
				t.F = append(t.F, v)
			case kBool:
				var v int64
				if e[0] != 0 {
					v = 1
				}
				t.I = append(t.I, v)
			case kInt:
				var v int64
				switch size {
				case 1:
					v = int64(int8(e[0]))
				case 2:
					v = int64(int16(order.Uint16(e)))
				case 4:
					v = int64(int32(order.Uint32(e)))
				case 8:
					v = int64(order.Uint64(e))
				}
				t.I = append(t.I, v)
			case kUint:
				var v uint64
				switch size {
				case 1:
					v = uint64(e[0])
				case 2:
					v = uint64(order.Uint16(e))
				case 4:
					v = uint64(order.Uint32(e))
				case 8:
					v = order.Uint64(e)
				}
				if v > math.MaxInt64 {
					return nil, formatErr("uint64 value %d does not fit in int64", v)
				}
				t.I = append(t.I, int64(v))
			}
		}
		done += m
	}
	if h.Fortran && len(h.Shape) > 1 {
		fromFortran(t)
	}
	return t, nil
}

// halfToFloat converts an IEEE 754 binary16 value to float32.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := int(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp == 0:
		if frac == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: frac * 2^-24.
		v := float32(frac) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | uint32(exp-15+127)<<23 | frac<<13)
}

// fromFortran reorders t's data, read in column-major order, to row-major.
func fromFortran(t *tensor.Tensor) {
	shape := t.Shape
	n := tensor.Size(shape)
	// fstride[k] is the column-major stride of dimension k.
	fstride := make([]int, len(shape))
	s := 1
	for k := range shape {
		fstride[k] = s
		s *= shape[k]
	}
	idx := make([]int, len(shape))
	var srcF []float32
	var srcI []int64
	if t.DType == tensor.Float32 {
		srcF, t.F = t.F, make([]float32, n)
	} else {
		srcI, t.I = t.I, make([]int64, n)
	}
	for c := 0; c < n; c++ {
		off := 0
		for k, v := range idx {
			off += v * fstride[k]
		}
		if srcF != nil {
			t.F[c] = srcF[off]
		} else {
			t.I[c] = srcI[off]
		}
		for k := len(idx) - 1; k >= 0; k-- {
			idx[k]++
			if idx[k] < shape[k] {
				break
			}
			idx[k] = 0
		}
	}
}

// ReadFile reads the .npy file at path.
func ReadFile(path string) (*tensor.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := Read(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// header returns the padded header bytes (magic through newline) for t.
func header(t *tensor.Tensor) ([]byte, error) {
	var descr string
	switch t.DType {
	case tensor.Float32:
		descr = "<f4"
	case tensor.Int64:
		descr = "<i8"
	default:
		return nil, fmt.Errorf("npy: cannot write tensor of type %v", t.DType)
	}
	if len(t.Shape) == 0 && t.Len() != 1 || len(t.Shape) > 0 && tensor.Size(t.Shape) != t.Len() {
		return nil, fmt.Errorf("npy: tensor shape %v does not match its data", t.Shape)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr)
	for i, d := range t.Shape {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Itoa(d))
	}
	if len(t.Shape) == 1 {
		sb.WriteString(",")
	}
	sb.WriteString("), }")
	dict := sb.String()
	// Pad so that the data starts on a 64-byte boundary, as NumPy does.
	const align = 64
	pre := len(magic) + 2 + 2
	version := byte(1)
	if len(dict)+1+pre > math.MaxUint16 {
		version, pre = 2, pre+2
	}
	total := (pre + len(dict) + 1 + align - 1) / align * align
	var b bytes.Buffer
	b.WriteString(magic)
	b.WriteByte(version)
	b.WriteByte(0)
	hlen := total - pre
	if version == 1 {
		b.Write(binary.LittleEndian.AppendUint16(nil, uint16(hlen)))
	} else {
		b.Write(binary.LittleEndian.AppendUint32(nil, uint32(hlen)))
	}
	b.WriteString(dict)
	b.WriteString(strings.Repeat(" ", total-b.Len()-1))
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// Write writes t to w as a little-endian C-ordered .npy array: float32
// tensors as '<f4', int64 tensors as '<i8'.
func Write(w io.Writer, t *tensor.Tensor) error {
	h, err := header(t)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	bw.Write(h)
	var e [8]byte
	if t.DType == tensor.Float32 {
		for _, v := range t.F {
			binary.LittleEndian.PutUint32(e[:4], math.Float32bits(v))
			bw.Write(e[:4])
		}
	} else {
		for _, v := range t.I {
			binary.LittleEndian.PutUint64(e[:], uint64(v))
			bw.Write(e[:])
		}
	}
	return bw.Flush()
}

// WriteFile writes t to the .npy file at path.
func WriteFile(path string, t *tensor.Tensor) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := Write(f, t); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadNPZ reads every array of the .npz archive at path, keyed by name
// (the member name without its ".npy" suffix).
func ReadNPZ(path string) (map[string]*tensor.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	m, err := ReadNPZFrom(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// ReadNPZFrom reads every array of the .npz archive held in r, which has
// the given size in bytes.
func ReadNPZFrom(r io.ReaderAt, size int64) (map[string]*tensor.Tensor, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, formatErr("not an .npz (zip) archive: %v", err)
	}
	out := make(map[string]*tensor.Tensor, len(zr.File))
	for _, f := range zr.File {
		name := strings.TrimSuffix(f.Name, ".npy")
		rc, err := f.Open()
		if err != nil {
			return nil, formatErr("member %s: %v", f.Name, err)
		}
		t, err := Read(bufio.NewReader(rc))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", f.Name, err)
		}
		out[name] = t
	}
	return out, nil
}

// WriteNPZ writes arrays to w as an uncompressed .npz archive (what
// numpy.savez produces), members in sorted name order.
func WriteNPZ(w io.Writer, arrays map[string]*tensor.Tensor) error {
	names := make([]string, 0, len(arrays))
	for k := range arrays {
		names = append(names, k)
	}
	sort.Strings(names)
	zw := zip.NewWriter(w)
	for _, name := range names {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: zip.Store})
		if err != nil {
			return err
		}
		if err := Write(fw, arrays[name]); err != nil {
			return fmt.Errorf("npy: array %s: %w", name, err)
		}
	}
	return zw.Close()
}
