/**
 * The Photopea editor end to end in headless Chromium: the real companion (real weights) serves the
 * built Photopea page at /photopea; a stand-in for Photopea (test/helpers/photopea-stand-in.ts),
 * served at https://www.photopea.com by Playwright (no network), frames it like Photopea frames a
 * plugin and answers its scripts the way Photopea documents Live Messaging (scripts in;
 * ArrayBuffers, echoed strings and "done" out). Covers the companion's page and origin admission,
 * pairing, the active layer, exporting only that layer, a whole Stylize placed back at the right
 * bounds, replace, a deleted source, a script timeout (no answer, and a late answer), a lost
 * "done", an unrunnable script, Photopea's stray "done"/pings, and that every script is ES5.
 * What this cannot show is how the real Photopea behaves: see README-photopea.md.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as esbuild from 'esbuild';
import sharp from 'sharp';
import WebSocket from 'ws';
import type { Frame, FrameLocator, Page } from 'playwright-core';
import { buildPlugin } from '../scripts/build-plugin.ts';
import { launchBrowser, until, type LaunchedBrowser } from './helpers/browser.ts';
import { Companion } from './helpers/plugin-companion.ts';
import { REPO, SHARED } from './helpers/paths.ts';
import { es5Problems, instrumentReads, photopeaRefusals } from './helpers/photopea-es5.ts';

const PHOTOPEA = 'https://www.photopea.com';
const SCRIPT_TIMEOUT_S = 3;

let companion: Companion;
let browser: LaunchedBrowser;
let buildDir: string;
let page: Page;
let ui: FrameLocator;
const files = new Map<string, { type: string; body: Buffer | string }>();

// The stand-in's document, 96 x 72: Bridge (in a group, on top) overlaps Photo, so an export of
// Photo that did not hide it would show part of the bridge. Photo is off-centre: a picture opened
// into the document lands centred, so only a real move puts it on Photo's bounds.
const DOC = {
  name: 'Poster',
  width: 96,
  height: 72,
  layers: [
    { name: 'Overlay', x: 0, y: 0, width: 0, height: 0, layers: [{ name: 'Bridge', image: '/img/bridge.png', x: 56, y: 40, width: 32, height: 24 }] },
    { name: 'Hidden', color: '#ff00ff', x: 0, y: 0, width: 20, height: 20, visible: false },
    { name: 'Photo', image: '/img/photo.png', x: 8, y: 6, width: 64, height: 48 },
    { name: 'Background', color: '#e0d8c8', x: 0, y: 0, width: 96, height: 72 },
  ],
};

interface LayerInfo { name: string; path: string; typename: string; visible: boolean; bounds: number[]; smart: boolean; index: number }

const pp = <T>(fn: string, ...args: unknown[]): Promise<T> =>
  page.evaluate(([f, a]) => (globalThis as any).photopea[f as string](...(a as unknown[])), [fn, args] as const) as Promise<T>;

function pluginFrame(): Frame {
  const f = page.frames().find((x) => x.url().includes('/photopea'));
  if (!f) throw new Error('the plugin frame is not loaded');
  return f;
}

/** Calls the page's PhotopeaEditor (exposed for diagnostics as globalThis.stylizePhotopea). */
function editorCall<T>(body: string, arg?: unknown): Promise<T> {
  return pluginFrame().evaluate(async ([b, a]) => {
    const { editor, bridge } = (globalThis as any).stylizePhotopea;
    try {
      const value = await new Function('editor', 'bridge', 'arg', `return (async () => { ${b} })();`)(editor, bridge, a);
      return { ok: true, value };
    } catch (err: any) {
      return { ok: false, code: err?.code, message: String(err?.message ?? err) };
    }
  }, [body, arg] as const) as Promise<T>;
}

type Call<T> = { ok: true; value: T } | { ok: false; code: string; message: string };

