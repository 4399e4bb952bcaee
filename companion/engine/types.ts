/** The engine's types: images, evaluators, settings, requests, progress and results. */
import type { VggWeights } from '../../weights/types.ts';
import type { JobPlan } from './plan.ts';
import type { VggLayerName } from '../../common/vgg19.ts';
import type { LossTerms } from '../../common/losses.ts';

/** An RGB(A) image in float32, HWC, values 0..255. */
export interface FloatImage {
  width: number;
  height: number;
  channels: 3;
  data: Float32Array;
}

export type Pooling = 'avg' | 'max';

/** How loss terms are scaled (loss-normalization.ts): 'target' = relative errors, 'seed' = CS20SI's. */
export type LossNormalization = 'target' | 'seed';

/** Everything a loss-and-gradient evaluator needs to know, independent of compute engine. */
export interface EvaluatorSpec {
  weights: VggWeights;
  /** Content image at the output size (RGB 0..255). */
  content: FloatImage;
  /** Style images (each at its own size) with blend weights that sum to 1. */
  styles: { image: FloatImage; weight: number }[];
  contentLayers: VggLayerName[];
  /** Style layers and their per-layer weights (seed: conv1_1..conv5_1, [0.5, 1, 1.5, 3, 4]). */
  styleLayers: { layer: VggLayerName; weight: number }[];
  contentWeight: number;
  styleWeight: number;
  tvWeight: number;
  pooling: Pooling;
  normalization: LossNormalization;
  /**
   * Gram targets (normalized, N x N row-major per layer) from an earlier evaluator of the same job;
   * when present, `styles` is not run through the network again (tiles reuse one style pass).
   */
  styleTargets?: Map<VggLayerName, Float32Array>;
}

export interface Evaluation {
  terms: LossTerms;
  /** d total / d image, same layout as the image (HWC RGB, pixel units). */
  grad: Float32Array;
}

/**
 * Whether a compute backend (a tfjs backend or an ONNX Runtime provider) works on this machine,
 * from actually initializing it: what it computes on, or why it was skipped.
 */
export interface BackendProbe {
  ok: boolean;
  /** What computes, in words (e.g. "CPU via WebAssembly"). */
  device?: string;
  reason?: string;
}

/**
 * The one seam between optimizers and compute engines (tfjs backends, ONNX Runtime, ...).
 * The image is optimized in pixel space (RGB 0..255, HWC); preprocessing happens inside.
 */
export interface LossEvaluator {
  /** e.g. "tfjs-wasm", "onnx-cpu". */
  readonly backend: string;
  readonly width: number;
  readonly height: number;
  evaluate(image: Float32Array): Promise<Evaluation>;
  /** The style Gram targets in use, for handing to the next evaluator of the same job. Optional. */
  styleTargets?(): Promise<Map<VggLayerName, Float32Array>>;
  /** Frees every resource the evaluator holds (tensors, sessions). Idempotent. */
  dispose(): void;
}

export type OptimizerName = 'adam' | 'lbfgs';
export type InitName = 'styled' | 'noise' | 'content' | 'random';

/** Which defaults the unset settings take: Stylize's plan, or the CS20SI seed recipe whole (settings.ts). */
export type RecipeName = 'stylize' | 'seed';

/** Every knob of one job. Defaults: DEFAULT_SETTINGS, or SEED_SETTINGS under recipe 'seed' (settings.ts). */
export interface StylizeSettings {
  /** The defaults the other settings take when not given. */
  recipe: RecipeName;
  /** Long side of the output in pixels; the content's aspect ratio is kept. */
  size: number;
  iterations: number;
  contentWeight: number;
  styleWeight: number;
  tvWeight: number;
  optimizer: OptimizerName;
  learningRate: number;
  init: InitName;
  /** Share of noise in the 'noise' init (seed: 0.6). */
  noiseRatio: number;
  /** Integer seed for the initial image; same seed + same backend = same result. */
  seed: number;
  pooling: Pooling;
  lossNormalization: LossNormalization;
  contentLayers: VggLayerName[];
  styleLayers: { layer: VggLayerName; weight: number }[];
  /** Emit a preview image every N iterations (0 = never). */
  previewEvery: number;
  /** Luminance-only transfer: keep the content's colours (Gatys et al. 2017). */
  preserveColors: boolean;
  /** Style image size relative to the output's long side. */
  styleScale: number;
  /** Coarse-to-fine schedule: 'auto' (above 512 px), 'off', or ascending long sides ending at size. */
  scales: 'auto' | 'off' | number[];
  /** Iterations per scale (one per scale); default: `iterations` at the coarsest, half at each finer. */
  scaleIterations?: number[];
}

/** Encoded image bytes (PNG, JPEG, WebP, ...) as a user hands them in. */
export type ImageBytes = Uint8Array;

export interface StylizeRequest {
  content: ImageBytes;
  /** One or more styles; weights are normalized to sum to 1. */
  styles: { image: ImageBytes; weight?: number }[];
  settings?: Partial<StylizeSettings>;
}

/** 8-bit RGBA pixels, row-major. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface ProgressEvent {
  iteration: number;
  iterations: number;
  terms: LossTerms;
  elapsedMs: number;
  /** Estimated time left, from the mean time per iteration so far. */
  etaMs: number;
  /** Present every `previewEvery` iterations: the current image (alpha reattached). */
  preview?: RgbaImage;
  /** Where the job is in its plan: scale k of n at this size, and the tile when tiled. */
  stage: { index: number; count: number; width: number; height: number; tile?: { index: number; count: number } };
}

export interface StylizeResult {
  image: RgbaImage;
  /** PNG encoding of `image`. */
  png: Uint8Array;
  /** One entry per optimizer step, in order (stage = index of the scale). */
  losses: (LossTerms & { iteration: number; stage: number })[];
  backend: string;
  elapsedMs: number;
  /** The scales and iterations the job ran. */
  plan: JobPlan;
  /** Loss-and-gradient evaluations in all (L-BFGS's line search may take several per iteration). */
  evaluations: number;
  /** True when finishSignal stopped the run before its plan was done. */
  stopped?: boolean;
}

export interface StylizeHooks {
  /** Aborting stops the run within one iteration; the promise then rejects with an AbortError. */
  signal?: AbortSignal;
  /**
   * "Stop and keep": aborting this one stops the run within one iteration too, but resolves with
   * the image as it is then, at the full output size (a coarser scale's image is upsampled).
   */
  finishSignal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
}
