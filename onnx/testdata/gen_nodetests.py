#!/usr/bin/python3
# Regenerates the golden files of package onnx's TestNodeTest* tests from the
# ONNX backend tests of Debian's libonnx-testdata, with python3-onnx and numpy:
#
#   /usr/bin/python3 onnx/testdata/gen_nodetests.py /usr/share/libonnx-testdata/data
#
# nodetests.golden: for each TensorProto file (input_N.pb, output_N.pb) of the
#   node tests whose graph input/output is a tensor: dtype, shape and a hash of
#   the values as package onnx converts them (float32 bits or int64,
#   little-endian, NaNs canonical), or "error TYPE" for types it refuses.
# models.golden: for each model.onnx, a hash of a canonical text form of the
#   graph (see canon_model; the Go test builds the same text).
#   `gen_nodetests.py --dump path/model.onnx` prints that text.
import glob, hashlib, os, sys
import numpy as np
import onnx
from onnx import numpy_helper, TensorProto

FLOATS = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE, TensorProto.BFLOAT16)
SUPPORTED = FLOATS + (TensorProto.INT64, TensorProto.INT32, TensorProto.INT16, TensorProto.INT8,
                      TensorProto.UINT8, TensorProto.UINT16, TensorProto.UINT32, TensorProto.UINT64,
                      TensorProto.BOOL)


def canon_tensor(t):
    """'kind shape hash' as package onnx converts t, or None if it refuses t."""
    dt = t.data_type
    if dt not in SUPPORTED:
        return None
    if dt == TensorProto.BFLOAT16:
        if t.raw_data:
            bits16 = np.frombuffer(t.raw_data, dtype="<u2")
        else:
            bits16 = np.array(t.int32_data, dtype=np.uint32).astype(np.uint16)
        a = (bits16.astype(np.uint32) << 16).view(np.float32)
    else:
        a = numpy_helper.to_array(t)
    if dt in FLOATS:
        v = a.astype(np.float32).reshape(-1)
        bits = v.view(np.uint32).copy()
        bits[np.isnan(v)] = 0x7FC00000
        data, kind = bits.astype("<u4").tobytes(), "float32"
    else:
        v = a.reshape(-1)
        v = v.view(np.int64) if dt == TensorProto.UINT64 else v.astype(np.int64)
        data, kind = v.astype("<i8").tobytes(), "int64"
    shape = "x".join(str(x) for x in t.dims) or "scalar"
    return "%s %s %s" % (kind, shape, hashlib.sha256(data).hexdigest()[:16])


def canon_vi(kind, vi):
    tt = vi.type.tensor_type if vi.type.WhichOneof("value") == "tensor_type" else None
    elem = tt.elem_type if tt is not None else 0
    if tt is None or not tt.HasField("shape"):
        dims = "-"
    else:
        ds = []
        for d in tt.shape.dim:
            w = d.WhichOneof("value")
            ds.append(str(d.dim_value) if w == "dim_value" else "?" + d.dim_param if w == "dim_param" else "?")
        dims = ",".join(ds)
    return "%s %s %d %s" % (kind, vi.name, elem, dims)


def f32hex(x):
    return "%08x" % np.array([x], dtype=np.float32).view(np.uint32)[0]


def canon_attr(a):
    T = onnx.AttributeProto
    v = ""
    if a.type == T.FLOAT:
        v = f32hex(a.f)
    elif a.type == T.INT:
        v = str(a.i)
    elif a.type == T.STRING:
        v = a.s.hex()
    elif a.type == T.TENSOR:
        v = canon_tensor(a.t)
        if v is None:
            raise ValueError("tensor attribute of type %d" % a.t.data_type)
    elif a.type == T.FLOATS:
        v = ",".join(f32hex(x) for x in a.floats)
    elif a.type == T.INTS:
        v = ",".join(str(x) for x in a.ints)
    elif a.type == T.STRINGS:
        v = ",".join(s.hex() for s in a.strings)
    return "attr %s %d %s" % (a.name, a.type, v)


def canon_model(m):
    g = m.graph
    lines = []
    ops = {}
    for o in m.opset_import:
        ops["" if o.domain == "ai.onnx" else o.domain] = o.version
    for d in sorted(ops):
        lines.append("opset %s %d" % (d, ops[d]))
    inits = {t.name: t for t in g.initializer}
    for vi in g.input:
        if vi.name not in inits:
            lines.append(canon_vi("input", vi))
    for vi in g.output:
        lines.append(canon_vi("output", vi))
    for vi in sorted(g.value_info, key=lambda v: v.name):
        lines.append(canon_vi("value_info", vi))
    for name in sorted(inits):
        c = canon_tensor(inits[name])
        if c is None:
            raise ValueError("initializer of type %d" % inits[name].data_type)
        lines.append("init %s %s" % (name, c))
    for n in g.node:
        lines.append("node %s %s %s in=%s out=%s" % (n.domain, n.op_type, n.name, ",".join(n.input), ",".join(n.output)))
        for a in sorted(n.attribute, key=lambda a: a.name):
            lines.append(canon_attr(a))
    meta = {p.key: p.value for p in m.metadata_props}
    for k in sorted(meta):
        lines.append("meta %s %s" % (k, meta[k].encode().hex()))
    lines.append("producer %s" % (m.producer_name + (" " + m.producer_version if m.producer_version else "")).encode().hex())
    return "\n".join(lines) + "\n"


def main():
    if sys.argv[1] == "--dump":
        sys.stdout.write(canon_model(onnx.load(sys.argv[2])))
        return
    data = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    tensors, models = [], []
    for d in sorted(glob.glob(os.path.join(data, "*", "*"))):
        mp = os.path.join(d, "model.onnx")
        if not os.path.exists(mp):
            continue
        m = onnx.load(mp)
        try:
            c = canon_model(m)
            models.append("%s %s nodes=%d" % (os.path.relpath(mp, data), hashlib.sha256(c.encode()).hexdigest()[:16], len(m.graph.node)))
        except ValueError as e:
            models.append("%s error" % os.path.relpath(mp, data))
        if not d.startswith(os.path.join(data, "node") + os.sep):
            continue
        ins = [i for i in m.graph.input if i.name not in {t.name for t in m.graph.initializer}]
        for ds in sorted(glob.glob(os.path.join(d, "test_data_set_*"))):
            for kind, vis in (("input", ins), ("output", list(m.graph.output))):
                for i, vi in enumerate(vis):
                    f = os.path.join(ds, "%s_%d.pb" % (kind, i))
                    if not os.path.exists(f) or vi.type.WhichOneof("value") != "tensor_type":
                        continue
                    t = TensorProto()
                    with open(f, "rb") as fh:
                        t.ParseFromString(fh.read())
                    c = canon_tensor(t)
                    name = TensorProto.DataType.Name(t.data_type)
                    rel = os.path.relpath(f, os.path.join(data, "node"))
                    tensors.append("%s error %s" % (rel, name) if c is None else "%s %s %s" % (rel, name, c))
    with open(os.path.join(here, "nodetests.golden"), "w") as fh:
        fh.write("\n".join(tensors) + "\n")
    with open(os.path.join(here, "models.golden"), "w") as fh:
        fh.write("\n".join(models) + "\n")
    print("%d tensors, %d models" % (len(tensors), len(models)))


if __name__ == "__main__":
    main()
