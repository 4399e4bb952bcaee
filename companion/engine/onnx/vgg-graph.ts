/**
 * The VGG-19 graphs for ONNX Runtime, in NCHW (ORT's CPU kernels prefer it and re-block it itself):
 * - a forward-only feature graph (any image size) that yields the content targets and the
 *   normalized style Grams;
 * - the loss-and-gradient graph for one image size: preprocessing, the conv stack, the content,
 *   style and total-variation losses, and d total / d image written out as nodes.
 *
 * The math is the tfjs evaluator's (tf/evaluator.ts, tf/vgg.ts, tf/losses.ts):
 *   caffe preprocessing (BGR, minus the ImageNet mean), 3x3 'same' conv + bias + ReLU, 2x2/2 'same'
 *   pooling (TF semantics: a window cut by an odd border averages its valid pixels only),
 *   Gram g = F F^T / M, style E = sum((g - a)^2) / (4 N^2), content sum((F - P)^2) / (4 s),
 *   tv = sum of squared neighbour differences in pixel space.
 * Gradients (y = ReLU output, F = y as [N, M]):
 *   content: dL/dy = (F - P) / (2 s); style: dE/dF = (g - a) F / (N^2 M) (g - a is symmetric);
 *   ReLU: mask y > 0; conv: Conv(dz, kernel flipped in H, W with in/out swapped);
 *   average pooling: dy / (valid count) spread over the window; max pooling: to the window's max.
 */
import { OnnxGraph, float, int, ints, type Attr, type Dim } from './graph.ts';
import type { OnnxConvWeights } from './weights.ts';
import type { Pooling } from '../types.ts';
import { RGB_MEAN, VGG19_LAYERS, poolsAfter, vggLayerIndex, type VggLayerName } from '../../../common/vgg19.ts';

/** Output size of 2x2 / stride 2 / 'same' pooling. */
export function pooledSize(n: number): number {
  return Math.ceil(n / 2);
}

/** Feature-map sizes of every layer's output for an H x W image. */
export function layerSizes(height: number, width: number, count: number): { h: number; w: number }[] {
  const out: { h: number; w: number }[] = [];
  let h = height, w = width;
  for (let i = 0; i < count; i++) {
    out.push({ h, w });
    if (poolsAfter(i)) {
      h = pooledSize(h);
      w = pooledSize(w);
    }
  }
  return out;
}

function checkLayers(layers: OnnxConvWeights[], last: number): void {
  if (last >= layers.length) {
    throw new Error(`Layer ${VGG19_LAYERS[last]} needs weights that were not loaded (loaded through ${layers.at(-1)?.name}).`);
  }
}

interface Stack {
  /** Post-ReLU output of each conv layer, by index. */
  ys: string[];
  /** Output of each pooling layer, by the index of the conv before it. */
  pools: Map<number, string>;
}

/**
 * RGB HWC pixels -> conv stack through layer `last`. With static sizes the pooling pads the odd
 * borders explicitly; with symbolic sizes ceil_mode does the same (ORT divides by the valid count).
 */
function convStack(g: OnnxGraph, image: string, layers: OnnxConvWeights[], last: number, pooling: Pooling, sizes?: { h: number; w: number }[]): Stack {
  const nchw = g.op('Transpose', [image], { perm: ints(0, 3, 1, 2) }, 'x_nchw');
  let h = g.op('Sub', [nchw, g.constF([...RGB_MEAN], [1, 3, 1, 1], 'rgb_mean')], {}, 'x_pre');
  const ys: string[] = [];
  const pools = new Map<number, string>();
  for (let i = 0; i <= last; i++) {
    const L = layers[i];
    const name = VGG19_LAYERS[i];
    const w = g.init(`${name}_w`, [L.cout, L.cin, 3, 3], L.forward);
    const b = g.init(`${name}_b`, [L.cout], L.bias);
    const z = g.op('Conv', [h, w, b], { pads: ints(1, 1, 1, 1), kernel_shape: ints(3, 3) }, `${name}_z`);
    const y = g.op('Relu', [z], {}, name);
    ys.push(y);
    h = y;
    if (i < last && poolsAfter(i)) {
      const attrs: Record<string, Attr> = sizes
        ? { pads: ints(0, 0, sizes[i].h % 2, sizes[i].w % 2) }
        : { ceil_mode: int(1) };
      const common = { kernel_shape: ints(2, 2), strides: ints(2, 2), ...attrs };
      h = pooling === 'avg'
        ? g.op('AveragePool', [y], { ...common, count_include_pad: int(0) }, `${name}_pool`)
        : g.op('MaxPool', [y], common, `${name}_pool`);
      pools.set(i, h);
    }
  }
  return { ys, pools };
}

