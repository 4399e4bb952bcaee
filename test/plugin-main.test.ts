/**
 * Figma main thread against a fake `figma` (test/helpers/fake-figma.ts): selection reading and
 * export, new-layer and replace placement, undo steps, settings round trip, batches, the 4096 px
 * limit. Driven through the real message pipe (PostMessageEditor <-> FigmaMainThread), as the UI does.
 * Pixels are real: layers render from ../shared/images through sharp.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import path from 'node:path';
import sharp from 'sharp';
import { FakeFigma, type ExportView, type FakeNode } from './helpers/fake-figma.ts';
import { FigmaMainThread } from '../plugin/figma/controller.ts';
import { ORIGINAL_FILLS_KEY, placeResult } from '../plugin/figma/place.ts';
import { pngSize } from '../plugin/editor/png.ts';
import { SETTINGS_KEY } from '../plugin/figma/settings-store.ts';
import { EditorError, type SelectionSnapshot } from '../plugin/editor/editor.ts';
import { CHANNEL } from '../plugin/editor/messages.ts';
import { PostMessageEditor } from '../plugin/editor/post-message-editor.ts';
import { DEFAULT_SETTINGS } from '../plugin/editor/settings.ts';
import { DEFAULT_SETTINGS as ENGINE_DEFAULTS } from '../companion/engine/settings.ts';
import { strengthToWeights, weightsToStrength } from '../common/strength.ts';
import { SHARED } from './helpers/paths.ts';

const CONTENT = path.join(SHARED, 'images/content/tubingen.jpg');
const STYLE = path.join(SHARED, 'images/style/starry_night.jpg');

/** Renders every layer as the real photo, squeezed to the requested size. */
async function photoRenderer(_node: FakeNode, width: number, height: number): Promise<Uint8Array> {
  return new Uint8Array(await sharp(CONTENT).resize(width, height, { fit: 'fill' }).png().toBuffer());
}

async function stylePng(width: number, height: number): Promise<Uint8Array> {
  return new Uint8Array(await sharp(STYLE).resize(width, height, { fit: 'fill' }).png().toBuffer());
}

/** A fake Figma with the main thread running and a UI-side editor wired to it. */
function setup(options: { thumbnails?: boolean } = {}) {
  const figma = new FakeFigma({ renderer: photoRenderer });
  const main = new FigmaMainThread(figma.asApi(), { thumbnails: options.thumbnails ?? false });
  main.start('<html>ui</html>');
  let toUi: ((payload: unknown) => void) | undefined;
  figma.ui.deliver = (m) => toUi?.(m);
  const editor = new PostMessageEditor({
    post: (m) => figma.ui.receive(m),
    listen: (handler) => { toUi = handler; return () => { toUi = undefined; }; },
  });
  return { figma, main, editor, page: figma.currentPage };
}