const EXPORT = `const s = await editor.getSelection(); const p = await editor.exportLayer(s.layers[0].id, arg); return { ...p, png: Array.from(p.png) };`;
interface Exported { id: string; name: string; png: number[]; pixelWidth: number; pixelHeight: number; bounds: { x: number; y: number; width: number; height: number } }

async function rgba(png: Buffer | number[]): Promise<{ data: Buffer; width: number; height: number }> {
  const r = await sharp(Buffer.from(png as Buffer)).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: r.data, width: r.info.width, height: r.info.height };
}

async function meanAbsDiff(a: Buffer | number[], b: Buffer | number[]): Promise<number> {
  const x = await rgba(a);
  const y = await rgba(b);
  assert.deepEqual([x.width, x.height], [y.width, y.height], 'same size');
  let sum = 0;
  for (let i = 0; i < x.data.length; i++) sum += Math.abs(x.data[i] - y.data[i]);
  return sum / x.data.length;
}

async function layers(): Promise<LayerInfo[]> {
  return pp<LayerInfo[]>('layers');
}

async function selectInPhotopea(name: string): Promise<void> {
  await pp('select', name);
  await ui.locator('#selection-list .name', { hasText: new RegExp(`^${name}$`) }).waitFor({ timeout: 10_000 });
}

/** Picks a library style and the job's size and iterations in the plugin's window. */
async function chooseJob(style: string, size: number, iterations: number): Promise<void> {
  await ui.locator(`.style-card[data-style="${style}"]`).click();
  if (!(await ui.locator('#settings').evaluate((d) => (d as HTMLDetailsElement).open))) await ui.locator('#settings summary').click();
  await ui.locator('#set-size').selectOption(String(size));
  await ui.locator('#set-iterations').fill(String(iterations));
  await ui.locator('#set-iterations').press('Tab');
}

before(async () => {
  buildDir = await mkdtemp(path.join(os.tmpdir(), 'stylize-photopea-build-'));
  await buildPlugin({ outDir: buildDir, typecheck: false });
  companion = await Companion.create({ styles: { 'Starry Night': 'starry_night.jpg' }, args: ['--plugin-dir', buildDir] });
  const standIn = await esbuild.build({
    entryPoints: [path.join(REPO, 'test', 'helpers', 'photopea-stand-in.ts')],
    bundle: true, format: 'iife', platform: 'browser', target: 'chrome100', write: false, logLevel: 'silent',
  });
  files.set('/stand-in.js', { type: 'text/javascript', body: standIn.outputFiles[0].text });
  files.set('/', { type: 'text/html', body: '<!doctype html><html><body style="margin:0;background:#474747"><script src="/stand-in.js"></script></body></html>' });
  files.set('/img/photo.png', { type: 'image/png', body: await sharp(path.join(SHARED, 'images/content/tubingen.jpg')).resize(64, 48, { fit: 'fill' }).png().toBuffer() });
  files.set('/img/bridge.png', { type: 'image/png', body: await sharp(path.join(SHARED, 'images/content/golden_gate.jpg')).resize(32, 24, { fit: 'fill' }).png().toBuffer() });
  browser = await launchBrowser();
  // What the user grants when Chrome asks whether photopea.com may reach this device (Local
  // Network Access): without it Chromium refuses to load a loopback page in Photopea's frame.
  await browser.context.grantPermissions(['local-network-access'], { origin: PHOTOPEA });
  page = await browser.context.newPage();
  // The stand-in's checks of each script's text run here (TypeScript's parser): what Photopea's
  // interpreter cannot run or runs wrongly is refused; reads are rewritten to die on undefined.
  await page.exposeFunction('photopeaPrepare', (script: string) => ({
    refusals: [...es5Problems(script), ...photopeaRefusals(script)],
    code: instrumentReads(script),
  }));
  page.on('pageerror', (err) => process.stderr.write(`[page error] ${err.message}\n`));
  await page.route(`${PHOTOPEA}/**`, (route) => {
    const f = files.get(new URL(route.request().url()).pathname);
    return f ? route.fulfill({ status: 200, contentType: f.type, body: f.body }) : route.fulfill({ status: 404, body: 'not found' });
  });
  await page.goto(`${PHOTOPEA}/`);
  await pp('start', { pluginUrl: `http://127.0.0.1:${companion.port}/photopea?timeout=${SCRIPT_TIMEOUT_S}`, doc: DOC, active: 'Photo' });
  ui = page.frameLocator('#plugin');
});