/** Forward-only graph: content features ([1, C, h, w]) and normalized Grams ([C, C]) for any image size. */
export function buildFeatureGraph(
  layers: OnnxConvWeights[],
  pooling: Pooling,
  contentLayers: VggLayerName[],
  styleLayers: VggLayerName[],
): { bytes: Uint8Array; contentOutputs: Map<VggLayerName, string>; gramOutputs: Map<VggLayerName, string> } {
  const g = new OnnxGraph('vgg19_features');
  const image = g.input('image', [1, 'height', 'width', 3]);
  const last = Math.max(...[...contentLayers, ...styleLayers].map(vggLayerIndex));
  checkLayers(layers, last);
  const { ys } = convStack(g, image, layers, last, pooling);
  const contentOutputs = new Map<VggLayerName, string>();
  const gramOutputs = new Map<VggLayerName, string>();
  for (const layer of new Set(contentLayers)) {
    const i = vggLayerIndex(layer);
    contentOutputs.set(layer, g.output(ys[i], `content_${layer}`, [1, layers[i].cout, `h_${layer}`, `w_${layer}`]));
  }
  for (const layer of new Set(styleLayers)) {
    const i = vggLayerIndex(layer);
    const c = layers[i].cout;
    const f = g.op('Reshape', [ys[i], g.constI64([c, -1])], {}, `${layer}_F`);
    const gram = g.op('Gemm', [f, f], { transB: int(1) }, `${layer}_G`);
    // M = h * w is only known at run time: read it off F's shape.
    const m = g.op('Cast', [g.op('Slice', [g.op('Shape', [f]), g.constI64([1]), g.constI64([2])])], { to: int(1) }, `${layer}_M`);
    gramOutputs.set(layer, g.output(g.op('Div', [gram, m]), `gram_${layer}`, [c, c]));
  }
  return { bytes: g.toBytes(), contentOutputs, gramOutputs };
}

export interface LossGraphSpec {
  width: number;
  height: number;
  layers: OnnxConvWeights[];
  pooling: Pooling;
  /** Content targets P, [1, C, h, w] each. */
  content: { layer: VggLayerName; target: Float32Array; /** Factor on this layer's term (loss-normalization.ts); 1 if absent. */ scale?: number }[];
  /** Blended, normalized style Grams a, [C, C] each, with the layer weights. */
  style: { layer: VggLayerName; weight: number; target: Float32Array }[];
  contentWeight: number;
  styleWeight: number;
  tvWeight: number;
}

export interface LossGraph {
  bytes: Uint8Array;
  /** Input: the image, [1, H, W, 3] RGB 0..255. */
  input: string;
  /** Outputs: [content, style, tv, total] and d total / d image, [1, H, W, 3]. */
  terms: string;
  grad: string;
  /** Bytes of weights and targets held by the model, plus every activation's size: an upper bound. */
  estimatedBytes: number;
}

/**
 * Nearest 2x upsampling of [1, C, oh, ow] cropped to [1, C, h, w]: undoes a 2x2/2 pooling's shape.
 * Resize with these modes is one ORT keeps in its blocked conv layout (no reorder round trip).
 */
function upsample2(g: OnnxGraph, v: string, oh: number, ow: number, h: number, w: number): string {
  const up = g.op('Resize', [v, '', g.constF([1, 1, 2, 2])], {
    mode: { str: 'nearest' }, coordinate_transformation_mode: { str: 'asymmetric' }, nearest_mode: { str: 'floor' },
  });
  if (2 * oh === h && 2 * ow === w) return up;
  return g.op('Slice', [up, g.constI64([0, 0]), g.constI64([h, w]), g.constI64([2, 3])]);
}

/** 1 / (valid pixels in each 2x2 window) for an h x w map, shaped [1, 1, oh, ow]. */
function inverseWindowCounts(h: number, w: number): Float32Array {
  const oh = pooledSize(h), ow = pooledSize(w);
  const out = new Float32Array(oh * ow);
  for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) out[i * ow + j] = 1 / (Math.min(2, h - 2 * i) * Math.min(2, w - 2 * j));
  return out;
}