function nextSelection(editor: PostMessageEditor, predicate: (s: SelectionSnapshot) => boolean = () => true): Promise<SelectionSnapshot> {
  return new Promise((resolve) => {
    const off = editor.onSelectionChange((s) => { if (predicate(s)) { off(); resolve(s); } });
  });
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

test('the stand-in carries between the main thread and the UI only what Figma does', () => {
  const figma = new FakeFigma({ renderer: async () => new Uint8Array() });
  const png = new Uint8Array([1, 2, 3, 4]).subarray(1);
  figma.ui.postMessage({ a: [1, 'x', true, null, undefined, new Date(0)], png });
  for (const [bad, kind] of [[new Float32Array(2), 'Float32Array'], [new Map(), 'Map'], [new ArrayBuffer(2), 'ArrayBuffer'], [() => 1, 'function']] as const) {
    assert.throws(() => figma.ui.postMessage({ payload: { x: bad } }), new RegExp(`Cannot send ${kind} at message\\.payload\\.x`));
  }
  assert.equal(figma.ui.sent.length, 1);
});

test('opens the UI with Figma theme colours and reports an empty selection', async () => {
  const { figma, editor } = setup();
  assert.equal(figma.shownUi.length, 1);
  assert.equal(figma.shownUi[0].options?.themeColors, true);
  const sel = await editor.getSelection();
  assert.deepEqual(sel.layers, []);
});

test('selection summary: supported layers, problems and replaceability', async () => {
  const { figma, editor, page } = setup();
  const rect = figma.add(page, 'RECTANGLE', 'Photo', { x: 10, y: 20, width: 400, height: 300 });
  const frame = figma.add(page, 'FRAME', 'Card', { x: 500, y: 0, width: 200, height: 200 });
  figma.add(frame, 'ELLIPSE', 'Dot', { width: 20, height: 20 });
  const text = figma.add(page, 'TEXT', 'Title', { width: 120, height: 30 });
  const hidden = figma.add(page, 'RECTANGLE', 'Hidden', {});
  hidden.visible = false;
  const line = figma.add(page, 'LINE', 'Rule', { width: 200, height: 0.001 });
  const rotated = figma.add(page, 'RECTANGLE', 'Tilted', { width: 100, height: 50 });
  figma.untracked(() => rotated.rotate(30));
  const group = figma.add(page, 'GROUP', 'Group');
  figma.add(group, 'RECTANGLE', 'In group', { x: 0, y: 0, width: 50, height: 40 });
  // An empty section has a fill of its own (SectionNode has MinimalFillsMixin): its background.
  const section = figma.add(page, 'SECTION', 'Board', { x: 0, y: 400, width: 300, height: 200 });

  const pushed = nextSelection(editor);
  figma.select(rect, frame, text, hidden, line, rotated, group, section);
  const sel = await pushed;
  const by = Object.fromEntries(sel.layers.map((l) => [l.name, l]));
  assert.equal(sel.layers.length, 8);
  assert.equal(by.Photo.problem, undefined);
  assert.equal(by.Photo.canReplace, true);
  assert.equal(by.Photo.width, 400);
  assert.equal(by.Card.problem, undefined);
  assert.equal(by.Card.canReplace, false);
  assert.match(by.Card.replaceNote!, /contains other layers/);
  assert.equal(by.Title.canReplace, false);
  assert.match(by.Hidden.problem!, /hidden/i);
  assert.match(by.Rule.problem!, /no area/);
  assert.equal(by.Tilted.canReplace, false);
  assert.match(by.Tilted.replaceNote!, /rotated/);
  assert.equal(by.Group.canReplace, false);
  assert.match(by.Group.replaceNote!, /no fill/);
  assert.equal(by.Board.canReplace, false, 'a section is never filled with the picture');
  assert.match(by.Board.replaceNote!, /section's fill is its background/);
  // The same answer on request; seq only grows.
  const again = await editor.getSelection();
  assert.ok(again.seq >= sel.seq);
});

test('selection changes push thumbnails (real PNGs, at most 96 px)', async () => {
  const { figma, editor, page } = setup({ thumbnails: true });
  const rect = figma.add(page, 'RECTANGLE', 'Photo', { width: 400, height: 300 });
  const withThumb = nextSelection(editor, (s) => s.layers[0]?.thumbnail !== undefined);
  figma.select(rect);
  const sel = await withThumb;
  const meta = await sharp(Buffer.from(sel.layers[0].thumbnail!)).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.width, 96);
  assert.equal(meta.height, 72);
});

test('clicking through big frames: thumbnails wait for the selection to rest, so exports do not pile up', async () => {
  const { figma, editor, page } = setup({ thumbnails: true });
  const frames = Array.from({ length: 12 }, (_, i) => figma.add(page, 'FRAME', `Board ${i}`, { x: i * 2000, width: 1920, height: 1080 }));
  const last = frames[frames.length - 1];
  const withThumb = nextSelection(editor, (s) => s.layers[0]?.id === last.id && s.layers[0]?.thumbnail !== undefined);
  for (const f of frames) figma.select(f); // one click after another
  await withThumb;
  const exports = frames.reduce((n, f) => n + f.exports.length, 0);
  assert.equal(exports, 1, `${exports} exports for ${frames.length} clicks`);
  assert.equal(last.exports.length, 1);
});

test('exportLayer renders at the output size with absolute bounds, long side constrained', async () => {
  const { figma, editor, page } = setup();
  const wide = figma.add(page, 'RECTANGLE', 'Wide', { width: 400, height: 300 });
  const tall = figma.add(page, 'RECTANGLE', 'Tall', { width: 300, height: 600 });
  const a = await editor.exportLayer(wide.id, 512);
  assert.equal(a.pixelWidth, 512);
  assert.equal(a.pixelHeight, 384);
  assert.deepEqual(a.bounds, { x: 0, y: 0, width: 400, height: 300 });
  assert.deepEqual(wide.exports[0], { format: 'PNG', constraint: { type: 'WIDTH', value: 512 }, useAbsoluteBounds: true });
  const meta = await sharp(Buffer.from(a.png)).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 512, 384]);
  const b = await editor.exportLayer(tall.id, 256);
  assert.deepEqual([b.pixelWidth, b.pixelHeight], [128, 256]);
  assert.equal(tall.exports[0].constraint?.type, 'HEIGHT');
});

