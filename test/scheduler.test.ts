/**
 * The scheduler in-process, with a fake engine and fake clients: queue order across clients,
 * positions and their announcements, cancel (waiting and running), a closed client's jobs, kept
 * results, shutdown, failures. Milliseconds, no weights; the daemon's tests cover the real engine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerTextMessage } from '../protocol/messages.ts';
import { ProtocolError } from '../protocol/errors.ts';
import { decodeServerFrame } from '../protocol/frames.ts';
import { Scheduler, type Job, type JobClient, type NewJob } from '../companion/server/scheduler.ts';
import { EngineFailure, type EngineJob, type EngineProgress, type EngineResult, type JobEngine } from '../companion/server/job-engine.ts';
import type { Logger } from '../companion/server/log.ts';

/** As strict as the worker-thread engine: one job at a time, cancel only reaches the running job. */
class FakeEngine implements JobEngine {
  running?: { job: EngineJob; onProgress: (p: EngineProgress) => void; resolve: (r: EngineResult) => void; reject: (e: EngineFailure) => void };
  readonly started: string[] = [];
  readonly cancels: string[] = [];

  run(job: EngineJob, onProgress: (p: EngineProgress) => void): Promise<EngineResult> {
    if (this.running) throw new EngineFailure('internal', 'run called while a job is running');
    this.started.push(job.jobId);
    return new Promise((resolve, reject) => { this.running = { job, onProgress, resolve, reject }; });
  }

  cancel(jobId: string): void {
    this.cancels.push(jobId);
    const r = this.running;
    if (r?.job.jobId !== jobId) return;
    this.running = undefined;
    r.reject(new EngineFailure('cancelled', 'The job was cancelled.'));
  }

  /** Like the real engine: the running job resolves with its image so far, marked stopped. */
  stopAndKeep(jobId: string): void {
    const r = this.running;
    if (r?.job.jobId !== jobId) return;
    this.running = undefined;
    r.resolve({ png: new Uint8Array([9]), width: 4, height: 3, iterations: 4, losses: { content: 1, style: 2, tv: 0, total: 3 }, backend: 'fake', elapsedMs: 5, stopped: true });
  }

  progress(iteration: number, iterations = 10): void {
    this.running!.onProgress({ iteration, iterations, terms: { content: 1, style: 2, tv: 0, total: 3 }, elapsedMs: iteration, etaMs: 1 });
  }

  finish(): string {
    const r = this.running!;
    this.running = undefined;
    r.resolve({ png: new Uint8Array([1, 2, 3]), width: 4, height: 3, iterations: 10, losses: { content: 1, style: 2, tv: 0, total: 3 }, backend: 'fake', elapsedMs: 5 });
    return r.job.jobId;
  }

  fail(code: EngineFailure['code'], message: string): void {
    const r = this.running!;
    this.running = undefined;
    r.reject(new EngineFailure(code, message));
  }
}

class FakeClient implements JobClient {
  readonly jobs = new Map<string, Job>();
  readonly sent: (ServerTextMessage | { type: 'binary'; header: { type: string; jobId?: string } })[] = [];
  closed = false;
  unsentBytes = 0;
  constructor(readonly label: string, readonly clientId?: string) {}
  sendJson(msg: ServerTextMessage): void {
    if (this.closed) throw new Error(`${this.label}: sendJson after close (${msg.type})`);
    this.sent.push(msg);
  }
  sendBinary(frame: Uint8Array): void {
    if (this.closed) throw new Error(`${this.label}: sendBinary after close`);
    const m = decodeServerFrame(frame);
    this.sent.push({ type: 'binary', header: m.message });
  }
  types(): string[] {
    return this.sent.map((m) => m.type === 'binary' ? `binary:${m.header.type}` : m.type);
  }
  of<T extends ServerTextMessage['type']>(type: T): Extract<ServerTextMessage, { type: T }>[] {
    return this.sent.filter((m) => m.type === type) as Extract<ServerTextMessage, { type: T }>[];
  }
}

const quiet: Logger = { info() {}, warn() {}, error() {} };
const limits = { maxQueue: 10, maxQueueBytes: 1000, maxJobsPerClient: 3 };

function spec(ref: string, extra: Partial<NewJob> = {}): NewJob {
  return { ref, keep: false, content: new Uint8Array(10), styles: [{ image: new Uint8Array(10) }], settings: {}, iterations: 10, size: 64, bytes: 20, ...extra };
}

