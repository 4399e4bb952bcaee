/**
 * The engine facade: one per process. Picks the compute backend, loads the weights once, and runs
 * jobs. Knows tensors and images; nothing about sockets, files or editors.
 */
import { tf } from './tf/runtime.ts';
import { onnxProviderOf, selectBackend, type BackendChoice } from './select-backend.ts';
import { OnnxSessions } from './onnx/sessions.ts';
import { VggNet } from './tf/vgg.ts';
import { TfEvaluator } from './tf/evaluator.ts';
import { lossSpec, runStylize } from './stylize.ts';
import { memoryBudgetBytes } from './memory.ts';
import { calibrate, estimateJob, refine, type CostModel, type Estimate } from './estimate.ts';
import { DEFAULT_SETTINGS, resolveSettings } from './settings.ts';
import type { EvaluatorFactory } from './stylize.ts';
import type { EvaluatorSpec, LossEvaluator, StylizeHooks, StylizeRequest, StylizeResult, StylizeSettings, Pooling } from './types.ts';
import type { VggWeights } from '../../weights/types.ts';
import { locateWeights } from '../../weights/locate.ts';
import { loadVggWeights } from '../../weights/loader.ts';

export type { BackendChoice };

export interface EngineOptions {
  /** 'auto' (default) or a backend name. */
  backend?: string;
  /** A weights folder; default: STYLIZE_WEIGHTS, the cache, ../shared. */
  weightsDir?: string;
  /** Weights already in memory (e.g. synthetic ones for a benchmark); then no folder is read. */
  weights?: VggWeights;
  maxInputPixels?: number;
}

export class Engine {
  private readonly nets = new Map<Pooling, VggNet>();
  private busy = false;
  private cost?: CostModel;

  private constructor(
    readonly backend: BackendChoice,
    readonly weights: VggWeights,
    private readonly maxInputPixels?: number,
    /** Set when the backend is ONNX Runtime; tfjs then computes nothing. */
    private readonly onnx?: OnnxSessions,
  ) {}

  static async create(opts: EngineOptions = {}): Promise<Engine> {
    const weights = opts.weights ?? (await loadVggWeights(opts.weightsDir ?? locateWeights().dir));
    const backend = await selectBackend(opts.backend ?? 'auto');
    const provider = onnxProviderOf(backend.name);
    return new Engine(backend, weights, opts.maxInputPixels, provider ? await OnnxSessions.open(provider) : undefined);
  }

  private net(pooling: Pooling): VggNet {
    let net = this.nets.get(pooling);
    if (!net) {
      net = new VggNet(this.weights, pooling);
      this.nets.set(pooling, net);
    }
    return net;
  }

  /** Runs one job. One at a time: the backend is a single device. */
  async stylize(req: StylizeRequest, hooks?: StylizeHooks): Promise<StylizeResult> {
    if (this.busy) throw new Error('Engine.stylize is already running; queue jobs instead of overlapping them.');
    this.busy = true;
    try {
      // tfjs has one global backend: another engine in this process may have switched it.
      await selectBackend(this.backend.name);
      const result = await runStylize(
        { weights: this.weights, maxInputPixels: this.maxInputPixels, memoryBudgetBytes: this.budget(), createEvaluator: this.evaluators() },
        req,
        hooks,
      );
      // A stopped run did less than its plan: its time would skew the costs.
      if (this.cost && !result.stopped) this.cost = refine(this.cost, result.plan, resolveSettings(req.settings ?? {}).optimizer, result.elapsedMs, result.evaluations);
      return result;
    } finally {
      this.busy = false;
    }
  }

  private budget(): number {
    return memoryBudgetBytes(this.backend.name);
  }

  private evaluators(): EvaluatorFactory {
    const onnx = this.onnx;
    return onnx ? (spec) => onnx.createEvaluator(spec) : (spec) => new TfEvaluator(this.net(spec.pooling), spec, tf.getBackend());
  }

  /** A loss-and-gradient evaluator on this engine's backend, for tools that compare backends (bench). */
  async createEvaluator(spec: EvaluatorSpec): Promise<LossEvaluator> {
    await selectBackend(this.backend.name);
    return this.evaluators()(spec);
  }

  /**
   * Uploads the weights and runs the kernels once, so the first job does not pay for it, and
   * measures this backend's costs for estimates (see estimate.ts).
   */
  async warmUp(): Promise<void> {
    if (this.onnx) await this.onnx.warmUp(this.weights);
    else {
      const net = this.net('avg');
      const y = tf.tidy(() => tf.sum(net.features(VggNet.preprocess(tf.zeros([1, 16, 16, 3])), ['block5_conv1']).get('block5_conv1')!));
      await y.data();
      y.dispose();
    }
    if (this.busy) return;
    this.busy = true;
    try {
      await selectBackend(this.backend.name);
      this.cost = await calibrate(this.evaluators(), lossSpec(DEFAULT_SETTINGS, this.weights));
    } finally {
      this.busy = false;
    }
  }

  /** The measured cost model (after warmUp), refined by every finished job. */
  costModel(): CostModel | undefined {
    return this.cost;
  }

  /** How long a job on a width x height content image with these settings would take; needs warmUp() first. */
  estimate(width: number, height: number, settings: Partial<StylizeSettings>): Estimate {
    if (!this.cost) throw new Error('Engine.estimate needs warmUp() first: it measures the costs.');
    return estimateJob(this.cost, width, height, settings, this.budget());
  }

  memory(): { tensors: number; bytes: number } {
    if (this.onnx) return this.onnx.memory();
    const m = tf.memory();
    return { tensors: m.numTensors, bytes: m.numBytes };
  }

  dispose(): void {
    this.onnx?.dispose();
    for (const net of this.nets.values()) net.dispose();
    this.nets.clear();
  }
}
