/**
 * The engine facade: one per process. Picks the compute backend, loads the weights once, and runs
 * jobs. Knows tensors and images; nothing about sockets, files or editors.
 */
import { tf } from './tf/runtime.ts';
import { onnxProviderOf, selectBackend, type BackendChoice } from './select-backend.ts';
import { OnnxSessions } from './onnx/sessions.ts';
import { VggNet } from './tf/vgg.ts';
import { TfEvaluator } from './tf/evaluator.ts';
import { runStylize } from './stylize.ts';
import { memoryBudgetBytes } from './memory.ts';
import type { StylizeHooks, StylizeRequest, StylizeResult, Pooling } from './types.ts';
import type { VggWeights } from '../../weights/types.ts';
import { locateWeights } from '../../weights/locate.ts';
import { loadVggWeights } from '../../weights/loader.ts';

export type { BackendChoice };

export interface EngineOptions {
  /** 'auto' (default) or a backend name. */
  backend?: string;
  /** A weights folder; default: STYLIZE_WEIGHTS, the cache, ../shared. */
  weightsDir?: string;
  maxInputPixels?: number;
}

export class Engine {
  private readonly nets = new Map<Pooling, VggNet>();
  private busy = false;

  private constructor(
    readonly backend: BackendChoice,
    readonly weights: VggWeights,
    private readonly maxInputPixels?: number,
    /** Set when the backend is ONNX Runtime; tfjs then computes nothing. */
    private readonly onnx?: OnnxSessions,
  ) {}

  static async create(opts: EngineOptions = {}): Promise<Engine> {
    const dir = opts.weightsDir ?? locateWeights().dir;
    const weights = await loadVggWeights(dir);
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
      const onnx = this.onnx;
      return await runStylize(
        {
          weights: this.weights,
          maxInputPixels: this.maxInputPixels,
          memoryBudgetBytes: memoryBudgetBytes(this.backend.name),
          createEvaluator: onnx
            ? (spec) => onnx.createEvaluator(spec)
            : (spec) => new TfEvaluator(this.net(spec.pooling), spec, tf.getBackend()),
        },
        req,
        hooks,
      );
    } finally {
      this.busy = false;
    }
  }

  /** Uploads the weights and runs the kernels once, so the first job does not pay for it. */
  async warmUp(): Promise<void> {
    if (this.onnx) return this.onnx.warmUp(this.weights);
    const net = this.net('avg');
    const y = tf.tidy(() => tf.sum(net.features(VggNet.preprocess(tf.zeros([1, 16, 16, 3])), ['block5_conv1']).get('block5_conv1')!));
    await y.data();
    y.dispose();
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