/** Lets the scheduler's promise chains (then/finally, per-job outboxes) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((res) => setImmediate(res));
}

function setup(kept?: string[]) {
  const engine = new FakeEngine();
  const scheduler = new Scheduler(engine, { limits, log: quiet, onKept: (id) => kept?.push(id) });
  return { engine, scheduler };
}

test('jobs run one at a time in arrival order across clients; positions count the jobs ahead', async () => {
  const { engine, scheduler } = setup();
  const a = new FakeClient('a');
  const b = new FakeClient('b');
  const j1 = scheduler.add(a, spec('a1'));
  const j2 = scheduler.add(b, spec('b1'));
  const j3 = scheduler.add(a, spec('a2'));
  assert.deepEqual(a.of('accepted').map((m) => [m.ref, m.position]), [['a1', 0], ['a2', 2]]);
  assert.deepEqual(b.of('accepted').map((m) => [m.ref, m.position]), [['b1', 1]]);
  assert.deepEqual(engine.started, [j1.id]);
  assert.equal(scheduler.length, 3);
  assert.deepEqual(scheduler.positions(a), [{ jobId: j1.id, position: 0 }, { jobId: j3.id, position: 2 }]);

  engine.finish();
  await settle();
  assert.deepEqual(engine.started, [j1.id, j2.id]);
  assert.deepEqual(a.types(), ['accepted', 'started', 'accepted', 'binary:result', 'done', 'queue']);
  // a's second job moved from 2 to 1; b's is next (position 0) and then starts.
  assert.deepEqual(a.of('queue').at(-1), { type: 'queue', length: 2, jobs: [{ jobId: j3.id, position: 1 }] });
  assert.deepEqual(b.types(), ['accepted', 'queue', 'started']);
  assert.deepEqual(b.of('queue')[0].jobs, [{ jobId: j2.id, position: 0 }]);
  assert.equal(a.jobs.has(j1.id), false, 'a finished job leaves its client');

  engine.finish();
  await settle();
  assert.deepEqual(engine.started, [j1.id, j2.id, j3.id]);
  engine.finish();
  await settle();
  assert.equal(scheduler.length, 0);
  assert.equal(scheduler.running, false);
});

test('progress goes out in order before the result and done', async () => {
  const { engine, scheduler } = setup();
  const a = new FakeClient('a');
  const job = scheduler.add(a, spec('a1'));
  engine.progress(1);
  engine.progress(2);
  engine.finish();
  await settle();
  assert.deepEqual(a.types(), ['accepted', 'started', 'progress', 'progress', 'binary:result', 'done']);
  assert.deepEqual(a.of('progress').map((p) => p.iteration), [1, 2]);
  const done = a.of('done')[0];
  assert.equal(done.jobId, job.id);
  assert.equal(done.bytes, 3);
});

test('cancelling a waiting job answers at once and moves the jobs behind it up', async () => {
  const { engine, scheduler } = setup();
  const a = new FakeClient('a');
  const b = new FakeClient('b');
  scheduler.add(a, spec('a1'));
  const waiting = scheduler.add(a, spec('a2'));
  const behind = scheduler.add(b, spec('b1'));
  scheduler.cancel(a, waiting.id);
  await settle();
  assert.deepEqual(a.of('cancelled'), [{ type: 'cancelled', jobId: waiting.id, reason: 'client' }]);
  assert.equal(engine.cancels.length, 0, 'a waiting job never reaches the engine');
  assert.deepEqual(b.of('queue').at(-1), { type: 'queue', length: 2, jobs: [{ jobId: behind.id, position: 1 }] });
  assert.equal(a.of('queue').length, 0, 'a has no waiting job that moved');
  engine.finish();
  await settle();
  assert.equal(engine.started.includes(waiting.id), false);
});

test('cancelling the running job goes through the engine; the next job starts', async () => {
  const { engine, scheduler } = setup();
  const a = new FakeClient('a');
  const b = new FakeClient('b');
  const running = scheduler.add(a, spec('a1'));
  const next = scheduler.add(b, spec('b1'));
  scheduler.cancel(a, running.id);
  await settle();
  assert.deepEqual(engine.cancels, [running.id]);
  assert.deepEqual(a.of('cancelled'), [{ type: 'cancelled', jobId: running.id, reason: 'client' }]);
  assert.deepEqual(engine.started, [running.id, next.id]);
  assert.deepEqual(b.types(), ['accepted', 'queue', 'started']);
});

test("cancel of another client's job, or of a finished one, is unknown_job", async () => {
  const { engine, scheduler } = setup();
  const a = new FakeClient('a');
  const b = new FakeClient('b');
  const job = scheduler.add(a, spec('a1'));
  assert.throws(() => scheduler.cancel(b, job.id), (e: unknown) => e instanceof ProtocolError && e.code === 'unknown_job');
  engine.finish();
  await settle();
  assert.throws(() => scheduler.cancel(a, job.id), (e: unknown) => e instanceof ProtocolError && e.code === 'unknown_job');
  assert.equal(engine.cancels.length, 0);
});

test('capacity: jobs per client, waiting count and waiting bytes', () => {
  const { scheduler } = setup();
  const a = new FakeClient('a');
  for (let i = 0; i < 3; i++) scheduler.add(a, spec(`a${i}`));
  assert.throws(() => scheduler.add(a, spec('a3')), (e: unknown) => e instanceof ProtocolError && e.code === 'too_many_jobs');
  const b = new FakeClient('b');
  assert.throws(() => scheduler.add(b, spec('big', { bytes: 1000 })), (e: unknown) => e instanceof ProtocolError && e.code === 'queue_full' && /limit/.test(e.message));
  assert.equal(b.jobs.size, 0, 'a refused job is not held');
  assert.equal(scheduler.length, 3);
});

test('a closed client: waiting jobs dropped, running one cancelled without a message, others move up', async () => {
  const { engine, scheduler } = setup();
  const a = new FakeClient('a');
  const b = new FakeClient('b');
  const running = scheduler.add(a, spec('a1'));
  scheduler.add(a, spec('a2'));
  const other = scheduler.add(b, spec('b1'));
  a.closed = true;
  const r = scheduler.dropClient(a);
  assert.deepEqual(r, { dropped: 1, cancelledRunning: true, keptGoOn: false });
  await settle();
  assert.deepEqual(engine.cancels, [running.id]);
  assert.deepEqual(engine.started, [running.id, other.id]);
  assert.equal(a.jobs.size, 0);
  // Up one when a's waiting job went, and again when a's running job stopped.
  assert.deepEqual(b.of('queue'), [
    { type: 'queue', length: 2, jobs: [{ jobId: other.id, position: 1 }] },
    { type: 'queue', length: 1, jobs: [{ jobId: other.id, position: 0 }] },
  ]);
  assert.deepEqual(b.types(), ['accepted', 'queue', 'queue', 'started']);
});

test('a keep job outlives its client; its result is kept for the same clientId', async () => {
  const kept: string[] = [];
  const { engine, scheduler } = setup(kept);
  const a = new FakeClient('a', 'panel-1');
  const job = scheduler.add(a, spec('a1', { keep: true, note: 'layer 1' }));
  const anonymous = scheduler.add(new FakeClient('x'), spec('x1', { keep: true }));
  assert.equal(anonymous.keep, false, 'keep needs a clientId');
  a.closed = true;
  assert.deepEqual(scheduler.dropClient(a), { dropped: 0, cancelledRunning: false, keptGoOn: true });
  assert.deepEqual(scheduler.keptJobs('panel-1'), [{ jobId: job.id, ref: 'a1', note: 'layer 1', state: 'running' }]);
  engine.progress(1);
  engine.finish();
  await settle();
  assert.deepEqual(kept, ['panel-1']);
  assert.equal(a.sent.filter((m) => m.type !== 'accepted' && m.type !== 'started').length, 0, 'nothing is sent to a closed client');
  const [k] = scheduler.keptJobs('panel-1');
  assert.equal(k.state, 'done');
  assert.deepEqual(scheduler.kept.take('panel-1', job.id)?.png, new Uint8Array([1, 2, 3]));
  assert.deepEqual(scheduler.keptJobs('other'), []);
});

test('a failed job answers error with its jobId and ref; the queue goes on', async () => {
  const { engine, scheduler } = setup();
  const a = new FakeClient('a');
  const job = scheduler.add(a, spec('a1'));
  const next = scheduler.add(a, spec('a2'));
  engine.fail('out_of_memory', 'The engine ran out of memory. Try a smaller size.');
  await settle();
  assert.deepEqual(a.of('error'), [{ type: 'error', code: 'out_of_memory', message: 'The engine ran out of memory. Try a smaller size.', jobId: job.id, ref: 'a1' }]);
  assert.deepEqual(engine.started, [job.id, next.id]);
});

test('stop: waiting jobs hear shutdown, the running one is cancelled, nothing new is taken', async () => {
  const { engine, scheduler } = setup();
  const a = new FakeClient('a');
  const running = scheduler.add(a, spec('a1'));
  const waiting = scheduler.add(a, spec('a2'));
  await scheduler.stop();
  await settle();
  assert.deepEqual(engine.cancels, [running.id]);
  assert.deepEqual(a.of('cancelled').map((m) => [m.jobId, m.reason]), [[waiting.id, 'shutdown'], [running.id, 'shutdown']]);
  assert.deepEqual(engine.started, [running.id], 'the waiting job never started');
  assert.throws(() => scheduler.add(a, spec('late')), (e: unknown) => e instanceof ProtocolError && e.code === 'shutting_down');
});

test('finish (stop and keep): the running job ends with its picture marked stopped; a waiting one is cancelled; an unknown one is refused', async () => {
  const { engine, scheduler } = setup();
  const a = new FakeClient('a');
  const running = scheduler.add(a, spec('a1'));
  const waiting = scheduler.add(a, spec('a2'));
  scheduler.finish(a, waiting.id);
  await settle();
  assert.deepEqual(a.of('cancelled').map((m) => [m.jobId, m.reason]), [[waiting.id, 'client']], 'a waiting job has no picture yet: cancelled');
  scheduler.finish(a, running.id);
  await settle();
  const done = a.of('done');
  assert.equal(done.length, 1);
  assert.equal(done[0].jobId, running.id);
  assert.equal(done[0].stopped, true, 'done says the picture is the one at the stop');
  assert.ok(a.types().indexOf('binary:result') < a.types().indexOf('done'), 'the result frame comes before done');
  assert.throws(() => scheduler.finish(a, running.id), (err: unknown) => err instanceof ProtocolError && err.code === 'unknown_job');
});
