package onnx

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
)

// byteReader is what the decoder reads from: a *bufio.Reader over a file,
// or a *bytes.Reader over a model in memory.
type byteReader interface {
	io.Reader
	io.ByteReader
}

// stream reads protobuf fields from r. left counts the bytes of the message
// being decoded that are not read yet: every length read from the input is
// checked against it before anything is allocated, so a hostile length can
// never make the decoder allocate more than the input holds.
type stream struct {
	r    byteReader
	left int64
}

func newStream(r io.Reader, size int64) *stream {
	br, ok := r.(byteReader)
	if !ok {
		br = bufio.NewReaderSize(r, 1<<16)
	}
	return &stream{r: br, left: size}
}

func newByteStream(b []byte) *stream {
	return &stream{r: bytes.NewReader(b), left: int64(len(b))}
}

var (
	errTruncated = errors.New("truncated message")
	errOverflow  = errors.New("varint overflows 64 bits")
)

func ioError(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: the input ended early", errTruncated)
	}
	return err
}

// varint reads one base-128 varint.
func (s *stream) varint() (uint64, error) {
	var v uint64
	for i := 0; i < 10; i++ {
		if s.left <= 0 {
			return 0, errTruncated
		}
		b, err := s.r.ReadByte()
		if err != nil {
			return 0, ioError(err)
		}
		s.left--
		if i == 9 && b > 1 {
			return 0, errOverflow
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return v, nil
		}
	}
	return 0, errOverflow
}

// tag reads a field tag.
func (s *stream) tag() (protowire.Number, protowire.Type, error) {
	v, err := s.varint()
	if err != nil {
		return 0, 0, fmt.Errorf("field tag: %w", err)
	}
	num, typ := protowire.DecodeTag(v)
	if num < protowire.MinValidNumber || num > protowire.MaxValidNumber {
		return 0, 0, fmt.Errorf("invalid field number %d", int64(v>>3))
	}
	if typ > protowire.Fixed32Type {
		return 0, 0, fmt.Errorf("field %d: invalid wire type %d", num, typ)
	}
	return num, typ, nil
}

// length reads the length of a length-delimited field and checks it
// against the bytes that are left.
func (s *stream) length() (int64, error) {
	v, err := s.varint()
	if err != nil {
		return 0, err
	}
	if v > uint64(s.left) {
		return 0, fmt.Errorf("%w: length %d exceeds the %d bytes left", errTruncated, v, s.left)
	}
	return int64(v), nil
}

// read fills p, which must fit in the bytes left.
func (s *stream) read(p []byte) error {
	if int64(len(p)) > s.left {
		return errTruncated
	}
	if _, err := io.ReadFull(s.r, p); err != nil {
		return ioError(err)
	}
	s.left -= int64(len(p))
	return nil
}

// bytes reads n bytes into a new slice.
func (s *stream) bytes(n int64) ([]byte, error) {
	if n > s.left {
		return nil, errTruncated
	}
	b := make([]byte, n)
	return b, s.read(b)
}

