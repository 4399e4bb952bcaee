/**
 * The plugin build: manifest.json is what Figma needs, `npm run build` (scripts/build-plugin.ts)
 * type-checks and writes exactly the files the manifest names, the main thread runs in a bare
 * sandbox (no DOM, no Node: like Figma's) and the UI is one self-contained HTML file.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import vm from 'node:vm';
import sharp from 'sharp';
import { buildPlugin, inlineUi } from '../scripts/build-plugin.ts';
import { CHANNEL } from '../plugin/editor/messages.ts';
import { DEFAULT_SETTINGS } from '../plugin/editor/settings.ts';
import { DEFAULT_PORT } from '../protocol/messages.ts';
import { FakeFigma } from './helpers/fake-figma.ts';
import { REPO } from './helpers/paths.ts';


test('manifest.json: editor types, dynamic page access, the companion on localhost with a reason', async () => {
  const m = JSON.parse(await readFile(path.join(REPO, 'manifest.json'), 'utf8'));
  for (const key of ['name', 'id', 'api', 'main', 'ui']) assert.equal(typeof m[key], 'string', key);
  assert.deepEqual(m.editorType, ['figma', 'figjam']);
  assert.equal(m.documentAccess, 'dynamic-page');
  const domains: string[] = m.networkAccess.allowedDomains;
  for (const scheme of ['ws', 'http']) assert.ok(domains.includes(`${scheme}://localhost:${DEFAULT_PORT}`), `${scheme} localhost`);
  assert.ok(!domains.some((d) => d.includes('127.0.0.1')), 'Figma refuses raw IP addresses');
  assert.ok(m.networkAccess.reasoning.length > 40);
  assert.equal(DEFAULT_SETTINGS.port, DEFAULT_PORT, 'the plugin defaults to the companion\'s port');
});

test('build: type-checks, writes the files manifest.json names; the main thread runs in a bare sandbox', async () => {
  const m = JSON.parse(await readFile(path.join(REPO, 'manifest.json'), 'utf8'));
  const r = await buildPlugin();
  assert.equal(r.codePath, path.join(REPO, m.main));
  assert.equal(r.uiPath, path.join(REPO, m.ui));
  const code = await readFile(r.codePath, 'utf8');
  const html = await readFile(r.uiPath, 'utf8');

  // One self-contained HTML file: Figma loads it from a string, so nothing may be fetched.
  assert.doesNotMatch(html, /<script[^>]+src=/i);
  assert.doesNotMatch(html, /<link[^>]+stylesheet/i);
  assert.match(html, /<style>[\s\S]*--figma-color-bg[\s\S]*<\/style>/);
  assert.equal(html.match(/<\/script>/g)?.length, 1, 'the inlined bundle never closes its own tag');
  assert.match(html, /id="stylize"/);

  // Figma's main thread: ES and the plugin API only (no window, document, require, process).
  const figma = new FakeFigma({
    renderer: async (_n, w, h) => new Uint8Array(await sharp({ create: { width: w, height: h, channels: 3, background: '#3366cc' } }).png().toBuffer()),
  });
  const photo = figma.add(figma.currentPage, 'RECTANGLE', 'Photo', { width: 300, height: 200 });
  // Figma evaluates plugin code with `figma` and `__html__` in scope, not as properties of the
  // global object: a bare context whose globalThis has neither, and the code wrapped in a scope.
  // What Figma's sandbox has besides ES (the plugin typings' globals): console and timers.
  const context = vm.createContext({ console, setTimeout, clearTimeout, setInterval, clearInterval });
  const inScope = vm.runInContext(`(function (figma, __html__) {\n${code}\n})`, context, { filename: 'code.js' }) as (f: unknown, h: string) => void;
  inScope(figma.asApi(), html);
  assert.equal(vm.runInContext('typeof globalThis.figma', context), 'undefined');
  assert.equal(figma.shownUi.length, 1);
  assert.equal(figma.shownUi[0].html, html);
  assert.equal(figma.shownUi[0].options?.themeColors, true);
  figma.ui.receive({ channel: CHANNEL, kind: 'ready' });
  figma.select(photo);
  const sel = figma.ui.sent.filter((x) => (x as { kind: string }).kind === 'selection').at(-1) as { selection: { layers: { name: string }[] } };
  assert.deepEqual(sel.selection.layers.map((l) => l.name), ['Photo']);
  figma.ui.receive({ channel: CHANNEL, kind: 'request', id: 1, method: 'exportLayer', params: { id: photo.id, maxSide: 150 } });
  for (let i = 0; i < 50 && !figma.ui.sent.some((x) => (x as { id?: number }).id === 1); i++) await new Promise((res) => setTimeout(res, 10));
  const reply = figma.ui.sent.find((x) => (x as { id?: number }).id === 1) as { ok: boolean; result: { pixelWidth: number; pixelHeight: number } };
  assert.equal(reply.ok, true);
  assert.deepEqual([reply.result.pixelWidth, reply.result.pixelHeight], [150, 100]);
});

test('inlining escapes closing tags and keeps $ sequences', () => {
  const html = inlineUi('<head><!-- STYLES --></head><body><!-- SCRIPT --></body>', 'const s = "</script>"; const d = "$&$1";', 'a::after{content:"</style>"}');
  assert.equal(html.match(/<\/script>/g)?.length, 1);
  assert.equal(html.match(/<\/style>/g)?.length, 1);
  assert.ok(html.includes('"$&$1"'));
  assert.throws(() => inlineUi('<body></body>', '', ''), /placeholders/);
});