test('the 4096 px limit: exports are clamped, oversized results refused and nothing changes', async () => {
  const { figma, editor, page } = setup();
  const huge = figma.add(page, 'RECTANGLE', 'Poster', { width: 10000, height: 5000 });
  const px = await editor.exportLayer(huge.id, 8000);
  assert.deepEqual([px.pixelWidth, px.pixelHeight], [4096, 2048]);
  assert.deepEqual(huge.exports[0].constraint, { type: 'WIDTH', value: 4096 });

  const before = JSON.stringify(figma.describe());
  const tooBig = new Uint8Array(await sharp({ create: { width: 4100, height: 8, channels: 3, background: '#808080' } }).png().toBuffer());
  await assert.rejects(
    editor.placeResult({ sourceId: huge.id, sourceName: 'Poster', bounds: px.bounds, png: tooBig, mode: 'new-layer', styleName: 'S' }),
    (err: unknown) => err instanceof EditorError && err.code === 'too_large' && /4096/.test(err.message),
  );
  assert.equal(figma.images.size, 0, 'createImage must not be reached');
  assert.equal(JSON.stringify(figma.describe()), before);
  assert.equal(figma.journal.steps.length, 0);
});

test('new-layer mode: an image rectangle just above the source, same box, named after both; one undo step', async () => {
  const { figma, editor, page } = setup();
  const frame = figma.add(page, 'FRAME', 'Artboard', { x: 100, y: 200, width: 800, height: 600 });
  const below = figma.add(frame, 'RECTANGLE', 'Background', { width: 800, height: 600 });
  const photo = figma.add(frame, 'RECTANGLE', 'Photo', { x: 50, y: 60, width: 400, height: 300 });
  const above = figma.add(frame, 'TEXT', 'Caption', { x: 50, y: 400, width: 200, height: 30 });
  figma.untracked(() => { photo.strokes = [{ type: 'SOLID', color: { r: 0, g: 0, b: 0 } }]; });
  const original = JSON.stringify(figma.describe());

  const px = await editor.exportLayer(photo.id, 256);
  const png = await stylePng(256, 192);
  const outcome = await editor.placeResult({ sourceId: photo.id, sourceName: 'Photo', bounds: px.bounds, png, mode: 'new-layer', styleName: 'Starry Night' });

  assert.equal(outcome.mode, 'new-layer');
  assert.equal(outcome.note, undefined);
  const kids = frame.children!;
  assert.deepEqual(kids.map((k) => k.name), ['Background', 'Photo', 'Photo · Starry Night', 'Caption']);
  const result = kids[2];
  assert.equal(result.id, outcome.nodeId);
  assert.equal(result.type, 'RECTANGLE');
  assert.deepEqual(result.absoluteBoundingBox, photo.absoluteBoundingBox);
  assert.deepEqual(result.absoluteBoundingBox, { x: 150, y: 260, width: 400, height: 300 });
  const fills = result.fills;
  assert.equal(fills.length, 1);
  assert.equal(fills[0].type, 'IMAGE');
  const hash = (fills[0] as { imageHash: string }).imageHash;
  assert.deepEqual(figma.images.get(hash), png, 'the layer shows exactly the result bytes');
  assert.deepEqual(result.strokes, []);
  // Source untouched.
  assert.equal(photo.fills[0].type, 'SOLID');
  assert.equal(photo.strokes.length, 1);
  void below; void above;

  assert.equal(figma.journal.steps.length, 1, 'exactly one undo step');
  assert.equal(figma.journal.uncommitted, 0, 'nothing left outside the step');
  figma.journal.undo();
  assert.equal(JSON.stringify(figma.describe()), original, 'one undo restores the document');
});

