/**
 * Requests waiting for the companion's answer, each keyed by the ref this window gave it: jobs and
 * kept-result fetches (also found by the companion's job id once known), and one-answer requests
 * (style lists, saves, estimates). Whatever happens to the connection, each settles exactly once.
 */
import { ProtocolError, type ErrorCode } from '../../../protocol/errors.ts';
import type { DoneMessage, ProgressMessage } from '../../../protocol/messages.ts';

export type ClientErrorCode = ErrorCode | 'connection_lost' | 'not_connected' | 'cancelled' | 'bad_reply';

/** A failure with a stable code; `message` is the companion's own words (the UI adds a designer's version). */
export class CompanionError extends Error {
  readonly code: ClientErrorCode;
  constructor(code: ClientErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'CompanionError';
  }
}

let refCounter = 0;

/** A ref unique in this window: the prefix says which registry it belongs to. */
export function nextRef(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${(++refCounter).toString(36)}`;
}

/** A promise with its settle functions, and a catch so a late await does not count as unhandled. */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(error: CompanionError): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: CompanionError) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => { /* the caller awaits it */ });
  return { promise, resolve, reject };
}

/** Requests answered by one message carrying the same ref. */
export class OneAnswerRequests<T> {
  private readonly pending = new Map<string, { resolve(value: T): void; reject(error: CompanionError): void }>();

  /** Registers `ref`, then runs `send`; a failing send rejects the request at once. */
  add(ref: string, send: () => void): Promise<T> {
    const d = deferred<T>();
    this.pending.set(ref, d);
    try {
      send();
    } catch (err) {
      this.reject(ref, asCompanionError(err));
    }
    return d.promise;
  }

  has(ref: string): boolean {
    return this.pending.has(ref);
  }

  /** The longest-waiting ref (for an answer from a companion that does not echo refs). */
  oldest(): string | undefined {
    return this.pending.keys().next().value;
  }

  resolve(ref: string, value: T): boolean {
    const p = this.pending.get(ref);
    if (!p) return false;
    this.pending.delete(ref);
    p.resolve(value);
    return true;
  }

  reject(ref: string, error: CompanionError): boolean {
    const p = this.pending.get(ref);
    if (!p) return false;
    this.pending.delete(ref);
    p.reject(error);
    return true;
  }

  failAll(error: CompanionError): void {
    for (const ref of [...this.pending.keys()]) this.reject(ref, error);
  }
}

export interface JobEvents {
  onAccepted?(jobId: string, position: number): void;
  onQueue?(position: number): void;
  onStarted?(iterations: number): void;
  onProgress?(progress: ProgressMessage): void;
  onPreview?(png: Uint8Array, iteration: number, width: number, height: number): void;
}

export interface JobResult {
  png: Uint8Array;
  width: number;
  height: number;
  done: DoneMessage;
}

export interface JobRecord {
  ref: string;
  /** Outlives this window: closing it does not cancel the job. */
  keep: boolean;
  jobId?: string;
  events: JobEvents;
  resultPng?: Uint8Array;
  cancelRequested: boolean;
  /** Stop and keep asked (sent once the job id is known). */
  finishRequested: boolean;
  settled: boolean;
  readonly result: Promise<JobResult>;
}

/** Jobs (and kept-result fetches, which end like jobs: a result frame, then done) by ref and by job id. */
export class JobRegistry {
  private readonly byRef = new Map<string, JobRecord & { settle(outcome: JobResult | CompanionError): void }>();
  private readonly byId = new Map<string, JobRecord>();
  /** Cancels sent and not yet answered (by `cancelled` or unknown_job), in sending order. */
  private cancelsAwaitingAnswer: JobRecord[] = [];

  add(ref: string, events: JobEvents, options: { keep?: boolean; jobId?: string } = {}): JobRecord {
    const d = deferred<JobResult>();
    const record = {
      ref, keep: options.keep ?? false, events, cancelRequested: false, finishRequested: false, settled: false, result: d.promise,
      settle: (outcome: JobResult | CompanionError) => (outcome instanceof CompanionError ? d.reject(outcome) : d.resolve(outcome)),
    };
    this.byRef.set(ref, record);
    if (options.jobId) this.identify(record, options.jobId);
    return record;
  }

  /** The companion accepted the job under `jobId`. */
  identify(job: JobRecord, jobId: string): void {
    job.jobId = jobId;
    this.byId.set(jobId, job);
  }

  get(ref: string): JobRecord | undefined {
    return this.byRef.get(ref);
  }

  byJobId(jobId: string): JobRecord | undefined {
    return this.byId.get(jobId);
  }

  get size(): number {
    return this.byRef.size;
  }

  all(): JobRecord[] {
    return [...this.byRef.values()];
  }

  settle(job: JobRecord, outcome: JobResult | CompanionError): void {
    if (job.settled) return;
    job.settled = true;
    const record = this.byRef.get(job.ref);
    this.byRef.delete(job.ref);
    if (job.jobId) this.byId.delete(job.jobId);
    record?.settle(outcome);
  }

  cancelSent(job: JobRecord): void {
    this.cancelsAwaitingAnswer.push(job);
  }

  /** A `cancelled` answered the cancel of `jobId`. */
  cancelAnswered(jobId: string): void {
    const i = this.cancelsAwaitingAnswer.findIndex((j) => j.jobId === jobId);
    if (i >= 0) this.cancelsAwaitingAnswer.splice(i, 1);
  }

  /** An unknown_job answered the oldest unanswered cancel (the companion answers in order). */
  oldestCancelUnanswered(): JobRecord | undefined {
    return this.cancelsAwaitingAnswer.shift();
  }

  failAll(error: CompanionError): void {
    this.cancelsAwaitingAnswer = [];
    for (const job of this.all()) this.settle(job, error);
  }
}

/** A send's failure as the client reports it: a refused encoding keeps its code; anything else means no connection. */
export function asCompanionError(err: unknown): CompanionError {
  if (err instanceof CompanionError) return err;
  if (err instanceof ProtocolError) return new CompanionError(err.code, err.message);
  return new CompanionError('not_connected', (err as Error)?.message ?? String(err));
}
