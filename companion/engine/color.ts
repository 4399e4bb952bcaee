/**
 * Colour preservation (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer"):
 * transfer style on luminance only, then put the content's colour back. YIQ as in the paper.
 */
import type { FloatImage } from './types.ts';

/** RGB (0..255) -> YIQ, per pixel, NTSC coefficients. */
export function rgbToYiq(rgb: Float32Array): Float32Array {
  const out = new Float32Array(rgb.length);
  for (let i = 0; i < rgb.length; i += 3) {
    const r = rgb[i], g = rgb[i + 1], b = rgb[i + 2];
    out[i] = 0.299 * r + 0.587 * g + 0.114 * b;
    out[i + 1] = 0.595716 * r - 0.274453 * g - 0.321263 * b;
    out[i + 2] = 0.211456 * r - 0.522591 * g + 0.311135 * b;
  }
  return out;
}

export function yiqToRgb(yiq: Float32Array): Float32Array {
  const out = new Float32Array(yiq.length);
  for (let i = 0; i < yiq.length; i += 3) {
    const y = yiq[i], iq = yiq[i + 1], q = yiq[i + 2];
    out[i] = y + 0.9563 * iq + 0.621 * q;
    out[i + 1] = y - 0.2721 * iq - 0.6474 * q;
    out[i + 2] = y - 1.107 * iq + 1.7046 * q;
  }
  return out;
}

function meanStd(values: Float32Array, stride: number): { mean: number; std: number } {
  let sum = 0, sq = 0, n = 0;
  for (let i = 0; i < values.length; i += stride) {
    sum += values[i];
    sq += values[i] * values[i];
    n++;
  }
  const mean = sum / n;
  return { mean, std: Math.sqrt(Math.max(0, sq / n - mean * mean)) };
}

/** The image's luminance in all three channels: what the network sees in luminance-only transfer. */
export function luminanceImage(img: FloatImage, match?: { mean: number; std: number }): FloatImage {
  const yiq = rgbToYiq(img.data);
  const src = meanStd(yiq, 3);
  // Histogram matching by mean and standard deviation, as in Gatys et al. 2017 (section 4).
  const scale = match ? match.std / (src.std || 1) : 1;
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < data.length; i += 3) {
    const y = match ? (yiq[i] - src.mean) * scale + match.mean : yiq[i];
    data[i] = data[i + 1] = data[i + 2] = y;
  }
  return { ...img, data };
}

export function luminanceStats(img: FloatImage): { mean: number; std: number } {
  return meanStd(rgbToYiq(img.data), 3);
}

/** The result's luminance with the content's chroma (I, Q). Same size required. */
export function recombineWithContentColour(result: Float32Array, content: Float32Array): Float32Array {
  const y = rgbToYiq(result);
  const c = rgbToYiq(content);
  for (let i = 0; i < y.length; i += 3) {
    y[i + 1] = c[i + 1];
    y[i + 2] = c[i + 2];
  }
  return yiqToRgb(y);
}

/** Mean and 3x3 covariance of an RGB image's pixels. */
function colourStats(rgb: Float32Array): { mean: number[]; cov: number[][] } {
  const n = rgb.length / 3;
  const mean = [0, 0, 0];
  for (let i = 0; i < rgb.length; i += 3) for (let c = 0; c < 3; c++) mean[c] += rgb[i + c];
  for (let c = 0; c < 3; c++) mean[c] /= n;
  const cov = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (let i = 0; i < rgb.length; i += 3) {
    for (let a = 0; a < 3; a++) for (let b = a; b < 3; b++) cov[a][b] += (rgb[i + a] - mean[a]) * (rgb[i + b] - mean[b]);
  }
  for (let a = 0; a < 3; a++) for (let b = a; b < 3; b++) cov[b][a] = cov[a][b] /= n;
  return { mean, cov };
}

/** Eigen-decomposition of a symmetric 3x3 matrix (cyclic Jacobi): columns of `vectors`. */
function symmetricEigen(m: number[][]): { values: number[]; vectors: number[][] } {
  const a = m.map((r) => [...r]);
  const v = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
  for (let sweep = 0; sweep < 50; sweep++) {
    const off = a[0][1] ** 2 + a[0][2] ** 2 + a[1][2] ** 2;
    if (off < 1e-18) break;
    for (const [p, q] of [[0, 1], [0, 2], [1, 2]]) {
      if (Math.abs(a[p][q]) < 1e-30) continue;
      const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1), s = t * c;
      for (let k = 0; k < 3; k++) {
        const akp = a[k][p], akq = a[k][q];
        a[k][p] = c * akp - s * akq;
        a[k][q] = s * akp + c * akq;
      }
      for (let k = 0; k < 3; k++) {
        const apk = a[p][k], aqk = a[q][k];
        a[p][k] = c * apk - s * aqk;
        a[q][k] = s * apk + c * aqk;
      }
      for (let k = 0; k < 3; k++) {
        const vkp = v[k][p], vkq = v[k][q];
        v[k][p] = c * vkp - s * vkq;
        v[k][q] = s * vkp + c * vkq;
      }
    }
  }
  return { values: [a[0][0], a[1][1], a[2][2]], vectors: v };
}

/** Symmetric matrix power m^p through its eigen-decomposition (eigenvalues floored: flat images stay finite). */
function symmetricPower(m: number[][], p: number): number[][] {
  const { values, vectors } = symmetricEigen(m);
  const d = values.map((x) => Math.max(x, 1e-3) ** p);
  return [0, 1, 2].map((i) => [0, 1, 2].map((j) => vectors[i][0] * d[0] * vectors[j][0] + vectors[i][1] * d[1] * vectors[j][1] + vectors[i][2] * d[2] * vectors[j][2]));
}

/**
 * The image recoloured to the references' colour mean and covariance (a linear map, the colour
 * histogram matching of Gatys et al. 2017, section 3, applied the other way round). Several
 * references blend as a mixture with their weights (summing to 1), like the style Grams do.
 */
export function matchColourStats(rgb: Float32Array, references: { data: Float32Array; weight: number }[]): Float32Array {
  const src = colourStats(rgb);
  const mean = [0, 0, 0];
  const second = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (const r of references) {
    const st = colourStats(r.data);
    for (let a = 0; a < 3; a++) {
      mean[a] += r.weight * st.mean[a];
      for (let b = 0; b < 3; b++) second[a][b] += r.weight * (st.cov[a][b] + st.mean[a] * st.mean[b]);
    }
  }
  const cov = second.map((row, a) => row.map((v, b) => v - mean[a] * mean[b]));
  const to = symmetricPower(cov, 0.5), from = symmetricPower(src.cov, -0.5);
  const t = [0, 1, 2].map((i) => [0, 1, 2].map((j) => to[i][0] * from[0][j] + to[i][1] * from[1][j] + to[i][2] * from[2][j]));
  const out = new Float32Array(rgb.length);
  for (let i = 0; i < rgb.length; i += 3) {
    const d0 = rgb[i] - src.mean[0], d1 = rgb[i + 1] - src.mean[1], d2 = rgb[i + 2] - src.mean[2];
    for (let c = 0; c < 3; c++) out[i + c] = Math.min(255, Math.max(0, mean[c] + t[c][0] * d0 + t[c][1] * d1 + t[c][2] * d2));
  }
  return out;
}
