/** The optimizer's start and its first step: the styled init, and L-BFGS whatever the loss's scale. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeImage, rgbaToFloatRgb } from '../companion/engine/image.ts';
import { initialImage } from '../companion/engine/init.ts';
import { Lbfgs } from '../companion/engine/optimize/lbfgs.ts';
import { contentImage, styleImage } from './helpers/fixtures.ts';
import type { FloatImage } from '../companion/engine/types.ts';

async function floatImage(bytes: Uint8Array): Promise<FloatImage> {
  const d = await decodeImage(bytes);
  return rgbaToFloatRgb({ width: d.width, height: d.height, data: d.rgba });
}

function stats(rgb: Float32Array) {
  const n = rgb.length / 3;
  const mean = [0, 1, 2].map((c) => rgb.filter((_, i) => i % 3 === c).reduce((a, b) => a + b, 0) / n);
  const cov = [0, 1, 2].map((a) => [0, 1, 2].map((b) => {
    let s = 0;
    for (let i = 0; i < rgb.length; i += 3) s += (rgb[i + a] - mean[a]) * (rgb[i + b] - mean[b]);
    return s / n;
  }));
  return { mean, cov };
}

test("the 'styled' start is the content in the style's colours: its colour mean and covariance become the style's", async () => {
  const content = await floatImage(contentImage('tubingen.jpg'));
  const style = await floatImage(styleImage('starry_night.jpg'));
  const x = initialImage(content, 'styled', 0.6, 0, [{ image: style, weight: 1 }]);
  const [got, want, before] = [stats(x), stats(style.data), stats(content.data)];
  for (let c = 0; c < 3; c++) {
    assert.ok(Math.abs(got.mean[c] - want.mean[c]) < 4, `channel ${c} mean ${got.mean[c]} vs the style's ${want.mean[c]} (content ${before.mean[c]})`);
    for (let d = 0; d < 3; d++) {
      // Values are clipped to 0..255, so the covariance lands near, not on, the style's.
      assert.ok(Math.abs(got.cov[c][d] - want.cov[c][d]) < 0.15 * want.cov[c][c], `cov[${c}][${d}] ${got.cov[c][d]} vs ${want.cov[c][d]}`);
    }
  }
  // Still the content's picture: the map is linear per pixel, so its structure is untouched.
  let corr = 0, a2 = 0, b2 = 0;
  const lum = (d: Float32Array, i: number) => d[i] + d[i + 1] + d[i + 2];
  const [ma, mb] = [before.mean.reduce((p, q) => p + q), got.mean.reduce((p, q) => p + q)];
  for (let i = 0; i < x.length; i += 3) {
    const a = lum(content.data, i) - ma, b = lum(x, i) - mb;
    corr += a * b; a2 += a * a; b2 += b * b;
  }
  assert.ok(Math.abs(corr / Math.sqrt(a2 * b2)) > 0.8, `luminance correlation with the content ${corr / Math.sqrt(a2 * b2)}`);
  // Two styles blend like their Grams do: halfway between, the mean is halfway between.
  const other = await floatImage(styleImage('the_scream.jpg'));
  const mixed = stats(initialImage(content, 'styled', 0.6, 0, [{ image: style, weight: 0.5 }, { image: other, weight: 0.5 }]));
  const otherMean = stats(other.data).mean;
  for (let c = 0; c < 3; c++) assert.ok(Math.abs(mixed.mean[c] - (want.mean[c] + otherMean[c]) / 2) < 4, `blended mean, channel ${c}`);
});

test('a flat content image does not make the styled start blow up', async () => {
  const flat: FloatImage = { width: 8, height: 8, channels: 3, data: new Float32Array(8 * 8 * 3).fill(128) };
  const style = await floatImage(styleImage('starry_night.jpg'));
  const x = initialImage(flat, 'styled', 0.6, 0, [{ image: style, weight: 1 }]);
  assert.ok(x.every((v) => Number.isFinite(v) && v >= 0 && v <= 255));
});

test('L-BFGS makes the same progress whatever the scale of the loss (a relative-error loss is ~1e-6 per pixel)', async () => {
  // f(x) = k * sum(c_i (x_i - a_i)^2) with unequal curvatures, from 0, at k = 1 and k = 1e-9.
  const n = 3000;
  const a = Float32Array.from({ length: n }, (_, i) => 50 + (i % 97));
  const c = Float32Array.from({ length: n }, (_, i) => 1 + (i % 7));
  const run = async (k: number) => {
    const x = new Float32Array(n);
    const opt = new Lbfgs(1);
    const objective = async (v: Float32Array) => {
      let total = 0;
      const grad = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        total += k * c[i] * (v[i] - a[i]) ** 2;
        grad[i] = 2 * k * c[i] * (v[i] - a[i]);
      }
      return { terms: { content: total, style: 0, tv: 0, total }, grad };
    };
    const first = (await objective(x)).terms.total;
    for (let it = 0; it < 25; it++) await opt.step(x, objective);
    return (await objective(x)).terms.total / first;
  };
  const [plain, tiny] = [await run(1), await run(1e-9)];
  assert.ok(plain < 1e-3, `unit scale: the loss fell only to ${plain} of its start`);
  assert.ok(tiny < 1e-3, `1e-9 scale: the loss fell only to ${tiny} of its start`);
});
