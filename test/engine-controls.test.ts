/** Colour preservation, style blends, coarse-to-fine and tiling on real weights and images (wasm). */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { Engine } from '../companion/engine/engine.ts';
import { rgbToYiq } from '../companion/engine/color.ts';
import { decodeImage, rgbaToFloatRgb, resizeRgba } from '../companion/engine/image.ts';
import { VggNet } from '../companion/engine/tf/vgg.ts';
import { TfEvaluator } from '../companion/engine/tf/evaluator.ts';
import { prepareJob } from '../companion/engine/stylize.ts';
import { resolveSettings } from '../companion/engine/settings.ts';
import type { RgbaImage } from '../companion/engine/types.ts';
import { contentImage, styleImage } from './helpers/fixtures.ts';
import { weightsDir } from './helpers/paths.ts';

let engine: Engine;
before(async () => {
  engine = await Engine.create({ backend: 'wasm', weightsDir: weightsDir() });
});
after(() => engine.dispose());

/** Mean absolute difference of the I and Q (chroma) channels, 0..255 units. */
function chromaDistance(a: RgbaImage, b: RgbaImage): number {
  const ya = rgbToYiq(rgbaToFloatRgb(a).data), yb = rgbToYiq(rgbaToFloatRgb(b).data);
  let sum = 0;
  for (let i = 0; i < ya.length; i += 3) sum += Math.abs(ya[i + 1] - yb[i + 1]) + Math.abs(ya[i + 2] - yb[i + 2]);
  return sum / (ya.length / 3);
}

/** The content as the engine sees it at w x h (decoded at the job's size, as stylize does). */
async function contentAt(name: string, w: number, h: number): Promise<RgbaImage> {
  const d = await decodeImage(contentImage(name), { longSide: Math.max(w, h) });
  return resizeRgba({ width: d.width, height: d.height, data: d.rgba }, w, h);
}

test("preserving colours keeps the content's chroma; plain transfer does not", async () => {
  const req = (preserveColors: boolean) => ({ content: contentImage('golden_gate.jpg'), styles: [{ image: styleImage('starry_night.jpg') }], settings: { size: 64, iterations: 25, preserveColors } });
  const kept = await engine.stylize(req(true));
  const plain = await engine.stylize(req(false));
  const content = await contentAt('golden_gate.jpg', kept.image.width, kept.image.height);
  const dKept = chromaDistance(kept.image, content);
  const dPlain = chromaDistance(plain.image, content);
  assert.ok(dKept < 2, `chroma moved by ${dKept} with colours preserved`);
  assert.ok(dPlain > 4 * dKept && dPlain > 5, `plain transfer should recolour (chroma distance ${dPlain})`);
  // And it is still a style transfer: the luminance changed.
  const yk = rgbToYiq(rgbaToFloatRgb(kept.image).data), yc = rgbToYiq(rgbaToFloatRgb(content).data);
  let dy = 0;
  for (let i = 0; i < yk.length; i += 3) dy += Math.abs(yk[i] - yc[i]);
  assert.ok(dy / (yk.length / 3) > 5, 'luminance was stylized');
});

test('two styles blend monotonically with their weights', async () => {
  const a = styleImage('starry_night.jpg'), b = styleImage('pattern.jpg');
  const outputs: Uint8Array[] = [];
  for (const wA of [0, 0.5, 1]) {
    const r = await engine.stylize({ content: contentImage('tubingen.jpg'), styles: [{ image: a, weight: wA }, { image: b, weight: 1 - wA }], settings: { size: 48, iterations: 30 } });
    outputs.push(r.png);
  }
  // Score each output's style loss against style A alone and B alone.
  const settings = resolveSettings({ size: 48, contentWeight: 0 });
  const net = new VggNet(engine.weights, 'avg');
  const scoreAgainst = async (style: Uint8Array) => {
    const scores = [];
    for (const png of outputs) {
      const job = await prepareJob({ content: png, styles: [{ image: style }] }, settings);
      const ev = new TfEvaluator(net, { weights: engine.weights, content: job.content, styles: job.styles, contentLayers: settings.contentLayers, styleLayers: settings.styleLayers, contentWeight: 0, styleWeight: 1, tvWeight: 0, pooling: 'avg', normalization: 'target' }, 'wasm');
      scores.push((await ev.evaluate(job.content.data)).terms.style);
      ev.dispose();
    }
    return scores;
  };
  const toA = await scoreAgainst(a), toB = await scoreAgainst(b);
  net.dispose();
  assert.ok(toA[0] > toA[1] && toA[1] > toA[2], `distance to style A falls as its weight rises: ${toA}`);
  assert.ok(toB[0] < toB[1] && toB[1] < toB[2], `distance to style B rises as A's weight rises: ${toB}`);
});

