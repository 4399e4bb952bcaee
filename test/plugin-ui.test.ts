/**
 * The plugin end to end in headless Chromium: the built plugin (dist: code.js + ui.html) inside a
 * host page that plays Figma (test/helpers/plugin-host-page.ts: fake `figma`, the UI in a sandboxed
 * iframe with origin "null" under the Content-Security-Policy Figma builds from manifest.json's
 * allowedDomains; any violation fails), connected to the real companion with real weights. The
 * companion runs on a free port, so the plugin is built from a copy of manifest.json that lists
 * that port instead of 7849 (everything else as in the real manifest, and Figma's rules pass). Covers pairing
 * with the token, the style library, Stylize with live progress / previews / loss chart, the result
 * placed as a layer, cancel, a style taken from another layer with a batch of two, an error in a
 * designer's words, the companion stopped and restarted, and closing the plugin cancelling its job.
 * The result live on the canvas (the live layer, Keep this, one undo step; Cancel, a failure and
 * closing take it away). Saves a mid-job screenshot to test/artifacts/plugin-ui-midjob.png and the
 * host page with the live layer to test/artifacts/plugin-live-layer.png.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import http from 'node:http';
import { mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as esbuild from 'esbuild';
import sharp from 'sharp';
import type { FrameLocator, Page } from 'playwright-core';
import { buildPlugin } from '../scripts/build-plugin.ts';
import { SETTINGS_KEY } from '../plugin/figma/settings-store.ts';
import { DEFAULT_PORT } from '../protocol/messages.ts';
import { checkFigmaManifest, figmaCsp } from './helpers/figma-manifest-rules.ts';
import { launchBrowser, until, type LaunchedBrowser } from './helpers/browser.ts';
import { Companion } from './helpers/plugin-companion.ts';
import { REPO, SHARED } from './helpers/paths.ts';

const ARTIFACTS = path.join(REPO, 'test', 'artifacts');

let companion: Companion;
let browser: LaunchedBrowser;
let server: http.Server;
let base: string;
let buildDir: string;
let page: Page;
let ui: FrameLocator;
let csp: string;
const REPO_MANIFEST = path.join(REPO, 'manifest.json');
const files = new Map<string, { type: string; body: Buffer | string }>();

const LAYERS = [
  { name: 'Photo', image: '/img/tubingen.png', x: 0, y: 0, width: 200, height: 150 },
  { name: 'Bridge', image: '/img/golden_gate.png', x: 300, y: 0, width: 160, height: 120 },
  { name: 'Swatch', image: '/img/the_scream.png', x: 600, y: 0, width: 100, height: 120 },
  // A web banner: at the default output size (512 px) it would be 512 x 15, too thin to stylize.
  { name: 'Banner', image: '/img/golden_gate.png', x: 0, y: 400, width: 1000, height: 30 },
];

async function healthRunning(): Promise<boolean> {
  const h = await (await fetch(`http://127.0.0.1:${companion.port}/health`)).json() as { queue: { running: boolean } };
  return h.queue.running;
}

async function setNumber(id: string, value: number): Promise<void> {
  await openSettings();
  const input = ui.locator(`#${id}`);
  await input.fill(String(value));
  await input.press('Tab'); // blur fires "change"
}

async function violations(p: Page): Promise<unknown[]> {
  return p.evaluate(() => (globalThis as any).host.violations());
}

/** A second plugin window (its own page) with the given stored port and window policy. */
async function openPlugin(port: number, policy: string): Promise<{ page: Page; ui: FrameLocator }> {
  const p = await browser.context.newPage();
  await p.goto(base + '/');
  await p.evaluate((opts) => (globalThis as any).host.startPlugin(opts), { storage: { [SETTINGS_KEY]: { port, token: companion.token } }, layers: LAYERS.slice(0, 1), csp: policy });
  return { page: p, ui: p.frameLocator('#plugin-ui') };
}

async function openSettings(): Promise<void> {
  await openSettingsIn(ui);
}

async function openSettingsIn(frame: FrameLocator): Promise<void> {
  if (!(await frame.locator('#settings').evaluate((d) => (d as HTMLDetailsElement).open))) await frame.locator('#settings summary').click();
}

async function clearFinished(): Promise<void> {
  const clear = ui.locator('#jobs .clear');
  if (await clear.count()) await clear.click();
}

