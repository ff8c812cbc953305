/**
 * @fileoverview A small protobuf writer for the parts of ONNX's `onnx.proto` the benchmark's
 * onnxruntime peer needs: ModelProto, GraphProto, NodeProto, AttributeProto (float, int,
 * string), TensorProto (float32 as raw_data) and ValueInfoProto (float32 tensors with fixed
 * or named dims). Field numbers are onnx.proto's. Messages are kept as lists of byte chunks
 * and concatenated once at the end, so hundreds of MB of weights are copied only once.
 */

/** Protobuf wire types. */
const VARINT = 0;
const FIXED32 = 5;
const LEN = 2;

/** A message being written: its encoded fields, as chunks. */
export class Message {
  readonly parts: Uint8Array[] = [];
  length = 0;

  private push(bytes: Uint8Array): void {
    this.parts.push(bytes);
    this.length += bytes.byteLength;
  }

  private tag(field: number, wire: number): void {
    this.push(varint(field * 8 + wire));
  }

  /** An int64/int32/enum field (non-negative values only: the peer writes no negative ints). */
  int(field: number, value: number): this {
    this.tag(field, VARINT);
    this.push(varint(value));
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, LEN);
    this.push(varint(value.byteLength));
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, m: Message): this {
    this.tag(field, LEN);
    this.push(varint(m.length));
    for (const p of m.parts) this.push(p);
    return this;
  }

  /** The encoded message, one buffer. */
  encode(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }
}

/** Base-128 varint of a non-negative integer below 2^53. */
export function varint(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`onnx-proto: varint of ${value}`);
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Uint8Array.from(out);
}

/** TensorProto.DataType.FLOAT. */
const FLOAT = 1;

/** A float32 initializer (TensorProto: dims 1, data_type 2, name 8, raw_data 9, little-endian). */
export function tensor(name: string, dims: number[], data: Float32Array): Message {
  if (dims.reduce((a, b) => a * b, 1) !== data.length) throw new Error(`onnx-proto: ${name} has ${data.length} values, not [${dims}]`);
  const m = new Message();
  for (const d of dims) m.int(1, d);
  return m.int(2, FLOAT).string(8, name).bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/** A float32 graph input or output (ValueInfoProto → TypeProto.Tensor → TensorShapeProto); string dims are symbolic. */
export function valueInfo(name: string, dims: (number | string)[]): Message {
  const shape = new Message();
  for (const d of dims) shape.message(1, typeof d === 'number' ? new Message().int(1, d) : new Message().string(2, d));
  const tensorType = new Message().int(1, FLOAT).message(2, shape);
  return new Message().string(1, name).message(2, new Message().message(1, tensorType));
}

export type AttributeValue = number | string | { float: number };

/** AttributeProto: name 1, f 2, i 3, s 4, type 20 (FLOAT 1, INT 2, STRING 3). Plain numbers are INTs. */
export function attribute(name: string, value: AttributeValue): Message {
  const m = new Message().string(1, name);
  if (typeof value === 'string') return m.string(4, value).int(20, 3);
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`onnx-proto: attribute ${name} = ${value} is not an integer; write { float: ${value} }`);
    return m.int(3, value).int(20, 2);
  }
  return m.float(2, value.float).int(20, 1);
}

export interface NodeOptions {
  name?: string;
  domain?: string;
  attributes?: Record<string, AttributeValue>;
}

/** NodeProto: input 1, output 2, name 3, op_type 4, attribute 5, domain 7. An empty input name omits an optional input. */
export function node(opType: string, inputs: string[], outputs: string[], opts: NodeOptions = {}): Message {
  const m = new Message();
  for (const i of inputs) m.string(1, i);
  for (const o of outputs) m.string(2, o);
  if (opts.name) m.string(3, opts.name);
  m.string(4, opType);
  for (const [k, v] of Object.entries(opts.attributes ?? {})) m.message(5, attribute(k, v));
  if (opts.domain) m.string(7, opts.domain);
  return m;
}

export interface GraphParts {
  name: string;
  nodes: Message[];
  initializers: Message[];
  inputs: Message[];
  outputs: Message[];
}

/** GraphProto: node 1, name 2, initializer 5, input 11, output 12. */
export function graph(g: GraphParts): Message {
  const m = new Message();
  for (const n of g.nodes) m.message(1, n);
  m.string(2, g.name);
  for (const t of g.initializers) m.message(5, t);
  for (const i of g.inputs) m.message(11, i);
  for (const o of g.outputs) m.message(12, o);
  return m;
}

/** ModelProto: ir_version 1, producer_name 2, graph 7, opset_import 8 (OperatorSetIdProto: domain 1, version 2). */
export function model(g: Message, opsets: Record<string, number>, irVersion = 8): Uint8Array {
  const m = new Message().int(1, irVersion).string(2, 'moec-bench');
  m.message(7, g);
  for (const [domain, version] of Object.entries(opsets)) {
    const o = new Message();
    if (domain) o.string(1, domain);
    m.message(8, o.int(2, version));
  }
  return m.encode();
}
