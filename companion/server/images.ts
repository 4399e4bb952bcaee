/**
 * Image checks and small encodes the daemon does itself, off the engine's worker: reject bad or huge
 * inputs before they wait in the queue, make previews and thumbnails. sharp runs on libuv's thread pool,
 * so none of this blocks the event loop.
 */
import sharp from 'sharp';
import { ProtocolError } from '../../protocol/errors.ts';
import { StylizeError } from '../../common/errors.ts';
import { probeImage as probeEngineImage, type ImageInfo } from '../engine/image.ts';

/**
 * The engine's image check (engine/image.ts) under this companion's pixel limit, as a protocol
 * refusal: a bad or huge input is refused before it waits in the queue.
 */
export async function probeImage(bytes: Uint8Array, maxPixels: number, label: string): Promise<ImageInfo> {
  try {
    return await probeEngineImage(bytes, label, { maxPixels, owner: "this companion's limit", raise: '(or raise --max-pixels)' });
  } catch (err) {
    if (err instanceof StylizeError) throw new ProtocolError(err.code === 'image_too_large' ? 'image_too_large' : 'bad_image', err.message);
    throw err;
  }
}

/** PNG of RGBA pixels, scaled down so its long side is at most `maxSide`. */
export async function rgbaToPng(rgba: Uint8Array, width: number, height: number, maxSide: number): Promise<{ png: Uint8Array; width: number; height: number }> {
  let pipeline = sharp(rgba, { raw: { width, height, channels: 4 } });
  if (Math.max(width, height) > maxSide) pipeline = pipeline.resize(maxSide, maxSide, { fit: 'inside' });
  const { data, info } = await pipeline.png({ compressionLevel: 3 }).toBuffer({ resolveWithObject: true });
  return { png: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

/** A small PNG thumbnail of an encoded image. */
export async function thumbnailPng(bytes: Uint8Array, maxSide: number, maxPixels: number): Promise<{ png: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels, pages: 1 })
    .rotate()
    .resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true })
    .png()
    .toBuffer({ resolveWithObject: true });
  return { png: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}
