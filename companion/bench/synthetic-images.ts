/**
 * Random content and style images for `stylize bench --synthetic`: uniform noise PNGs with the
 * shared images' 4:3 shape (800 x 600), so a synthetic run has the same dimensions per size as a
 * run on the real ones and the figures compare one to one.
 */
import sharp from 'sharp';
import { seededRandom } from '../../common/random.ts';

export const SYNTHETIC_IMAGE_SIZE = { width: 800, height: 600 };

async function noisePng(seed: number): Promise<Uint8Array> {
  const { width, height } = SYNTHETIC_IMAGE_SIZE;
  const rand = seededRandom(seed);
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.floor(rand() * 256);
  return sharp(pixels, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
}

export async function syntheticImages(seed = 1): Promise<{ content: Uint8Array; style: Uint8Array }> {
  return { content: await noisePng(seed * 2 + 1), style: await noisePng(seed * 2 + 2) };
}
