/**
 * The result live on the canvas, end to end without a browser: the real batch runner and companion
 * client (plugin/ui) talking to the real companion (real engine and weights), and to the Figma main
 * thread (plugin/figma) across the real message pipe, on the fake `figma` (test/helpers/fake-figma.ts)
 * with its undo journal. Covers: the live layer appearing at the first preview and following the
 * previews while nothing else changes, the result landing in it as one undo step that takes the
 * document back to before Stylize, Keep this (full-size picture of a multi-scale job stopped early),
 * Cancel, a failed job and closing the plugin (the live layer goes, the document is as before).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import path from 'node:path';
import sharp from 'sharp';
import { WebSocket as NodeWebSocket } from 'ws';
import { FakeFigma, type FakeNode } from './helpers/fake-figma.ts';
import { FigmaMainThread } from '../plugin/figma/controller.ts';
import { PostMessageEditor } from '../plugin/editor/post-message-editor.ts';
import { DEFAULT_SETTINGS, type PluginSettings } from '../plugin/editor/settings.ts';
import { pngSize } from '../plugin/editor/png.ts';
import { BatchRunner, type JobView } from '../plugin/ui/batch.ts';
import { CompanionClient } from '../plugin/ui/companion-client.ts';
import { Companion } from './helpers/plugin-companion.ts';
import { SHARED } from './helpers/paths.ts';

let companion: Companion;
const PHOTO = path.join(SHARED, 'images/content/tubingen.jpg');

before(async () => {
  companion = await Companion.create({ styles: { 'Starry Night': 'starry_night.jpg' } });
});

after(async () => {
  await companion?.dispose();
});

async function photoRenderer(_node: FakeNode, width: number, height: number): Promise<Uint8Array> {
  return new Uint8Array(await sharp(PHOTO).resize(width, height, { fit: 'fill' }).png().toBuffer());
}

interface Rig {
  figma: FakeFigma;
  host: PostMessageEditor;
  client: CompanionClient;
  runner: BatchRunner;
  photo: FakeNode;
  other: FakeNode;
  /** Every state the runner reported, with what the page held at that moment. */
  seen: { jobs: JobView[]; layers: string[]; photo: string; other: string; liveHash?: string }[];
  before: string;
}

