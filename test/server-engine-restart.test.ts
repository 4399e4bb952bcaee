/**
 * The engine thread's recovery paths, end to end on a real daemon: a thread that dies mid-job and a
 * cancel that never takes (both switched on with STYLIZE_TEST_FAULTS, see companion/server/test-faults.ts).
 * While a new thread loads, every request still gets its answer.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerTextMessage } from '../protocol/messages.ts';
import { startDaemon, status, testImage, TestClient, type DaemonHandle } from './helpers/daemon.ts';

type Msg<T extends ServerTextMessage['type']> = Extract<ServerTextMessage, { type: T }>;

const CRASH_SEED = 13;
const HANG_SEED = 14;
/** Generous: an answer that comes at all comes in milliseconds; a hang never does. */
const ANSWER_MS = 15_000;

let d: DaemonHandle;
let c: TestClient;
let content: Uint8Array;
let style: Uint8Array;

before(async () => {
  d = await startDaemon({
    args: ['--max-size', '64'],
    env: { STYLIZE_TEST_FAULTS: `crash-seed=${CRASH_SEED},hang-on-cancel-seed=${HANG_SEED},cancel-grace-ms=1500` },
  });
  content = await testImage('content', 'golden_gate.jpg', 48);
  style = await testImage('style', 'the_scream.jpg', 48);
  c = await TestClient.connect(d.url, d.token);
});

after(async () => {
  c?.close();
  await d?.stop('SIGKILL');
});

/** status, ping and a cancel of an unknown job, sent at once: each answered, in order, promptly. */
async function answersWhileRestarting(label: string): Promise<Msg<'status'>> {
  const from = c.received.length;
  const t0 = performance.now();
  c.send({ type: 'status' });
  c.send({ type: 'ping', t: from });
  c.send({ type: 'cancel', jobId: 'no-such-job' });
  const s = await c.next<Msg<'status'>>((m) => m.type === 'status', ANSWER_MS, from);
  await c.next((m) => m.type === 'pong' && m.t === from, ANSWER_MS, from);
  await c.next((m) => m.type === 'error' && m.code === 'unknown_job', ANSWER_MS, from);
  console.log(`# ${label}: status, pong and the cancel's error answered in ${(performance.now() - t0).toFixed(0)} ms`);
  return s;
}

async function normalJobSucceeds(ref: string): Promise<void> {
  c.submit(ref, content, [{ source: 'upload', image: style }], { size: 32, iterations: 3, previewEvery: 0 });
  const acc = await c.next<Msg<'accepted'>>((m) => m.type === 'accepted' && m.ref === ref);
  const end = await c.finished(acc.jobId, 180_000);
  assert.equal(end.type, 'done', c.summary());
}

test('an engine thread that dies mid-job: the job fails with internal, requests are answered while a new thread loads, the next job runs', async () => {
  assert.match(d.output(), /STYLIZE_TEST_FAULTS is set/);
  c.submit('crash', content, [{ source: 'upload', image: style }], { size: 32, iterations: 50, seed: CRASH_SEED });
  const acc = await c.next<Msg<'accepted'>>((m) => m.type === 'accepted' && m.ref === 'crash');
  const err = await c.finished(acc.jobId, 120_000) as Msg<'error'>;
  assert.equal(err.type, 'error', c.summary());
  assert.equal(err.code, 'internal');
  assert.equal(err.ref, 'crash');
  assert.match(err.message, /stopped unexpectedly.*restarted/);
  // Right away: the new thread is still loading.
  const s = await answersWhileRestarting('crash');
  assert.equal(s.engine.restarts, 1);
  assert.equal(s.running, false);
  // A second status while the first restart may still load: answered too (no daemon-wide hang).
  assert.equal((await status(c)).engine.restarts, 1);
  await normalJobSucceeds('after-crash');
});

test('a cancel that never takes: the thread is replaced after the grace time, the job ends cancelled, the next job runs', async () => {
  c.submit('stuck', content, [{ source: 'upload', image: style }], { size: 32, iterations: 5000, seed: HANG_SEED, previewEvery: 0 });
  const acc = await c.next<Msg<'accepted'>>((m) => m.type === 'accepted' && m.ref === 'stuck');
  await c.next((m) => m.type === 'progress' && m.jobId === acc.jobId, 120_000);
  c.send({ type: 'cancel', jobId: acc.jobId });
  const end = await c.finished(acc.jobId, 60_000);
  assert.deepEqual(end, { type: 'cancelled', jobId: acc.jobId, reason: 'client' });
  assert.match(d.output(), new RegExp(`job ${acc.jobId} did not stop within 1.5 s of cancel; replacing the engine thread`));
  const s = await answersWhileRestarting('stuck cancel');
  assert.equal(s.engine.restarts, 2);
  await normalJobSucceeds('after-stuck');
});
