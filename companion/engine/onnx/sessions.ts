/**
 * One engine's ONNX Runtime sessions: on the chosen execution provider, the shared forward sessions
 * that compute style and content targets, and the evaluators (one loss session each) built per job.
 */
import { StylizeError, errorSummary } from '../../../common/errors.ts';
import { OnnxEvaluator } from './evaluator.ts';
import { buildFeatureGraph } from './vgg-graph.ts';
import { onnxConvWeights } from './weights.ts';
import { DEFAULT_SETTINGS } from '../settings.ts';
import { loadOrt, sessionOptions, type OnnxProvider, type Ort, type OrtSession } from './runtime.ts';
import type { EvaluatorSpec, FloatImage, Pooling } from '../types.ts';
import type { VggWeights } from '../../../weights/types.ts';
import type { VggLayerName } from '../../../common/vgg19.ts';

/** Forward sessions kept per engine (one per pooling and layer choice); the oldest is dropped. */
const MAX_FEATURE_SESSIONS = 3;

export interface FeatureResult {
  /** [1, C, h, w] per content layer. */
  content: Map<VggLayerName, Float32Array>;
  /** Normalized Gram [C, C] per style layer. */
  grams: Map<VggLayerName, Float32Array>;
}

/** Forward VGG-19 for any image size: content features and normalized Grams. */
export class FeatureExtractor {
  constructor(
    private readonly ort: Ort,
    private readonly session: OrtSession,
    private readonly contentOutputs: Map<VggLayerName, string>,
    private readonly gramOutputs: Map<VggLayerName, string>,
    /** The graph's size: ORT copies its weights (initializers) into memory it holds. */
    readonly estimatedBytes: number,
  ) {}

  async run(img: FloatImage, want: { content: VggLayerName[]; style: VggLayerName[] }): Promise<FeatureResult> {
    const fetches = [...want.content.map((l) => this.contentOutputs.get(l)!), ...want.style.map((l) => this.gramOutputs.get(l)!)];
    const out = await this.session.run({ image: new this.ort.Tensor('float32', img.data, [1, img.height, img.width, 3]) }, fetches);
    const pick = (layers: VggLayerName[], names: Map<VggLayerName, string>) =>
      new Map(layers.map((l) => [l, out[names.get(l)!].data as Float32Array]));
    return { content: pick(want.content, this.contentOutputs), grams: pick(want.style, this.gramOutputs) };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

export class OnnxSessions {
  private readonly features = new Map<string, Promise<FeatureExtractor>>();
  private readonly live = new Set<OnnxEvaluator>();
  /** Forward sessions built and not yet released (their promises are in `features`). */
  private readonly builtFeatures = new Set<FeatureExtractor>();

  private constructor(readonly ort: Ort, readonly provider: OnnxProvider, readonly name: string) {}

  static async open(provider: OnnxProvider): Promise<OnnxSessions> {
    return new OnnxSessions(await loadOrt(), provider, `onnx-${provider}`);
  }

  sessionOptions() {
    return sessionOptions(this.provider);
  }

  async featureSession(weights: VggWeights, pooling: Pooling, content: VggLayerName[], style: VggLayerName[]): Promise<FeatureExtractor> {
    const key = `${weights.source}|${pooling}|${[...content].sort()}|${[...style].sort()}`;
    let p = this.features.get(key);
    if (!p) {
      p = (async () => {
        const graph = buildFeatureGraph(onnxConvWeights(weights), pooling, content, style);
        try {
          const session = await this.ort.InferenceSession.create(graph.bytes, this.sessionOptions());
          const f = new FeatureExtractor(this.ort, session, graph.contentOutputs, graph.gramOutputs, graph.bytes.length);
          this.builtFeatures.add(f);
          return f;
        } catch (err) {
          throw new StylizeError('internal', `ONNX Runtime could not build the VGG-19 feature graph: ${errorSummary(err)}`, { cause: err });
        }
      })();
      p.catch(() => this.features.delete(key));
      this.features.set(key, p);
      while (this.features.size > MAX_FEATURE_SESSIONS) {
        const [oldKey, old] = this.features.entries().next().value!;
        this.features.delete(oldKey);
        void old.then((f) => this.releaseFeatures(f)).catch(() => undefined);
      }
    }
    return p;
  }

  async createEvaluator(spec: EvaluatorSpec): Promise<OnnxEvaluator> {
    const ev = await OnnxEvaluator.create(spec, this, (done) => this.live.delete(done));
    this.live.add(ev);
    return ev;
  }

  /** Converts the kernels and builds the forward session for the default layers, off the first job's clock. */
  async warmUp(weights: VggWeights): Promise<void> {
    const { contentLayers, styleLayers, pooling } = DEFAULT_SETTINGS;
    const styles = styleLayers.map((s) => s.layer);
    const f = await this.featureSession(weights, pooling, contentLayers, styles);
    await f.run({ width: 16, height: 16, channels: 3, data: new Float32Array(16 * 16 * 3) }, { content: contentLayers, style: styles });
  }

  private releaseFeatures(f: FeatureExtractor): Promise<void> {
    this.builtFeatures.delete(f);
    return f.release();
  }

  /**
   * What ONNX Runtime holds for this engine, as far as it can be known (ORT does not report its
   * own use): `tensors` counts the live sessions (forward sessions and running jobs' evaluators),
   * `bytes` their weights and estimated activations. A session that is never released shows here.
   */
  memory(): { tensors: number; bytes: number } {
    let bytes = 0;
    for (const ev of this.live) bytes += ev.estimatedBytes;
    for (const f of this.builtFeatures) bytes += f.estimatedBytes;
    return { tensors: this.live.size + this.builtFeatures.size, bytes };
  }

  dispose(): void {
    for (const ev of [...this.live]) ev.dispose();
    for (const p of this.features.values()) void p.then((f) => this.releaseFeatures(f)).catch(() => undefined);
    this.features.clear();
  }
}
