/**
 * The ONNX Runtime evaluator against the tfjs reference (wasm) and against finite differences of its
 * own loss, on real weights and real images; then whole jobs on the onnx backend.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../companion/engine/select-backend.ts';
import { VggNet } from '../companion/engine/tf/vgg.ts';
import { TfEvaluator } from '../companion/engine/tf/evaluator.ts';
import { OnnxSessions } from '../companion/engine/onnx/sessions.ts';
import { Engine } from '../companion/engine/engine.ts';
import { loadVggWeights } from '../weights/loader.ts';
import { evaluatorSpec, prepareJob } from '../companion/engine/stylize.ts';
import { resolveSettings } from '../companion/engine/settings.ts';
import { initialImage } from '../companion/engine/init.ts';
import { seededRandom } from '../common/random.ts';
import { StylizeError } from '../common/errors.ts';
import type { EvaluatorSpec, Evaluation, Pooling, StylizeSettings } from '../companion/engine/types.ts';
import type { VggWeights } from '../weights/types.ts';
import { contentImage, styleImage } from './helpers/fixtures.ts';
import { weightsDir } from './helpers/paths.ts';

let weights: VggWeights;
let onnx: OnnxSessions;
before(async () => {
  await selectBackend('wasm');
  weights = await loadVggWeights(weightsDir());
  onnx = await OnnxSessions.open('cpu');
});
after(() => onnx.dispose());

async function jobSpec(size: number, content: string, overrides: Partial<StylizeSettings> = {}): Promise<{ spec: EvaluatorSpec; settings: StylizeSettings }> {
  const settings = resolveSettings({ size, tvWeight: 1e-3, ...overrides });
  // Two styles with unequal weights: the blended Gram targets are part of what is compared.
  const job = await prepareJob({ content: contentImage(content), styles: [{ image: styleImage('starry_night.jpg'), weight: 2 }, { image: styleImage('the_scream.jpg') }] }, settings);
  const spec = evaluatorSpec(settings, weights, job);
  return { spec, settings };
}

function relativeError(actual: Float32Array, expected: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < expected.length; i++) {
    num += (actual[i] - expected[i]) ** 2;
    den += expected[i] ** 2;
  }
  assert.ok(den > 0, 'reference gradient is not zero');
  return Math.sqrt(num / den);
}

function assertTermsClose(a: Evaluation['terms'], b: Evaluation['terms'], rel: number) {
  for (const k of ['content', 'style', 'tv', 'total'] as const) {
    assert.ok(Math.abs(a[k] - b[k]) <= rel * Math.abs(b[k]), `${k}: onnx ${a[k]} vs tfjs ${b[k]}`);
  }
}

async function compareWithTfjs(size: number, content: string, pooling: Pooling, check: (w: number, h: number) => void, note: (msg: string) => void, overrides: Partial<StylizeSettings> = {}) {
  const { spec, settings } = await jobSpec(size, content, { pooling, ...overrides });
  const { width, height } = spec.content;
  check(width, height);
  const net = new VggNet(weights, pooling);
  const ref = new TfEvaluator(net, spec, 'wasm');
  const ours = await onnx.createEvaluator(spec);
  try {
    assert.equal(ours.backend, 'onnx-cpu');
    // The optimizer's real starting point (noise + content) and a second, unrelated image.
    const rand = seededRandom(5);
    const images = [
      initialImage(spec.content, settings.init, settings.noiseRatio, settings.seed, spec.styles),
      Float32Array.from({ length: width * height * 3 }, () => rand() * 255),
    ];
    for (const [k, x] of images.entries()) {
      const [a, b] = [await ours.evaluate(x), await ref.evaluate(x)];
      // tfjs sums 10^5-element float32 reductions naively, so its loss values carry ~1e-4 error.
      assertTermsClose(a.terms, b.terms, 1e-3);
      const err = relativeError(a.grad, b.grad);
      note(`image ${k} at ${width}x${height} (${pooling}): gradient relative error ${err.toExponential(2)}, total ${a.terms.total} vs ${b.terms.total}`);
      assert.ok(err < 1e-3, `image ${k} at ${width}x${height} (${pooling}): gradient relative error ${err}`);
    }
  } finally {
    ours.dispose();
    ref.dispose();
    net.dispose();
  }
}

test('loss and gradient match the tfjs evaluator on a non-square, odd size (45 px gives 45x34: odd maps at several depths)', async (t) => {
  await compareWithTfjs(45, 'tubingen.jpg', 'avg', (w, h) => {
    assert.notEqual(w, h);
    assert.ok(w % 2 === 1 || h % 2 === 1, `${w}x${h} should have an odd side`);
  }, (m) => t.diagnostic(m));
});

test('loss and gradient match the tfjs evaluator at 96 px', async (t) => {
  await compareWithTfjs(96, 'golden_gate.jpg', 'avg', (w, h) => assert.equal(Math.max(w, h), 96), (m) => t.diagnostic(m));
});

test('max pooling matches the tfjs evaluator too', async (t) => {
  await compareWithTfjs(37, 'tubingen.jpg', 'max', () => {}, (m) => t.diagnostic(m));
});

test("the seed recipe's loss scaling and noise start match the tfjs evaluator too", async (t) => {
  await compareWithTfjs(45, 'golden_gate.jpg', 'avg', () => {}, (m) => t.diagnostic(m), { recipe: 'seed' });
});

test("'target' normalization: each term is a relative error against its target, the style term their weighted mean", async () => {
  const { spec } = await jobSpec(64, 'tubingen.jpg', { tvWeight: 0, styleLayers: (['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1'] as const).map((layer, i) => ({ layer, weight: [1, 2, 1, 1, 3][i] })) });
  assert.equal(spec.normalization, 'target');
  const styleLayers = spec.styleLayers.map((l) => l.layer);
  const features = await onnx.featureSession(weights, 'avg', spec.contentLayers, styleLayers);
  const want = { content: spec.contentLayers, style: styleLayers };
  // The targets as the evaluator makes them: content features, and the styles' Grams blended by weight.
  const target = await features.run(spec.content, want);
  const blended = new Map(styleLayers.map((l) => [l, new Float32Array(target.grams.get(l)!.length)]));
  for (const { image, weight } of spec.styles) {
    const g = (await features.run(image, want)).grams;
    for (const l of styleLayers) blended.get(l)!.forEach((_, i, a) => (a[i] += weight * g.get(l)![i]));
  }
  const rel2 = (a: Float32Array, b: Float32Array) => {
    let num = 0, den = 0;
    for (let i = 0; i < a.length; i++) {
      num += (a[i] - b[i]) ** 2;
      den += b[i] ** 2;
    }
    return num / den;
  };
  const ev = await onnx.createEvaluator(spec);
  try {
    const rand = seededRandom(9);
    const x = Float32Array.from(spec.content.data, (v) => Math.min(255, Math.max(0, v + rand() * 60 - 30)));
    const got = (await ev.evaluate(x)).terms;
    const fx = await features.run({ ...spec.content, data: x }, want);
    const content = rel2(fx.content.get('block4_conv2')!, target.content.get('block4_conv2')!);
    const weightSum = spec.styleLayers.reduce((a, l) => a + l.weight, 0);
    const style = spec.styleLayers.reduce((a, { layer, weight }) => a + weight * rel2(fx.grams.get(layer)!, blended.get(layer)!), 0) / weightSum;
    assert.ok(Math.abs(got.content - content) < 1e-3 * content, `content term ${got.content}, relative error squared ${content}`);
    assert.ok(Math.abs(got.style - style) < 1e-3 * style, `style term ${got.style}, weighted mean of relative errors squared ${style}`);
    assert.ok(Math.abs(got.total - (spec.contentWeight * content + spec.styleWeight * style)) < 1e-3 * got.total);
    // The point of it: scaled like this, no layer is negligible. Under the seed's scaling the
    // same image's layers differ by orders of magnitude (conv5_1's term is tiny next to conv4_1's).
    const perLayer = styleLayers.map((l) => rel2(fx.grams.get(l)!, blended.get(l)!));
    assert.ok(Math.max(...perLayer) / Math.min(...perLayer) < 100, `relative errors per layer: ${perLayer.join(', ')}`);
  } finally {
    ev.dispose();
  }
});

test("the gradient matches central finite differences of the onnx loss itself", async () => {
  const { spec } = await jobSpec(28, 'brad_pitt.jpg');
  const ev = await onnx.createEvaluator(spec);
  try {
    const rand = seededRandom(17);
    const x = Float32Array.from(spec.content.data, (v) => v + (rand() * 40 - 20));
    const { grad } = await ev.evaluate(x);
    const gNorm = Math.sqrt(grad.reduce((a, v) => a + v * v, 0));
    const directions = [Float32Array.from(grad, (v) => v / gNorm), Float32Array.from({ length: x.length }, () => rand() * 2 - 1)];
    const h = 0.1;
    for (const [k, d] of directions.entries()) {
      const plus = (await ev.evaluate(Float32Array.from(x, (v, i) => v + h * d[i]))).terms.total;
      const minus = (await ev.evaluate(Float32Array.from(x, (v, i) => v - h * d[i]))).terms.total;
      let analytic = 0, dNorm = 0;
      for (let i = 0; i < x.length; i++) {
        analytic += grad[i] * d[i];
        dNorm += d[i] * d[i];
      }
      const err = Math.abs((plus - minus) / (2 * h) - analytic) / (gNorm * Math.sqrt(dNorm));
      assert.ok(err < 5e-3, `direction ${k}: relative error ${err}`);
    }
  } finally {
    ev.dispose();
  }
});

test('style targets handed to the next evaluator give the same evaluation without the style pass', async () => {
  const { spec } = await jobSpec(32, 'tubingen.jpg');
  const first = await onnx.createEvaluator(spec);
  const targets = await first.styleTargets();
  assert.deepEqual([...targets.keys()].sort(), spec.styleLayers.map((s) => s.layer).sort());
  // No style images at all: the targets must come from the map.
  const second = await onnx.createEvaluator({ ...spec, styles: [], styleTargets: targets });
  const x = initialImage(spec.content, 'noise', 0.6, 3);
  const [a, b] = [await first.evaluate(x), await second.evaluate(x)];
  assert.equal(a.terms.total, b.terms.total);
  assert.deepEqual(a.grad, b.grad);
  first.dispose();
  second.dispose();
});

test('bad input to the evaluator is refused clearly; a disposed evaluator refuses work', async () => {
  const { spec } = await jobSpec(24, 'tubingen.jpg');
  const ev = await onnx.createEvaluator(spec);
  await assert.rejects(ev.evaluate(new Float32Array(5)), /expected 24x\d+x3/);
  ev.dispose();
  ev.dispose();
  await assert.rejects(ev.evaluate(new Float32Array(spec.content.data.length)), /after dispose/);
  await assert.rejects(onnx.createEvaluator({ ...spec, weights: { ...weights, layers: weights.layers.slice(0, 4) } }), (err: unknown) =>
    err instanceof StylizeError && err.code === 'bad_setting' && /not loaded/.test(err.message));
});

test('a short run on the onnx backend lowers the losses like the tfjs run does', async (t) => {
  const req = { content: contentImage('tubingen.jpg'), styles: [{ image: styleImage('starry_night.jpg') }], settings: { size: 48, iterations: 12, previewEvery: 4 } };
  const run = async (backend: string) => {
    const engine = await Engine.create({ backend, weightsDir: weightsDir() });
    const previews: number[] = [];
    try {
      const result = await engine.stylize(req, { onProgress: (p) => { if (p.preview) previews.push(p.iteration); } });
      return { result, previews, choice: engine.backend };
    } finally {
      engine.dispose();
    }
  };
  const o = await run('onnx-cpu');
  const w = await run('wasm');
  assert.equal(o.result.backend, 'onnx-cpu');
  assert.match(o.choice.device, /ONNX Runtime \(CPU execution provider\)/);
  // The first step is previewed at once (the designer sees something soon), then every previewEvery.
  assert.deepEqual(o.previews.filter((i) => i % 4 === 0), [4, 8, 12]);
  assert.equal(o.previews[0], 1);
  assert.equal(o.result.losses.length, 12);
  const [first, last] = [o.result.losses[0], o.result.losses.at(-1)!];
  assert.ok(last.total < 0.5 * first.total && last.style < first.style, `onnx losses ${first.total} -> ${last.total}`);
  // Same start, gradients equal to float precision: the curves coincide at first. Then L-BFGS's
  // curvature pairs amplify float-level differences, by about 1.6x per iteration, from a point that
  // depends on the input: measured 1.2% at iteration 12 with the content decoded in full, 3.1%
  // with it decoded at 48 px (0.02% at 6, 0.58% at 9). So the first half within 1% (the backends
  // agree), and the rest within 10% (the same descent, not a diverging one).
  let worst = 0;
  for (const [i, l] of o.result.losses.entries()) {
    const ref = w.result.losses[i];
    worst = Math.max(worst, Math.abs(l.total - ref.total) / ref.total);
    const tolerance = i < o.result.losses.length / 2 ? 0.01 : 0.1;
    assert.ok(Math.abs(l.total - ref.total) <= tolerance * ref.total, `iteration ${i + 1}: onnx ${l.total} vs tfjs ${ref.total}`);
  }
  t.diagnostic(`losses ${first.total.toExponential(3)} -> ${last.total.toExponential(3)}; largest difference from tfjs ${worst.toExponential(2)}`);
  assert.equal(o.result.image.width, w.result.image.width);
  assert.equal(o.result.image.height, w.result.image.height);
});

test('cancelling a job on the onnx backend stops it within an iteration', async () => {
  const engine = await Engine.create({ backend: 'onnx-cpu', weightsDir: weightsDir() });
  try {
    const ac = new AbortController();
    let seen = 0;
    const job = engine.stylize(
      { content: contentImage('tubingen.jpg'), styles: [{ image: styleImage('starry_night.jpg') }], settings: { size: 40, iterations: 200 } },
      { signal: ac.signal, onProgress: (p) => { seen = p.iteration; if (p.iteration === 3) ac.abort(); } },
    );
    await assert.rejects(job, (err: unknown) => err instanceof StylizeError && err.code === 'cancelled');
    assert.equal(seen, 3);
    // The engine is usable afterwards.
    const again = await engine.stylize({ content: contentImage('tubingen.jpg'), styles: [{ image: styleImage('starry_night.jpg') }], settings: { size: 24, iterations: 2 } });
    assert.equal(again.losses.length, 2);
  } finally {
    engine.dispose();
  }
});