export function buildLossGraph(spec: LossGraphSpec): LossGraph {
  const { width: W, height: H, layers } = spec;
  const g = new OnnxGraph('vgg19_style_loss');
  const image = g.input('image', [1, H, W, 3]);
  const wanted = [...spec.content.map((c) => c.layer), ...spec.style.map((s) => s.layer)];
  const last = Math.max(...wanted.map(vggLayerIndex));
  checkLayers(layers, last);
  const sizes = layerSizes(H, W, last + 1);
  const { ys, pools } = convStack(g, image, layers, last, spec.pooling, sizes);
  // Each layer's output is kept for the backward pass, which makes one more of each size.
  let activationBytes = H * W * 3 * 4;
  for (let i = 0; i <= last; i++) activationBytes += sizes[i].h * sizes[i].w * layers[i].cout * 4;

  // Gradient contributions to each layer's ReLU output, summed when the backward pass gets there.
  const contrib = new Map<number, string[]>();
  const addContrib = (i: number, v: string) => contrib.set(i, [...(contrib.get(i) ?? []), v]);
  const zero = g.constF(0, undefined, 'zero');
  const toVec = (s: string) => g.op('Reshape', [s, g.constI64([1])]);

  const contentParts: string[] = [];
  for (const { layer, target, scale: factor = 1 } of spec.content) {
    const i = vggLayerIndex(layer);
    const { h, w } = sizes[i];
    const c = layers[i].cout;
    const s = c * h * w;
    if (target.length !== s) throw new Error(`content target for ${layer} has ${target.length} values, expected ${s}`);
    const p = g.init(`${layer}_P`, [1, c, h, w], target);
    const diff = g.op('Sub', [ys[i], p], {}, `${layer}_FmP`);
    contentParts.push(g.op('Mul', [g.op('ReduceSumSquare', [diff], { keepdims: int(0) }), g.constF(factor / (4 * s))], {}, `${layer}_content`));
    if (spec.contentWeight !== 0) addContrib(i, g.op('Mul', [diff, g.constF((spec.contentWeight * factor) / (2 * s))], {}, `${layer}_dcontent`));
  }

  const styleParts: string[] = [];
  for (const { layer, weight, target } of spec.style) {
    const i = vggLayerIndex(layer);
    const { h, w } = sizes[i];
    const c = layers[i].cout;
    const m = h * w;
    if (target.length !== c * c) throw new Error(`style target for ${layer} has ${target.length} values, expected ${c * c}`);
    const a = g.init(`${layer}_A`, [c, c], target);
    const f = g.op('Reshape', [ys[i], g.constI64([c, m])], {}, `${layer}_F`);
    const gram = g.op('Gemm', [f, f], { transB: int(1), alpha: float(1 / m) }, `${layer}_G`);
    const d = g.op('Sub', [gram, a], {}, `${layer}_GmA`);
    const e = g.op('Mul', [g.op('ReduceSumSquare', [d], { keepdims: int(0) }), g.constF(weight / (4 * c * c))], {}, `${layer}_style`);
    styleParts.push(e);
    const scale = (spec.styleWeight * weight) / (c * c * m);
    if (scale !== 0) {
      const df = g.op('Gemm', [d, f], { alpha: float(scale) }, `${layer}_dF`);
      addContrib(i, g.op('Reshape', [df, g.constI64([1, c, h, w])], {}, `${layer}_dstyle`));
    }
  }

  // Backward through the stack, from the deepest layer that receives a gradient.
  const deepest = Math.max(-1, ...contrib.keys());
  let dPre: string | undefined;
  for (let i = deepest; i >= 0; i--) {
    const parts = contrib.get(i) ?? [];
    const dy = parts.length === 1 ? parts[0] : g.op('Sum', parts, {}, `${VGG19_LAYERS[i]}_dy`);
    const name = VGG19_LAYERS[i];
    // ReLU's gradient: pass where the output is positive (tf.step(y) in the tfjs evaluator).
    const dz = g.op('Where', [g.op('Greater', [ys[i], zero]), dy, zero], {}, `${name}_dz`);
    // A forward conv with the flipped, transposed kernel: ~20% faster here than ConvTranspose with the
    // forward kernel (ORT runs Conv in its blocked layout), at the price of a model twice the size.
    const back = g.init(`${name}_wback`, [layers[i].cin, layers[i].cout, 3, 3], layers[i].backward);
    const dIn = g.op('Conv', [dz, back], { pads: ints(1, 1, 1, 1), kernel_shape: ints(3, 3) }, `${name}_dx`);
    if (i === 0) {
      dPre = dIn;
    } else if (poolsAfter(i - 1)) {
      const { h, w } = sizes[i - 1];
      const oh = sizes[i].h, ow = sizes[i].w;
      const pname = `${VGG19_LAYERS[i - 1]}_pool`;
      if (spec.pooling === 'avg') {
        const even = h % 2 === 0 && w % 2 === 0;
        const inv = even ? g.constF(0.25) : g.init(`${pname}_invcount`, [1, 1, oh, ow], inverseWindowCounts(h, w));
        addContrib(i - 1, upsample2(g, g.op('Mul', [dIn, inv]), oh, ow, h, w));
      } else {
        // The gradient goes to the window's maximum (ties only where the ReLU mask zeroes it anyway).
        const isMax = g.op('Equal', [ys[i - 1], upsample2(g, pools.get(i - 1)!, oh, ow, h, w)], {}, `${pname}_argmax`);
        addContrib(i - 1, g.op('Where', [isMax, upsample2(g, dIn, oh, ow, h, w), zero], {}, `${pname}_dy`));
      }
    } else {
      addContrib(i - 1, dIn);
    }
  }

  // The first kernel reads RGB directly and the mean is a shift: dL/dpixel = dL/dpreprocessed.
  let grad = dPre ? g.op('Transpose', [dPre], { perm: ints(0, 2, 3, 1) }, 'grad_vgg') : undefined;

  let tv = zero;
  if (spec.tvWeight > 0) {
    const tvParts: string[] = [];
    const tvGrads: string[] = [];
    for (const [axis, n] of [[1, H], [2, W]] as const) {
      if (n < 2) continue;
      const tail = g.op('Slice', [image, g.constI64([1]), g.constI64([n]), g.constI64([axis])]);
      const head = g.op('Slice', [image, g.constI64([0]), g.constI64([n - 1]), g.constI64([axis])]);
      const d = g.op('Sub', [tail, head], {}, `tv_d${axis}`);
      tvParts.push(g.op('ReduceSumSquare', [d], { keepdims: int(0) }));
      // d/dx_k of sum (x_{k+1} - x_k)^2 = 2 (d_{k-1} - d_k), with d = 0 beyond either end.
      const before = [0, 0, 0, 0, 0, 0, 0, 0], after = [0, 0, 0, 0, 0, 0, 0, 0];
      before[axis] = 1;
      after[4 + axis] = 1;
      tvGrads.push(g.op('Sub', [g.op('Pad', [d, g.constI64(before)]), g.op('Pad', [d, g.constI64(after)])]));
    }
    if (tvParts.length) {
      tv = tvParts.length === 1 ? tvParts[0] : g.op('Add', tvParts, {}, 'tv');
      const tvGrad = g.op('Mul', [tvGrads.length === 1 ? tvGrads[0] : g.op('Add', tvGrads), g.constF(2 * spec.tvWeight)], {}, 'grad_tv');
      grad = grad ? g.op('Add', [grad, tvGrad]) : tvGrad;
    }
  }
  if (!grad) grad = g.op('Expand', [zero, g.constI64([1, H, W, 3])]);

  const sum = (parts: string[]) => (parts.length === 0 ? zero : parts.length === 1 ? parts[0] : g.op('Sum', parts));
  const content = sum(contentParts);
  const style = sum(styleParts);
  const total = g.op('Sum', [
    g.op('Mul', [content, g.constF(spec.contentWeight)]),
    g.op('Mul', [style, g.constF(spec.styleWeight)]),
    g.op('Mul', [tv, g.constF(spec.tvWeight)]),
  ], {}, 'total');
  const terms = g.op('Concat', [content, style, tv, total].map(toVec), { axis: int(0) });
  const termsOut = g.output(terms, 'terms', [4]);
  const gradOut = g.output(grad, 'grad', [1, H, W, 3] as Dim[]);
  return { bytes: g.toBytes(), input: image, terms: termsOut, grad: gradOut, estimatedBytes: g.initializerBytes + activationBytes * 2 };
}
