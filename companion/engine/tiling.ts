/** Tiles of an image for optimizing it piecewise, and feathered write-back so seams blend. */
import type { TilePlan } from './plan.ts';

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

function starts(length: number, size: number, step: number, shift: number): number[] {
  if (length <= size) return [0];
  const out = new Set<number>();
  // Shifted grid, each tile clamped inside the image so every tile is full size.
  for (let s = -shift; s < length - (size - step); s += step) out.add(Math.min(Math.max(0, s), length - size));
  out.add(length - size);
  return [...out].sort((a, b) => a - b);
}

/** The tiles of one pass; pass k shifts the grid by k/passes of a step, so seams move between passes. */
export function tileGrid(width: number, height: number, tile: TilePlan, pass: number): Rect[] {
  const step = tile.size - tile.overlap;
  const shift = Math.round((pass * step) / Math.max(1, tile.passes)) % step;
  const rects: Rect[] = [];
  for (const y of starts(height, tile.size, step, shift)) {
    for (const x of starts(width, tile.size, step, shift)) {
      rects.push({ x, y, w: Math.min(tile.size, width), h: Math.min(tile.size, height) });
    }
  }
  return rects;
}

/** Copies a rectangle of an HWC float image. */
export function crop(data: Float32Array, width: number, r: Rect, channels = 3): Float32Array {
  const out = new Float32Array(r.w * r.h * channels);
  for (let y = 0; y < r.h; y++) {
    const src = ((r.y + y) * width + r.x) * channels;
    out.set(data.subarray(src, src + r.w * channels), y * r.w * channels);
  }
  return out;
}

/**
 * Writes a tile back, blending linearly over `feather` pixels along edges that lie inside the
 * image (edges on the image border are written fully), so no hard seam is left.
 */
export function blendInto(target: Float32Array, width: number, height: number, tile: Float32Array, r: Rect, feather: number, channels = 3): void {
  const ramp = (d: number, interior: boolean) => (interior && feather > 0 ? Math.min(1, (d + 0.5) / feather) : 1);
  for (let y = 0; y < r.h; y++) {
    const wy = Math.min(ramp(y, r.y > 0), ramp(r.h - 1 - y, r.y + r.h < height));
    for (let x = 0; x < r.w; x++) {
      const w = Math.min(wy, ramp(x, r.x > 0), ramp(r.w - 1 - x, r.x + r.w < width));
      const t = (y * r.w + x) * channels;
      const o = ((r.y + y) * width + r.x + x) * channels;
      for (let c = 0; c < channels; c++) target[o + c] += w * (tile[t + c] - target[o + c]);
    }
  }
}

/** Bilinear resampling of an HWC float image (upsampling a coarse result to the next scale). */
export function resizeBilinear(data: Float32Array, w: number, h: number, nw: number, nh: number, channels = 3): Float32Array {
  const out = new Float32Array(nw * nh * channels);
  const sx = w / nw, sy = h / nh;
  for (let y = 0; y < nh; y++) {
    const fy = Math.min(h - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy), y1 = Math.min(h - 1, y0 + 1), ty = fy - y0;
    for (let x = 0; x < nw; x++) {
      const fx = Math.min(w - 1, Math.max(0, (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx), x1 = Math.min(w - 1, x0 + 1), tx = fx - x0;
      for (let c = 0; c < channels; c++) {
        const a = data[(y0 * w + x0) * channels + c], b = data[(y0 * w + x1) * channels + c];
        const d = data[(y1 * w + x0) * channels + c], e = data[(y1 * w + x1) * channels + c];
        out[(y * nw + x) * channels + c] = (a + (b - a) * tx) * (1 - ty) + (d + (e - d) * tx) * ty;
      }
    }
  }
  return out;
}