after(async () => {
  await browser?.close();
  await companion?.dispose();
  if (buildDir) await rm(buildDir, { recursive: true, force: true });
});

test('the companion serves the page for Photopea; HTTP admits Photopea\'s origin, the WebSocket only the page\'s own', async () => {
  const base = `http://127.0.0.1:${companion.port}`;
  const pageRes = await fetch(`${base}/photopea`);
  assert.equal(pageRes.status, 200);
  assert.match(pageRes.headers.get('content-type') ?? '', /^text\/html/);
  const csp = pageRes.headers.get('content-security-policy') ?? '';
  assert.match(csp, /^frame-ancestors /);
  for (const o of ["'self'", 'https://www.photopea.com', 'https://photopea.com']) assert.ok(csp.split(' ').includes(o), `${o} may frame it: ${csp}`);
  assert.ok(!csp.includes('*'), csp);
  assert.match(await pageRes.text(), /id="stylize"/);

  const fromPhotopea = await fetch(`${base}/health`, { headers: { origin: 'https://photopea.com' } });
  assert.equal(fromPhotopea.status, 200);
  assert.equal(fromPhotopea.headers.get('access-control-allow-origin'), 'https://photopea.com');
  // What Photopea's Window > Plugins takes: a flat {name, url, icon}, the icon a .png.
  const entry = await fetch(`${base}/photopea/plugin.json`, { headers: { origin: PHOTOPEA } });
  assert.equal(entry.status, 200);
  const json = await entry.json() as Record<string, unknown>;
  assert.deepEqual(json, { name: 'Stylize', url: `${base}/photopea`, icon: `${base}/photopea/icon.png` });
  const icon = await fetch(json.icon as string);
  assert.equal(icon.headers.get('content-type'), 'image/png');
  const iconMeta = await sharp(Buffer.from(await icon.arrayBuffer())).metadata();
  assert.deepEqual([iconMeta.format, iconMeta.width, iconMeta.height], ['png', 160, 160]);
  const preflight = await fetch(`${base}/health`, { method: 'OPTIONS', headers: { origin: PHOTOPEA, 'access-control-request-private-network': 'true' } });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get('access-control-allow-private-network'), 'true');

  for (const foreign of ['https://evil.example', 'https://photopea.com.evil.example', 'http://www.photopea.com']) {
    const r = await fetch(`${base}/photopea`, { headers: { origin: foreign } });
    assert.equal(r.status, 403, foreign);
  }
  const handshake = (origin: string) => new Promise<number>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${companion.port}/`, { origin });
    ws.on('open', () => { ws.close(); resolve(101); });
    ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); res.resume(); });
    ws.on('error', () => {});
  });
  assert.equal(await handshake(base), 101, 'the page\'s own origin');
  assert.equal(await handshake(PHOTOPEA), 403, 'Photopea itself does not need the WebSocket');
  assert.equal(await handshake('https://evil.example'), 403);
});

test('inside Photopea\'s frame: the page pairs with the companion, lists the active layer, and keeps its settings', async () => {
  await ui.locator('#token-panel').waitFor({ state: 'visible', timeout: 20_000 });
  await ui.locator('#token-input').fill(companion.token);
  await ui.locator('#token-save').click();
  await ui.locator('#conn[data-status="connected"]').waitFor({ timeout: 30_000 });
  assert.equal(await pluginFrame().evaluate(() => location.origin), `http://127.0.0.1:${companion.port}`);
  assert.equal(await pluginFrame().evaluate(() => location.ancestorOrigins[0]), PHOTOPEA);

  await ui.locator('#selection-list .name', { hasText: /^Photo$/ }).waitFor({ timeout: 10_000 });
  assert.match(await ui.locator('#selection-list .sub').first().innerText(), /64 × 48 · layer/);
  // One active layer at a time in Photopea: no "style from a layer"; the port is the page's own.
  assert.equal(await ui.locator('#tab-btn-layer').isHidden(), true);
  assert.equal(await ui.locator('#port-field').isHidden(), true);
  assert.match(await ui.locator('#mode-replace-label').textContent() ?? '', /original is kept, hidden/);

  await selectInPhotopea('Hidden');
  assert.match(await ui.locator('#selection-list .problem').innerText(), /is hidden/);
  await selectInPhotopea('Bridge');
  assert.match(await ui.locator('#selection-list .sub').first().innerText(), /32 × 24/);
  await selectInPhotopea('Photo');

  // Inside Photopea the page is a third-party frame: browsers that block third-party storage (this
  // Chromium does, like Chrome with "Block third-party cookies") give it none; then the settings
  // last the session and the page says so once. Persistence itself: the last test, first-party.
  const canStore = await pluginFrame().evaluate(() => { try { localStorage.getItem('x'); return true; } catch { return false; } });
  if (canStore) {
    await until('settings saved in the page\'s storage', async () =>
      (await pluginFrame().evaluate(() => localStorage.getItem('stylize.settings.v1')) ?? '').includes(companion.token));
  } else {
    await ui.locator('#general-error', { hasText: /third-party storage is blocked/ }).waitFor({ timeout: 5000 });
  }
});

