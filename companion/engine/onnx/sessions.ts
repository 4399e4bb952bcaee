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
          return new FeatureExtractor(this.ort, session, graph.contentOutputs, graph.gramOutputs);
        } catch (err) {
          throw new StylizeError('internal', `ONNX Runtime could not build the VGG-19 feature graph: ${errorSummary(err)}`, { cause: err });
        }
      })();
      p.catch(() => this.features.delete(key));
      this.features.set(key, p);
      while (this.features.size > MAX_FEATURE_SESSIONS) {
        const [oldKey, old] = this.features.entries().next().value!;
        this.features.delete(oldKey);
        void old.then((f) => f.release()).catch(() => undefined);
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

  /** Estimated bytes held by the running jobs' sessions (ORT does not report its own use). */
  memory(): { tensors: number; bytes: number } {
    let bytes = 0;
    for (const ev of this.live) bytes += ev.estimatedBytes;
    return { tensors: 0, bytes };
  }

  dispose(): void {
    for (const ev of [...this.live]) ev.dispose();
    for (const p of this.features.values()) void p.then((f) => f.release()).catch(() => undefined);
    this.features.clear();
  }
}
