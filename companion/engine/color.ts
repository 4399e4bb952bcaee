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