test('replace mode: fills become the result, everything else kept, original fills saved; one undo step', async () => {
  const { figma, editor, page } = setup();
  const photo = figma.add(page, 'RECTANGLE', 'Photo', { x: 30, y: 40, width: 400, height: 300 });
  figma.untracked(() => { photo.setPluginData('mine', 'kept'); });
  const originalFills = photo.fills;
  const original = JSON.stringify(figma.describe());

  const px = await editor.exportLayer(photo.id, 128);
  const png = await stylePng(px.pixelWidth, px.pixelHeight);
  const outcome = await editor.placeResult({ sourceId: photo.id, sourceName: 'Photo', bounds: px.bounds, png, mode: 'replace', styleName: 'Starry Night' });
  assert.deepEqual(outcome, { nodeId: photo.id, mode: 'replace' });
  assert.equal(page.children!.length, 1, 'no new layer');
  assert.equal(photo.fills[0].type, 'IMAGE');
  assert.deepEqual(figma.images.get((photo.fills[0] as { imageHash: string }).imageHash), png);
  assert.equal(photo.name, 'Photo');
  assert.equal(photo.getPluginData('mine'), 'kept');
  assert.deepEqual(photo.absoluteBoundingBox, { x: 30, y: 40, width: 400, height: 300 });
  assert.deepEqual(JSON.parse(photo.getPluginData(ORIGINAL_FILLS_KEY)), originalFills);
  assert.equal(figma.journal.steps.length, 1);

  // A second run keeps the very first fills on record.
  await editor.placeResult({ sourceId: photo.id, sourceName: 'Photo', bounds: px.bounds, png: await stylePng(64, 48), mode: 'replace', styleName: 'B' });
  assert.deepEqual(JSON.parse(photo.getPluginData(ORIGINAL_FILLS_KEY)), originalFills);
  assert.equal(figma.journal.steps.length, 2);
  figma.journal.undo();
  figma.journal.undo();
  assert.equal(JSON.stringify(figma.describe()), original);
});