before(async () => {
  companion = await Companion.create({ styles: { 'Starry Night': 'starry_night.jpg', Scream: 'the_scream.jpg' } });
  buildDir = await mkdtemp(path.join(os.tmpdir(), 'stylize-plugin-build-'));
  const manifest = JSON.parse(await readFile(REPO_MANIFEST, 'utf8'));
  manifest.networkAccess.allowedDomains = manifest.networkAccess.allowedDomains.map((d: string) => d.replace(`:${DEFAULT_PORT}`, `:${companion.port}`));
  assert.deepEqual(checkFigmaManifest(manifest), [], 'the test manifest passes Figma\'s rules');
  const manifestPath = path.join(buildDir, 'manifest.json');
  await writeFile(manifestPath, JSON.stringify(manifest));
  csp = figmaCsp(manifest.networkAccess.allowedDomains)!;
  const built = await buildPlugin({ outDir: buildDir, typecheck: false, manifestPath });
  files.set('/code.js', { type: 'text/javascript', body: await readFile(built.codePath) });
  files.set('/ui.html', { type: 'text/html', body: await readFile(built.uiPath) });
  const harness = await esbuild.build({
    entryPoints: [path.join(REPO, 'test', 'helpers', 'plugin-host-page.ts')],
    bundle: true, format: 'iife', platform: 'browser', target: 'chrome100', write: false, logLevel: 'silent',
  });
  files.set('/harness.js', { type: 'text/javascript', body: harness.outputFiles[0].text });
  files.set('/', { type: 'text/html', body: '<!doctype html><html><body style="margin:0;background:#e5e5e5"><script src="/harness.js"></script></body></html>' });
  for (const [file, dir] of [['tubingen', 'content'], ['golden_gate', 'content'], ['the_scream', 'style']] as const) {
    files.set(`/img/${file}.png`, { type: 'image/png', body: await sharp(path.join(SHARED, 'images', dir, `${file}.jpg`)).resize(400, 300, { fit: 'fill' }).png().toBuffer() });
  }
  server = http.createServer((req, res) => {
    const f = files.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (!f) { res.writeHead(404).end('not found'); return; }
    res.writeHead(200, { 'content-type': f.type, 'cache-control': 'no-store' }).end(f.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.on('pageerror', (err) => process.stderr.write(`[page error] ${err.message}\n`));
  await page.goto(base + '/');
  // First use: the port is known (as if set earlier), the token is not.
  await page.evaluate((opts) => (globalThis as any).host.startPlugin(opts), { storage: { [SETTINGS_KEY]: { port: companion.port } }, layers: LAYERS, csp });
  ui = page.frameLocator('#plugin-ui');
});

after(async () => {
  await browser?.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await companion?.dispose();
  if (buildDir) await rm(buildDir, { recursive: true, force: true });
});

test('first use: token entry, then connected with the backend name; the UI runs at origin "null"', async () => {
  await ui.locator('#token-panel').waitFor({ state: 'visible' });
  assert.equal(await ui.locator('#conn').getAttribute('data-status'), 'needs-token');
  assert.equal(await ui.locator('#stylize').isDisabled(), true);
  await ui.locator('#token-input').fill(companion.token);
  await ui.locator('#token-save').click();
  await ui.locator('#conn[data-status="connected"]').waitFor({ timeout: 20_000 });
  // The name the companion itself reports, whichever backend `auto` chose on this machine.
  const health = await (await fetch(`http://127.0.0.1:${companion.port}/health`)).json() as { backend: string };
  assert.ok(health.backend, 'the companion reports its backend');
  assert.equal(await ui.locator('#conn-text').innerText().then((t) => t.split('\n')[0].trim()), `Connected · ${health.backend}`);
  assert.equal(await ui.locator('#token-panel').isHidden(), true);
  const frame = page.frames().find((f) => f !== page.mainFrame())!;
  assert.equal(await frame.evaluate(() => location.origin), 'null');
  assert.equal(await frame.evaluate(() => document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.getAttribute('content')), csp);
  assert.equal(await frame.evaluate(() => `${location.protocol}`), 'about:');
  // The port setting offers only what the manifest allows.
  assert.deepEqual(await ui.locator('#set-port option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value)), [String(companion.port)]);
  assert.deepEqual(await violations(page), [], 'connected under Figma\'s policy');
  // The token and port were saved through the host into figma.clientStorage.
  await until('settings saved', async () => ((await page.evaluate((k) => (globalThis as any).host.storage(k), SETTINGS_KEY)) as { token?: string })?.token === companion.token);
});

test('empty selection: a clear message and Stylize disabled; selecting a layer lists it with a thumbnail', async () => {
  assert.equal(await ui.locator('#selection-empty').isVisible(), true);
  assert.equal(await ui.locator('#stylize').isDisabled(), true);
  assert.match(await ui.locator('#stylize-hint').innerText(), /Select one or more layers/);
  await page.evaluate(() => (globalThis as any).host.select('Photo'));
  await ui.locator('#selection-list li[data-layer] img').waitFor();
  assert.equal(await ui.locator('#selection-list .name').innerText(), 'Photo');
  assert.equal(await ui.locator('#selection-empty').isHidden(), true);
});

test('pick a library style, Stylize: progress, ETA, previews and loss chart stream; the result lands as a new layer', async () => {
  await ui.locator('.style-card[data-style="Starry Night"] img').waitFor({ timeout: 10_000 });
  assert.equal(await ui.locator('.style-card:not([data-builtin])').count(), 2);
  // The built-in paintings come first, with their artist.
  assert.equal(await ui.locator('.style-card[data-builtin]').count(), 5);
  assert.equal(await ui.locator('.style-card').first().getAttribute('data-style'), 'The Starry Night');
  assert.equal(await ui.locator('.style-card').first().locator('.artist').innerText(), 'Vincent van Gogh');
  await ui.locator('.style-card[data-style="Starry Night"]').click();
  assert.equal(await ui.locator('.style-card[data-style="Starry Night"]').getAttribute('aria-selected'), 'true');
  await openSettings();
  await ui.locator('#set-size').selectOption('128');
  await setNumber('set-iterations', 30);
  assert.equal(await ui.locator('#stylize').isEnabled(), true);
  await ui.locator('#stylize').click();

  const job = ui.locator('.job').first();
  await job.locator('.job-status', { hasText: /Iteration \d+ \/ 30 · about/ }).waitFor({ timeout: 60_000 });
  await job.locator('.preview[data-iteration]').waitFor({ timeout: 30_000 });
  await until('three chart points', async () => Number(await job.locator('.chart').getAttribute('data-drawn')) >= 3, 30_000);
  const pct = Number(await job.locator('.progress').getAttribute('aria-valuenow'));
  assert.ok(pct > 0 && pct < 100, `progress ${pct}`);
  await job.scrollIntoViewIfNeeded();
  await mkdir(ARTIFACTS, { recursive: true });
  await page.locator('#plugin-ui').screenshot({ path: path.join(ARTIFACTS, 'plugin-ui-midjob.png') });

  await ui.locator('.job[data-phase="done"]').waitFor({ timeout: 120_000 });
  assert.match(await job.locator('.job-status').innerText(), /Added as a new layer/);
  assert.ok(await job.locator('.strip img').count() >= 1, 'earlier previews kept as thumbnails');
  const names = await page.evaluate(() => (globalThis as any).host.layerNames());
  assert.deepEqual(names, ['Photo', 'Photo · Starry Night', 'Bridge', 'Swatch', 'Banner']);
  const photo = await page.evaluate(() => (globalThis as any).host.layer('Photo'));
  const result = await page.evaluate(() => (globalThis as any).host.layer('Photo · Starry Night'));
  assert.deepEqual(result.box, photo.box);
  const bytes = Buffer.from(await page.evaluate(() => (globalThis as any).host.imageBytes('Photo · Starry Night')) as number[]);
  const meta = await sharp(bytes).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 128, 96]);
  const stored = await page.evaluate((k) => (globalThis as any).host.storage(k), SETTINGS_KEY) as Record<string, unknown>;
  assert.equal(stored.iterations, 30);
  assert.equal(stored.outputSize, 128);
  assert.equal(stored.lastStyleId, 'Starry Night');
  assert.equal(await page.evaluate(() => (globalThis as any).host.undoSteps()), 1);
});

async function editorCall<T>(fn: string, ...args: unknown[]): Promise<T> {
  return page.evaluate(([f, a]) => (globalThis as any).host[f as string](...(a as unknown[])), [fn, args] as const) as Promise<T>;
}

test('the result live on the canvas: the layer appears at once and follows the previews; Keep this places the picture at full size; one undo takes it back', async () => {
  await clearFinished();
  const before = await editorCall<string>('document');
  const steps = await editorCall<number>('undoSteps');
  await openSettings();
  await ui.locator('#set-size').selectOption('256'); // coarse to fine: 128 px first, then finer scales
  await setNumber('set-iterations', 300);
  await ui.locator('#stylize').click();
  const job = ui.locator('.job').first();
  const names = await editorCall<string[]>('layerNames'); // the first job's result is there already
  await until('the live layer', async () => (await editorCall<string[]>('layerNames')).length === names.length + 1, 60_000);
  assert.deepEqual(await editorCall<string[]>('layerNames'), ['Photo', 'Photo · Starry Night', ...names.slice(1)], 'just above the source');
  const hashes = new Set<string>();
  await until('the live picture changing with the previews', async () => {
    const h = await editorCall<string | null>('imageHash', 'Photo · Starry Night');
    if (h) hashes.add(h);
    return hashes.size >= 3;
  }, 60_000);
  assert.equal((await editorCall<{ fills: { type: string }[] }>('layer', 'Photo')).fills[0].type, 'SOLID', 'the source is never touched');
  await job.locator('.job-status', { hasText: /live on the canvas/ }).waitFor({ timeout: 10_000 });
  await page.waitForTimeout(300); // the host page redraws the document every 200 ms
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, 'plugin-live-layer.png'), fullPage: true });
  assert.equal(await job.locator('.keep').isVisible(), true, 'Keep this is offered once there is a picture');
  await job.locator('.keep').click();
  await ui.locator('.job[data-phase="done"]').waitFor({ timeout: 60_000 });
  assert.match(await job.locator('.job-status').innerText(), /^Kept at iteration \d+ · Added as a new layer/);
  const bytes = Buffer.from(await editorCall<number[]>('imageBytes', 'Photo · Starry Night'));
  const meta = await sharp(bytes).metadata();
  assert.deepEqual([meta.width, meta.height], [256, 192], 'full resolution');
  assert.equal(await editorCall<number>('undoSteps'), steps + 1, 'one undo step for the whole Stylize');
  assert.equal(await editorCall<boolean>('undo'), true);
  assert.equal(await editorCall<string>('document'), before, 'one undo: the document exactly as before Stylize');
  await openSettings();
  await ui.locator('#set-size').selectOption('128');
});

