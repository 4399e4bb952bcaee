/** Initial images. Seeded so a run is reproducible on the same backend. */
import { RGB_MEAN } from '../../common/vgg19.ts';
import type { FloatImage, InitName } from './types.ts';

/** mulberry32: small, fast, good enough for init noise; Math.random cannot be seeded. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The seed blends in the network's input space (mean-subtracted), so in pixel space:
 * x = mean + ratio * U(-20, 20) + (1 - ratio) * (content - mean).
 * 'random' is the noise alone (ratio 1); 'content' starts from the content image.
 */
export function initialImage(content: FloatImage, init: InitName, noiseRatio: number, seed: number): Float32Array {
  const out = new Float32Array(content.data.length);
  if (init === 'content') {
    out.set(content.data);
    return out;
  }
  const ratio = init === 'random' ? 1 : noiseRatio;
  const rand = seededRandom(seed);
  for (let i = 0; i < out.length; i++) {
    const mean = RGB_MEAN[i % 3];
    out[i] = mean + ratio * (rand() * 40 - 20) + (1 - ratio) * (content.data[i] - mean);
  }
  return out;
}
