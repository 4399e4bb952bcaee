/**
 * The companion end to end: a real daemon process (real engine, real weights), real WebSocket clients,
 * small images so the suite stays quick on a small CPU.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { statSync } from 'node:fs';
import sharp from 'sharp';
import { encodeSaveStyle, type SubmitStyle } from '../protocol/frames.ts';
import type { ServerTextMessage } from '../protocol/messages.ts';
import { startDaemon, status, testImage, TestClient, type DaemonHandle } from './helpers/daemon.ts';
import { REPO } from './helpers/paths.ts';

type Msg<T extends ServerTextMessage['type']> = Extract<ServerTextMessage, { type: T }>;

let d: DaemonHandle;
let content: Uint8Array;
let style: Uint8Array;

before(async () => {
  d = await startDaemon();
  content = await testImage('content', 'tubingen.jpg', 64); // 64 x 48
  style = await testImage('style', 'starry_night.jpg', 64);
});

after(async () => {
  await d?.stop('SIGKILL');
});

async function submit(c: TestClient, ref: string, settings: Record<string, unknown>, styles?: SubmitStyle[]): Promise<Msg<'accepted'>> {
  c.submit(ref, content, styles ?? [{ source: 'upload', image: style }], settings);
  const m = await c.next((x) => (x.type === 'accepted' || x.type === 'error') && 'ref' in x && x.ref === ref);
  assert.equal(m.type, 'accepted', `submit ${ref} was refused: ${JSON.stringify(m)}`);
  return m as Msg<'accepted'>;
}

/** Between jobs the engine holds exactly what it held after start-up. */
async function assertEngineAtBaseline(c: TestClient): Promise<void> {
  const s = await status(c);
  assert.equal(s.running, false);
  assert.equal(s.engine.memory.tensors, s.engine.baseline.tensors, 'tensor count back to its baseline');
  assert.equal(s.engine.memory.bytes, s.engine.baseline.bytes);
}

test('GET /health answers JSON on the same port; foreign origins and hosts are refused', async () => {
  const res = await fetch(`${d.httpUrl}/health`);
  assert.equal(res.status, 200);
  const h = await res.json() as Record<string, unknown>;
  assert.equal(h.name, 'stylize-companion');
  assert.equal(h.protocol, 1);
  assert.match(String(h.version), /^\d+\.\d+\.\d+/);
  assert.equal(typeof h.backend, 'string');
  assert.equal(typeof h.device, 'string');
  assert.deepEqual(h.queue, { length: 0, running: false });
  const figma = await fetch(`${d.httpUrl}/health`, { headers: { origin: 'null' } });
  assert.equal(figma.headers.get('access-control-allow-origin'), 'null', 'the plugin iframe may read it');
  // Any site can send Origin null (a sandboxed iframe): a page learns that the companion is up, not what runs on it.
  assert.deepEqual(await figma.json(), { name: 'stylize-companion', protocol: 1, status: 'ready' });
  const evil = await fetch(`${d.httpUrl}/health`, { headers: { origin: 'https://evil.example' } });
  assert.equal(evil.status, 403);
  assert.equal(evil.headers.get('access-control-allow-origin'), null);
  const rebinding = await new Promise<number>((resolve, reject) => {
    const s = net.connect(d.port, '127.0.0.1', () => s.write(`GET /health HTTP/1.1\r\nHost: evil.example:${d.port}\r\nConnection: close\r\n\r\n`));
    let text = '';
    s.on('data', (b) => { text += b; });
    s.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1])));
    s.on('error', reject);
  });
  assert.equal(rebinding, 403, 'a DNS-rebinding Host header is refused');
  assert.equal((await fetch(`${d.httpUrl}/nope`)).status, 404);
});

test('by default it listens on 127.0.0.1 and ::1, so "localhost" reaches it whichever way it resolves', async () => {
  for (const address of ['127.0.0.1', '::1']) {
    const status = await new Promise<number>((resolve, reject) => {
      const s = net.connect(d.port, address, () => s.write(`GET /health HTTP/1.1\r\nHost: localhost:${d.port}\r\nOrigin: null\r\nConnection: close\r\n\r\n`));
      let text = '';
      s.on('data', (b) => { text += b; });
      s.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1])));
      s.on('error', reject);
    });
    assert.equal(status, 200, address);
  }
  assert.match(d.output(), new RegExp(`Address\\s+ws://localhost:${d.port}`));
});

