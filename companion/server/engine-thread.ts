/**
 * The daemon's handle on the engine worker thread: starts it, runs one job at a time through it,
 * forwards cancellation, and replaces the worker if it dies (the job in flight fails, the queue goes on).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import type { BackendChoice } from '../engine/engine.ts';
import type { StylizeSettings } from '../engine/types.ts';
import type { CostModel } from '../engine/estimate.ts';
import type { EngineProgress, EngineResult, FromWorker, MemoryInfo, ToWorker, WorkerInit } from './worker-messages.ts';
import { EngineFailure, type EngineJob, type JobEngine } from './job-engine.ts';
import { errorSummary } from '../../common/errors.ts';
import type { Logger } from './log.ts';

interface Running {
  jobId: string;
  onProgress: (p: EngineProgress) => void;
  resolve: (r: EngineResult) => void;
  reject: (e: EngineFailure) => void;
  cancelTimer?: NodeJS.Timeout;
}

/**
 * Creates the worker thread. Under tsx (this file is .ts), the worker registers tsx itself before
 * importing engine-worker.ts: on Node 20 a worker's --import hooks do not cover its entry module.
 */
function spawnWorker(workerData: WorkerInit): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./engine-worker.js', import.meta.url), { workerData });
  const api = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./engine-worker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { eval: true, workerData });
}

export class EngineThread implements JobEngine {
  backend!: BackendChoice;
  memory: MemoryInfo = { tensors: 0, bytes: 0 };
  /** Memory right after start-up (weights and warm-up); every job should return to it. */
  baseline: MemoryInfo = { tensors: 0, bytes: 0 };
  restarts = 0;
  jobsDone = 0;
  createMs = 0;
  warmupMs = 0;
  /** The engine's measured costs (see engine/estimate.ts); undefined until a warm-up measured them. */
  cost?: CostModel;
  private worker?: Worker;
  private running?: Running;
  private ready?: Promise<void>;
  private closing = false;
  private memoryWaiters: ((m: MemoryInfo) => void)[] = [];
  /** True while a worker loads: it cannot answer yet, so nothing waits on it. */
  private starting = false;

  constructor(private readonly init: WorkerInit, private readonly log: Logger, private readonly cancelGraceMs = 30_000) {}

  /** Starts the worker and waits until the engine is loaded (and warmed up). Rejects with EngineFailure. */
  start(): Promise<void> {
    this.starting = true;
    this.ready = new Promise<void>((resolve, reject) => {
      const worker = spawnWorker(this.init);
      this.worker = worker;
      let started = false;
      worker.on('message', (msg: FromWorker) => {
        if (msg.type === 'ready') {
          started = true;
          this.backend = msg.backend;
          this.memory = msg.memory;
          // A fresh worker is a fresh engine: its start-up memory is the new baseline.
          this.baseline = msg.memory;
          this.createMs = msg.createMs;
          this.warmupMs = msg.warmupMs;
          this.cost = msg.cost;
          resolve();
        } else if (msg.type === 'init_error') {
          reject(new EngineFailure(msg.code, msg.message));
          void worker.terminate();
        } else {
          this.onMessage(msg);
        }
      });
      worker.on('error', (err) => {
        if (!started) reject(new EngineFailure('internal', `The engine thread failed to start: ${err.message}`));
        else this.onCrash(errorSummary(err));
      });
      worker.on('exit', (code) => {
        if (this.worker !== worker) return;
        this.worker = undefined;
        if (!started) reject(new EngineFailure('internal', `The engine thread exited during start-up (code ${code}).`));
        else if (!this.closing) this.onCrash(`it exited with code ${code}`);
      });
    });
    this.ready.then(() => { this.starting = false; }, () => { this.starting = false; });
    return this.ready;
  }

  private post(msg: ToWorker, transfer: ArrayBuffer[] = []): void {
    this.worker?.postMessage(msg, transfer);
  }

  private onMessage(msg: FromWorker): void {
    const r = this.running;
    switch (msg.type) {
      case 'progress':
        if (r?.jobId === msg.jobId) r.onProgress(msg);
        break;
      case 'done':
        this.memory = msg.memory;
        if (msg.cost) this.cost = msg.cost;
        if (r?.jobId === msg.jobId) {
          this.finish();
          this.jobsDone++;
          r.resolve(msg);
        }
        break;
      case 'failed':
        this.memory = msg.memory;
        if (r?.jobId === msg.jobId) {
          this.finish();
          r.reject(new EngineFailure(msg.code, msg.message));
        }
        break;
      case 'memory':
        this.memory = msg.memory;
        for (const w of this.memoryWaiters.splice(0)) w(msg.memory);
        break;
      default:
        break;
    }
  }

  private finish(): void {
    if (this.running?.cancelTimer) clearTimeout(this.running.cancelTimer);
    this.running = undefined;
  }