test('Cancel stops the running job; its live layer goes and nothing is added', async () => {
  await clearFinished();
  await setNumber('set-iterations', 3000);
  await ui.locator('#stylize').click();
  const job = ui.locator('.job').first();
  await job.locator('.job-status', { hasText: /Iteration [2-9]\d* \/ 3000/ }).waitFor({ timeout: 60_000 });
  await until('the live layer', async () => (await editorCall<string[]>('layerNames')).length === LAYERS.length + 2, 30_000);
  await job.locator('.cancel').click();
  await ui.locator('.job[data-phase="cancelled"]').waitFor({ timeout: 20_000 });
  assert.equal(await job.locator('.job-status').innerText(), 'Cancelled');
  await until('companion idle', async () => !(await healthRunning()), 10_000);
  assert.equal((await page.evaluate(() => (globalThis as any).host.layerNames())).length, LAYERS.length + 1);
});

test('style from another selected layer, batch of two: each layer gets its own result', async () => {
  await clearFinished();
  await setNumber('set-iterations', 6);
  await page.evaluate(() => (globalThis as any).host.select('Photo', 'Bridge', 'Swatch'));
  await ui.locator('#selection-list li[data-layer]').nth(2).waitFor();
  await ui.locator('#tab-btn-layer').click();
  const swatchId = (await page.evaluate(() => (globalThis as any).host.layer('Swatch'))).id;
  await ui.locator(`#style-layer-list li[data-layer="${swatchId}"]`).click();
  assert.equal(await ui.locator('#stylize').innerText(), 'Stylize 2 layers');
  await ui.locator('#stylize').click();
  await until('two jobs done', async () => (await ui.locator('.job[data-phase="done"]').count()) === 2, 120_000);
  const names = await page.evaluate(() => (globalThis as any).host.layerNames());
  assert.deepEqual(names, ['Photo', 'Photo · Swatch', 'Photo · Starry Night', 'Bridge', 'Bridge · Swatch', 'Swatch', 'Banner']);
  const bridge = await page.evaluate(() => (globalThis as any).host.layer('Bridge'));
  const bridgeResult = await page.evaluate(() => (globalThis as any).host.layer('Bridge · Swatch'));
  assert.deepEqual(bridgeResult.box, bridge.box);
});

