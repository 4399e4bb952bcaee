/**
 * The shared job queue in front of one engine: capacity checks, arrival order across clients,
 * queue positions, one job at a time through the engine, each job's messages in order, cancel,
 * a closed client's jobs, and results kept for clients that left. Knows jobs and the clients'
 * send methods, not sockets: its tests run it in-process with a fake engine.
 */
// Bounds on waits are unref'd: a wait already won keeps nothing alive.
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { ProtocolError } from '../../protocol/errors.ts';
import type { DoneMessage, JobPosition, KeptJob, ServerTextMessage } from '../../protocol/messages.ts';
import { encodeFrame } from '../../protocol/frames.ts';
import type { StylizeSettings } from '../engine/types.ts';
import { EngineFailure, type EngineProgress, type EngineResult, type JobEngine } from './job-engine.ts';
import { KeptResults } from './kept-results.ts';
import type { Logger } from './log.ts';
import { JobQueue } from './queue.ts';
import { toWireError } from './wire-error.ts';

/** What the scheduler needs of a client connection. */
export interface JobClient {
  readonly label: string;
  readonly closed: boolean;
  /** The client's stable id from hello, if it sent one (kept results come back to it). */
  readonly clientId?: string;
  /** This client's jobs, queued or running. */
  readonly jobs: Map<string, Job>;
  /** Bytes sent but not yet on the wire (a slow link gets fewer previews). */
  readonly unsentBytes: number;
  sendJson(msg: ServerTextMessage): void;
  sendBinary(frame: Uint8Array): void;
}

/** A job as admission hands it over. */
export interface NewJob {
  ref: string;
  /** Survives its connection: kept for client.clientId (submit.keep; only with hello.clientId). */
  keep: boolean;
  note?: string;
  content: Uint8Array;
  styles: { image: Uint8Array; weight?: number }[];
  settings: Partial<StylizeSettings>;
  iterations: number;
  /** The output's long side (for the log). */
  size: number;
  /** Input bytes held while waiting (counts toward the queue's byte limit). */
  bytes: number;
}

export interface Job extends NewJob {
  id: string;
  client: JobClient;
  state: 'queued' | 'running';
  /** Last position told to the client, so `queue` updates go out only on change. */
  lastPosition: number;
  /** Why a running job was cancelled, once it was. */
  cancelReason?: 'client' | 'shutdown' | 'disconnect';
  /** The client asked to stop and keep (`finish`): the result is the image as it was. */
  finishRequested?: boolean;
  /** Sends for this job go through this chain, so previews (encoded async) never overtake `done`. */
  outbox: Promise<void>;
  acceptedAt: number;
}

export interface SchedulerLimits {
  maxQueue: number;
  maxQueueBytes: number;
  maxJobsPerClient: number;
}

export interface SchedulerOptions {
  limits: SchedulerLimits;
  log: Logger;
  /** A preview as PNG, long side scaled down (sharp in the daemon; absent, previews are not sent). */
  encodePreview?: (rgba: Uint8Array, width: number, height: number) => Promise<{ png: Uint8Array; width: number; height: number }>;
  /** A client's kept jobs changed while it was away: tell its open connections. */
  onKept?: (clientId: string) => void;
  kept?: KeptResults;
}

/** Previews are skipped while this much is still unsent to a client (a slow link gets fewer). */
const PREVIEW_BACKPRESSURE_BYTES = 4 * 1024 * 1024;
/** How long stop() waits for the running job to stop, then for its last messages to leave. */
const STOP_CANCEL_MS = 10_000;
const STOP_OUTBOX_MS = 2000;

export class Scheduler {
  private readonly queue = new JobQueue<Job>();
  /** Results of `keep` jobs that finished after their connection dropped. */
  readonly kept: KeptResults;
  private jobCounter = 0;
  private stopped = false;
  private jobSettled?: () => void;

