/** Initial images. Seeded so a run is reproducible on the same backend. */
import { seededRandom } from '../../common/random.ts';
import { RGB_MEAN } from '../../common/vgg19.ts';
import { matchColourStats } from './color.ts';
import type { FloatImage, InitName } from './types.ts';

/**
 * The seed blends in the network's input space (mean-subtracted), so in pixel space:
 * x = mean + ratio * U(-20, 20) + (1 - ratio) * (content - mean).
 * 'random' is the noise alone (ratio 1); 'content' starts from the content image; 'styled' from the
 * content recoloured to the styles' colour statistics: the first iterations then go to texture, not
 * to repainting the palette (docs/quality.md measured it).
 */
export function initialImage(content: FloatImage, init: InitName, noiseRatio: number, seed: number, styles: { image: FloatImage; weight: number }[] = []): Float32Array {
  if (init === 'styled') return styles.length ? matchColourStats(content.data, styles.map((s) => ({ data: s.image.data, weight: s.weight }))) : Float32Array.from(content.data);
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