test('the pairing token was generated on first start into a 0600 file and printed', () => {
  assert.equal(statSync(d.tokenFile).mode & 0o777, 0o600);
  assert.match(d.token, /^[0-9A-Z]{5}(-[0-9A-Z]{5}){4}$/);
  assert.ok(d.output().includes(d.token), 'the start-up block shows the token');
  assert.match(d.output(), /Backend\s+\S+ on /);
});

test('a whole job: accepted, ordered progress, previews, a result PNG of the right size, done', async () => {
  const c = await TestClient.connect(d.url, d.token);
  try {
    const caps = c.jsonMessages().find((m) => m.type === 'capabilities') as Msg<'capabilities'>;
    assert.equal(caps.protocol, 1);
    assert.ok(caps.backend.name && caps.backend.device);
    assert.ok(caps.limits.maxPixels > 0 && caps.limits.maxFrameBytes > 0);
    assert.ok(Array.isArray(caps.styles));
    assert.equal(caps.settings.bounds.iterations.min, 1);

    const acc = await submit(c, 'job-1', { size: 48, iterations: 6, previewEvery: 2 });
    assert.equal(acc.position, 0);
    const done = await c.finished(acc.jobId) as Msg<'done'>;
    assert.equal(done.type, 'done', JSON.stringify(done));

    const events = c.jobEvents(acc.jobId);
    const kinds = events.map((e) => (e.kind === 'json' ? e.msg.type : `[${e.msg.type}]`));
    assert.deepEqual(kinds.slice(0, 2), ['accepted', 'started']);
    assert.deepEqual(kinds.slice(-2), ['[result]', 'done'], 'the result frame, then done, last');
    const progress = events.flatMap((e) => (e.kind === 'json' && e.msg.type === 'progress' ? [e.msg] : []));
    assert.deepEqual(progress.map((p) => p.iteration), [1, 2, 3, 4, 5, 6], 'every iteration, in order');
    for (const p of progress) {
      assert.equal(p.iterations, 6);
      assert.ok(Number.isFinite(p.losses.total) && p.losses.total > 0);
      assert.ok(p.etaMs >= 0 && p.elapsedMs >= 0);
    }
    assert.equal(progress[5].etaMs, 0);
    const previews = events.filter((e) => e.kind === 'binary' && e.msg.type === 'preview');
    assert.ok(previews.length >= 1, 'at least one preview');
    assert.ok(previews.some((p) => p.kind === 'binary' && p.msg.type === 'preview' && p.msg.iteration === 1), 'the first iteration is previewed at once');
    for (const p of previews) {
      assert.ok(p.kind === 'binary' && p.msg.type === 'preview');
      const meta = await sharp(p.payload).metadata();
      assert.equal(meta.format, 'png');
      assert.deepEqual([meta.width, meta.height], [p.msg.width, p.msg.height]);
      // Every previewEvery-th iteration, the first one at once, and any by time (a loaded machine).
      const at = p.msg.iteration;
      assert.ok(progress.some((q) => q.iteration === at), 'a preview belongs to an iteration');
    }
    const result = events.find((e) => e.kind === 'binary' && e.msg.type === 'result');
    assert.ok(result && result.kind === 'binary');
    const meta = await sharp(result.payload).metadata();
    assert.equal(meta.format, 'png');
    assert.deepEqual([meta.width, meta.height], [48, 36], '64 x 48 content at size 48');
    assert.deepEqual([done.width, done.height, done.bytes, done.iterations], [48, 36, result.payload.length, 6]);
    assert.ok(done.losses.total < progress[0].losses.total, 'the loss went down');
    await assertEngineAtBaseline(c);
  } finally {
    c.close();
  }
});