test('replace falls back to a new layer (with a reason) for frames with children, rotated layers and text', async () => {
  const { figma, editor, page } = setup();
  const frame = figma.add(page, 'FRAME', 'Card', { width: 200, height: 100 });
  figma.add(frame, 'RECTANGLE', 'Inner', { width: 10, height: 10 });
  const tilted = figma.add(page, 'RECTANGLE', 'Tilted', { x: 300, y: 300, width: 100, height: 50 });
  figma.untracked(() => tilted.rotate(45));
  const text = figma.add(page, 'TEXT', 'Title', { width: 100, height: 20 });
  const png = await stylePng(64, 32);
  for (const node of [frame, tilted, text]) {
    const fillsBefore = JSON.stringify(node.fills);
    const out = await editor.placeResult({ sourceId: node.id, sourceName: node.name, bounds: node.absoluteBoundingBox, png, mode: 'replace', styleName: 'S' });
    assert.equal(out.mode, 'new-layer');
    assert.ok(out.note && /new layer/.test(out.note), out.note);
    assert.equal(JSON.stringify(node.fills), fillsBefore, `${node.name} keeps its fills`);
  }
  // The rotated layer's result is upright and covers what the export showed.
  const tiltedResult = page.children!.find((n) => n.name === 'Tilted · S')!;
  const box = tiltedResult.absoluteBoundingBox, src = tilted.absoluteBoundingBox;
  for (const k of ['x', 'y', 'width', 'height'] as const) assert.ok(Math.abs(box[k] - src[k]) < 1e-6, k);
  assert.deepEqual(tiltedResult.relativeTransform.map((r) => r.slice(0, 2)), [[1, 0], [0, 1]]);
});

test('replace never shows a stroke, effect or opacity twice: such layers get a new layer, and say why', async () => {
  const { figma, editor, page } = setup();
  const stroked = figma.add(page, 'RECTANGLE', 'Stroked', { width: 200, height: 100 });
  const shadowed = figma.add(page, 'ELLIPSE', 'Shadowed', { x: 300, width: 100, height: 100 });
  const faded = figma.add(page, 'RECTANGLE', 'Faded', { x: 500, width: 100, height: 100 });
  figma.untracked(() => {
    stroked.strokes = [{ type: 'SOLID', color: { r: 1, g: 0, b: 0 } }];
    shadowed.effects = [{ type: 'DROP_SHADOW', color: { r: 0, g: 0, b: 0, a: 0.5 }, offset: { x: 0, y: 4 }, radius: 8, visible: true, blendMode: 'NORMAL' }];
    faded.opacity = 0.5;
  });
  const png = await stylePng(64, 32);
  const notes: Record<string, RegExp> = { Stroked: /a stroke/, Shadowed: /effects/, Faded: /50% opacity/ };
  for (const node of [stroked, shadowed, faded]) {
    const fills = JSON.stringify(node.fills);
    const out = await editor.placeResult({ sourceId: node.id, sourceName: node.name, bounds: node.absoluteBoundingBox, png, mode: 'replace', styleName: 'S' });
    assert.equal(out.mode, 'new-layer', node.name);
    assert.match(out.note!, notes[node.name]);
    assert.match(out.note!, /already shows/);
    assert.equal(JSON.stringify(node.fills), fills, `${node.name} keeps its fills`);
  }
  // The selection list says so before the job runs.
  const pushed = nextSelection(editor, (s) => s.layers.length === 3);
  figma.select(stroked, shadowed, faded);
  assert.deepEqual((await pushed).layers.map((l) => l.canReplace), [false, false, false]);
});

test('FigJam: stickies, shapes with text and connectors only ever get a new layer', async () => {
  const figma = new FakeFigma({ renderer: photoRenderer, editorType: 'figjam' });
  const main = new FigmaMainThread(figma.asApi(), { thumbnails: false });
  main.start('');
  const page = figma.currentPage;
  const sticky = figma.add(page, 'STICKY', 'Idea', { width: 240, height: 240 });
  const shape = figma.add(page, 'SHAPE_WITH_TEXT', 'Box', { x: 300, width: 200, height: 120 });
  const line = figma.add(page, 'CONNECTOR', 'Arrow', { x: 600, width: 150, height: 40 });
  assert.equal('strokes' in sticky, false, 'a sticky has no strokes (StickyNode)');
  assert.equal('fills' in line, false, 'a connector has no fills (ConnectorNode)');
  const png = await stylePng(64, 64);
  for (const node of [sticky, shape, line]) {
    const before = JSON.stringify(node.describe());
    const out = await placeResult(figma.asApi(), { sourceId: node.id, sourceName: node.name, bounds: node.absoluteBoundingBox, png, mode: 'replace', styleName: 'S' });
    assert.equal(out.mode, 'new-layer', node.name);
    assert.match(out.note!, /sticky note|FigJam shape|connector/);
    assert.equal(JSON.stringify(node.describe()), before, `${node.name} untouched`);
    const result = (await figma.getNodeByIdAsync(out.nodeId))!;
    assert.deepEqual(result.absoluteBoundingBox, node.absoluteBoundingBox);
  }
  assert.deepEqual(page.children!.map((c) => c.name), ['Idea', 'Idea · S', 'Box', 'Box · S', 'Arrow', 'Arrow · S']);
});

