/** Messages between the daemon (main thread) and the engine worker thread. */
import type { BackendChoice } from '../engine/engine.ts';
import type { StylizeSettings } from '../engine/types.ts';
import type { LossTerms } from '../../common/losses.ts';
import type { StylizeErrorCode } from '../../common/errors.ts';
import type { CostModel } from '../engine/estimate.ts';

export interface WorkerInit {
  backend: string;
  weightsDir?: string;
  maxPixels: number;
  warmup: boolean;
}

export interface MemoryInfo {
  tensors: number;
  bytes: number;
}

/** One iteration's report, as the daemon relays it (the preview is raw RGBA). */
export interface EngineProgress {
  iteration: number;
  iterations: number;
  terms: LossTerms;
  elapsedMs: number;
  etaMs: number;
  preview?: { width: number; height: number; data: Uint8Array };
}

export interface EngineResult {
  png: Uint8Array;
  width: number;
  height: number;
  iterations: number;
  losses: LossTerms;
  backend: string;
  elapsedMs: number;
  /** Stopped early by `finish` (stop and keep): the image as it was, at full size. */
  stopped?: boolean;
}

export type ToWorker =
  | {
    type: 'run';
    jobId: string;
    content: Uint8Array;
    styles: { image: Uint8Array; weight?: number }[];
    settings: Partial<StylizeSettings>;
  }
  | { type: 'cancel'; jobId: string }
  /** Stop and keep: end the job now with its current image as the result. */
  | { type: 'finish'; jobId: string }
  | { type: 'memory' }
  | { type: 'close' };

export type FromWorker =
  /** cost: the backend's measured costs, for estimates (absent without warm-up); refreshed with every `done`. */
  | { type: 'ready'; backend: BackendChoice; memory: MemoryInfo; warmupMs: number; createMs: number; cost?: CostModel }
  /** Codes stay typed across the thread: the daemon maps them to wire codes in one place (wire-error.ts). */
  | { type: 'init_error'; code: StylizeErrorCode; message: string }
  | ({ type: 'progress'; jobId: string } & EngineProgress)
  | ({ type: 'done'; jobId: string; memory: MemoryInfo; cost?: CostModel } & EngineResult)
  | { type: 'failed'; jobId: string; code: StylizeErrorCode; message: string; memory: MemoryInfo }
  | { type: 'memory'; memory: MemoryInfo }
  | { type: 'closed' };
