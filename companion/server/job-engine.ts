/**
 * What the scheduler needs from an engine: run one job at a time, stop it on request. The engine's
 * worker thread (engine-thread.ts) implements it; the scheduler's tests use an in-process fake.
 */
import type { StylizeErrorCode } from '../../common/errors.ts';
import type { StylizeSettings } from '../engine/types.ts';
import type { EngineProgress, EngineResult } from './worker-messages.ts';

export type { EngineProgress, EngineResult };

export interface EngineJob {
  jobId: string;
  content: Uint8Array;
  styles: { image: Uint8Array; weight?: number }[];
  settings: Partial<StylizeSettings>;
}

/** A failed job or a failed start; `code` is the engine's typed code ('cancelled' after cancel()). */
export class EngineFailure extends Error {
  constructor(readonly code: StylizeErrorCode, message: string) {
    super(message);
    this.name = 'EngineFailure';
  }
}

export interface JobEngine {
  /** Runs one job; never called while another runs. Rejects with EngineFailure. */
  run(job: EngineJob, onProgress: (p: EngineProgress) => void): Promise<EngineResult>;
  /** Asks the running job `jobId` to stop; its run() then rejects with code 'cancelled'. No-op otherwise. */
  cancel(jobId: string): void;
  /** Asks the running job `jobId` to stop and resolve with its current image (EngineResult.stopped). No-op otherwise. */
  stopAndKeep(jobId: string): void;
}