test('the fake is as strict as Figma: new objects for the same node, render bounds unless useAbsoluteBounds', async () => {
  const { figma, editor, page } = setup();
  const card = figma.add(page, 'RECTANGLE', 'Card', { x: 10, y: 10, width: 200, height: 100 });
  figma.untracked(() => {
    card.strokes = [{ type: 'SOLID', color: { r: 0, g: 0, b: 0 } }];
    card.strokeAlign = 'OUTSIDE';
    card.strokeWeight = 4;
    card.effects = [{ type: 'DROP_SHADOW', color: { r: 0, g: 0, b: 0, a: 0.5 }, offset: { x: 0, y: 6 }, radius: 10, visible: true, blendMode: 'NORMAL' }];
  });
  figma.select(card);
  assert.notEqual(figma.currentPage.selection[0], figma.currentPage.selection[0]);
  assert.equal(figma.currentPage.selection[0].id, figma.currentPage.selection[0].id);
  assert.notEqual(await figma.getNodeByIdAsync(card.id), await figma.getNodeByIdAsync(card.id));
  // Figma's default export is the render bounds (shadow and outside stroke included) ...
  const shows: ExportView[] = [];
  figma.renderer = async (node, w, h, v) => { shows.push(v); return photoRenderer(node, w, h); };
  const wide = await card.exportAsync({ format: 'PNG' });
  assert.deepEqual(pngSize(wide), { width: 232, height: 132 });
  // ... the plugin asks for the layer's box, so the result lines up with the layer.
  const px = await editor.exportLayer(card.id, 200);
  assert.deepEqual([px.pixelWidth, px.pixelHeight], [200, 100]);
  assert.deepEqual(shows[1].box, { x: 10, y: 10, width: 200, height: 100 });
  assert.equal(shows[1].strokes.length, 1, 'the export shows the stroke');
});

test('auto-layout parents, boolean operations and instances: the result stays put and never changes a shape', async () => {
  const { figma, editor, page } = setup();
  const stack = figma.add(page, 'FRAME', 'Stack', { x: 10, y: 10, width: 300, height: 300 });
  stack.layoutMode = 'VERTICAL';
  const item = figma.add(stack, 'RECTANGLE', 'Item', { x: 20, y: 30, width: 100, height: 80 });
  const png = await stylePng(100, 80);
  const r1 = await editor.placeResult({ sourceId: item.id, sourceName: 'Item', bounds: item.absoluteBoundingBox, png, mode: 'new-layer', styleName: 'S' });
  const n1 = (await figma.getNodeByIdAsync(r1.nodeId))!;
  assert.equal(n1.parent?.id, stack.id);
  assert.equal(n1.layoutPositioning, 'ABSOLUTE');
  assert.deepEqual(n1.absoluteBoundingBox, item.absoluteBoundingBox);

  const union = figma.add(page, 'BOOLEAN_OPERATION', 'Union');
  const part = figma.add(union, 'ELLIPSE', 'Part', { x: 400, y: 0, width: 50, height: 50 });
  const r2 = await editor.placeResult({ sourceId: part.id, sourceName: 'Part', bounds: part.absoluteBoundingBox, png, mode: 'new-layer', styleName: 'S' });
  const n2 = (await figma.getNodeByIdAsync(r2.nodeId))!;
  assert.equal(n2.parent?.id, page.id);
  const ids = page.children!.map((c) => c.id);
  assert.equal(ids.indexOf(n2.id), ids.indexOf(union.id) + 1);
  assert.deepEqual(union.children!.map((c) => c.name), ['Part']);
  assert.deepEqual(n2.absoluteBoundingBox, part.absoluteBoundingBox);
});