test('export: only the active layer, cut to its bounds, even under another layer; visibility restored; inside a group too', async () => {
  const before = await layers();
  const photo = await editorCall<Call<Exported>>(EXPORT, 256);
  assert.ok(photo.ok, JSON.stringify(photo));
  assert.equal(photo.value.name, 'Photo');
  assert.deepEqual(photo.value.bounds, { x: 8, y: 6, width: 64, height: 48 });
  assert.deepEqual([photo.value.pixelWidth, photo.value.pixelHeight], [64, 48]);
  const own = await pp<number[]>('layerPng', 'Photo');
  assert.ok(await meanAbsDiff(photo.value.png, own) < 1, 'the exported pixels are the layer\'s own (the bridge on top was hidden)');
  assert.deepEqual((await layers()).map((l) => [l.name, l.visible]), before.map((l) => [l.name, l.visible]), 'visibility restored');

  const small = await editorCall<Call<Exported>>(EXPORT, 32);
  assert.ok(small.ok);
  assert.deepEqual([small.value.pixelWidth, small.value.pixelHeight], [32, 24], 'long side at most maxSide');

  await selectInPhotopea('Bridge');
  const bridge = await editorCall<Call<Exported>>(EXPORT, 256);
  assert.ok(bridge.ok, JSON.stringify(bridge));
  assert.equal(bridge.value.id, String(await pp<number>('layerId', 'Bridge')), 'Photopea\'s layer id');
  assert.deepEqual(bridge.value.bounds, { x: 56, y: 40, width: 32, height: 24 });
  assert.ok(await meanAbsDiff(bridge.value.png, await pp<number[]>('layerPng', 'Bridge')) < 1);
  assert.deepEqual((await layers()).map((l) => [l.name, l.visible]), before.map((l) => [l.name, l.visible]));
  await selectInPhotopea('Photo');

  await pp('select', 'Hidden');
  const hidden = await editorCall<Call<Exported>>(EXPORT, 256);
  assert.ok(!hidden.ok && hidden.code === 'unsupported' && /hidden/.test(hidden.message), JSON.stringify(hidden));
  await selectInPhotopea('Photo');
});