/** Figma with two layers, the main thread, the UI side (host, client, runner) connected to the companion. */
async function rig(): Promise<Rig> {
  const figma = new FakeFigma({ renderer: photoRenderer });
  const photo = figma.add(figma.currentPage, 'RECTANGLE', 'Photo', { x: 40, y: 30, width: 200, height: 150 });
  const other = figma.add(figma.currentPage, 'RECTANGLE', 'Other', { x: 400, y: 0, width: 100, height: 100 });
  new FigmaMainThread(figma.asApi(), { thumbnails: false }).start('<html></html>');
  let toUi: ((payload: unknown) => void) | undefined;
  figma.ui.deliver = (m) => toUi?.(m);
  const host = new PostMessageEditor({ post: (m) => figma.ui.receive(m), listen: (h) => { toUi = h; return () => { toUi = undefined; }; } });
  const client = new CompanionClient({ port: companion.port, token: companion.token, address: 'localhost', WebSocket: NodeWebSocket as unknown as typeof WebSocket });
  const seen: Rig['seen'] = [];
  const describe = (n: FakeNode) => JSON.stringify(n.describe());
  const runner = new BatchRunner(host, client, (jobs) => {
    const live = figma.currentPage._children!.find((n) => n.name === 'Photo · Starry Night');
    const fill = live?.fills.find((p) => p.type === 'IMAGE') as { imageHash?: string } | undefined;
    seen.push({ jobs: structuredClone(jobs), layers: figma.currentPage._children!.map((n) => n.name), photo: describe(photo), other: describe(other), liveHash: fill?.imageHash ?? undefined });
  });
  client.start();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not connected: ${JSON.stringify(client.state)}`)), 30_000);
    client.onStateChange((s) => { if (s.status === 'connected') { clearTimeout(timer); resolve(); } });
  });
  figma.select(photo);
  return { figma, host, client, runner, photo, other, seen, before: JSON.stringify(figma.describe()) };
}

function settings(changes: Partial<PluginSettings>): PluginSettings {
  return { ...DEFAULT_SETTINGS, ...changes };
}

async function until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function liveLayer(figma: FakeFigma): FakeNode | undefined {
  return figma.currentPage._children!.find((n) => n.name === 'Photo · Starry Night');
}

const STYLE = { kind: 'library', name: 'Starry Night' } as const;

test('the live layer: appears at the first preview above the source, follows the previews, becomes the result; one undo takes it all back', async () => {
  const r = await rig();
  try {
    const selection = await r.host.getSelection();
    const steps = r.figma.journal.steps.length;
    await r.runner.run(selection.layers, STYLE, settings({ outputSize: 128, iterations: 40 }));
    const job = r.runner.views[0];
    assert.equal(job.phase, 'done', JSON.stringify(job.error));
    const withLive = r.seen.filter((s) => s.liveHash !== undefined && s.jobs[0].phase === 'running');
    assert.ok(withLive.length > 0, 'the live layer was there while the job ran');
    const first = withLive[0];
    assert.deepEqual(first.layers, ['Photo', 'Photo · Starry Night', 'Other'], 'just above the source');
    assert.ok(first.jobs[0].iteration <= 3, `it appeared with the first previews (iteration ${first.jobs[0].iteration})`);
    const hashes = new Set(withLive.map((s) => s.liveHash));
    assert.ok(hashes.size >= 3, `its picture changed with the previews (${hashes.size} pictures)`);
    // While the job ran, nothing else of the document changed: the source and the other layer are as they were.
    const photoBefore = r.seen[0].photo, otherBefore = r.seen[0].other;
    for (const s of r.seen) {
      assert.equal(s.photo, photoBefore, 'the source is never touched');
      assert.equal(s.other, otherBefore);
      assert.ok(s.layers.length <= 3);
    }
    // The result is the live layer itself, now with the full-size picture, on the source's box.
    const result = liveLayer(r.figma)!;
    assert.equal(job.outcome?.nodeId, result.id);
    assert.deepEqual(result.absoluteBoundingBox, r.photo.absoluteBoundingBox);
    const bytes = r.figma.images.get((result.fills[0] as { imageHash: string }).imageHash)!;
    assert.deepEqual(pngSize(bytes), { width: 128, height: 96 });
    assert.ok(!withLive.some((s) => s.liveHash === (result.fills[0] as { imageHash: string }).imageHash), 'the previews were not the result');
    // One undo step for the whole Stylize, and it returns the document to exactly its state before.
    assert.equal(r.figma.journal.steps.length, steps + 1, 'one undo step, not one per preview');
    assert.equal(r.figma.journal.uncommitted, 0);
    r.figma.journal.undo();
    assert.equal(JSON.stringify(r.figma.describe()), r.before);
  } finally {
    r.client.stop();
  }
});

test('replace mode: the live layer shows the work above the source, then the source\'s fill takes the result; one undo restores it', async () => {
  const r = await rig();
  try {
    const selection = await r.host.getSelection();
    await r.runner.run(selection.layers, STYLE, settings({ outputSize: 128, iterations: 20, outputMode: 'replace' }));
    const job = r.runner.views[0];
    assert.equal(job.outcome?.mode, 'replace', JSON.stringify(job));
    assert.ok(r.seen.some((s) => s.liveHash !== undefined), 'live while it ran');
    assert.ok(r.seen.filter((s) => s.jobs[0].phase === 'running').every((s) => s.photo === r.seen[0].photo), 'the source untouched while it ran');
    assert.deepEqual(r.figma.currentPage._children!.map((n) => n.name), ['Photo', 'Other'], 'the live layer made way for the replaced fill');
    assert.equal(r.photo.fills[0].type, 'IMAGE');
    r.figma.journal.undo();
    assert.equal(JSON.stringify(r.figma.describe()), r.before);
  } finally {
    r.client.stop();
  }
});

test('Keep this: a multi-scale job stopped at its first scale places that picture at full size, in the live layer, as one undo step', async () => {
  const r = await rig();
  try {
    const selection = await r.host.getSelection();
    const steps = r.figma.journal.steps.length;
    const run = r.runner.run(selection.layers, STYLE, settings({ outputSize: 256, iterations: 300 }));
    await until('a live layer with a few previews', () => {
      const v = r.runner.views[0];
      return v?.live === true && v.previews.length >= 2 && r.runner.canKeep(v);
    });
    const liveId = liveLayer(r.figma)!.id;
    r.runner.keep(r.runner.views[0].id);
    assert.equal(r.runner.views[0].keeping, true);
    await run;
    const job = r.runner.views[0];
    assert.equal(job.phase, 'done', JSON.stringify(job.error));
    assert.equal(job.kept, true);
    assert.ok(job.iteration < 300, `stopped early, at iteration ${job.iteration}`);
    const result = liveLayer(r.figma)!;
    assert.equal(result.id, liveId, 'the live layer became the result');
    const bytes = r.figma.images.get((result.fills[0] as { imageHash: string }).imageHash)!;
    assert.deepEqual(pngSize(bytes), { width: 256, height: 192 }, 'full resolution, though stopped at the 128 px scale');
    assert.equal(r.figma.journal.steps.length, steps + 1);
    r.figma.journal.undo();
    assert.equal(JSON.stringify(r.figma.describe()), r.before);
  } finally {
    r.client.stop();
  }
});

test('Cancel removes the live layer: the document is as before, and no empty undo step is left', async () => {
  const r = await rig();
  try {
    const selection = await r.host.getSelection();
    const steps = r.figma.journal.steps.length;
    const run = r.runner.run(selection.layers, STYLE, settings({ outputSize: 128, iterations: 3000 }));
    await until('the live layer', () => r.runner.views[0]?.live === true && liveLayer(r.figma) !== undefined);
    r.runner.cancel(r.runner.views[0].id);
    await run;
    assert.equal(r.runner.views[0].phase, 'cancelled');
    assert.equal(liveLayer(r.figma), undefined);
    assert.equal(JSON.stringify(r.figma.describe()), r.before);
    assert.equal(r.figma.journal.steps.length, steps, 'nothing to undo');
  } finally {
    r.client.stop();
  }
});

test('closing the plugin mid-job: the live layer is removed before Figma ends the plugin; the document is as before', async () => {
  const r = await rig();
  const selection = await r.host.getSelection();
  const run = r.runner.run(selection.layers, STYLE, settings({ outputSize: 128, iterations: 3000 }));
  await until('the live layer', () => r.runner.views[0]?.live === true && liveLayer(r.figma) !== undefined);
  r.figma.closePlugin(); // the designer closes the plugin window: Figma runs the close callbacks, then commits
  r.host.dispose(); // the window is gone with it
  r.client.stop(); // its pagehide: the companion cancels the job
  await run;
  assert.equal(liveLayer(r.figma), undefined);
  assert.equal(JSON.stringify(r.figma.describe()), r.before);
  assert.equal(r.figma.journal.uncommitted, 0, 'closing committed');
  r.figma.journal.undo();
  assert.equal(JSON.stringify(r.figma.describe()), r.before, 'and that step holds nothing visible');
});

test('a job that fails removes its live layer and says why (the companion stopped mid-job)', async () => {
  const r = await rig();
  try {
    const selection = await r.host.getSelection();
    const run = r.runner.run(selection.layers, STYLE, settings({ outputSize: 128, iterations: 3000 }));
    await until('the live layer', () => r.runner.views[0]?.live === true && liveLayer(r.figma) !== undefined);
    await companion.stop();
    await run;
    const job = r.runner.views[0];
    assert.equal(job.phase, 'failed');
    assert.match(`${job.error?.title} ${job.error?.detail ?? ''}`, /companion/i);
    assert.equal(liveLayer(r.figma), undefined);
    assert.equal(JSON.stringify(r.figma.describe()), r.before);
  } finally {
    r.client.stop();
    await companion.start();
  }
});