test('a source deleted during the job: the result still lands where it was', async () => {
  const { figma, editor, page } = setup();
  const photo = figma.add(page, 'RECTANGLE', 'Photo', { x: 70, y: 80, width: 200, height: 100 });
  const px = await editor.exportLayer(photo.id, 64);
  photo.remove();
  for (const mode of ['new-layer', 'replace'] as const) {
    const out = await editor.placeResult({ sourceId: px.id, sourceName: 'Photo', bounds: px.bounds, png: await stylePng(64, 32), mode, styleName: 'S' });
    assert.equal(out.mode, 'new-layer');
    assert.match(out.note!, /deleted/);
    const node = (await figma.getNodeByIdAsync(out.nodeId))!;
    assert.equal(node.name, 'Photo · S');
    assert.deepEqual(node.absoluteBoundingBox, { x: 70, y: 80, width: 200, height: 100 });
  }
  await assert.rejects(editor.exportLayer(px.id, 64), (e: unknown) => e instanceof EditorError && e.code === 'not_found');
});

test('batch: several selected layers, each exported and placed as its own result and undo step', async () => {
  const { figma, editor, page } = setup();
  const layers = [0, 1, 2].map((i) => figma.add(page, 'RECTANGLE', `Tile ${i}`, { x: i * 150, y: 0, width: 120, height: 90 }));
  const pushed = nextSelection(editor, (s) => s.layers.length === 3);
  figma.select(...layers);
  const sel = await pushed;
  const results = await Promise.all(sel.layers.map(async (layer) => {
    const px = await editor.exportLayer(layer.id, 96);
    return editor.placeResult({ sourceId: layer.id, sourceName: layer.name, bounds: px.bounds, png: await stylePng(px.pixelWidth, px.pixelHeight), mode: 'new-layer', styleName: 'Scream' });
  }));
  assert.equal(new Set(results.map((r) => r.nodeId)).size, 3);
  assert.deepEqual(page.children!.map((c) => c.name), ['Tile 0', 'Tile 0 · Scream', 'Tile 1', 'Tile 1 · Scream', 'Tile 2', 'Tile 2 · Scream']);
  for (const [i, layer] of layers.entries()) {
    const result = page.children![page.children!.findIndex((c) => c.id === layer.id) + 1];
    assert.deepEqual(result.absoluteBoundingBox, layer.absoluteBoundingBox, `tile ${i}`);
  }
  assert.equal(figma.journal.steps.length, 3);
});