  /** The worker died mid-flight: fail the job, start a fresh worker for the next one. */
  private onCrash(why: string): void {
    const r = this.running;
    this.finish();
    for (const w of this.memoryWaiters.splice(0)) w(this.memory);
    if (this.closing) return;
    this.log.error(`the engine thread stopped (${why}); restarting it.`);
    r?.reject(new EngineFailure('internal', `The engine stopped unexpectedly (${why}) and was restarted; the job did not finish. A smaller size may help.`));
    this.restarts++;
    void this.worker?.terminate();
    this.worker = undefined;
    this.start().then(
      () => this.log.info(`engine restarted (${this.backend.name}).`),
      (err: Error) => this.log.error(`the engine could not be restarted: ${err.message}`),
    );
  }

  /** Runs one job. Rejects with EngineFailure (code 'cancelled' after cancel()). */
  async run(job: EngineJob, onProgress: (p: EngineProgress) => void): Promise<EngineResult> {
    if (this.running) throw new EngineFailure('internal', 'EngineThread.run called while a job is running; the queue must serialize jobs.');
    await this.ready;
    if (!this.worker) throw new EngineFailure('backend_unavailable', 'The engine is not running (it failed to restart; see the companion log).');
    return new Promise<EngineResult>((resolve, reject) => {
      this.running = { jobId: job.jobId, onProgress, resolve, reject };
      // Copies: the frame the bytes came from stays with the daemon; the copies move to the worker.
      const content = job.content.slice();
      const styles = job.styles.map((s) => ({ image: s.image.slice(), ...(s.weight !== undefined && { weight: s.weight }) }));
      this.post(
        { type: 'run', jobId: job.jobId, content, styles, settings: job.settings },
        [content.buffer as ArrayBuffer, ...styles.map((s) => s.image.buffer as ArrayBuffer)],
      );
    });
  }

  /**
   * Asks the worker to stop the job (the engine checks between iterations). If it has not stopped
   * after cancelGraceMs (an iteration that never ends), the worker is replaced.
   */
  cancel(jobId: string): void {
    const r = this.running;
    if (!r || r.jobId !== jobId || r.cancelTimer) return;
    this.post({ type: 'cancel', jobId });
    r.cancelTimer = setTimeout(() => {
      if (this.running !== r) return;
      this.log.warn(`job ${jobId} did not stop within ${this.cancelGraceMs / 1000} s of cancel; replacing the engine thread.`);
      this.finish();
      r.reject(new EngineFailure('cancelled', 'The job was cancelled.'));
      this.restarts++;
      const w = this.worker;
      this.worker = undefined;
      void w?.terminate();
      this.start().catch((err: Error) => this.log.error(`the engine could not be restarted: ${err.message}`));
    }, this.cancelGraceMs);
    r.cancelTimer.unref();
  }

  /**
   * Stop and keep: the worker ends the job at the next iteration and reports its current image as
   * the result (`done` with stopped). A job that already ended is left alone. Cancel still applies
   * on top (an iteration that never ends is dealt with there).
   */
  stopAndKeep(jobId: string): void {
    if (this.running?.jobId !== jobId) return;
    this.post({ type: 'finish', jobId });
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /**
   * Fresh numbers when idle; the last ones reported while a job runs or a worker loads, or when
   * the worker does not answer within `timeoutMs`: a status request never waits on the engine.
   */
  async currentMemory(timeoutMs = 2000): Promise<MemoryInfo> {
    if (this.running || !this.worker || this.starting) return this.memory;
    return new Promise<MemoryInfo>((resolve) => {
      const timer = setTimeout(() => {
        const i = this.memoryWaiters.indexOf(done);
        if (i >= 0) this.memoryWaiters.splice(i, 1);
        resolve(this.memory);
      }, timeoutMs);
      timer.unref();
      const done = (m: MemoryInfo) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.memoryWaiters.push(done);
      // One request answers every waiter; a lost answer only costs the waiters their timeout.
      if (this.memoryWaiters.length === 1) this.post({ type: 'memory' });
    });
  }

  /** Cancels the job in flight and stops the worker. Waits up to `graceMs` for the job to stop. */
  async close(graceMs = 5000): Promise<void> {
    const r = this.running;
    if (r) {
      this.post({ type: 'cancel', jobId: r.jobId });
      const settled = new Promise<void>((res) => {
        const prevResolve = r.resolve;
        const prevReject = r.reject;
        r.resolve = (v) => { prevResolve(v); res(); };
        r.reject = (e) => { prevReject(e); res(); };
      });
      await Promise.race([settled, sleep(graceMs, undefined, { ref: false })]);
    }
    this.closing = true;
    const w = this.worker;
    if (!w) return;
    this.post({ type: 'close' });
    await Promise.race([
      new Promise<void>((res) => w.once('exit', () => res())),
      new Promise<void>((res) => setTimeout(res, 2000).unref()),
    ]);
    await w.terminate();
    this.worker = undefined;
    if (this.running) {
      const still = this.running;
      this.finish();
      still.reject(new EngineFailure('cancelled', 'The job was cancelled: the companion is shutting down.'));
    }
  }
}
