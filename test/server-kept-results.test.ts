/**
 * Kept results: a job submitted with `keep` by a client that named itself (hello.clientId) goes on
 * when its connection drops, and its result waits in the real companion until a connection with
 * the same clientId fetches it (protocol version 1, additive messages). Also the store's bounds.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { encodeSubmit } from '../protocol/frames.ts';
import { PROTOCOL_VERSION, type KeptJob, type ServerTextMessage } from '../protocol/messages.ts';
import { KeptResults } from '../companion/server/kept-results.ts';
import { startDaemon, testImage, TestClient, type DaemonHandle } from './helpers/daemon.ts';

let d: DaemonHandle;
let content: Uint8Array;
let style: Uint8Array;

before(async () => {
  d = await startDaemon();
  content = await testImage('content', 'tubingen.jpg', 64);
  style = await testImage('style', 'starry_night.jpg', 64);
});

after(async () => {
  await d?.stop();
});

async function pair(clientId?: string): Promise<TestClient> {
  const c = await TestClient.open(d.url);
  c.send({ type: 'hello', protocol: PROTOCOL_VERSION, token: d.token, client: 'test', ...(clientId && { clientId }) });
  await c.next((m) => m.type === 'capabilities');
  return c;
}

type Kept = Extract<ServerTextMessage, { type: 'kept' }>;

test('a kept job outlives its connection; its result waits for the same clientId, is fetched once, and no one else sees it', async () => {
  const id = 'photopea-test-0001';
  const a = await pair(id);
  const note = JSON.stringify({ sourceId: '12', sourceName: 'Photo', styleName: 'Starry Night' });
  a.sendBinary(encodeSubmit({ ref: 'k1', content, styles: [{ source: 'upload', image: style }], settings: { size: 48, iterations: 40, previewEvery: 0 }, keep: true, note }));
  const accepted = await a.next<Extract<ServerTextMessage, { type: 'accepted' }>>((m) => m.type === 'accepted' && m.ref === 'k1');
  await a.next((m) => m.type === 'started' && m.jobId === accepted.jobId);
  a.close(); // the panel is hidden mid-job
  await a.closed;

  const stranger = await pair('someone-else-0002');
  const back = await pair(id);
  // Told at once (after capabilities) while the job is still going, then again when it is done.
  const first = await back.next<Kept>((m) => m.type === 'kept', 30_000);
  assert.equal(first.jobs.length, 1);
  assert.equal(first.jobs[0].jobId, accepted.jobId);
  assert.equal(first.jobs[0].note, note, 'the client\'s note comes back unchanged');
  const done = await back.next<Kept>((m) => m.type === 'kept' && m.jobs.some((j: KeptJob) => j.state === 'done'), 120_000);
  assert.deepEqual(done.jobs.map((j) => [j.jobId, j.state, j.width, j.height]), [[accepted.jobId, 'done', 48, 36]]);
  assert.equal(back.received.filter((r) => r.kind === 'json' && r.msg.type === 'done').length, 0, 'nothing is pushed before it is asked for');

  stranger.send({ type: 'fetch_kept', jobId: accepted.jobId });
  assert.equal((await stranger.error()).code, 'unknown_job', 'another clientId cannot fetch it');
  stranger.send({ type: 'list_kept' });
  assert.deepEqual((await stranger.next<Kept>((m) => m.type === 'kept')).jobs, []);

  const from = back.received.length;
  back.send({ type: 'fetch_kept', jobId: accepted.jobId });
  const result = await back.nextBinary((m) => m.type === 'result' && m.jobId === accepted.jobId, 30_000, from);
  const fin = await back.next<Extract<ServerTextMessage, { type: 'done' }>>((m) => m.type === 'done' && m.jobId === accepted.jobId, 30_000, from);
  assert.equal(fin.bytes, result.payload.length);
  const meta = await sharp(Buffer.from(result.payload)).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 48, 36]);

  const again = back.received.length;
  back.send({ type: 'fetch_kept', jobId: accepted.jobId });
  assert.equal((await back.next<Extract<ServerTextMessage, { type: 'error' }>>((m) => m.type === 'error', 30_000, again)).code, 'unknown_job', 'fetched once, then forgotten');
  assert.match(d.output(), /result kept/);
  back.close();
  stranger.close();
});

test('without keep (or without a clientId) a dropped connection still cancels its job; a bad clientId is refused', async () => {
  const a = await pair();
  a.sendBinary(encodeSubmit({ ref: 'n1', content, styles: [{ source: 'upload', image: style }], settings: { size: 48, iterations: 400, previewEvery: 0 }, keep: true }));
  const accepted = await a.next<Extract<ServerTextMessage, { type: 'accepted' }>>((m) => m.type === 'accepted');
  await a.next((m) => m.type === 'started' && m.jobId === accepted.jobId);
  a.close();
  const watcher = await pair('watcher-0003');
  // The engine is free again soon: the next job starts without waiting for 400 iterations.
  watcher.sendBinary(encodeSubmit({ ref: 'w1', content, styles: [{ source: 'upload', image: style }], settings: { size: 32, iterations: 2 } }));
  const w = await watcher.next<Extract<ServerTextMessage, { type: 'accepted' }>>((m) => m.type === 'accepted');
  assert.equal((await watcher.finished(w.jobId, 120_000)).type, 'done');
  assert.match(d.output(), new RegExp(`job ${accepted.jobId} cancelled \\(disconnect\\)`));
  watcher.close();

  const bad = await TestClient.open(d.url);
  bad.send({ type: 'hello', protocol: PROTOCOL_VERSION, token: d.token, clientId: 'short' });
  const err = await bad.error();
  assert.equal(err.code, 'bad_message');
  assert.match(err.message, /clientId/);
});

test('the kept store is bounded: a few per client, a byte budget, an age limit; oldest go first', () => {
  let now = 1_000;
  const store = new KeptResults({ perClient: 2, totalBytes: 100, maxAgeMs: 500 }, () => now);
  const add = (clientId: string, jobId: string, bytes: number) => store.add({
    clientId, jobId, ref: jobId, png: new Uint8Array(bytes), finishedAt: now,
    done: { type: 'done', jobId, width: 1, height: 1, bytes, iterations: 1, losses: { content: 0, style: 0, tv: 0, total: 0 }, elapsedMs: 1, backend: 'x' },
  }).map((r) => r.jobId);
  assert.deepEqual(add('a', 'a1', 10), []);
  assert.deepEqual(add('a', 'a2', 10), []);
  assert.deepEqual(add('a', 'a3', 10), ['a1'], 'per client');
  assert.deepEqual(add('b', 'b1', 85), ['a2'], 'byte budget');
  assert.deepEqual(store.list('a').map((j) => j.jobId), ['a3']);
  now += 501;
  assert.deepEqual(store.list('b'), [], 'expired');
  assert.equal(store.take('a', 'a3'), undefined);
  assert.equal(store.size, 0);
});