test('settings persist in clientStorage: round trip, validation, bad stored values, storage failure', async () => {
  const first = setup();
  assert.deepEqual(await first.editor.loadSettings(), DEFAULT_SETTINGS);
  const mine = { ...DEFAULT_SETTINGS, iterations: 120, strength: 80, outputSize: 1024, optimizer: 'lbfgs' as const, preserveColors: true, styleScale: 1.5, outputMode: 'replace' as const, token: ' abc123 ', port: 9000, lastStyleId: 'starry' };
  const saved = await first.editor.saveSettings(mine);
  assert.equal(saved.token, 'abc123');

  // A new plugin session (same user storage) reads them back.
  const figma2 = new FakeFigma({ renderer: photoRenderer });
  for (const [k, v] of first.figma.storage) figma2.storage.set(k, v);
  const main2 = new FigmaMainThread(figma2.asApi(), { thumbnails: false });
  main2.start('');
  let toUi: ((p: unknown) => void) | undefined;
  figma2.ui.deliver = (m) => toUi?.(m);
  const editor2 = new PostMessageEditor({ post: (m) => figma2.ui.receive(m), listen: (h) => { toUi = h; return () => {}; } });
  assert.deepEqual(await editor2.loadSettings(), { ...mine, token: 'abc123' });

  await assert.rejects(first.editor.saveSettings({ ...mine, outputSize: 5000 }), (e: unknown) => e instanceof EditorError && e.code === 'bad_request' && /Output size.*4096/.test(e.message));
  await assert.rejects(first.editor.saveSettings({ ...mine, port: 0 }), /Port/);
  await assert.rejects(first.editor.saveSettings({ ...mine, styleScale: 9 }), /Style scale must be a number between 0.25 and 2/);

  figma2.storage.set(SETTINGS_KEY, { iterations: 'many', strength: 20, port: -5, optimizer: 'sgd' });
  const coerced = await editor2.loadSettings();
  assert.equal(coerced.strength, 20, 'valid fields survive');
  assert.equal(coerced.iterations, DEFAULT_SETTINGS.iterations);
  assert.equal(coerced.port, DEFAULT_SETTINGS.port);
  assert.equal(coerced.optimizer, DEFAULT_SETTINGS.optimizer);

  figma2.failStorage = true;
  await assert.rejects(editor2.saveSettings(mine), (e: unknown) => e instanceof EditorError && e.code === 'storage_failed');
});

test('message pipe: foreign messages ignored, bad requests answered with errors, close closes', async () => {
  const { figma, main, editor } = setup();
  const sentBefore = figma.ui.sent.length;
  await main.handleMessage({ type: 'something-else' });
  await main.handleMessage({ channel: CHANNEL, kind: 'request', id: 99, method: 'dropTables', params: {} });
  assert.equal(figma.ui.sent.length, sentBefore, 'no reply to messages that are not ours');
  await main.handleMessage({ channel: CHANNEL, kind: 'request', id: 7, method: 'exportLayer', params: { maxSide: 10 } });
  const reply = figma.ui.sent.at(-1) as { id: number; ok: boolean; error: { code: string; message: string } };
  assert.equal(reply.id, 7);
  assert.equal(reply.ok, false);
  assert.equal(reply.error.code, 'bad_request');
  await assert.rejects(editor.placeResult({ sourceId: 'x', sourceName: 'x', bounds: { x: 0, y: 0, width: 1, height: 1 }, png: new Uint8Array([1, 2, 3]), mode: 'new-layer', styleName: '' }), /not a PNG/);
  editor.notify('Done', { error: false });
  await settle();
  assert.deepEqual(figma.notifications.map((n) => n.message), ['Done']);
  editor.close();
  await settle();
  assert.equal(figma.closed, true);
});

test("strength maps to the content/style balance on a log scale; 100, the plugin's default, is the engine's default", () => {
  // One decade per 33 points, over the span where the content term matters (docs/quality.md).
  assert.equal(DEFAULT_SETTINGS.strength, 100);
  const full = strengthToWeights(100);
  assert.ok(Math.abs(full.contentWeight / ENGINE_DEFAULTS.contentWeight - 1) < 1e-12 && full.styleWeight === ENGINE_DEFAULTS.styleWeight);
  assert.ok(Math.abs(strengthToWeights(0).contentWeight / 10 - 1) < 1e-12);
  assert.ok(Math.abs(strengthToWeights(50).contentWeight / Math.sqrt(0.1) - 1) < 1e-12);
  for (const s of [0, 13, 50, 99, 100]) {
    const w = strengthToWeights(s);
    assert.ok(Math.abs(weightsToStrength(w.contentWeight, w.styleWeight) - s) < 1e-9);
  }
  assert.ok(strengthToWeights(60).contentWeight < strengthToWeights(40).contentWeight, 'stronger = less content weight');
});
