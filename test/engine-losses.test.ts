/** The loss definitions against values computed by hand, and gradients against finite differences. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { selectBackend } from '../companion/engine/select-backend.ts';
import { tf } from '../companion/engine/tf/runtime.ts';
import { contentLoss, gramNormalized, styleLayerLoss, tvLoss } from '../companion/engine/tf/losses.ts';
import { VggNet, avgPool2 } from '../companion/engine/tf/vgg.ts';
import { TfEvaluator } from '../companion/engine/tf/evaluator.ts';
import { loadVggWeights } from '../weights/loader.ts';
import { prepareJob } from '../companion/engine/stylize.ts';
import { resolveSettings } from '../companion/engine/settings.ts';
import { seededRandom } from '../common/random.ts';
import { contentImage, styleImage } from './helpers/fixtures.ts';
import { weightsDir } from './helpers/paths.ts';
import type { VggWeights } from '../weights/types.ts';

let weights: VggWeights;
before(async () => {
  await selectBackend('wasm');
  weights = await loadVggWeights(weightsDir());
});

function close(actual: number, expected: number, rel = 1e-5, msg = '') {
  assert.ok(Math.abs(actual - expected) <= rel * Math.max(1, Math.abs(expected)), `${msg} ${actual} vs ${expected}`);
}

// F is [M=H*W positions, N channels]; hand-written loops, no tfjs.
function gramByHand(f: number[][]): number[][] {
  const n = f[0].length;
  const g = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (const row of f) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) g[i][j] += row[i] * row[j];
  return g;
}

test('Gram matrix is F^T F over positions, divided by M', async () => {
  // 1 x 2 x 2 x 2: positions (0,0)=[1,2] (0,1)=[3,4] (1,0)=[5,6] (1,1)=[7,8]
  const feats = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2]);
  const g = await gramNormalized(feats).array();
  // G = [[1+9+25+49, 2+12+30+56], [.., 4+16+36+64]] = [[84, 100], [100, 120]], / M = 4
  assert.deepEqual(g, [[21, 25], [25, 30]]);
  feats.dispose();
});

test('content loss is sum((F-P)^2) / (4 s)', async () => {
  const f = tf.tensor4d([1, 2, 3, 4, 5, 6], [1, 1, 3, 2]);
  const p = tf.tensor4d([0, 2, 5, 4, 1, 6], [1, 1, 3, 2]);
  // squared diffs: 1, 0, 4, 0, 16, 0 = 21; s = 6 -> 21 / 24
  close(await contentLoss(f, p).array() as number, 21 / 24);
});

test("style layer loss is sum((G-A)^2) / (4 N^2 M^2) with the paper's unnormalized Grams", async () => {
  const rand = seededRandom(7);
  const h = 3, w = 4, n = 5, m = h * w;
  const fx = Array.from({ length: m }, () => Array.from({ length: n }, () => rand() * 3));
  const fs = Array.from({ length: m }, () => Array.from({ length: n }, () => rand() * 3));
  const G = gramByHand(fx), A = gramByHand(fs);
  let sum = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) sum += (G[i][j] - A[i][j]) ** 2;
  const expected = sum / (4 * n * n * m * m);
  const x = tf.tensor4d(fx.flat(), [1, h, w, n]);
  const s = tf.tensor4d(fs.flat(), [1, h, w, n]);
  const actual = await styleLayerLoss(x, gramNormalized(s)).array() as number;
  close(actual, expected, 1e-5, 'style loss');
});

test('total variation is the sum of squared neighbour differences', async () => {
  // one channel 2x3: [[0, 1, 3], [2, 2, 2]]; dx: 1,2,0,0 -> 1+4 = 5; dy: 2,1,-1 -> 4+1+1 = 6
  const x = tf.tensor4d([0, 1, 3, 2, 2, 2], [1, 2, 3, 1]);
  close(await tvLoss(x).array() as number, 11);
});

test('the fast conv input gradient equals tfjs conv2d gradient on real VGG kernels', async () => {
  const net = new VggNet({ ...weights, layers: weights.layers.slice(0, 2) }, 'avg');
  const layer = weights.layers[1];
  const kernel = tf.tensor4d(layer.kernel, layer.kernelShape);
  const bias = tf.tensor1d(layer.bias);
  const rand = seededRandom(3);
  const x = tf.tensor4d(Float32Array.from({ length: 7 * 9 * 64 }, () => rand() * 4 - 1), [1, 7, 9, 64]);
  const weightsOut = tf.tensor4d(Float32Array.from({ length: 7 * 9 * 64 }, () => rand() - 0.5), [1, 7, 9, 64]);
  // Reference: plain ops, tfjs's own gradients.
  const ref = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.relu(tf.add(tf.conv2d(t as tf.Tensor4D, kernel, 1, 'same'), bias)), weightsOut)))(x);
  // Ours: the same function through VggNet's second conv (features() of block1_conv2 on an input that skips conv1).
  const ours = tf.grad((t: tf.Tensor) => {
    const apply = (net as unknown as { layers: { apply: (x: tf.Tensor4D) => tf.Tensor4D }[] }).layers[1].apply;
    return tf.sum(tf.mul(apply(t as tf.Tensor4D), weightsOut));
  })(x);
  const [a, b] = [await ref.data(), await ours.data()];
  let maxErr = 0, maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    maxErr = Math.max(maxErr, Math.abs(a[i] - b[i]));
    maxRef = Math.max(maxRef, Math.abs(a[i]));
  }
  assert.ok(maxRef > 0.1, 'reference gradient is not trivially zero');
  assert.ok(maxErr <= 1e-4 * maxRef, `max error ${maxErr} vs scale ${maxRef}`);
  net.dispose();
});

test("average pooling's gradient divides by the window's valid count at odd borders", async () => {
  // 3x3 input, 'same' 2x2/2 pooling -> 2x2 windows of 4, 2, 2 and 1 valid pixels.
  const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
  const up = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
  assert.deepEqual(Array.from(await avgPool2(x).data()), [3, 4.5, 7.5, 9]);
  const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(avgPool2(t as tf.Tensor4D), up)))(x);
  assert.deepEqual(Array.from(await g.data()), [0.25, 0.25, 1, 0.25, 0.25, 1, 1.5, 1.5, 4]);
});

test('evaluator gradient matches central finite differences of the real loss', async () => {
  // Odd sizes on purpose (24 x 18: pooling truncates windows at 9 -> 5 rows).
  const settings = resolveSettings({ size: 24, tvWeight: 1e-3 });
  const job = await prepareJob({ content: contentImage(), styles: [{ image: styleImage() }] }, settings);
  assert.equal(job.content.height % 2 === 1 || (job.content.height / 2) % 2 === 1, true);
  const net = new VggNet(weights, 'avg');
  const ev = new TfEvaluator(net, {
    weights, content: job.content, styles: job.styles, contentLayers: settings.contentLayers, styleLayers: settings.styleLayers,
    contentWeight: settings.contentWeight, styleWeight: settings.styleWeight, tvWeight: settings.tvWeight, pooling: 'avg',
    normalization: settings.lossNormalization,
  }, 'wasm');
  const rand = seededRandom(11);
  const x = Float32Array.from(job.content.data, (v) => v + (rand() * 40 - 20));
  const { grad, terms } = await ev.evaluate(x);
  assert.ok(terms.content > 0 && terms.style > 0 && terms.tv > 0);
  const gNorm = Math.sqrt(grad.reduce((a, v) => a + v * v, 0));
  // Directions: the gradient itself (strong signal) and random ones. The error is measured
  // against |g| |d|, the scale of a directional derivative, since float32 losses are noisy.
  const directions = [Float32Array.from(grad, (v) => v / gNorm)];
  for (let k = 0; k < 3; k++) directions.push(Float32Array.from({ length: x.length }, () => rand() * 2 - 1));
  const h = 0.1;
  for (const [k, d] of directions.entries()) {
    const plus = (await ev.evaluate(Float32Array.from(x, (v, i) => v + h * d[i]))).terms.total;
    const minus = (await ev.evaluate(Float32Array.from(x, (v, i) => v - h * d[i]))).terms.total;
    const numeric = (plus - minus) / (2 * h);
    let analytic = 0, dNorm = 0;
    for (let i = 0; i < x.length; i++) {
      analytic += grad[i] * d[i];
      dNorm += d[i] * d[i];
    }
    const err = Math.abs(numeric - analytic) / (gNorm * Math.sqrt(dNorm));
    assert.ok(err < 5e-3, `direction ${k}: numeric ${numeric} vs analytic ${analytic} (relative error ${err})`);
  }
  ev.dispose();
  net.dispose();
});