test('estimate: planned like submit, priced with measured costs; bad settings refused by ref', async () => {
  const c = await TestClient.connect(d.url, d.token);
  try {
    const caps = c.jsonMessages().find((m) => m.type === 'capabilities') as Msg<'capabilities'>;
    assert.deepEqual(caps.features, ['finish', 'kept-hold', 'estimate'], 'a warmed-up companion offers estimates (and stop and keep, and holding kept results)');
    const ask = async (ref: string, width: number, height: number, settings: Record<string, unknown>) => {
      c.send({ type: 'estimate', ref, width, height, settings });
      return c.next((m) => (m.type === 'estimate' || m.type === 'error') && 'ref' in m && m.ref === ref);
    };
    const small = await ask('e1', 640, 480, { size: 48, iterations: 6, scales: 'off' }) as Msg<'estimate'>;
    assert.equal(small.type, 'estimate', JSON.stringify(small));
    assert.deepEqual(small.scales, [{ width: 48, height: 36, iterations: 6 }]);
    assert.ok(small.ms > 0);
    const longer = await ask('e2', 640, 480, { size: 48, iterations: 60, scales: 'off' }) as Msg<'estimate'>;
    const longest = await ask('e2b', 640, 480, { size: 48, iterations: 114, scales: 'off' }) as Msg<'estimate'>;
    const larger = await ask('e3', 640, 480, { size: 256, iterations: 6, scales: 'off' }) as Msg<'estimate'>;
    // A set-up cost plus a cost per iteration: each 54 more iterations add the same time (the
    // set-up's share depends on the machine's load at warm-up, so no fixed ratio is asserted).
    const step1 = longer.ms - small.ms, step2 = longest.ms - longer.ms;
    assert.ok(step1 > 0 && Math.abs(step2 - step1) <= 0.1 * step1 + 2, `iterations cost linearly: +${step1} then +${step2} ms (${small.ms}, ${longer.ms}, ${longest.ms})`);
    assert.ok(larger.ms > small.ms, 'more pixels cost more');
    const auto = await ask('e4', 640, 480, { size: 512, iterations: 10 }) as Msg<'estimate'>;
    assert.deepEqual(auto.scales.map((s) => [Math.max(s.width, s.height), s.iterations]), [[128, 5], [256, 10], [512, 7]], 'the default plan, coarse to fine');
    const bad = await ask('e5', 640, 480, { iterations: -1 }) as Msg<'error'>;
    assert.equal(bad.type, 'error');
    assert.equal(bad.code, 'bad_setting');
    assert.match(bad.message, /iterations/);
  } finally {
    c.close();
  }
});

test('two clients, three jobs: served in arrival order with correct queue positions', async () => {
  const a = await TestClient.connect(d.url, d.token);
  const b = await TestClient.connect(d.url, d.token);
  try {
    const j1 = await submit(a, 'a1', { size: 32, iterations: 6 });
    const j2 = await submit(b, 'b1', { size: 32, iterations: 3 });
    const j3 = await submit(a, 'a2', { size: 32, iterations: 3 });
    assert.deepEqual([j1.position, j2.position, j3.position], [0, 1, 2]);
    const s = await status(a);
    assert.deepEqual(s.jobs.map((j) => [j.jobId, j.position]), [[j1.jobId, 0], [j3.jobId, 2]], 'status lists my jobs with positions');
    assert.equal(s.length, 3);

    for (const [c, j] of [[a, j1], [b, j2], [a, j3]] as const) assert.equal((await c.finished(j.jobId)).type, 'done');
    const at = (c: TestClient, jobId: string, type: string) => c.received.find((r) => r.kind === 'json' && r.msg.type === type && 'jobId' in r.msg && r.msg.jobId === jobId)!.at;
    assert.ok(at(a, j1.jobId, 'done') <= at(b, j2.jobId, 'started'), 'job 2 starts after job 1 is done');
    assert.ok(at(b, j2.jobId, 'done') <= at(a, j3.jobId, 'started'), 'job 3 starts after job 2 is done');
    // Positions move as the jobs ahead finish.
    const queueA = a.jsonMessages().filter((m): m is Msg<'queue'> => m.type === 'queue').map((m) => m.jobs.find((j) => j.jobId === j3.jobId)?.position);
    const queueB = b.jsonMessages().filter((m): m is Msg<'queue'> => m.type === 'queue').map((m) => m.jobs.find((j) => j.jobId === j2.jobId)?.position);
    assert.deepEqual(queueB, [0], 'job 2 moved to the front when job 1 finished');
    assert.deepEqual(queueA, [1, 0], 'job 3 moved up twice');
    await assertEngineAtBaseline(a);
  } finally {
    a.close();
    b.close();
  }
});

