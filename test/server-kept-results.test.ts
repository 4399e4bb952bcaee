/**
 * Kept results: a job submitted with `keep` by a client that named itself (hello.clientId) goes on
 * when its connection drops, and its result waits in the real companion until a connection with
 * the same clientId fetches it (protocol version 1, additive messages), also after a restart of the
 * companion. Also the store's bounds, and its files on disk.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { encodeSubmit } from '../protocol/frames.ts';
import { PROTOCOL_VERSION, type KeptJob, type ServerTextMessage } from '../protocol/messages.ts';
import { KeptResults } from '../companion/server/kept-results.ts';
import { KeptStore } from '../companion/server/kept-store.ts';
import { startDaemon, testImage, TestClient, type DaemonHandle } from './helpers/daemon.ts';
import { until } from './helpers/browser.ts';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

let d: DaemonHandle;
let content: Uint8Array;
let style: Uint8Array;

let notAFolder: string;

before(async () => {
  // A kept-results folder the companion cannot use: it says so and keeps results in memory (what
  // these first tests check); the restart test below uses a real folder.
  notAFolder = path.join(mkdtempSync(path.join(os.tmpdir(), 'stylize-kept-file-')), 'kept');
  writeFileSync(notAFolder, 'a file where the folder should be');
  d = await startDaemon({ args: ['--kept-dir', notAFolder] });
  content = await testImage('content', 'tubingen.jpg', 64);
  style = await testImage('style', 'starry_night.jpg', 64);
});

after(async () => {
  await d?.stop();
  rmSync(path.dirname(notAFolder), { recursive: true, force: true });
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
  assert.match(d.output(), /Cannot use the kept-results folder .*kept\b.* results of closed Photopea panels are kept in memory only, and a restart loses them\. Give a writable folder with --kept-dir/);
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

test('a kept result survives a companion restart, and a kept job still running at shutdown is stopped and kept, not thrown away', async () => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'stylize-kept-restart-'));
  let first: DaemonHandle | undefined = await startDaemon({ home });
  let second: DaemonHandle | undefined;
  try {
    const open = async (h: DaemonHandle, clientId: string) => {
      const c = await TestClient.open(h.url);
      c.send({ type: 'hello', protocol: PROTOCOL_VERSION, token: h.token, client: 'test', clientId });
      await c.next((m) => m.type === 'capabilities');
      return c;
    };
    // A finishes while its panel is closed; B is still running (400 iterations) when the companion stops.
    const a = await open(first, 'restart-client-a1');
    a.sendBinary(encodeSubmit({ ref: 'ra', content, styles: [{ source: 'upload', image: style }], settings: { size: 48, iterations: 20, previewEvery: 0 }, keep: true, note: 'layer A' }));
    const ja = await a.next<Extract<ServerTextMessage, { type: 'accepted' }>>((m) => m.type === 'accepted');
    a.close();
    const b = await open(first, 'restart-client-b2');
    b.sendBinary(encodeSubmit({ ref: 'rb', content, styles: [{ source: 'upload', image: style }], settings: { size: 48, iterations: 4000, previewEvery: 0 }, keep: true }));
    const jb = await b.next<Extract<ServerTextMessage, { type: 'accepted' }>>((m) => m.type === 'accepted');
    const a2 = await open(first, 'restart-client-a1');
    await a2.next<Kept>((m) => m.type === 'kept' && m.jobs.some((j) => j.jobId === ja.jobId && j.state === 'done'), 120_000);
    a2.close();
    await b.next((m) => m.type === 'started' && m.jobId === jb.jobId, 120_000);
    await b.next((m) => m.type === 'progress' && m.jobId === jb.jobId, 120_000);
    b.close();
    await b.closed;
    // The companion must have seen B leave: a job whose client is still connected at shutdown is
    // cancelled and its client told (server-e2e), and a CI run once sent SIGTERM in between.
    const seen = first;
    await until('the companion saw B disconnect', async () => (seen.output().match(/disconnected \(\d+\), kept job\(s\) go on/g) ?? []).length >= 2, 10_000);
    const stopped = await first.stop('SIGTERM');
    assert.equal(stopped.code, 0, first.output());
    assert.match(first.output(), new RegExp(`job ${jb.jobId} stopped and kept|job ${jb.jobId} done after its client left`));
    first = undefined;

    second = await startDaemon({ home });
    assert.match(second.output(), /2 kept result\(s\) from an earlier run/);
    const backA = await open(second, 'restart-client-a1');
    const listA = await backA.next<Kept>((m) => m.type === 'kept', 30_000);
    assert.deepEqual(listA.jobs.map((j) => [j.jobId, j.state, j.note, j.width, j.height]), [[ja.jobId, 'done', 'layer A', 48, 36]]);
    backA.send({ type: 'fetch_kept', jobId: ja.jobId });
    const resultA = await backA.nextBinary((m) => m.type === 'result' && m.jobId === ja.jobId, 30_000);
    const doneA = await backA.next<Extract<ServerTextMessage, { type: 'done' }>>((m) => m.type === 'done' && m.jobId === ja.jobId, 30_000);
    assert.equal(doneA.iterations, 20);
    assert.equal(doneA.bytes, resultA.payload.length);
    assert.deepEqual([(await sharp(Buffer.from(resultA.payload)).metadata()).width], [48]);

    const backB = await open(second, 'restart-client-b2');
    const listB = await backB.next<Kept>((m) => m.type === 'kept', 30_000);
    assert.deepEqual(listB.jobs.map((j) => [j.jobId, j.state]), [[jb.jobId, 'done']]);
    backB.send({ type: 'fetch_kept', jobId: jb.jobId });
    await backB.nextBinary((m) => m.type === 'result' && m.jobId === jb.jobId, 30_000);
    const doneB = await backB.next<Extract<ServerTextMessage, { type: 'done' }>>((m) => m.type === 'done' && m.jobId === jb.jobId, 30_000);
    assert.equal(doneB.stopped, true, 'the shutdown stopped it early and kept what it had');
    assert.ok(doneB.iterations >= 1 && doneB.iterations < 4000, `iterations ${doneB.iterations}`);

    // New jobs never reuse a kept id, and what was fetched is gone from the disk.
    backB.sendBinary(encodeSubmit({ ref: 'rn', content, styles: [{ source: 'upload', image: style }], settings: { size: 32, iterations: 1, previewEvery: 0 } }));
    const jn = await backB.next<Extract<ServerTextMessage, { type: 'accepted' }>>((m) => m.type === 'accepted' && m.ref === 'rn');
    assert.ok(Number.parseInt(jn.jobId, 10) > Math.max(Number.parseInt(ja.jobId, 10), Number.parseInt(jb.jobId, 10)), `new id ${jn.jobId}`);
    await backB.finished(jn.jobId, 60_000);
    const keptDir = path.join(second.configDir, 'kept');
    assert.deepEqual(readdirSync(keptDir), [], 'fetched results are removed from the disk');
    assert.equal(statSync(keptDir).mode & 0o777, 0o700, 'the folder holds the user\'s images: private to them');
    backA.close();
    backB.close();
  } finally {
    await first?.stop();
    await second?.stop();
    rmSync(home, { recursive: true, force: true });
  }
});

test('the kept store on disk: a save reloads byte for byte; what an interrupted save left is cleaned; an unreadable result is reported and left alone; dropped results leave the disk', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stylize-kept-store-'));
  const warnings: string[] = [];
  try {
    const result = (jobId: string, bytes: number, finishedAt: number) => ({
      clientId: 'client-0001', jobId, ref: `r-${jobId}`, note: 'n', png: Uint8Array.from({ length: bytes }, (_, i) => PNG_SIGNATURE[i] ?? i % 251), finishedAt,
      done: { type: 'done' as const, jobId, width: 4, height: 3, bytes, iterations: 7, losses: { content: 1, style: 2, tv: 0, total: 3 }, elapsedMs: 5, backend: 'x' },
    });
    const now = Date.now();
    const kept = await KeptResults.open(new KeptStore(dir, (l) => warnings.push(l)), { perClient: 2, totalBytes: 1e6, maxAgeMs: 60_000 });
    kept.add(result('3-aaaaaa', 100, now - 3));
    kept.add(result('12-bbbbbb', 50, now - 2));
    await kept.flush();
    // What a crash mid-save leaves: a temp file, and a PNG whose .json never came.
    writeFileSync(path.join(dir, '.14-cccccc.png.0123456789ab.tmp'), 'partial');
    writeFileSync(path.join(dir, '14-cccccc.png'), 'no json');
    // A result damaged on disk: its PNG is shorter than its .json says.
    writeFileSync(path.join(dir, '15-dddddd.json'), JSON.stringify({ ...result('15-dddddd', 10, now), png: undefined }));
    writeFileSync(path.join(dir, '15-dddddd.png'), 'short');
    writeFileSync(path.join(dir, 'notes.txt'), 'the user\'s own file');
    // Planted by someone who could write here while the folder was open to all: a result whose .png
    // is a link to a private file, and one whose .png is not a picture.
    const secret = path.join(os.tmpdir(), `stylize-secret-${process.pid}`);
    writeFileSync(secret, 'TOP SECRET, 28 bytes long...');
    writeFileSync(path.join(dir, '18-abcdef.json'), JSON.stringify({ ...result('18-abcdef', 28, now), png: undefined }));
    symlinkSync(secret, path.join(dir, '18-abcdef.png'));
    writeFileSync(path.join(dir, '19-abcdef.json'), JSON.stringify({ ...result('19-abcdef', 28, now), png: undefined }));
    writeFileSync(path.join(dir, '19-abcdef.png'), 'TOP SECRET, 28 bytes long...');
    chmodSync(dir, 0o777);

    const again = await KeptResults.open(new KeptStore(dir, (l) => warnings.push(l)), { perClient: 2, totalBytes: 1e6, maxAgeMs: 60_000 });
    assert.deepEqual(again.list('client-0001').map((j) => [j.jobId, j.ref, j.note, j.width, j.height]), [['3-aaaaaa', 'r-3-aaaaaa', 'n', 4, 3], ['12-bbbbbb', 'r-12-bbbbbb', 'n', 4, 3]]);
    assert.equal(again.highestJobNumber, 12);
    const back = again.take('client-0001', '3-aaaaaa')!;
    assert.deepEqual(back.png, result('3-aaaaaa', 100, 0).png);
    assert.deepEqual(back.done, result('3-aaaaaa', 100, 0).done);
    assert.equal(warnings.length, 4, warnings.join('\n'));
    assert.match(warnings[0], /could be entered by other users \(mode 777\); it is now 0700/);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.match(warnings.join('\n'), /15-dddddd\.json could not be read \(its \.png holds 5 bytes where 10 were saved\); it is left there/);
    assert.match(warnings.join('\n'), /18-abcdef\.json could not be read \(its \.png is a link or not a plain file\)/);
    assert.match(warnings.join('\n'), /19-abcdef\.json could not be read \(its \.png is not a PNG picture\)/);
    rmSync(secret);
    for (const f of ['18-abcdef.json', '18-abcdef.png', '19-abcdef.json', '19-abcdef.png']) rmSync(path.join(dir, f));
    // Over the per-client limit: the oldest is dropped, from the disk too.
    again.add(result('16-eeeeee', 20, now));
    again.add(result('17-ffffff', 20, now + 1));
    await again.flush();
    assert.deepEqual(readdirSync(dir).sort(), ['15-dddddd.json', '15-dddddd.png', '16-eeeeee.json', '16-eeeeee.png', '17-ffffff.json', '17-ffffff.png', 'notes.txt']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
