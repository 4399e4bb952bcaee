/**
 * LossEvaluator on ONNX Runtime. One loss-and-gradient session per job (its graph is built for the
 * job's image size, with the targets baked in as constants); the forward feature sessions that
 * compute the targets are shared per engine (see OnnxSessions).
 */
import { StylizeError, errorSummary } from '../../../common/errors.ts';
import { buildLossGraph } from './vgg-graph.ts';
import { contentFactor, styleFactor, sumOfSquares } from '../loss-normalization.ts';
import { onnxConvWeights } from './weights.ts';
import type { OnnxSessions } from './sessions.ts';
import type { Ort, OrtSession } from './runtime.ts';
import type { EvaluatorSpec, Evaluation, FloatImage, LossEvaluator } from '../types.ts';
import { vggLayerIndex, type VggLayerName } from '../../../common/vgg19.ts';

function runFailure(err: unknown, what: string): StylizeError {
  const msg = err instanceof Error ? err.message : String(err);
  if (/alloc|out of memory|bad_alloc|OOM/i.test(msg)) {
    return new StylizeError('out_of_memory', `ONNX Runtime ran out of memory ${what}; use a smaller size.`, { cause: err });
  }
  return new StylizeError('internal', `ONNX Runtime failed ${what}: ${errorSummary(err)}`, { cause: err });
}

export class OnnxEvaluator implements LossEvaluator {
  readonly backend: string;
  readonly width: number;
  readonly height: number;
  private disposed = false;

  private constructor(
    private readonly ort: Ort,
    private session: OrtSession | undefined,
    private readonly names: { input: string; terms: string; grad: string },
    backendName: string,
    width: number,
    height: number,
    /** Upper bound of the bytes the session holds (weights, targets, activations). */
    readonly estimatedBytes: number,
    private readonly grams: Map<VggLayerName, Float32Array>,
    private readonly onDispose?: (ev: OnnxEvaluator) => void,
  ) {
    this.backend = backendName;
    this.width = width;
    this.height = height;
  }

  static async create(spec: EvaluatorSpec, owner: OnnxSessions, onDispose?: (ev: OnnxEvaluator) => void): Promise<OnnxEvaluator> {
    const { width, height } = spec.content;
    const layers = onnxConvWeights(spec.weights);
    const contentLayers = [...new Set(spec.contentLayers)];
    const styleLayers = [...new Set(spec.styleLayers.map((s) => s.layer))];
    const deepest = Math.max(...[...contentLayers, ...styleLayers].map(vggLayerIndex));
    if (deepest >= layers.length) {
      throw new StylizeError('bad_setting', `Layer ${[...contentLayers, ...styleLayers].find((l) => vggLayerIndex(l) === deepest)} needs weights that were not loaded (loaded through ${layers.at(-1)?.name}); choose shallower layers or load more of VGG-19.`);
    }

    // Targets: content features of the content image; the style-weighted sum of each style's Gram
    // (jcjohnson/neural-style's style_blend_weights), unless an earlier evaluator of the job passed them on.
    const features = await owner.featureSession(spec.weights, spec.pooling, contentLayers, styleLayers);
    const run = async (img: FloatImage, want: { content: VggLayerName[]; style: VggLayerName[] }) => {
      try {
        return await features.run(img, want);
      } catch (err) {
        throw runFailure(err, `computing the targets on a ${img.width}x${img.height} image`);
      }
    };
    const contentTargets = (await run(spec.content, { content: contentLayers, style: [] })).content;
    const gramSums = new Map<VggLayerName, Float32Array>();
    if (spec.styleTargets) {
      for (const layer of styleLayers) {
        const g = spec.styleTargets.get(layer);
        const c = layers[vggLayerIndex(layer)].cout;
        if (!g || g.length !== c * c) throw new Error(`styleTargets has no ${c}x${c} Gram for ${layer}`);
        gramSums.set(layer, g);
      }
    }
    for (const { image, weight } of spec.styleTargets ? [] : spec.styles) {
      const { grams } = await run(image, { content: [], style: styleLayers });
      for (const [layer, gram] of grams) {
        const sum = gramSums.get(layer) ?? new Float32Array(gram.length);
        for (let i = 0; i < gram.length; i++) sum[i] += weight * gram[i];
        gramSums.set(layer, sum);
      }
    }

    const weightSum = spec.styleLayers.reduce((a, l) => a + l.weight, 0);
    const graph = buildLossGraph({
      width, height, layers, pooling: spec.pooling,
      // A layer listed twice counts twice, as in the tfjs evaluator.
      content: spec.contentLayers.map((layer) => {
        const target = contentTargets.get(layer)!;
        return { layer, target, scale: contentFactor(spec.normalization, sumOfSquares(target), target.length) };
      }),
      style: spec.styleLayers.map(({ layer, weight }) => {
        const target = gramSums.get(layer)!;
        return { layer, weight: weight * styleFactor(spec.normalization, sumOfSquares(target), layers[vggLayerIndex(layer)].cout, weightSum), target };
      }),
      contentWeight: spec.contentWeight,
      styleWeight: spec.styleWeight,
      tvWeight: spec.tvWeight,
    });
    let session: OrtSession;
    try {
      session = await owner.ort.InferenceSession.create(graph.bytes, owner.sessionOptions());
    } catch (err) {
      throw runFailure(err, `building the ${width}x${height} loss graph`);
    }
    return new OnnxEvaluator(owner.ort, session, graph, owner.name, width, height, graph.estimatedBytes, gramSums, onDispose);
  }

  async evaluate(image: Float32Array): Promise<Evaluation> {
    if (this.disposed || !this.session) throw new Error('OnnxEvaluator used after dispose()');
    if (image.length !== this.width * this.height * 3) {
      throw new Error(`image has ${image.length} values, expected ${this.width}x${this.height}x3`);
    }
    let out: Record<string, { data: unknown }>;
    try {
      out = await this.session.run({ [this.names.input]: new this.ort.Tensor('float32', image, [1, this.height, this.width, 3]) });
    } catch (err) {
      throw runFailure(err, `evaluating the loss at ${this.width}x${this.height}`);
    }
    const t = out[this.names.terms].data as Float32Array;
    const grad = out[this.names.grad].data as Float32Array;
    return { grad, terms: { content: t[0], style: t[1], tv: t[2], total: t[3] } };
  }

  /** The blended style Grams this evaluator optimizes towards, for the next evaluator of the job. */
  async styleTargets(): Promise<Map<VggLayerName, Float32Array>> {
    return new Map(this.grams);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const s = this.session;
    this.session = undefined;
    this.onDispose?.(this);
    // release() frees the native session synchronously; its promise only reports completion.
    void s?.release().catch(() => undefined);
  }
}