test('cancel: a running job stops within an iteration, a waiting one at once', async () => {
  const c = await TestClient.connect(d.url, d.token);
  try {
    const run = await submit(c, 'long', { size: 48, iterations: 500, previewEvery: 0 });
    const wait = await submit(c, 'queued', { size: 32, iterations: 2 });
    assert.equal(wait.position, 1);
    await c.next((m) => m.type === 'progress' && m.jobId === run.jobId && m.iteration >= 2);
    c.send({ type: 'cancel', jobId: wait.jobId });
    const w = await c.finished(wait.jobId);
    assert.deepEqual(w, { type: 'cancelled', jobId: wait.jobId, reason: 'client' });
    const sentAt = c.received.length;
    c.send({ type: 'cancel', jobId: run.jobId });
    const r = await c.finished(run.jobId, 30_000);
    assert.deepEqual(r, { type: 'cancelled', jobId: run.jobId, reason: 'client' });
    const after = c.received.slice(sentAt).filter((x) => x.kind === 'json' && x.msg.type === 'progress').length;
    assert.ok(after <= 2, `${after} progress messages after cancel: it must stop within one iteration`);
    const last = c.jsonMessages().filter((m): m is Msg<'progress'> => m.type === 'progress' && m.jobId === run.jobId).pop()!;
    assert.ok(last.iteration < 500);
    c.send({ type: 'cancel', jobId: run.jobId });
    assert.equal((await c.error()).code, 'unknown_job', 'a finished job cannot be cancelled again');
    await assertEngineAtBaseline(c);
  } finally {
    c.close();
  }
});

test('stop and keep (finish): a multi-scale job stopped at its first scale sends that image at full size as its result', async () => {
  const c = await TestClient.connect(d.url, d.token);
  try {
    const caps = c.jsonMessages().find((m) => m.type === 'capabilities') as Msg<'capabilities'>;
    assert.ok(caps.features?.includes('finish'), 'the companion says it can stop and keep');
    const run = await submit(c, 'keep-me', { size: 64, scales: [32, 64], scaleIterations: [400, 400], previewEvery: 1 });
    const wait = await submit(c, 'keep-queued', { size: 32, iterations: 2 });
    await c.next((m) => m.type === 'progress' && m.jobId === run.jobId && m.iteration >= 3);
    const preview = await c.nextBinary((m) => m.type === 'preview' && m.jobId === run.jobId);
    assert.ok(preview.msg.type === 'preview' && preview.msg.width === 32, 'previews of the first (32 px) scale');
    // A waiting job has no image yet: finish cancels it.
    c.send({ type: 'finish', jobId: wait.jobId });
    assert.deepEqual(await c.finished(wait.jobId), { type: 'cancelled', jobId: wait.jobId, reason: 'client' });
    c.send({ type: 'finish', jobId: run.jobId });
    const done = await c.finished(run.jobId, 30_000) as Msg<'done'>;
    assert.equal(done.type, 'done', JSON.stringify(done));
    assert.equal(done.stopped, true);
    assert.ok(done.iterations < 400, `stopped early (${done.iterations} iterations)`);
    assert.deepEqual([done.width, done.height], [64, 48], 'the full output size, not the 32 px scale');
    const result = c.jobEvents(run.jobId).find((e) => e.kind === 'binary' && e.msg.type === 'result');
    assert.ok(result && result.kind === 'binary');
    const meta = await sharp(result.payload).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 64, 48]);
    const progress = c.jsonMessages().filter((m): m is Msg<'progress'> => m.type === 'progress' && m.jobId === run.jobId);
    assert.ok(progress.every((p) => p.iteration <= 400), 'the second scale never started');
    // Asked again once it has ended: refused, naming the job (so it cannot be taken for a cancel's answer).
    c.send({ type: 'finish', jobId: run.jobId });
    const err = await c.error();
    assert.equal(err.code, 'unknown_job');
    assert.equal(err.jobId, run.jobId);
    assert.match(err.message, /nothing to stop and keep/);
    assert.match(d.output(), new RegExp(`job ${run.jobId} stopped and kept: 64 x 48`));
    await assertEngineAtBaseline(c);
  } finally {
    c.close();
  }
});

test('disconnect mid-run: the running job is cancelled, the waiting one dropped, others go on', async () => {
  const gone = await TestClient.connect(d.url, d.token);
  const stays = await TestClient.connect(d.url, d.token);
  try {
    const run = await submit(gone, 'g1', { size: 48, iterations: 500, previewEvery: 0 });
    await submit(gone, 'g2', { size: 32, iterations: 50 });
    const mine = await submit(stays, 's1', { size: 32, iterations: 2 });
    assert.equal(mine.position, 2);
    await gone.next((m) => m.type === 'progress' && m.jobId === run.jobId && m.iteration >= 2);
    gone.ws.terminate(); // abrupt, like a closed plugin window
    assert.equal((await stays.finished(mine.jobId, 60_000)).type, 'done');
    const moves = stays.jsonMessages().filter((m): m is Msg<'queue'> => m.type === 'queue').map((m) => m.jobs.map((j) => j.position));
    assert.deepEqual(moves, [[1], [0]], 'up one when the waiting job was dropped, then to the front when the running one stopped');
    const s = await status(stays);
    assert.equal(s.length, 0);
    assert.equal(s.connections, 1);
    await assertEngineAtBaseline(stays);
    assert.match(d.output(), /disconnected \(1006\), 1 waiting job\(s\) dropped, running job cancelled/);
    assert.match(d.output(), new RegExp(`job ${run.jobId} cancelled \\(disconnect\\)`));
  } finally {
    stays.close();
  }
});