test('coarse-to-fine: the coarse scale is a head start, ahead of as many full-resolution iterations from the start', async () => {
  const base = { content: contentImage('brad_pitt.jpg'), styles: [{ image: styleImage('the_scream.jpg') }] };
  const single = await engine.stylize({ ...base, settings: { size: 96, iterations: 40, scales: 'off' } });
  const multi = await engine.stylize({ ...base, settings: { size: 96, scales: [48, 96], scaleIterations: [40, 15] } });
  const fine = multi.losses.filter((l) => l.stage === 1);
  assert.equal(fine.length, 15);
  // 15 full-size iterations after the coarse scale against the first 15 of the single-scale run.
  const singleAt15 = single.losses[14].total;
  assert.ok(fine.at(-1)!.total < singleAt15, `15 full-size iterations after the coarse scale: ${fine.at(-1)!.total} vs 15 single-scale: ${singleAt15}`);
  assert.ok(single.losses.at(-1)!.total < singleAt15, 'the single-scale run keeps improving');
});

test('a job over the memory budget runs in tiles, converges and keeps its size', async () => {
  const prev = process.env.STYLIZE_MEMORY_MB;
  process.env.STYLIZE_MEMORY_MB = '160'; // 160 x 120 needs ~180 MB: tiled in 128 px tiles
  const tiles = new Set<number>();
  try {
    const r = await engine.stylize(
      { content: contentImage('golden_gate.jpg'), styles: [{ image: styleImage('starry_night.jpg') }], settings: { size: 160, iterations: 12, scales: 'off' } },
      { onProgress: (p) => { if (p.stage.tile) tiles.add(p.stage.tile.index); } },
    );
    assert.deepEqual([r.image.width, r.image.height], [160, 120]);
    assert.ok(tiles.size >= 4, `ran in tiles (${tiles.size} tile visits)`);
    const firstPass = r.losses.slice(0, 4).map((l) => l.style);
    const lastPass = r.losses.slice(-4).map((l) => l.style);
    assert.ok(Math.max(...lastPass) < Math.min(...firstPass), `style loss fell across passes: ${firstPass} -> ${lastPass}`);
  } finally {
    if (prev === undefined) delete process.env.STYLIZE_MEMORY_MB;
    else process.env.STYLIZE_MEMORY_MB = prev;
  }
});

test('stop and keep: a multi-scale job stopped at its coarsest scale returns that image, upsampled to the full size', async () => {
  const finish = new AbortController();
  const previews: RgbaImage[] = [];
  let stages = 0;
  const result = await engine.stylize(
    { content: contentImage('golden_gate.jpg'), styles: [{ image: styleImage('starry_night.jpg') }], settings: { size: 400, iterations: 20, previewEvery: 1 } },
    {
      finishSignal: finish.signal,
      onProgress: (e) => {
        stages = e.stage.count;
        assert.equal(e.stage.index, 0, 'no finer scale starts after stop and keep');
        if (e.preview) previews.push(e.preview);
        if (e.iteration === 3) finish.abort();
      },
    },
  );
  assert.ok(stages > 1, `a multi-scale plan (${stages} scales)`);
  assert.equal(result.stopped, true);
  assert.equal(result.losses.length, 3, 'stopped within one iteration');
  assert.ok(result.losses.length < result.plan.totalSteps);
  const out = result.plan.stages[result.plan.stages.length - 1];
  assert.deepEqual([result.image.width, result.image.height], [out.width, out.height], 'full output size');
  assert.equal(result.image.width, 400);
  const meta = await sharp(result.png).metadata();
  assert.deepEqual([meta.width, meta.height], [out.width, out.height]);
  // The kept picture is the last preview (the coarse image), upsampled: close to it, far from the content.
  const last = previews[previews.length - 1];
  const down = await resizeRgba(result.image, last.width, last.height);
  const diff = (a: RgbaImage, b: RgbaImage) => { let s = 0; for (let i = 0; i < a.data.length; i++) if (i % 4 !== 3) s += Math.abs(a.data[i] - b.data[i]); return s / (a.data.length * 0.75); };
  const content = await contentAt('golden_gate.jpg', last.width, last.height);
  assert.ok(diff(down, last) < 6, `kept image matches the current one (mean diff ${diff(down, last).toFixed(2)})`);
  assert.ok(diff(down, last) * 3 < diff(content, last), 'and is not the content');
});

test('stop and keep asked at the very last iteration: the whole plan ran, so the result is not marked stopped', async () => {
  const finish = new AbortController();
  const result = await engine.stylize(
    { content: contentImage('golden_gate.jpg'), styles: [{ image: styleImage('starry_night.jpg') }], settings: { size: 64, iterations: 2, previewEvery: 0 } },
    { finishSignal: finish.signal, onProgress: (e) => { if (e.iteration === e.iterations) finish.abort(); } },
  );
  assert.equal(result.stopped, undefined);
  assert.equal(result.losses.length, result.plan.totalSteps);
});