  constructor(private readonly engine: JobEngine, private readonly opts: SchedulerOptions) {
    this.kept = opts.kept ?? new KeptResults();
    // Kept results from an earlier run keep their ids; new ones never reuse them.
    this.jobCounter = this.kept.highestJobNumber;
  }

  /** Waiting plus running. */
  get length(): number {
    return this.queue.total;
  }

  get running(): boolean {
    return this.queue.running !== undefined;
  }

  /** Throws queue_full / too_many_jobs / shutting_down when `client` may not add a job of `bytes`. */
  checkCapacity(client: JobClient, bytes: number): void {
    if (this.stopped) throw new ProtocolError('shutting_down', 'The companion is shutting down and takes no new jobs.');
    const { maxJobsPerClient, maxQueue, maxQueueBytes } = this.opts.limits;
    if (client.jobs.size >= maxJobsPerClient) {
      throw new ProtocolError('too_many_jobs', `You already have ${client.jobs.size} jobs queued or running, the limit per connection. Wait for one to finish or cancel one.`);
    }
    if (this.queue.waitingCount >= maxQueue) {
      throw new ProtocolError('queue_full', `The queue is full (${this.queue.waitingCount} jobs waiting). Try again when some have finished.`);
    }
    const held = this.queue.waitingJobs().reduce((n, j) => n + j.bytes, 0);
    if (held + bytes > maxQueueBytes) {
      throw new ProtocolError('queue_full', `The queue holds ${mb(held)} of images, and this job's ${mb(bytes)} would pass the ${mb(maxQueueBytes)} limit. Try again when some jobs have finished, or send smaller images.`);
    }
  }

  /** Queues a job (after checkCapacity), answers `accepted` with its position, starts it if the engine is free. */
  add(client: JobClient, spec: NewJob): Job {
    this.checkCapacity(client, spec.bytes);
    const job: Job = {
      ...spec,
      id: `${++this.jobCounter}-${randomBytes(3).toString('hex')}`,
      keep: spec.keep && client.clientId !== undefined,
      client,
      state: 'queued',
      lastPosition: 0,
      outbox: Promise.resolve(),
      acceptedAt: Date.now(),
    };
    client.jobs.set(job.id, job);
    job.lastPosition = this.queue.push(job);
    client.sendJson({ type: 'accepted', ref: job.ref, jobId: job.id, position: job.lastPosition });
    this.opts.log.info(`job ${job.id} from ${client.label}: ${job.iterations} iterations at ${job.size} px, position ${job.lastPosition}`);
    this.pump();
    return job;
  }

  /** This client's jobs and their positions, first to run first. */
  positions(client: JobClient): JobPosition[] {
    return [...client.jobs.values()].map((j) => ({ jobId: j.id, position: this.queue.position(j) })).sort((a, b) => a.position - b.position);
  }

  /** Cancels one of the client's jobs: a waiting one at once, the running one through the engine. */
  cancel(client: JobClient, jobId: string): void {
    const job = client.jobs.get(jobId);
    if (!job) {
      throw new ProtocolError('unknown_job', `You have no job ${JSON.stringify(jobId)} queued or running (it may have finished already).`);
    }
    if (job.state === 'queued') {
      this.queue.remove(job.id);
      client.jobs.delete(job.id);
      this.opts.log.info(`job ${job.id} cancelled while waiting`);
      this.send(job, () => client.sendJson({ type: 'cancelled', jobId: job.id, reason: 'client' }));
      this.announceQueue();
      return;
    }
    job.cancelReason ??= 'client';
    this.engine.cancel(job.id);
  }

  /**
   * Stop and keep: the running job ends at the next iteration and its image so far is sent as the
   * result. A waiting job has no image yet, so it is cancelled.
   */
  finish(client: JobClient, jobId: string): void {
    const job = client.jobs.get(jobId);
    if (!job) {
      throw new ProtocolError('unknown_job', `You have no job ${JSON.stringify(jobId)} running (it may have finished already); there is nothing to stop and keep.`);
    }
    if (job.state === 'queued') return this.cancel(client, jobId);
    job.finishRequested = true;
    this.opts.log.info(`job ${job.id}: stop and keep asked`);
    this.engine.stopAndKeep(job.id);
  }

