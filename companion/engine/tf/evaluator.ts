/** LossEvaluator on tfjs: any registered backend (tfjs-node(-gpu), webgpu, wasm, cpu). */
import { tf } from './runtime.ts';
import { VggNet } from './vgg.ts';
import { contentFactor, styleFactor } from '../loss-normalization.ts';
import { contentLoss, gramNormalized, styleLayerLoss, tvLoss } from './losses.ts';
import type { EvaluatorSpec, Evaluation, FloatImage, LossEvaluator } from '../types.ts';
import type { VggLayerName } from '../../../common/vgg19.ts';

function imageTensor(img: FloatImage): tf.Tensor4D {
  return tf.tensor4d(img.data, [1, img.height, img.width, 3]);
}

export class TfEvaluator implements LossEvaluator {
  readonly backend: string;
  readonly width: number;
  readonly height: number;
  private readonly contentTargets = new Map<VggLayerName, tf.Tensor4D>();
  private readonly styleGrams = new Map<VggLayerName, tf.Tensor2D>();
  /** Per-layer factors of the loss normalization (loss-normalization.ts), set once the targets are known. */
  private readonly contentFactors = new Map<VggLayerName, number>();
  private readonly styleFactors = new Map<VggLayerName, number>();
  private readonly wanted: VggLayerName[];
  private disposed = false;

  /** `net` is shared and owned by the caller (weights are uploaded once per engine). */
  constructor(private readonly net: VggNet, private readonly spec: EvaluatorSpec, backendName: string) {
    this.backend = `tfjs-${backendName}`;
    this.width = spec.content.width;
    this.height = spec.content.height;
    const styleLayers = spec.styleLayers.map((s) => s.layer);
    this.wanted = [...new Set([...spec.contentLayers, ...styleLayers])];

    tf.tidy(() => {
      const feats = net.features(VggNet.preprocess(imageTensor(spec.content)), spec.contentLayers);
      for (const layer of spec.contentLayers) this.contentTargets.set(layer, tf.keep(feats.get(layer)!));
    });
    if (spec.styleTargets) {
      for (const { layer } of spec.styleLayers) {
        const g = spec.styleTargets.get(layer);
        if (!g) throw new Error(`styleTargets has no Gram for ${layer}`);
        const n = Math.round(Math.sqrt(g.length));
        this.styleGrams.set(layer, tf.tensor2d(g, [n, n]));
      }
    }
    // Several styles blend as a weighted sum of their Gram targets (jcjohnson/neural-style's style_blend_weights).
    for (const { image, weight } of spec.styleTargets ? [] : spec.styles) {
      tf.tidy(() => {
        const feats = net.features(VggNet.preprocess(imageTensor(image)), styleLayers);
        for (const layer of styleLayers) {
          const g = tf.mul(gramNormalized(feats.get(layer)!), weight) as tf.Tensor2D;
          const prev = this.styleGrams.get(layer);
          this.styleGrams.set(layer, tf.keep(prev ? (tf.add(prev, g) as tf.Tensor2D) : g));
          prev?.dispose();
        }
      });
    }
  }

  /** Reads the targets' energies once (an async read: GPU backends cannot read synchronously). */
  private async factors(): Promise<void> {
    if (this.contentFactors.size || this.styleFactors.size) return;
    const { spec } = this;
    const weightSum = spec.styleLayers.reduce((a, l) => a + l.weight, 0);
    const energy = async (t: tf.Tensor) => {
      const sum = tf.tidy(() => tf.sum(tf.square(t)));
      try {
        return (await sum.data())[0];
      } finally {
        sum.dispose();
      }
    };
    for (const [layer, t] of this.contentTargets) this.contentFactors.set(layer, contentFactor(spec.normalization, await energy(t), t.size));
    for (const [layer, g] of this.styleGrams) this.styleFactors.set(layer, styleFactor(spec.normalization, await energy(g), g.shape[0], weightSum));
  }

  /** Builds [content, style, tv, total] for an image tensor; total is the first output's sum. */
  private terms(x: tf.Tensor4D): tf.Tensor1D {
    const { spec } = this;
    const feats = this.net.features(VggNet.preprocess(x), this.wanted);
    let content: tf.Scalar = tf.scalar(0);
    for (const layer of spec.contentLayers) content = tf.add(content, tf.mul(contentLoss(feats.get(layer)!, this.contentTargets.get(layer)!), this.contentFactors.get(layer)!));
    let style: tf.Scalar = tf.scalar(0);
    for (const { layer, weight } of spec.styleLayers) {
      style = tf.add(style, tf.mul(styleLayerLoss(feats.get(layer)!, this.styleGrams.get(layer)!), weight * this.styleFactors.get(layer)!));
    }
    const tv = spec.tvWeight > 0 ? tvLoss(x) : tf.scalar(0);
    const total = tf.addN([tf.mul(content, spec.contentWeight), tf.mul(style, spec.styleWeight), tf.mul(tv, spec.tvWeight)]);
    return tf.stack([content, style, tv, total]) as tf.Tensor1D;
  }

  async evaluate(image: Float32Array): Promise<Evaluation> {
    if (this.disposed) throw new Error('TfEvaluator used after dispose()');
    if (image.length !== this.width * this.height * 3) {
      throw new Error(`image has ${image.length} values, expected ${this.width}x${this.height}x3`);
    }
    await this.factors();
    let termsOut: tf.Tensor1D | undefined;
    const grad = tf.tidy(() => {
      const x = tf.tensor4d(image, [1, this.height, this.width, 3]);
      const f = (input: tf.Tensor) => {
        const t = this.terms(input as tf.Tensor4D);
        termsOut = tf.keep(t);
        return tf.reshape(tf.slice(t, [3], [1]), []) as tf.Scalar;
      };
      return tf.grad(f)(x);
    });
    try {
      // `await data()` rather than dataSync: GPU backends (webgpu) can only read asynchronously.
      const [g, t] = await Promise.all([grad.data() as Promise<Float32Array>, termsOut!.data() as Promise<Float32Array>]);
      return { grad: g, terms: { content: t[0], style: t[1], tv: t[2], total: t[3] } };
    } finally {
      grad.dispose();
      termsOut?.dispose();
    }
  }

  async styleTargets(): Promise<Map<VggLayerName, Float32Array>> {
    const out = new Map<VggLayerName, Float32Array>();
    for (const [layer, t] of this.styleGrams) out.set(layer, (await t.data()) as Float32Array);
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.contentTargets.values()) t.dispose();
    for (const t of this.styleGrams.values()) t.dispose();
    this.contentTargets.clear();
    this.styleGrams.clear();
  }
}
