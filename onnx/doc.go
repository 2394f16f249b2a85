// Package onnx reads ONNX model files into a graph.Graph and writes them
// back, with a hand-written protobuf decoder (wire helpers from
// google.golang.org/protobuf/encoding/protowire, no generated code).
//
// # Reading
//
// Load streams the file: the ModelProto and GraphProto are read field by
// field from a bufio.Reader, and each initializer's raw_data (or packed
// float_data) is read straight into the []float32 (or []int64) that becomes
// the tensor (no mmap, no intermediate buffer). A model's weights are
// therefore held once: loading VGG16 (553 MB file, 527.8 MiB of weights)
// raises the process's peak RSS by 529 MiB (TestLoadPeakRSS measures this
// in a child process). Everything else (nodes, attributes, value infos) is
// decoded from the same stream; only packed varint runs pass through a
// short-lived buffer. Decode does the same from a []byte (one copy of each
// weight from the caller's buffer into its tensor), and DecodeReader from
// any io.Reader whose size is known.
//
// Every length in the input is checked against the bytes left in its
// enclosing message before anything is allocated, so a hostile or
// truncated file yields an error, never a panic or a huge allocation.
// Errors name the message path, the node or tensor, and the field.
//
// Element types: FLOAT, FLOAT16, BFLOAT16 and DOUBLE become tensor.Float32;
// INT8/16/32/64, UINT8/16/32/64 and BOOL become tensor.Int64 (UINT64 values
// above the int64 range wrap). Both raw_data (little-endian) and the typed
// fields are read (int32_data holds the 8- and 16-bit types and the bit
// patterns of FLOAT16/BFLOAT16, as the ONNX spec says). STRING, complex and
// 8-, 4- and 2-bit types are refused with an error that names the tensor.
//
// External data (data_location EXTERNAL with location/offset/length) is
// read from files in the model's directory; a location that is absolute or
// climbs out of it (with .., or a symbolic link) is refused.
//
// The graph gets the nodes in file order (Constant nodes stay nodes),
// initializers by name (an initializer also listed as a graph input is not
// in Inputs), inputs/outputs/value_info with element types and shapes
// (dim_param as Dim{Value: -1, Param: name}), opsets by domain ("" for the
// default; "ai.onnx" is folded into it), metadata_props, the producer name
// and version, and the doc string. Attributes of kinds graph.Attr has no
// field for (GRAPH, TENSORS, GRAPHS, SPARSE_TENSOR(S), TYPE_PROTO(S)) are
// kept with their ONNX type code as Type and no value. Sparse initializers
// are refused.
//
// ReadTensor and DecodeTensor read a lone TensorProto, as the ONNX backend
// tests store their inputs and outputs.
//
// # Writing
//
// Write serializes a graph.Graph; initializers go out as raw_data straight
// from their slices, so writing does not copy the model either.
package onnx