  /**
   * The client's connection closed: its waiting jobs are dropped and its running one cancelled,
   * except `keep` jobs, which go on and leave their result in `kept`.
   */
  dropClient(client: JobClient): { dropped: number; cancelledRunning: boolean; keptGoOn: boolean } {
    let dropped = 0;
    let cancelledRunning = false;
    for (const job of client.jobs.values()) {
      if (job.keep) continue;
      if (job.state === 'queued') {
        this.queue.remove(job.id);
        client.jobs.delete(job.id);
        dropped++;
      } else {
        job.cancelReason ??= 'disconnect';
        cancelledRunning = true;
        this.engine.cancel(job.id);
      }
    }
    if (dropped) this.announceQueue();
    return { dropped, cancelledRunning, keptGoOn: [...client.jobs.values()].some((j) => j.keep) };
  }

  /** The client's kept jobs: finished ones, and its detached jobs still waiting or running. */
  keptJobs(clientId: string): KeptJob[] {
    const done = this.kept.list(clientId);
    const detached: KeptJob[] = [];
    for (const job of [...this.queue.waitingJobs(), ...(this.queue.running ? [this.queue.running] : [])]) {
      if (!job.keep || !job.client.closed || job.client.clientId !== clientId || done.some((k) => k.jobId === job.id)) continue;
      detached.push({ jobId: job.id, ref: job.ref, ...(job.note !== undefined && { note: job.note }), state: job.state === 'running' ? 'running' : 'waiting' });
    }
    return [...detached, ...done];
  }

  /**
   * Shutdown: waiting jobs never start (their clients hear `cancelled`), the running one is
   * cancelled (or, when it is a kept job whose client has gone, stopped and kept) and waited for
   * (bounded), and nothing new is taken.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const job of [...this.queue.waitingJobs()]) {
      this.queue.remove(job.id);
      job.client.jobs.delete(job.id);
      this.send(job, () => job.client.sendJson({ type: 'cancelled', jobId: job.id, reason: 'shutdown' }));
    }
    const running = this.queue.running;
    if (!running) return;
    const settled = new Promise<void>((res) => { this.jobSettled = res; });
    if (running.keep && running.client.closed) {
      // Nobody is waiting on it, and its client asked to keep it: the image so far becomes a kept
      // result (saved with the others) instead of being thrown away.
      running.finishRequested = true;
      this.engine.stopAndKeep(running.id);
    } else {
      running.cancelReason ??= 'shutdown';
      this.engine.cancel(running.id);
    }
    await Promise.race([settled, sleep(STOP_CANCEL_MS, undefined, { ref: false })]);
    await Promise.race([running.outbox, sleep(STOP_OUTBOX_MS, undefined, { ref: false })]);
  }

  /** Starts the next job when the engine is free. */
  private pump(): void {
    if (this.stopped || this.queue.running) return;
    const job = this.queue.next();
    if (!job) return;
    job.state = 'running';
    job.lastPosition = 0;
    this.announceQueue();
    job.client.sendJson({ type: 'started', jobId: job.id, iterations: job.iterations });
    this.engine
      .run({ jobId: job.id, content: job.content, styles: job.styles, settings: job.settings }, (p) => this.onProgress(job, p))
      .then((r) => this.onDone(job, r), (e) => this.onFailed(job, e))
      .catch((err) => this.opts.log.error(`job ${job.id}: ${(err as Error).stack ?? err}`))
      .finally(() => {
        this.queue.finishRunning();
        job.client.jobs.delete(job.id);
        this.jobSettled?.();
        this.announceQueue();
        this.pump();
      });
  }

