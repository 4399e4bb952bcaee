/** Whole runs on real weights and images: the losses fall, backends agree, runs reproduce. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { Engine } from '../companion/engine/engine.ts';
import type { LossTerms } from '../common/losses.ts';
import type { StylizeResult } from '../companion/engine/types.ts';
import { contentImage, styleImage } from './helpers/fixtures.ts';
import { weightsDir } from './helpers/paths.ts';

type Row = LossTerms & { iteration: number };

let wasm: Engine;
before(async () => {
  wasm = await Engine.create({ backend: 'wasm', weightsDir: weightsDir() });
});
after(() => wasm.dispose());

function assertConverges(losses: Row[], label: string) {
  const first = losses[0], last = losses.at(-1)!;
  // Steady: the total loss at each fifth of the run is below the one before.
  const marks = [0, 1, 2, 3, 4, 5].map((k) => losses[Math.min(losses.length - 1, Math.round((k * (losses.length - 1)) / 5))].total);
  for (let k = 1; k < marks.length; k++) assert.ok(marks[k] < marks[k - 1], `${label}: total loss rose between checkpoints: ${marks.join(' > ')}`);
  assert.ok(last.style < first.style / 5, `${label}: style loss fell only from ${first.style} to ${last.style}`);
  assert.ok(last.total < first.total / 4, `${label}: total loss fell only from ${first.total} to ${last.total}`);
}

test('a 40-iteration run of the seed recipe (Adam) on wasm lowers the total loss steadily and the style loss by a large factor', async () => {
  const result = await wasm.stylize({ content: contentImage('tubingen.jpg'), styles: [{ image: styleImage('starry_night.jpg') }], settings: { size: 64, iterations: 40, recipe: 'seed' } });
  assert.equal(result.losses.length, 40);
  assertConverges(result.losses, 'wasm adam');
  // Output keeps the content's aspect ratio (1024 x 768 -> 64 x 48) and decodes as an opaque PNG.
  const meta = await sharp(result.png).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', 64, 48, 3]);
});

test("L-BFGS lowers the seed's loss too", async () => {
  const result = await wasm.stylize({ content: contentImage('golden_gate.jpg'), styles: [{ image: styleImage('the_scream.jpg') }], settings: { size: 48, iterations: 15, recipe: 'seed', optimizer: 'lbfgs', learningRate: 1 } });
  assertConverges(result.losses, 'lbfgs');
});

test('the default plan lowers its loss from the styled start: every term is a relative error, so the style term falls below 0.1', async () => {
  const result = await wasm.stylize({ content: contentImage('golden_gate.jpg'), styles: [{ image: styleImage('the_scream.jpg') }], settings: { size: 64 } });
  const first = result.losses[0], last = result.losses.at(-1)!;
  assert.equal(result.losses.length, 35, 'one scale of the default 35 iterations at 64 px');
  // Relative errors: the start (the content in the style's colours) is within an order of magnitude of 1.
  assert.ok(first.style > 0.05 && first.style < 5, `style term at the start ${first.style}`);
  assert.ok(last.style < first.style / 3 && last.style < 0.1, `style term fell only from ${first.style} to ${last.style}`);
  assert.ok(last.total < first.total / 2, `total fell only from ${first.total} to ${last.total}`);
});

test('the same seed on the same backend reproduces the result; another seed does not', async () => {
  const req = (seed: number, init: 'noise' | 'styled') => ({ content: contentImage('brad_pitt.jpg'), styles: [{ image: styleImage('pattern.jpg') }], settings: { size: 40, iterations: 3, seed, init } });
  const a = await wasm.stylize(req(5, 'noise'));
  const b = await wasm.stylize(req(5, 'noise'));
  const c = await wasm.stylize(req(6, 'noise'));
  assert.deepEqual(a.image.data, b.image.data);
  assert.notDeepEqual(a.image.data, c.image.data);
  // The default start has no noise in it: the seed changes nothing there.
  assert.deepEqual((await wasm.stylize(req(5, 'styled'))).image.data, (await wasm.stylize(req(6, 'styled'))).image.data);
});

test('on the cpu backend a run converges too, and its first iterations agree with wasm', async () => {
  const req = { content: contentImage('golden_gate.jpg'), styles: [{ image: styleImage('starry_night.jpg') }], settings: { size: 32, iterations: 40, recipe: 'seed' as const } };
  const cpu = await Engine.create({ backend: 'cpu', weightsDir: weightsDir() });
  let onCpu: StylizeResult;
  try {
    onCpu = await cpu.stylize(req);
  } finally {
    cpu.dispose();
  }
  const onWasm = await wasm.stylize(req);
  assert.equal(onCpu.backend, 'tfjs-cpu');
  assert.equal(onWasm.backend, 'tfjs-wasm');
  assertConverges(onCpu.losses, 'cpu adam');
  for (let i = 0; i < 4; i++) {
    for (const k of ['content', 'style', 'total'] as const) {
      const a = onWasm.losses[i][k], b = onCpu.losses[i][k];
      assert.ok(Math.abs(a - b) <= 1e-3 * Math.abs(b), `iteration ${i + 1} ${k}: wasm ${a} vs cpu ${b}`);
    }
  }
});

test('transparent content keeps its alpha channel, and the output keeps its aspect ratio', async () => {
  // A real photo, cut to a circle on transparency and made non-square.
  const w = 90, h = 60;
  const mask = Buffer.from(`<svg width="${w}" height="${h}"><circle cx="45" cy="30" r="25" fill="white"/></svg>`);
  const photo = await sharp(contentImage('golden_gate.jpg')).resize(w, h, { fit: 'fill' }).ensureAlpha()
    .composite([{ input: mask, blend: 'dest-in' }]).png().toBuffer();
  const result = await wasm.stylize({ content: photo, styles: [{ image: styleImage('starry_night.jpg') }], settings: { size: 45, iterations: 2 } });
  assert.deepEqual([result.image.width, result.image.height], [45, 30]);
  const { data, info } = await sharp(result.png).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 4);
  const alphaAt = (x: number, y: number) => data[(y * info.width + x) * 4 + 3];
  assert.equal(alphaAt(0, 0), 0, 'corner outside the circle stays transparent');
  assert.equal(alphaAt(22, 15), 255, 'centre stays opaque');
});

test('what lies under see-through pixels does not change the result: only the visible picture counts', async () => {
  // An editor stores anything under alpha 0 (black, white, old paint). Two layers that look the same must stylize the same.
  const w = 60, h = 40;
  const photo = await sharp(contentImage('golden_gate.jpg')).resize(w, h, { fit: 'fill' }).ensureAlpha().raw().toBuffer();
  const circle = (under: number) => {
    const px = Buffer.from(photo);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      if ((x - 30) ** 2 + (y - 20) ** 2 <= 18 ** 2) continue;
      px.fill(under, (y * w + x) * 4, (y * w + x) * 4 + 3);
      px[(y * w + x) * 4 + 3] = 0;
    }
    return sharp(px, { raw: { width: w, height: h, channels: 4 } }).png().toBuffer();
  };
  // A style with a see-through half that holds green paint, and the visible half alone.
  const half = await sharp(styleImage('starry_night.jpg')).resize(40, 40, { fit: 'fill' }).ensureAlpha().png().toBuffer();
  const padded = await sharp({ create: { width: 80, height: 40, channels: 4, background: { r: 0, g: 255, b: 0, alpha: 0 } } })
    .composite([{ input: half, left: 0, top: 0 }]).png().toBuffer();
  const pixels = async (png: Uint8Array) => sharp(png).raw().toBuffer();
  for (const size of [60, 48]) { // as exported, and resized
    const run = async (content: Buffer, style: Buffer) => pixels((await wasm.stylize({ content, styles: [{ image: style }], settings: { size, iterations: 3, seed: 7 } })).png);
    const black = await run(await circle(0), half);
    assert.deepEqual(await run(await circle(255), half), black, `size ${size}: content with white under its see-through pixels`);
    assert.deepEqual(await run(await circle(0), padded), black, `size ${size}: style with a see-through margin`);
  }
});

test('a fully transparent content or style (an empty or hidden layer) is refused with the reason, before any work', async () => {
  const clear = await sharp({ create: { width: 40, height: 30, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
  const refused = (label: string) => (e: unknown) => (e as { code?: string }).code === 'bad_image' && new RegExp(`^The ${label} is fully transparent \\(40 x 30 px`).test((e as Error).message);
  await assert.rejects(wasm.stylize({ content: clear, styles: [{ image: styleImage('starry_night.jpg') }], settings: { size: 32, iterations: 2 } }), refused('content image'));
  await assert.rejects(wasm.stylize({ content: contentImage('tubingen.jpg'), styles: [{ image: styleImage('starry_night.jpg') }, { image: clear }], settings: { size: 32, iterations: 2 } }), refused('style image 2'));
  // One visible pixel is a picture.
  const dot = await sharp(clear).composite([{ input: { create: { width: 1, height: 1, channels: 4, background: { r: 0, g: 0, b: 255, alpha: 1 } } }, left: 5, top: 5 }]).png().toBuffer();
  assert.equal((await wasm.stylize({ content: dot, styles: [{ image: styleImage('starry_night.jpg') }], settings: { size: 32, iterations: 1 } })).image.width, 32);
});

test('cancelling stops within one iteration and frees every tensor', async () => {
  const baseline = wasm.memory().tensors;
  const controller = new AbortController();
  let seen = 0;
  const started = Date.now();
  await assert.rejects(
    wasm.stylize(
      { content: contentImage('tubingen.jpg'), styles: [{ image: styleImage('starry_night.jpg') }], settings: { size: 64, iterations: 500 } },
      { signal: controller.signal, onProgress: (p) => { seen = p.iteration; if (p.iteration === 3) controller.abort(); } },
    ),
    (err: Error & { code?: string }) => err.code === 'cancelled',
  );
  assert.equal(seen, 3, 'no iteration ran after the abort');
  assert.ok(Date.now() - started < 60_000);
  assert.equal(wasm.memory().tensors, baseline, 'tensor count back to its baseline');
});

test('bad inputs are refused with a code and a message that names the problem', async () => {
  const style = styleImage();
  const cases: [unknown, string, RegExp][] = [
    [{ content: new Uint8Array(), styles: [{ image: style }] }, 'bad_image', /empty/],
    [{ content: new TextEncoder().encode('not an image at all'), styles: [{ image: style }] }, 'bad_image', /not a readable image/],
    // sharp rasterizes SVG, but a vector file is not a picture to restyle: the daemon refuses it too.
    [{ content: new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"/>'), styles: [{ image: style }] }, 'bad_image', /content image is in svg format.*Use PNG, JPEG/],
    [{ content: contentImage().subarray(0, 5000), styles: [{ image: style }] }, 'bad_image', /content image could not be decoded.*truncated or damaged/],
    [{ content: contentImage(), styles: [] }, 'bad_setting', /style image/],
    [{ content: contentImage(), styles: [{ image: style }], settings: { iterations: -1 } }, 'bad_setting', /iterations must be between/],
    [{ content: contentImage(), styles: [{ image: style }], settings: { optimizer: 'sgd' } }, 'bad_setting', /optimizer must be one of/],
    [{ content: contentImage(), styles: [{ image: style }], settings: { styleLayers: 'conv9_9' } }, 'bad_setting', /Unknown VGG-19 layer/],
    [{ content: contentImage(), styles: [{ image: style }], settings: { colour: 1 } }, 'bad_setting', /Unknown setting "colour"/],
  ];
  const baseline = wasm.memory().tensors;
  for (const [req, code, message] of cases) {
    await assert.rejects(wasm.stylize(req as never), (err: Error & { code?: string }) => {
      assert.equal(err.code, code, err.message);
      assert.match(err.message, message);
      return true;
    });
  }
  assert.equal(wasm.memory().tensors, baseline);
});
