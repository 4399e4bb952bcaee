/** Messages between the daemon (main thread) and the engine worker thread. */
import type { BackendChoice } from '../engine/engine.ts';
import type { LossTerms, StylizeSettings } from '../engine/types.ts';

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

export type ToWorker =
  | {
    type: 'run';
    jobId: string;
    content: Uint8Array;
    styles: { image: Uint8Array; weight?: number }[];
    settings: Partial<StylizeSettings>;
  }
  | { type: 'cancel'; jobId: string }
  | { type: 'memory' }
  | { type: 'close' };

export type FromWorker =
  | { type: 'ready'; backend: BackendChoice; memory: MemoryInfo; warmupMs: number; createMs: number }
  | { type: 'init_error'; code: string; message: string }
  | {
    type: 'progress';
    jobId: string;
    iteration: number;
    iterations: number;
    terms: LossTerms;
    elapsedMs: number;
    etaMs: number;
    preview?: { width: number; height: number; data: Uint8Array };
  }
  | {
    type: 'done';
    jobId: string;
    png: Uint8Array;
    width: number;
    height: number;
    iterations: number;
    losses: LossTerms;
    backend: string;
    elapsedMs: number;
    memory: MemoryInfo;
  }
  | { type: 'failed'; jobId: string; code: string; message: string; memory: MemoryInfo }
  | { type: 'memory'; memory: MemoryInfo }
  | { type: 'closed' };