func (s *stream) fixed32() (uint32, error) {
	var b [4]byte
	if err := s.read(b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

func (s *stream) fixed64() (uint64, error) {
	var b [8]byte
	if err := s.read(b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// discard skips n bytes.
func (s *stream) discard(n int64) error {
	if n > s.left {
		return errTruncated
	}
	var err error
	switch r := s.r.(type) {
	case *bufio.Reader:
		for m := n; m > 0 && err == nil; {
			k := int(min(m, 1<<30))
			_, err = r.Discard(k)
			m -= int64(k)
		}
	case *bytes.Reader:
		if int64(r.Len()) < n {
			err = io.ErrUnexpectedEOF
		} else {
			_, err = r.Seek(n, io.SeekCurrent)
		}
	default:
		_, err = io.CopyN(io.Discard, r, n)
	}
	if err != nil {
		return ioError(err)
	}
	s.left -= n
	return nil
}

// skip skips the value of a field of wire type typ.
func (s *stream) skip(num protowire.Number, typ protowire.Type) error {
	var err error
	switch typ {
	case protowire.VarintType:
		_, err = s.varint()
	case protowire.Fixed32Type:
		err = s.discard(4)
	case protowire.Fixed64Type:
		err = s.discard(8)
	case protowire.BytesType:
		var n int64
		if n, err = s.length(); err == nil {
			err = s.discard(n)
		}
	default:
		err = fmt.Errorf("wire type %d (groups) is not supported", typ)
	}
	if err != nil {
		return fmt.Errorf("field %d: %w", num, err)
	}
	return nil
}

// message decodes a length-delimited sub-message with fn, which must read
// it all (it loops while s.left > 0).
func (s *stream) message(fn func() error) error {
	n, err := s.length()
	if err != nil {
		return err
	}
	outer := s.left - n
	s.left = n
	if err := fn(); err != nil {
		return err
	}
	if s.left != 0 {
		return fmt.Errorf("%d bytes of the message were not read", s.left)
	}
	s.left = outer
	return nil
}

var wireNames = [...]string{"varint", "fixed64", "bytes", "start-group", "end-group", "fixed32"}

func wireName(t protowire.Type) string {
	if int(t) < len(wireNames) {
		return wireNames[t]
	}
	return fmt.Sprintf("wire type %d", t)
}

func wrongWire(name string, num protowire.Number, got protowire.Type, want ...protowire.Type) error {
	w := wireName(want[0])
	if len(want) > 1 {
		w += " or " + wireName(want[1])
	}
	return fmt.Errorf("field %s (%d) has wire type %s, want %s", name, num, wireName(got), w)
}

// str reads a string field.
func (s *stream) str(name string, num protowire.Number, typ protowire.Type) (string, error) {
	if typ != protowire.BytesType {
		return "", wrongWire(name, num, typ, protowire.BytesType)
	}
	n, err := s.length()
	if err != nil {
		return "", fmt.Errorf("field %s: %w", name, err)
	}
	b, err := s.bytes(n)
	if err != nil {
		return "", fmt.Errorf("field %s: %w", name, err)
	}
	return unsafe.String(unsafe.SliceData(b), len(b)), nil
}

// int reads a varint field as int64.
func (s *stream) int(name string, num protowire.Number, typ protowire.Type) (int64, error) {
	if typ != protowire.VarintType {
		return 0, wrongWire(name, num, typ, protowire.VarintType)
	}
	v, err := s.varint()
	if err != nil {
		return 0, fmt.Errorf("field %s: %w", name, err)
	}
	return int64(v), nil
}

// varintInt is an integer type held in protobuf varints.
type varintInt interface {
	~int32 | ~int64 | ~uint64
}

// readVarints reads a repeated varint field, either one unpacked value or a
// packed run, appending to dst. Values are truncated to T as protobuf does
// for int32.
func readVarints[T varintInt](s *stream, dst []T, name string, num protowire.Number, typ protowire.Type) ([]T, error) {
	switch typ {
	case protowire.VarintType:
		v, err := s.varint()
		if err != nil {
			return dst, fmt.Errorf("field %s: %w", name, err)
		}
		return append(dst, T(v)), nil
	case protowire.BytesType:
		n, err := s.length()
		if err != nil {
			return dst, fmt.Errorf("field %s: %w", name, err)
		}
		b, err := s.bytes(n)
		if err != nil {
			return dst, fmt.Errorf("field %s: %w", name, err)
		}
		// Every varint ends in one byte below 0x80: count them to size
		// the result exactly.
		count := 0
		for _, c := range b {
			if c < 0x80 {
				count++
			}
		}
		if len(b) > 0 && b[len(b)-1] >= 0x80 {
			return dst, fmt.Errorf("field %s: packed varints end in the middle of a value", name)
		}
		dst = growCap(dst, count)
		for len(b) > 0 {
			v, k := protowire.ConsumeVarint(b)
			if k < 0 {
				return dst, fmt.Errorf("field %s: %w", name, protowire.ParseError(k))
			}
			dst = append(dst, T(v))
			b = b[k:]
		}
		return dst, nil
	}
	return dst, wrongWire(name, num, typ, protowire.VarintType, protowire.BytesType)
}

// growCap makes room for n more elements.
func growCap[T any](s []T, n int) []T {
	if cap(s)-len(s) >= n {
		return s
	}
	out := make([]T, len(s), len(s)+n)
	copy(out, s)
	return out
}

// asBytes views a slice of fixed-size numbers as its bytes.
func asBytes[T float32 | float64 | int64 | uint64 | int32](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(s[0])))
}

// littleEndian reports whether this machine stores numbers little-endian,
// as ONNX raw_data does (then raw bytes are read straight into the slices).
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()
