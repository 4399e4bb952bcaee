/**
 * A small ONNX graph builder over the protobufjs-generated `onnx-proto` messages: named values,
 * float/int64 initializers stored as raw little-endian bytes (fast to encode, even at ~100 MB),
 * and nodes with typed attributes. Knows nothing about VGG.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type AttrProto = onnxProto.onnx.IAttributeProto;

/** opset 13: Slice/Pad/Reshape/ReduceSum take their parameters as inputs; ORT supports it everywhere. */
export const OPSET = 13;
const IR_VERSION = 7;

export type Attr =
  | { int: number }
  | { ints: number[] }
  | { float: number }
  | { str: string };

export const int = (v: number): Attr => ({ int: v });
export const ints = (...v: number[]): Attr => ({ ints: v });
export const float = (v: number): Attr => ({ float: v });

function attribute(name: string, a: Attr): AttrProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('int' in a) return { name, type: T.INT, i: a.int };
  if ('ints' in a) return { name, type: T.INTS, ints: a.ints };
  if ('float' in a) return { name, type: T.FLOAT, f: a.float };
  return { name, type: T.STRING, s: new TextEncoder().encode(a.str) };
}

function littleEndianBytes(data: Float32Array | BigInt64Array): Uint8Array {
  // Typed arrays are in platform byte order; ONNX raw_data is little-endian, as are all targets we run on.
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A dimension: a number, or a name for a size fixed only when the model runs. */
export type Dim = number | string;

function valueInfo(name: string, dims: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export class OnnxGraph {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly names = new Set<string>();
  private counter = 0;
  /** Bytes of initializer data, for memory estimates. */
  initializerBytes = 0;

  constructor(private readonly name: string) {}

  private fresh(base: string): string {
    let name = base;
    while (this.names.has(name)) name = `${base}_${++this.counter}`;
    this.names.add(name);
    return name;
  }

  /** A float32 graph input. */
  input(name: string, dims: Dim[]): string {
    const n = this.fresh(name);
    this.inputs.push(valueInfo(n, dims));
    return n;
  }

  /** Marks a value as a float32 graph output (renamed through Identity when the name differs). */
  output(value: string, name: string, dims: Dim[]): string {
    const n = this.fresh(name);
    this.nodes.push({ opType: 'Identity', input: [value], output: [n], name: `out_${n}` });
    this.outputs.push(valueInfo(n, dims));
    return n;
  }

  /** A constant tensor (float32 or int64) stored in the model. */
  init(name: string, dims: number[], data: Float32Array | BigInt64Array): string {
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new Error(`initializer ${name}: ${data.length} values for shape [${dims}]`);
    const n = this.fresh(name);
    this.initializers.push({
      name: n,
      dims,
      dataType: data instanceof Float32Array ? onnx.TensorProto.DataType.FLOAT : onnx.TensorProto.DataType.INT64,
      rawData: littleEndianBytes(data),
    });
    this.initializerBytes += data.byteLength;
    return n;
  }

  /** A float32 constant; a number gives a scalar (broadcasts against anything). */
  constF(values: number | number[], dims?: number[], name = 'c'): string {
    const arr = typeof values === 'number' ? [values] : values;
    return this.init(name, dims ?? (typeof values === 'number' ? [] : [arr.length]), Float32Array.from(arr));
  }

  /** An int64 1-D constant: shapes, axes, pads, slice bounds. */
  constI64(values: number[], name = 'i'): string {
    return this.init(name, [values.length], BigInt64Array.from(values.map(BigInt)));
  }

  /** Adds a node and returns the name of its (first) output. */
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, name?: string): string {
    return this.opN(opType, inputs, 1, attrs, name)[0];
  }

  /** Adds a node with `outputs` outputs and returns their names. */
  opN(opType: string, inputs: string[], outputs: number, attrs: Record<string, Attr> = {}, name?: string): string[] {
    const base = name ?? opType.toLowerCase();
    const outs = Array.from({ length: outputs }, (_, i) => this.fresh(outputs > 1 ? `${base}_o${i}` : base));
    this.nodes.push({
      opType,
      input: inputs,
      output: outs,
      name: `n_${outs[0]}`,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  /** The serialized ModelProto. */
  toBytes(): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: 'stylize',
      opsetImport: [{ domain: '', version: OPSET }],
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