test('Stylize: the layer is exported, stylized by the companion and placed back as a new layer at its bounds', async () => {
  await pp('resetLog');
  const before = await layers();
  await chooseJob('Starry Night', 128, 5);
  assert.match(await ui.locator('#stylize-hint').innerText(), /5 iterations .* adds a new layer/);
  await ui.locator('#stylize').click();
  await ui.locator('.job[data-phase="done"]').waitFor({ timeout: 180_000 });
  assert.match(await ui.locator('.job .job-status').first().innerText(), /Added as a new layer/);

  const now = await layers();
  const result = now.find((l) => l.name === 'Photo · Starry Night');
  const photo = now.find((l) => l.name === 'Photo')!;
  assert.ok(result, now.map((l) => l.name).join(', '));
  assert.deepEqual(result.bounds, [8, 6, 72, 54], 'at the source\'s bounds');
  assert.equal(result.smart, true, 'opened into the document with app.open(..., null, true)');
  assert.equal(result.index, photo.index - 1, 'directly above the source');
  assert.equal(result.path, 'Photo · Starry Night', 'in the source\'s layer list');
  assert.equal(await pp('activeName'), 'Photo · Starry Night');
  const others = now.filter((l) => l.name !== result.name);
  assert.deepEqual(others.map((l) => [l.name, l.visible, l.bounds]), before.map((l) => [l.name, l.visible, l.bounds]), 'nothing else changed');
  const diff = await meanAbsDiff(await pp<number[]>('layerPng', result.name), await pp<number[]>('layerPng', 'Photo'));
  assert.ok(diff > 5, `the result is stylized, not a copy (mean difference ${diff.toFixed(1)})`);

  const log = await pp<{ scripts: string[]; errors: string[]; refused: string[]; silentEnds: string[]; overlaps: number; buffersIn: number; extraDone: number; landed: number }>('log');
  assert.deepEqual(log.errors, []);
  assert.deepEqual(log.refused, [], 'no script Photopea would run wrongly');
  assert.deepEqual(log.silentEnds, [], 'no script read a property of undefined');
  assert.ok(log.extraDone >= 1, 'Photopea\'s extra "done" for the opened picture came and was ignored');
  // app.open only starts loading: the picture landed after the opening script, and the plugin looked again until it had.
  assert.equal(log.landed, 1, 'one picture opened');
  assert.ok(log.scripts.filter((s) => s.includes('{\\"pending\\":true}')).length >= 2, 'the plugin waited for the picture to land');
  assert.equal(log.overlaps, 0, 'one script at a time');
  assert.equal(log.buffersIn, 0, 'no raw file posted (Photopea would open it as a new document)');
  assert.ok(log.scripts.some((s) => s.includes('saveToOE("png")')) && log.scripts.some((s) => /app\.open\("data:image\/png;base64,/.test(s)));
  for (const s of log.scripts) assert.deepEqual(es5Problems(s), [], s.slice(0, 300));
  await pp('select', 'Photo');
});

test('replace: the result takes the layer\'s place and the original is kept, hidden; a deleted source still gets its result', async () => {
  await selectInPhotopea('Photo');
  const png = Array.from(await sharp(path.join(SHARED, 'images/style/the_scream.jpg')).resize(40, 30, { fit: 'fill' }).png().toBuffer());
  const place = (request: object) => editorCall<Call<{ nodeId: string; mode: string; note?: string }>>(
    'const r = { ...arg, png: new Uint8Array(arg.png) }; return editor.placeResult(r);', { png, ...request });

  const id = (await editorCall<Call<{ layers: { id: string }[] }>>('return editor.getSelection();') as { value: { layers: { id: string }[] } }).value.layers[0].id;
  const replaced = await place({ sourceId: id, sourceName: 'Photo', bounds: { x: 8, y: 6, width: 64, height: 48 }, mode: 'replace', styleName: 'Scream' });
  assert.ok(replaced.ok, JSON.stringify(replaced));
  assert.equal(replaced.value.mode, 'replace');
  assert.match(replaced.value.note ?? '', /kept, hidden/);
  let all = await layers();
  const photo = all.find((l) => l.name === 'Photo')!;
  const result = all.find((l) => l.name === 'Photo · Scream')!;
  assert.equal(photo.visible, false, 'the source is hidden, not deleted');
  assert.deepEqual(result.bounds, [8, 6, 72, 54], 'scaled to the source\'s size and moved onto it');
  assert.equal(result.index, photo.index - 1);
  await pp('setVisible', 'Photo', true);
  await pp('removeLayer', 'Photo · Scream');

  const gone = await place({ sourceId: '99999', sourceName: 'Gone', bounds: { x: 5, y: 6, width: 20, height: 10 }, mode: 'replace', styleName: 'Scream' });
  assert.ok(gone.ok, JSON.stringify(gone));
  assert.equal(gone.value.mode, 'new-layer');
  assert.match(gone.value.note ?? '', /was deleted/);
  all = await layers();
  assert.deepEqual(all.find((l) => l.name === 'Gone · Scream')?.bounds, [5, 6, 25, 16]);
  await pp('removeLayer', 'Gone · Scream');
  await pp('select', 'Photo');
});

test('a selection in Photopea: the export reads the layer\'s own bounds, a placement lands by its opaque pixels, and the selection is put back', async () => {
  await selectInPhotopea('Photo');
  await pp('resetLog');
  const marquee = [20, 10, 40, 30];
  await pp('setSelection', marquee);
  const exported = await editorCall<Call<Exported>>(EXPORT, 256);
  assert.ok(exported.ok, JSON.stringify(exported));
  assert.deepEqual(exported.value.bounds, { x: 8, y: 6, width: 64, height: 48 }, 'not the selection\'s bounds');
  assert.deepEqual(await pp('selection'), marquee, 'the selection is back');

  // A result with a transparent margin: Photopea's bounds cover only its opaque pixels.
  const inner = await sharp({ create: { width: 30, height: 20, channels: 4, background: '#c04020' } }).png().toBuffer();
  const png = Array.from(await sharp(inner).extend({ top: 5, bottom: 5, left: 10, right: 10, background: { r: 0, g: 0, b: 0, alpha: 0 } }).png().toBuffer());
  const id = (await editorCall<Call<{ layers: { id: string }[] }>>('return editor.getSelection();') as { value: { layers: { id: string }[] } }).value.layers[0].id;
  const placed = await editorCall<Call<{ nodeId: string; mode: string }>>('return editor.placeResult({ ...arg, png: new Uint8Array(arg.png) });',
    { png, sourceId: id, sourceName: 'Photo', bounds: { x: 8, y: 6, width: 50, height: 30 }, mode: 'new-layer', styleName: 'Margin' });
  assert.ok(placed.ok, JSON.stringify(placed));
  const result = (await layers()).find((l) => l.name === 'Photo · Margin');
  assert.deepEqual(result?.bounds, [18, 11, 48, 31], 'its opaque pixels where they belong in the layer\'s box');
  assert.deepEqual(await pp('selection'), marquee, 'the selection is back after the placement');
  const log = await pp<{ errors: string[]; refused: string[]; silentEnds: string[] }>('log');
  assert.deepEqual([log.errors, log.refused, log.silentEnds], [[], [], []], 'no transform ran with the selection active');
  await pp('setSelection', null);
  await pp('removeLayer', 'Photo · Margin');
  await pp('select', 'Photo');
});

test('a script timeout: no answer at all, and an answer that comes too late, leave the queue working', async () => {
  await selectInPhotopea('Photo');
  const stats = () => editorCall<Call<{ timeouts: number; ignored: number; lostDone: number }>>('return { ...bridge.stats };').then((r) => (r as { value: { timeouts: number; ignored: number; lostDone: number } }).value);
  const t0 = (await stats()).timeouts;

  await pp('fault', { swallow: 1, match: 'saveToOE' });
  let started = Date.now();
  const lost = await editorCall<Call<Exported>>(EXPORT, 256);
  assert.ok(!lost.ok && lost.code === 'timeout', JSON.stringify(lost));
  assert.match(lost.message, new RegExp(`within ${SCRIPT_TIMEOUT_S} s`));
  const waited = Date.now() - started;
  assert.ok(waited >= SCRIPT_TIMEOUT_S * 1000 - 200 && waited < SCRIPT_TIMEOUT_S * 1000 + 8000, `${waited} ms`);

  // Answered 1.5 s after the plugin gave up: the late ArrayBuffer, echoes and "done" must not be
  // taken for the next export's.
  await pp('fault', { delayMs: SCRIPT_TIMEOUT_S * 1000 + 1500, match: 'saveToOE' });
  const late = await editorCall<Call<Exported>>(EXPORT, 256);
  assert.ok(!late.ok && late.code === 'timeout', JSON.stringify(late));
  const ignoredBefore = (await stats()).ignored;
  await pp('select', 'Bridge');
  started = Date.now();
  const next = await editorCall<Call<Exported>>(EXPORT, 256);
  assert.ok(next.ok, JSON.stringify(next));
  assert.equal(next.value.name, 'Bridge', 'the answer is the new script\'s, not the late one\'s (Photo)');
  assert.ok(await meanAbsDiff(next.value.png, await pp<number[]>('layerPng', 'Bridge')) < 1);
  const s = await stats();
  assert.ok(s.timeouts - t0 >= 2, `${s.timeouts - t0} timeouts`);
  assert.ok(s.ignored > ignoredBefore, 'the late answer was ignored');
  const all = await layers();
  assert.ok(all.every((l) => l.visible === (l.name !== 'Hidden')), 'the late script restored visibility too');
  await selectInPhotopea('Photo');
});

test('a lost "done" is tolerated; a script Photopea cannot run fails fast; stray "done" and pings are ignored', async () => {
  await selectInPhotopea('Photo');
  const stats = async () => ((await editorCall<Call<{ lostDone: number; ignored: number }>>('return { ...bridge.stats };')) as { value: { lostDone: number; ignored: number } }).value;
  const lost0 = (await stats()).lostDone;
  await pp('fault', { dropDone: 1, match: 'saveToOE' });
  const noDone = await editorCall<Call<Exported>>(EXPORT, 256);
  assert.ok(noDone.ok, JSON.stringify(noDone));
  assert.equal(noDone.value.name, 'Photo');
  assert.equal((await stats()).lostDone - lost0, 1);
  const after = await editorCall<Call<Exported>>(EXPORT, 256);
  assert.ok(after.ok, 'the queue goes on after a lost "done"');

  await pp('fault', { unrunnable: 1, match: 'saveToOE' });
  const started = Date.now();
  const unrun = await editorCall<Call<Exported>>(EXPORT, 256);
  assert.ok(!unrun.ok && unrun.code === 'internal' && /without running/.test(unrun.message), JSON.stringify(unrun));
  assert.ok(Date.now() - started < SCRIPT_TIMEOUT_S * 1000, 'sooner than the timeout');
  assert.ok((await editorCall<Call<Exported>>(EXPORT, 256)).ok);

  // The stand-in has sent Photopea's "ready" done and a ping every 200 ms all along.
  const log = await pp<{ noiseSent: number; errors: string[] }>('log');
  assert.ok(log.noiseSent > 20, `${log.noiseSent} pings`);
  assert.ok((await stats()).ignored >= log.noiseSent);
  assert.deepEqual(log.errors, []);
});

test('the page outside Photopea says where it belongs; a foreign page cannot frame it', async () => {
  const alone = await browser.context.newPage();
  try {
    await alone.goto(`http://127.0.0.1:${companion.port}/photopea`);
    await alone.locator('#general-error').waitFor({ state: 'visible', timeout: 10_000 });
    assert.match(await alone.locator('#general-error').innerText(), /works inside Photopea only/);
    // First-party here, so the page's storage works: a setting survives a reload.
    await alone.locator('#settings summary').click();
    await alone.locator('#set-iterations').fill('77');
    await alone.locator('#set-iterations').press('Tab');
    await until('saved', async () => (await alone.evaluate(() => localStorage.getItem('stylize.settings.v1')) ?? '').includes('"iterations":77'));
    await alone.reload();
    await alone.locator('#settings summary').click();
    assert.equal(await alone.locator('#set-iterations').inputValue(), '77');
  } finally {
    await alone.close();
  }
  const evil = 'https://evil.example';
  await browser.context.grantPermissions(['local-network-access'], { origin: evil });
  const framer = await browser.context.newPage();
  try {
    await framer.route(`${evil}/**`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: `<iframe src="http://127.0.0.1:${companion.port}/photopea"></iframe>` }));
    await framer.goto(`${evil}/`);
    await new Promise((r) => setTimeout(r, 1500));
    const inner = framer.frames().find((f) => f !== framer.mainFrame());
    const loaded = inner ? await inner.evaluate(() => !!document.getElementById('stylize')).catch(() => false) : false;
    assert.equal(loaded, false, 'frame-ancestors keeps the page out of other sites');
  } finally {
    await framer.close();
  }
});

test('hidden mid-job: Photopea destroys the panel, the companion keeps the result, and the reopened panel offers it and places it', async () => {
  await selectInPhotopea('Photo');
  const named = async () => (await layers()).filter((l) => l.name === 'Photo · Starry Night').length;
  const before = await named();
  await chooseJob('Starry Night', 128, 300);
  await ui.locator('#stylize').click();
  await ui.locator('.job[data-phase="running"]').waitFor({ timeout: 120_000 });
  await pp('hidePanel');
  await until('the plugin page is gone', async () => !page.frames().some((f) => f.url().includes('/photopea')));

  await pp('showPanel');
  // Third-party storage may be blocked here (then the token lasted only as long as the page).
  const tokenPanel = ui.locator('#token-panel');
  const connected = ui.locator('#conn[data-status="connected"]');
  await Promise.race([tokenPanel.waitFor({ state: 'visible', timeout: 30_000 }), connected.waitFor({ timeout: 30_000 })]);
  if (await tokenPanel.isVisible()) {
    await ui.locator('#token-input').fill(companion.token);
    await ui.locator('#token-save').click();
  }
  await connected.waitFor({ timeout: 30_000 });
  const add = ui.locator('#kept .kept-add');
  await add.waitFor({ timeout: 300_000 }).catch((err: Error) => { throw new Error(`${err.message}\ncompanion log:\n${companion.logs.slice(-3000)}`); });
  assert.match(await ui.locator('#kept').innerText(), /finished while the plugin was closed[\s\S]*Photo · Starry Night/);
  const keptDir = path.join(companion.configHome, 'stylize', 'kept');
  const keptFiles = async () => (await readdir(keptDir)).filter((f) => !f.startsWith('.')).length;
  assert.equal(await keptFiles(), 2, 'the companion saved the result (PNG and JSON) for the panel');
  // Photopea fails to place it once: the companion still holds the result and the panel offers it again.
  await pp('fault', { unrunnable: 1, match: 'app.open(' });
  await add.click();
  const failed = ui.locator('#kept .kept-item .kept-status.error');
  await failed.waitFor({ timeout: 60_000 });
  assert.match(await failed.innerText(), /still has the result/);
  assert.equal(await named(), before, 'nothing was placed');
  assert.equal(await keptFiles(), 2, 'a result that was not placed is not forgotten');
  await ui.locator('#kept .kept-add', { hasText: 'Try again' }).click();
  await ui.locator('#kept .kept-status', { hasText: /^Added Photo · Starry Night/ }).waitFor({ timeout: 30_000 });
  assert.equal(await named(), before + 1, 'the kept result was placed');
  await until('the companion forgets a result once it is placed', async () => (await keptFiles()) === 0);
  const placed = (await layers()).find((l) => l.name === 'Photo · Starry Night')!;
  assert.deepEqual(placed.bounds, [8, 6, 72, 54], 'at the source\'s bounds');
  const log = await pp<{ errors: string[]; refused: string[]; silentEnds: string[] }>('log');
  assert.deepEqual([log.errors, log.refused, log.silentEnds], [[], [], []]);
});