test('a failure reads in a designer’s words: a style removed from the library', async () => {
  await clearFinished();
  await page.evaluate(() => (globalThis as any).host.select('Photo'));
  await ui.locator('#tab-btn-library').click();
  await ui.locator('.style-card[data-style="Scream"]').click();
  await unlink(path.join(companion.configHome, 'stylize', 'styles', 'Scream.jpg'));
  await ui.locator('#stylize').click();
  await ui.locator('.job[data-phase="failed"]').waitFor({ timeout: 30_000 });
  assert.equal(await ui.locator('.job .job-status').first().innerText(), 'That style is no longer in the library. Pick another one.');
  assert.match(await ui.locator('.job .job-detail').first().innerText(), /Scream/);
});

test('companion stopped: a running job fails, says why and takes its live layer with it; offline with the reason; restarted: reconnects by itself', async () => {
  await clearFinished();
  await page.evaluate(() => (globalThis as any).host.select('Bridge'));
  await ui.locator('.style-card[data-style="Starry Night"]').click();
  await setNumber('set-iterations', 3000);
  const count = (await editorCall<string[]>('layerNames')).length;
  await ui.locator('#stylize').click();
  await until('the live layer', async () => (await editorCall<string[]>('layerNames')).includes('Bridge · Starry Night'), 60_000);
  await companion.stop();
  await ui.locator('.job[data-phase="failed"]').waitFor({ timeout: 30_000 });
  assert.match(await ui.locator('.job .job-status').first().innerText(), /companion/i);
  assert.equal((await editorCall<string[]>('layerNames')).length, count, 'the live layer is gone');
  await ui.locator('#conn[data-status="offline"]').waitFor({ timeout: 20_000 });
  assert.match(await ui.locator('#offline-reason').innerText(), /stopped|not running|no longer running/);
  assert.match(await ui.locator('#offline-advice').innerText(), /npm start/);
  assert.equal(await ui.locator('#stylize').isDisabled(), true);
  await companion.start();
  await ui.locator('#conn[data-status="connected"]').waitFor({ timeout: 60_000 });
  assert.equal(await ui.locator('#offline').isHidden(), true);
  // The library is read again after reconnecting (Scream is gone now).
  await until('library refreshed', async () => (await ui.locator('.style-card:not([data-builtin])').count()) === 1, 10_000);
});

