/** Planning scales and tiles, tiling geometry and blending: pure functions, no compute. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { autoScales, planJob } from '../companion/engine/plan.ts';
import { StylizeError } from '../common/errors.ts';
import { DEFAULT_SETTINGS, SEED_SETTINGS, resolveSettings } from '../companion/engine/settings.ts';
import { blendInto, crop, resizeBilinear, tileGrid } from '../companion/engine/tiling.ts';
import { trainingBytes } from '../companion/engine/memory.ts';
import { rgbToYiq, yiqToRgb } from '../companion/engine/color.ts';

const GiB = 2 ** 30;

test('coarse-to-fine is automatic from 362 px: a 128 px head, half the size, the size', () => {
  assert.deepEqual(autoScales(128), [128]);
  assert.deepEqual(autoScales(256), [256], 'one scale under 362 px');
  assert.deepEqual(autoScales(361), [361]);
  assert.deepEqual(autoScales(362), [128, 181, 362]);
  assert.deepEqual(autoScales(512), [128, 256, 512]);
  assert.deepEqual(autoScales(2048), [128, 1024, 2048]);
});

test('the default plan: L-BFGS from the styled content; `iterations` at half the size, 0.7x at the size, half at the head', () => {
  const s = resolveSettings({});
  assert.deepEqual([s.recipe, s.optimizer, s.learningRate, s.scales, s.iterations, s.init, s.lossNormalization], ['stylize', 'lbfgs', 1, 'auto', 35, 'styled', 'target']);
  assert.deepEqual(s.styleLayers.map((l) => [l.layer, l.weight]), ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1'].map((l) => [l, 1]), "the paper's equal layer weights");
  const plan = planJob({ width: 640, height: 480, size: 512, iterations: s.iterations, scales: s.scales, styleScale: 1, budgetBytes: 64 * GiB });
  assert.deepEqual(plan.stages.map((st) => [st.width, st.height, st.iterations]), [[128, 96, 18], [256, 192, 35], [512, 384, 25]]);
  assert.equal(plan.totalSteps, 18 + 35 + 25);
  assert.ok(plan.stages.every((st, k) => st.styleSize === [128, 256, 512][k]), 'the style follows each scale');
  const small = planJob({ width: 640, height: 480, size: 256, iterations: s.iterations, scales: s.scales, styleScale: 1, budgetBytes: 64 * GiB });
  assert.deepEqual(small.stages.map((st) => [st.width, st.height, st.iterations]), [[256, 192, 35]], 'under 362 px: one scale');
  const few = planJob({ width: 640, height: 480, size: 1024, iterations: 4, scales: 'auto', styleScale: 1, budgetBytes: 64 * GiB });
  assert.deepEqual(few.stages.map((st) => st.iterations), [4, 4, 3], 'the head never runs more than the main scale');
  const one = planJob({ width: 640, height: 480, size: 128, iterations: 7, scales: 'auto', styleScale: 1, budgetBytes: 64 * GiB });
  assert.deepEqual(one.stages.map((st) => st.iterations), [7], 'at 128 px the plan is one scale of `iterations`');
});

test('very elongated images: a result thinner than 16 px is refused with the size that works; coarse scales that thin are skipped', () => {
  const plan = (width: number, height: number, size: number) => planJob({ width, height, size, iterations: 35, scales: 'auto', styleScale: 1, budgetBytes: 64 * GiB });
  const refused = (width: number, height: number, size: number, message: RegExp) => assert.throws(() => plan(width, height, size), (e: unknown) => e instanceof StylizeError && e.code === 'bad_setting' && message.test(e.message));
  // A 2000 x 60 web banner: at 512 px the result would be 512 x 15.
  refused(2000, 60, 512, /^The image is 2000 x 60 px, so at size 512 the result would be 512 x 15 px: thinner than the 16 px the style needs\. Set the output size to at least 534 px, or stylize a less elongated crop\.$/);
  refused(20000, 30, 4096, /No output size up to 4096 px makes it that thick: stylize it in shorter pieces\./);
  assert.deepEqual(plan(2000, 60, 534).stages.map((st) => [st.width, st.height, st.iterations]), [[534, 16, 35]], 'the size the message names works; the 128 and 267 px scales (4 and 8 px thick) are skipped and the one scale runs all its iterations');
  assert.deepEqual(plan(2000, 200, 1024).stages.map((st) => [st.width, st.height, st.iterations]), [[512, 51, 35], [1024, 102, 25]], 'only the 128 x 13 head is skipped');
  assert.deepEqual(plan(60, 2000, 534).stages.map((st) => [st.width, st.height]), [[16, 534]], 'portrait the same');
  // Scales the caller listed are not dropped behind their back: one too thin is refused, naming the bound.
  const listed = (scales: number[]) => planJob({ width: 2000, height: 60, size: 1024, iterations: 35, scales, styleScale: 1, budgetBytes: 64 * GiB });
  assert.throws(() => listed([256, 1024]), (e: unknown) => e instanceof StylizeError && e.code === 'bad_setting' && /^The image is 2000 x 60 px, so scale 256 would work on 256 x 8 px: thinner than the 16 px the style needs\. List only scales of at least 534 px, or set scales to 'auto'\.$/.test(e.message));
  assert.deepEqual(listed([534, 1024]).stages.map((st) => [st.width, st.height]), [[534, 16], [1024, 31]], 'the bound it names works');
});

test('the seed recipe is one setting away: recipe seed', () => {
  const s = resolveSettings({ recipe: 'seed' });
  assert.deepEqual([s.optimizer, s.learningRate, s.iterations, s.scales], ['adam', 2, 300, 'off']);
  assert.deepEqual([s.init, s.noiseRatio, s.contentWeight, s.styleWeight, s.tvWeight, s.lossNormalization], ['noise', 0.6, 0.01, 1, 0, 'seed']);
  assert.deepEqual(s.styleLayers.map((l) => l.weight), [0.5, 1, 1.5, 3, 4]);
  assert.deepEqual(s, { ...SEED_SETTINGS, size: s.size });
  const plan = planJob({ width: 640, height: 480, size: 512, iterations: s.iterations, scales: s.scales, styleScale: 1, budgetBytes: 64 * GiB });
  assert.deepEqual(plan.stages.map((st) => [st.width, st.height, st.iterations]), [[512, 384, 300]]);
  // Settings given with the recipe still win over its defaults.
  const mixed = resolveSettings({ recipe: 'seed', iterations: 50, styleLayerWeights: [1, 1, 1, 1, 1] });
  assert.deepEqual([mixed.iterations, mixed.optimizer, mixed.styleLayers.map((l) => l.weight)], [50, 'adam', [1, 1, 1, 1, 1]]);
  assert.equal(resolveSettings({ optimizer: 'adam', learningRate: 0.5 }).learningRate, 0.5, 'an explicit learning rate wins');
  assert.throws(() => resolveSettings({ recipe: 'cs20si' }), /recipe must be one of stylize, seed/);
});

test('explicit schedules: finer scales get fewer iterations; bad ones are checked', () => {
  const explicit = planJob({ width: 100, height: 100, size: 400, iterations: 50, scales: [100, 200], scaleIterations: [50, 20, 5], styleScale: 0.5, budgetBytes: 64 * GiB });
  assert.deepEqual(explicit.stages.map((s) => [s.width, s.iterations, s.styleSize]), [[100, 50, 50], [200, 20, 100], [400, 5, 200]]);
  assert.throws(() => planJob({ width: 10, height: 10, size: 400, iterations: 5, scales: [200, 100], styleScale: 1, budgetBytes: GiB }), /increasing/);
  assert.throws(() => planJob({ width: 10, height: 10, size: 400, iterations: 5, scales: [200], scaleIterations: [1], styleScale: 1, budgetBytes: GiB }), /one count per scale/);
});

test('a scale over the memory budget is tiled with tiles that fit; nothing fits -> out_of_memory', () => {
  const budget = 2.6 * GiB;
  const plan = planJob({ width: 2048, height: 2048, size: 2048, iterations: 20, scales: [512, 1024, 2048], scaleIterations: [20, 10, 5], styleScale: 1, budgetBytes: budget });
  const [s512, s1024, s2048] = plan.stages;
  assert.equal(s512.tile, undefined);
  for (const s of [s1024, s2048]) {
    assert.ok(s.tile, `${s.width} px is tiled`);
    assert.ok(trainingBytes(s.tile!.size, s.tile!.size) <= budget);
    assert.ok(trainingBytes(s.tile!.size + 16, s.tile!.size + 16) > budget, 'the largest tile that fits');
    assert.ok(s.tile!.overlap >= 16 && s.tile!.overlap < s.tile!.size / 2);
  }
  // Steps count every tile of every pass.
  assert.ok(plan.totalSteps > s512.iterations + s1024.iterations + s2048.iterations);
  assert.throws(
    () => planJob({ width: 512, height: 512, size: 512, iterations: 5, scales: 'off', styleScale: 1, budgetBytes: 10 * 2 ** 20 }),
    (err: Error & { code?: string }) => err.code === 'out_of_memory' && /tile fits/.test(err.message),
  );
});

test('every pass of tiles covers the whole image, and passes shift the seams', () => {
  const tile = { size: 128, overlap: 16, passes: 3 };
  const seams: string[] = [];
  for (let pass = 0; pass < 3; pass++) {
    const rects = tileGrid(500, 300, tile, pass);
    const covered = new Uint8Array(500 * 300);
    for (const r of rects) {
      assert.ok(r.x >= 0 && r.y >= 0 && r.x + r.w <= 500 && r.y + r.h <= 300, 'inside the image');
      assert.equal(r.w, 128);
      for (let y = r.y; y < r.y + r.h; y++) covered.fill(1, y * 500 + r.x, y * 500 + r.x + r.w);
    }
    assert.ok(covered.every((c) => c === 1), `pass ${pass} covers everything`);
    seams.push(rects.map((r) => r.x).join(','));
  }
  assert.equal(new Set(seams).size, 3, 'each pass puts its tile edges elsewhere');
});

test('feathered write-back: interior edges blend, image borders are written fully', () => {
  const w = 8, h = 1;
  const target = new Float32Array(w * h * 3).fill(0);
  const tile = new Float32Array(4 * 3).fill(100);
  blendInto(target, w, h, tile, { x: 2, y: 0, w: 4, h: 1 }, 2);
  const red = Array.from({ length: w }, (_, i) => target[i * 3]);
  assert.deepEqual(red, [0, 0, 25, 75, 75, 25, 0, 0]);
  const all = new Float32Array(4 * 3).fill(0);
  blendInto(all, 4, 1, tile, { x: 0, y: 0, w: 4, h: 1 }, 2);
  assert.ok(all.every((v) => v === 100), 'a tile covering the image is copied as is');
  assert.deepEqual(Array.from(crop(Float32Array.from({ length: 4 * 2 * 3 }, (_, i) => i), 4, { x: 1, y: 1, w: 2, h: 1 })), [15, 16, 17, 18, 19, 20]);
});

test('bilinear resize keeps constants and linear ramps', () => {
  const ramp = Float32Array.from({ length: 4 * 3 }, (_, i) => Math.floor(i / 3) * 10);
  const up = resizeBilinear(ramp, 4, 1, 8, 1);
  const xs = Array.from({ length: 8 }, (_, i) => up[i * 3]);
  for (let i = 1; i < 8; i++) assert.ok(xs[i] >= xs[i - 1]);
  assert.equal(xs[0], 0);
  assert.equal(xs[7], 30);
});

test('YIQ round trip is exact to float precision', () => {
  const rgb = Float32Array.from([255, 0, 0, 0, 255, 0, 10, 20, 200, 128, 128, 128]);
  const back = yiqToRgb(rgbToYiq(rgb));
  for (let i = 0; i < rgb.length; i++) assert.ok(Math.abs(back[i] - rgb[i]) < 0.05, `${i}: ${back[i]} vs ${rgb[i]}`);
});
