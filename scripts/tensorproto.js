// tensorproto.js - ONNX TensorProto files (the subset qbench reads and
// writes: dims, data_type, name, raw_data or the typed data fields) for the
// Node.js helper scripts (check-ort, public-inputs, test-public), and the
// node count of a model file. Errors are thrown with the file name in the
// message.
'use strict';

// element types: ONNX TensorProto.DataType -> [ort type, TypedArray]
const DT = {
  1: ['float32', Float32Array], 2: ['uint8', Uint8Array], 3: ['int8', Int8Array], 6: ['int32', Int32Array],
  7: ['int64', BigInt64Array], 9: ['bool', Uint8Array], 11: ['float64', Float64Array],
  12: ['uint32', Uint32Array], 13: ['uint64', BigUint64Array],
};
const DT_OF = Object.fromEntries(Object.entries(DT).map(([k, v]) => [v[0], Number(k)]));

function readVarint(buf, pos) {
  let v = 0n, shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    v |= BigInt(b & 0x7f) << shift;
    if (!(b & 0x80)) break;
    shift += 7n;
  }
  return [v, pos];
}

function parseTensor(buf, file) {
  try { return parseFields(buf, file); } catch (err) {
    throw new Error(err.message.startsWith(file) ? err.message : `${file}: not a TensorProto file (${err.message})`);
  }
}

function parseFields(buf, file) {
  const t = { dims: [], dt: 0, name: '', raw: null, floats: [], int64s: [], int32s: [], doubles: [] };
  let pos = 0;
  while (pos < buf.length) {
    let key; [key, pos] = readVarint(buf, pos);
    const field = Number(key >> 3n), wire = Number(key & 7n);
    if (wire === 0) {
      let v; [v, pos] = readVarint(buf, pos);
      if (field === 1) t.dims.push(Number(BigInt.asIntN(64, v)));
      else if (field === 2) t.dt = Number(v);
      else if (field === 7) t.int64s.push(BigInt.asIntN(64, v));
      else if (field === 5) t.int32s.push(Number(BigInt.asIntN(32, v)));
    } else if (wire === 2) {
      let len; [len, pos] = readVarint(buf, pos);
      len = Number(len);
      const body = buf.subarray(pos, pos + len);
      if (body.length !== len) throw new Error('truncated field');
      pos += len;
      if (field === 8) t.name = body.toString('utf8');
      else if (field === 9) t.raw = Buffer.from(body);
      else if (field === 1 || field === 7 || field === 5) { // packed varints
        let p = 0;
        while (p < body.length) {
          let v; [v, p] = readVarint(body, p);
          if (field === 1) t.dims.push(Number(BigInt.asIntN(64, v)));
          else if (field === 7) t.int64s.push(BigInt.asIntN(64, v));
          else t.int32s.push(Number(BigInt.asIntN(32, v)));
        }
      } else if (field === 4) { for (let p = 0; p + 4 <= body.length; p += 4) t.floats.push(body.readFloatLE(p)); }
      else if (field === 10) { for (let p = 0; p + 8 <= body.length; p += 8) t.doubles.push(body.readDoubleLE(p)); }
    } else if (wire === 5) { if (field === 4) t.floats.push(buf.readFloatLE(pos)); pos += 4; }
    else if (wire === 1) { if (field === 10) t.doubles.push(buf.readDoubleLE(pos)); pos += 8; }
    else throw new Error(`unsupported wire type ${wire}`);
  }
  if (!DT[t.dt]) throw new Error(`${file}: element type ${t.dt} is not supported here`);
  const [type, Arr] = DT[t.dt];
  const count = t.dims.reduce((a, b) => a * b, 1);
  let data;
  if (t.raw) {
    if (t.raw.length !== count * Arr.BYTES_PER_ELEMENT) throw new Error(`${file}: ${t.raw.length} bytes of data, shape needs ${count * Arr.BYTES_PER_ELEMENT}`);
    data = new Arr(t.raw.buffer.slice(t.raw.byteOffset, t.raw.byteOffset + t.raw.length));
  } else {
    const src = t.dt === 1 ? t.floats : t.dt === 7 ? t.int64s : t.dt === 11 ? t.doubles : t.int32s;
    if (src.length !== count) throw new Error(`${file}: ${src.length} values, shape needs ${count}`);
    data = Arr.from(src);
  }
  return { name: t.name, type, dims: t.dims, data };
}

function varint(v) {
  let x = BigInt.asUintN(64, BigInt(v));
  const out = [];
  do { let b = Number(x & 0x7fn); x >>= 7n; if (x) b |= 0x80; out.push(b); } while (x);
  return Buffer.from(out);
}

function encodeTensor(name, type, dims, data) {
  const parts = [];
  for (const d of dims) parts.push(varint(1 << 3), varint(d));
  if (DT_OF[type] === undefined) throw new Error(`tensor '${name}': element type ${type} is not supported here`);
  parts.push(varint(2 << 3), varint(DT_OF[type]));
  const nm = Buffer.from(name, 'utf8');
  parts.push(varint((8 << 3) | 2), varint(nm.length), nm);
  const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  parts.push(varint((9 << 3) | 2), varint(raw.length), raw);
  return Buffer.concat(parts);
}

// Nodes of an ONNX model file: { top: nodes of the main graph, total: with
// every subgraph (If branches, Loop bodies) }, counted from the protobuf
// fields (ModelProto.graph = 7, GraphProto.node = 1, NodeProto.attribute =
// 5, AttributeProto.g = 6, .graphs = 11).
function countNodes(buf) {
  function fields(b, fn) {
    let pos = 0;
    while (pos < b.length) {
      let key; [key, pos] = readVarint(b, pos);
      const field = Number(key >> 3n), wire = Number(key & 7n);
      if (wire === 0) { [, pos] = readVarint(b, pos); }
      else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else if (wire === 2) {
        let len; [len, pos] = readVarint(b, pos);
        fn(field, b.subarray(pos, pos + Number(len)));
        pos += Number(len);
      } else throw new Error(`unsupported wire type ${wire}`);
    }
  }
  function graph(g) {
    let n = 0, all = 0;
    fields(g, (f, node) => {
      if (f !== 1) return;
      n++, all++;
      fields(node, (fa, attr) => {
        if (fa !== 5) return;
        fields(attr, (fg, sub) => { if (fg === 6 || fg === 11) all += graph(sub).total; });
      });
    });
    return { top: n, total: all };
  }
  let res = { top: 0, total: 0 };
  fields(buf, (f, g) => { if (f === 7) res = graph(g); });
  return res;
}

module.exports = { DT, parseTensor, encodeTensor, countNodes };