test('style library: save by name, list with thumbnails, run a job with a library style', async () => {
  const c = await TestClient.connect(d.url, d.token);
  try {
    const big = await testImage('style', 'the_scream.jpg', 200);
    c.sendBinary(encodeSaveStyle({ ref: 'save-1', name: 'My Scream' }, big));
    const saved = await c.next<Msg<'style_saved'>>((m) => m.type === 'style_saved');
    assert.equal(saved.ref, 'save-1');
    assert.equal(saved.style.name, 'My Scream');
    assert.equal(statSync(`${d.styleLibrary}/My Scream.png`).size, big.length, 'stored as sent');

    c.sendBinary(encodeSaveStyle({ ref: 'save-2', name: 'my scream' }, big));
    const exists = await c.error('save-2');
    assert.equal(exists.code, 'style_exists');
    c.sendBinary(encodeSaveStyle({ ref: 'save-3', name: 'junk' }, new TextEncoder().encode('not an image')));
    assert.equal((await c.error('save-3')).code, 'bad_image');

    const from = c.received.length;
    c.send({ type: 'list_styles' });
    const list = await c.next<Msg<'styles'>>((m) => m.type === 'styles', 30_000, from);
    // The built-in paintings come first (test/builtin-styles.test.ts), then the user's own.
    assert.deepEqual(list.styles.filter((s) => !s.builtin).map((s) => s.name), ['My Scream']);
    const thumb = await c.nextBinary((m) => m.type === 'thumbnail' && m.name === 'My Scream', 30_000, from);
    assert.ok(thumb.msg.type === 'thumbnail');
    const meta = await sharp(thumb.payload).metadata();
    assert.ok(Math.max(meta.width!, meta.height!) <= 96 && meta.width === thumb.msg.width);

    const acc = await submit(c, 'lib', { size: 32, iterations: 2 }, [{ source: 'library', name: 'my scream' }]);
    assert.equal((await c.finished(acc.jobId)).type, 'done');
    c.submit('nope', content, [{ source: 'library', name: 'Mona Lisa' }], { size: 32, iterations: 2 });
    const unknown = await c.error('nope');
    assert.equal(unknown.code, 'unknown_style');
    assert.match(unknown.message, /no style named "Mona Lisa".*My Scream/);
  } finally {
    c.close();
  }
});

test('doctor recognizes the companion running on its port', async () => {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'companion/server/doctor-command.ts', '--quick', '--port', String(d.port)], {
    cwd: REPO, env: { ...process.env, HOME: d.home, XDG_CONFIG_HOME: `${d.home}/.config` }, encoding: 'utf8', timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`ok\\s+a Stylize companion \\S+ is already running on localhost:${d.port}`));
  assert.match(r.stdout, /ok\s+token file .* \(mode 600\)/);
});

test('graceful shutdown on SIGTERM: running job cancelled, clients told, port released', async () => {
  const c = await TestClient.connect(d.url, d.token);
  const run = await submit(c, 'last', { size: 48, iterations: 500, previewEvery: 0 });
  await c.next((m) => m.type === 'progress' && m.jobId === run.jobId);
  const exit = await d.stop('SIGTERM');
  assert.deepEqual(exit, { code: 0, signal: null }, d.output());
  assert.deepEqual(await c.finished(run.jobId, 1000), { type: 'cancelled', jobId: run.jobId, reason: 'shutdown' });
  assert.ok(c.jsonMessages().some((m) => m.type === 'shutdown'));
  assert.equal((await c.closed).code, 1001);
  await new Promise<void>((resolve, reject) => {
    const s = net.createServer().once('error', reject).listen(d.port, '127.0.0.1', () => s.close(() => resolve()));
  });
  assert.match(d.output(), /stopped; the port is released/);
});