test('a style from an image file: Stylize with it, then add it to the companion\'s library', async () => {
  await clearFinished();
  await setNumber('set-iterations', 5);
  await page.evaluate(() => (globalThis as any).host.select('Bridge'));
  await ui.locator('#tab-btn-file').click();
  assert.match(await ui.locator('#stylize-hint').innerText(), /Choose an image file/);
  const picture = await sharp(path.join(SHARED, 'images/style/pattern.jpg')).resize(160, 160, { fit: 'inside' }).jpeg().toBuffer();
  await ui.locator('#style-file').setInputFiles({ name: 'pattern.jpg', mimeType: 'image/jpeg', buffer: picture });
  await ui.locator('#file-preview').waitFor();
  assert.equal(await ui.locator('#file-name').innerText(), 'pattern.jpg');
  await ui.locator('#stylize').click();
  await ui.locator('.job[data-phase="done"]').waitFor({ timeout: 60_000 });
  const names = await page.evaluate(() => (globalThis as any).host.layerNames());
  assert.ok(names.includes('Bridge · pattern'), names.join(', '));
  await ui.locator('#save-style').click();
  await ui.locator('#tab-btn-library').click();
  await ui.locator('.style-card[data-style="pattern"]').waitFor({ timeout: 10_000 });
});

test('a layer too thin for the output size: the companion\'s estimate says why and which size works, before Stylize is clicked; in a batch the others still run', async () => {
  await page.evaluate(() => (globalThis as any).host.select('Banner'));
  await ui.locator('.style-card[data-style="Starry Night"]').click();
  await ui.locator('#set-size').selectOption('512');
  const hint = ui.locator('#stylize-hint');
  await until('the hint explains', async () => /thinner than the 16 px/.test(await hint.innerText()), 10_000);
  assert.match(await hint.innerText(), /1000 x 30 px, so at size 512 the result would be 512 x 15 px[\s\S]*at least 534 px/);
  assert.equal(await ui.locator('#stylize').isDisabled(), true, 'a job that would fail is not started');
  await ui.locator('#set-size').selectOption('1024');
  await until('a size that works clears it', async () => !(await ui.locator('#stylize').isDisabled()), 10_000);
  assert.doesNotMatch(await hint.innerText(), /thinner/);
  // In a batch, the other layers still run; the hint says which one will not, and why.
  await page.evaluate(() => (globalThis as any).host.select('Photo', 'Banner'));
  await ui.locator('#set-size').selectOption('512');
  await until('the hint names the layer', async () => /^Banner will not run: The image is 1000 x 30 px/.test(await hint.innerText()), 10_000);
  assert.equal(await ui.locator('#stylize').innerText(), 'Stylize 2 layers');
  assert.equal(await ui.locator('#stylize').isDisabled(), false, 'the photo can still be stylized');
  await ui.locator('#set-size').selectOption('128');
  await page.evaluate(() => (globalThis as any).host.select('Photo'));
});

