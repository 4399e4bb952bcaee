/**
 * The plugin's companion client (plugin/ui/companion-client.ts) against the real companion daemon
 * with real weights: pairing, a bad token, the style library, a job with progress / previews /
 * result, cancel, the companion stopped and restarted (offline, then automatic reconnect), and a
 * companion that is not running at all. Node's `ws` stands in for the browser's WebSocket.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import path from 'node:path';
import sharp from 'sharp';
import { WebSocket as NodeWebSocket } from 'ws';
import { CompanionClient, CompanionError, type ConnectionState } from '../plugin/ui/companion-client.ts';
import { wireSettings } from '../plugin/ui/batch.ts';
import { DEFAULT_SETTINGS } from '../plugin/editor/settings.ts';
import { Companion, freePort } from './helpers/plugin-companion.ts';
import { SHARED } from './helpers/paths.ts';

let companion: Companion;
let content: Uint8Array;

function client(token: string, port = companion.port): CompanionClient {
  return new CompanionClient({
    port, token, clientName: 'plugin-client-test',
    WebSocket: NodeWebSocket as unknown as typeof WebSocket,
    backoff: { initialMs: 200, maxMs: 1000 },
  });
}

function waitFor(c: CompanionClient, predicate: (s: ConnectionState) => boolean, timeoutMs = 30_000): Promise<ConnectionState> {
  if (predicate(c.state)) return Promise.resolve(c.state);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { off(); reject(new Error(`timed out; state is ${JSON.stringify(c.state)}`)); }, timeoutMs);
    const off = c.onStateChange((s) => { if (predicate(s)) { clearTimeout(timer); off(); resolve(s); } });
  });
}

before(async () => {
  companion = await Companion.create({ styles: { 'Starry Night': 'starry_night.jpg', Scream: 'the_scream.jpg' } });
  content = new Uint8Array(await sharp(path.join(SHARED, 'images/content/tubingen.jpg')).resize(64, 48, { fit: 'fill' }).png().toBuffer());
});

after(async () => {
  await companion?.dispose();
});

test('no token: asks for it without connecting', () => {
  const c = client('');
  c.start();
  assert.equal(c.state.status, 'needs-token');
  c.stop();
});

test('a wrong token: the companion refuses and the client asks for the token again', async () => {
  const c = client('WRONG-TOKEN-WRONG-TOKEN-WRONG');
  c.start();
  const s = await waitFor(c, (x) => x.status === 'needs-token');
  assert.match((s as { reason: string }).reason, /did not accept this token/);
  c.stop();
});

test('pairs, lists the style library with thumbnails, runs a job with progress, previews and the result', async () => {
  const c = client(companion.token.toLowerCase()); // case and dashes do not matter to the companion
  const thumbs = new Map<string, Uint8Array>();
  c.onThumbnail((name, png) => thumbs.set(name, png));
  c.start();
  const s = await waitFor(c, (x) => x.status === 'connected');
  assert.equal(s.status, 'connected');
  const caps = c.capabilities!;
  assert.ok(caps.backend.name.length > 0);

  const styles = await c.listStyles();
  // The built-in paintings come first (test/builtin-styles.test.ts), then this library's own.
  assert.deepEqual(styles.filter((x) => !x.builtin).map((x) => x.name).sort(), ['Scream', 'Starry Night']);
  for (let i = 0; i < 50 && thumbs.size < styles.length; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(thumbs.size, styles.length);
  assert.equal((await sharp(Buffer.from(thumbs.get('Scream')!)).metadata()).format, 'png');

  const settings = { ...DEFAULT_SETTINGS, iterations: 12, outputSize: 64 };
  const wire = wireSettings(settings, caps);
  assert.equal(wire.previewEvery, 1);
  const progress: number[] = [];
  const previews: Uint8Array[] = [];
  let accepted = '';
  const job = c.submit({ content, styles: [{ source: 'library', name: 'Starry Night' }], settings: { ...wire, previewEvery: 4 } }, {
    onAccepted: (id) => { accepted = id; },
    onProgress: (p) => progress.push(p.iteration),
    onPreview: (png) => previews.push(png),
  });
  const result = await job.result;
  assert.ok(accepted);
  assert.equal(job.jobId, accepted);
  assert.deepEqual(progress, Array.from({ length: 12 }, (_, i) => i + 1));
  assert.ok(previews.length >= 2, `previews: ${previews.length}`);
  assert.equal((await sharp(Buffer.from(previews[0])).metadata()).format, 'png');
  const meta = await sharp(Buffer.from(result.png)).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 64, 48]);
  assert.deepEqual([result.width, result.height], [64, 48]);
  // Really stylized: the picture moved away from the content.
  const a = await sharp(Buffer.from(result.png)).removeAlpha().raw().toBuffer();
  const b = await sharp(Buffer.from(content)).removeAlpha().raw().toBuffer();
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff += Math.abs(a[i] - b[i]);
  assert.ok(diff / a.length > 5, `mean abs difference ${diff / a.length}`);
  c.stop();
});

test('cancel stops a running job; errors come back per job', async () => {
  const c = client(companion.token);
  c.start();
  await waitFor(c, (x) => x.status === 'connected');
  const job = c.submit({ content, styles: [{ source: 'library', name: 'Scream' }], settings: { size: 64, iterations: 3000, previewEvery: 0 } }, {
    onProgress: (p) => { if (p.iteration === 2) job.cancel(); },
  });
  await assert.rejects(job.result, (e: unknown) => e instanceof CompanionError && e.code === 'cancelled');

  const bad = c.submit({ content, styles: [{ source: 'library', name: 'Nope' }], settings: { size: 64, iterations: 5 } });
  await assert.rejects(bad.result, (e: unknown) => e instanceof CompanionError && e.code === 'unknown_style');
  const tooBig = c.submit({ content, styles: [{ source: 'library', name: 'Scream' }], settings: { size: 99999, iterations: 5 } });
  await assert.rejects(tooBig.result, (e: unknown) => e instanceof CompanionError && e.code === 'bad_setting');
  c.stop();
});

test('companion stopped: offline with the reason, running job fails; restarted: reconnects by itself', async () => {
  const c = client(companion.token);
  try {
    c.start();
    await waitFor(c, (x) => x.status === 'connected');
    let running!: () => void;
    const isRunning = new Promise<void>((r) => { running = r; });
    const job = c.submit({ content, styles: [{ source: 'library', name: 'Scream' }], settings: { size: 64, iterations: 3000, previewEvery: 0 } }, { onProgress: () => running() });
    const failure = job.result.then(() => null, (e: unknown) => e);
    await isRunning;
    await companion.stop();
    const e = await failure;
    assert.ok(e instanceof CompanionError && ['cancelled', 'connection_lost'].includes(e.code), String(e));
    const off = await waitFor(c, (x) => x.status === 'offline');
    assert.match((off as { reason: string }).reason, /stopped|no longer running|not running/);
    assert.match((off as { advice: string }).advice, /npm start/);
    await companion.start();
    const back = await waitFor(c, (x) => x.status === 'connected', 60_000);
    assert.equal(back.status, 'connected');
  } finally {
    c.stop();
  }
});

test('nothing on the port: offline, "not running", with what to do', async () => {
  const port = await freePort();
  const c = client(companion.token, port);
  c.start();
  const s = await waitFor(c, (x) => x.status === 'offline');
  assert.match((s as { reason: string }).reason, new RegExp(`not running on port ${port}`));
  assert.match((s as { advice: string }).advice, /npm start/);
  assert.ok((s as { retryAt: number | null }).retryAt !== null, 'keeps retrying');
  c.stop();
});