  private send(job: Job, fn: () => Promise<void> | void): void {
    job.outbox = job.outbox.then(fn).catch((err) => this.opts.log.error(`job ${job.id}: sending failed: ${(err as Error).message}`));
  }

  private onProgress(job: Job, p: EngineProgress): void {
    const c = job.client;
    if (c.closed) return;
    this.send(job, async () => {
      c.sendJson({
        type: 'progress', jobId: job.id, iteration: p.iteration, iterations: p.iterations,
        losses: p.terms, elapsedMs: Math.round(p.elapsedMs), etaMs: Math.round(p.etaMs),
      });
      // The final image follows as `result`; a slow client skips previews rather than queueing them.
      const encode = this.opts.encodePreview;
      if (!encode || !p.preview || p.iteration === p.iterations || c.unsentBytes > PREVIEW_BACKPRESSURE_BYTES) return;
      const img = await encode(p.preview.data, p.preview.width, p.preview.height);
      c.sendBinary(encodeFrame({ type: 'preview', jobId: job.id, iteration: p.iteration, mime: 'image/png', width: img.width, height: img.height }, img.png));
    });
  }

  private onDone(job: Job, r: EngineResult): void {
    const c = job.client;
    const done: DoneMessage = {
      type: 'done', jobId: job.id, width: r.width, height: r.height, bytes: r.png.length,
      iterations: r.iterations, losses: r.losses, elapsedMs: Math.round(r.elapsedMs), backend: r.backend,
      ...(r.stopped && { stopped: true }),
    };
    if (c.closed && job.keep && c.clientId) return this.keepResult(job, c.clientId, r.png, done);
    this.opts.log.info(`job ${job.id} ${r.stopped ? 'stopped and kept' : 'done'}: ${r.width} x ${r.height}, ${r.iterations} iterations in ${(r.elapsedMs / 1000).toFixed(1)} s`);
    this.send(job, () => {
      c.sendBinary(encodeFrame({ type: 'result', jobId: job.id, mime: 'image/png', width: r.width, height: r.height }, r.png));
      c.sendJson(done);
    });
  }

  /** The kept-results hand-off: the result waits for a connection with the same clientId. */
  private keepResult(job: Job, clientId: string, png: Uint8Array, done: DoneMessage): void {
    const dropped = this.kept.add({ clientId, jobId: job.id, ref: job.ref, ...(job.note !== undefined && { note: job.note }), png, done, finishedAt: Date.now() });
    this.opts.log.info(`job ${job.id} done after its client left: result kept for it${dropped.length ? ` (${dropped.length} older kept result(s) dropped)` : ''}`);
    this.opts.onKept?.(clientId);
  }

  private onFailed(job: Job, err: unknown): void {
    const c = job.client;
    if (err instanceof EngineFailure && err.code === 'cancelled') {
      const reason = job.cancelReason ?? 'client';
      this.opts.log.info(`job ${job.id} cancelled (${reason})`);
      if (reason !== 'disconnect') this.send(job, () => c.sendJson({ type: 'cancelled', jobId: job.id, reason }));
      return;
    }
    const answer = toWireError(err, { jobId: job.id, ref: job.ref });
    this.opts.log.warn(`job ${job.id} failed: ${answer.code}: ${answer.message}`);
    this.send(job, () => c.sendJson(answer));
  }

  /** Tells every client whose waiting jobs moved where they are now. */
  private announceQueue(): void {
    const moved = new Set<JobClient>();
    for (const job of this.queue.waitingJobs()) {
      const position = this.queue.position(job);
      if (position !== job.lastPosition) moved.add(job.client);
      job.lastPosition = position;
    }
    for (const c of moved) c.sendJson({ type: 'queue', length: this.queue.total, jobs: this.positions(c) });
  }
}

export function mb(bytes: number): string {
  return bytes >= 1048576 ? `${(bytes / 1048576).toFixed(1)} MB` : `${(bytes / 1024).toFixed(0)} KB`;
}