test('the whole session ran under Figma\'s policy: previews (blob:), thumbnails and the companion, no violation', async () => {
  assert.deepEqual(await violations(page), []);
});

test('a stored port the manifest does not allow: explained as Figma\'s policy, never "not running"', async () => {
  const other = await openPlugin(companion.port + 1, csp);
  try {
    await other.ui.locator('#conn[data-status="offline"]').waitFor({ timeout: 20_000 });
    const reason = await other.ui.locator('#offline-reason').innerText();
    assert.match(reason, new RegExp(`does not let this plugin reach port ${companion.port + 1}: its manifest.json allows port ${companion.port} on localhost`));
    assert.doesNotMatch(reason, /not running/);
    assert.match(await other.ui.locator('#offline-advice').innerText(), /allowedDomains in manifest\.json/);
    await openSettingsIn(other.ui);
    const options = await other.ui.locator('#set-port option').evaluateAll((os) => os.map((o) => o.textContent));
    assert.deepEqual(options, [String(companion.port), `${companion.port + 1} (not in manifest.json)`]);
    assert.deepEqual(await violations(other.page), [], 'it did not even try');
  } finally {
    await other.page.close();
  }
});

test('a connection the window\'s policy refuses (an older manifest in Figma): the designer is told why', async () => {
  // Figma built the window's policy from a manifest listing 7849 only; this UI was built for the test port.
  const old = figmaCsp([`ws://localhost:${DEFAULT_PORT}`, `http://localhost:${DEFAULT_PORT}`])!;
  const other = await openPlugin(companion.port, old);
  try {
    await other.ui.locator('#offline-reason', { hasText: /content security policy/ }).waitFor({ timeout: 20_000 });
    const reason = await other.ui.locator('#offline-reason').innerText();
    assert.match(reason, new RegExp(`content security policy blocked the connection to localhost:${companion.port}: the manifest.json Figma imported does not list it`));
    assert.match(await other.ui.locator('#offline-advice').innerText(), /import the plugin again/);
    assert.doesNotMatch(reason, /not running/);
    const seen = await violations(other.page) as { blockedURI: string }[];
    assert.ok(seen.some((v) => v.blockedURI.startsWith(`ws://localhost:${companion.port}`)), JSON.stringify(seen));
  } finally {
    await other.page.close();
  }
});

test('closing the plugin cancels its running job and removes its live layer', async () => {
  await clearFinished();
  await ui.locator('.style-card[data-style="Starry Night"]').click();
  await setNumber('set-iterations', 3000);
  const count = (await editorCall<string[]>('layerNames')).length;
  await ui.locator('#stylize').click();
  await ui.locator('.job .job-status', { hasText: /Iteration [1-9]\d* \/ 3000/ }).waitFor({ timeout: 60_000 });
  assert.equal(await healthRunning(), true);
  await until('the live layer', async () => (await editorCall<string[]>('layerNames')).length === count + 1, 30_000);
  await page.evaluate(() => (globalThis as any).host.closePlugin());
  assert.equal((await editorCall<string[]>('layerNames')).length, count, 'closing took the live layer away');
  await until('companion idle after close', async () => !(await healthRunning()), 10_000);
  assert.match(companion.logs, /cancel/);
});
