/**
 * Image checks and small encodes the daemon does itself, off the engine: reject bad or huge inputs
 * before they wait in the queue, make previews and thumbnails. sharp runs on libuv's thread pool,
 * so none of this blocks the event loop.
 */
import sharp from 'sharp';
import { ProtocolError } from '../../protocol/errors.ts';

export const ACCEPTED_FORMATS = ['png', 'jpeg', 'webp', 'gif', 'tiff', 'avif', 'heif'] as const;

export interface ImageInfo {
  width: number;
  height: number;
  format: string;
}

/**
 * Checks that `bytes` are one whole image of at most `maxPixels`. The size is read from the header
 * first, so a decompression bomb is refused before any pixel is allocated; then the image is decoded
 * through a tiny resize (streaming, little memory), which finds truncated or damaged files.
 */
export async function probeImage(bytes: Uint8Array, maxPixels: number, label: string): Promise<ImageInfo> {
  if (bytes.length === 0) throw new ProtocolError('bad_image', `The ${label} is empty (0 bytes). Send a PNG, JPEG or WebP file.`);
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new ProtocolError('bad_image', `The ${label} is not a readable image (${firstLine(err)}). Send PNG, JPEG, WebP, GIF, TIFF or AVIF bytes.`);
  }
  const format = meta.format ?? 'unknown';
  if (!(ACCEPTED_FORMATS as readonly string[]).includes(format)) {
    throw new ProtocolError('bad_image', `The ${label} is in ${format} format, which the companion does not take. Send PNG, JPEG, WebP, GIF, TIFF or AVIF.`);
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (width < 1 || height < 1) throw new ProtocolError('bad_image', `The ${label} has no pixels (${width} x ${height}).`);
  if (width * height > maxPixels) {
    throw new ProtocolError(
      'image_too_large',
      `The ${label} is ${width} x ${height} = ${mp(width * height)} MP, over this companion's limit of ${mp(maxPixels)} MP. Scale it down (or raise --max-pixels).`,
    );
  }
  try {
    // failOn 'warning' turns libvips' "premature end of file" into an error instead of grey pixels.
    await sharp(bytes, { limitInputPixels: maxPixels, failOn: 'warning', pages: 1 })
      .resize(8, 8, { fit: 'inside' })
      .raw()
      .toBuffer();
  } catch (err) {
    throw new ProtocolError('bad_image', `The ${label} could not be decoded (${firstLine(err)}): the file is truncated or damaged. Export it again.`);
  }
  return { width, height, format };
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

function mp(pixels: number): string {
  return (pixels / 1e6).toFixed(pixels < 1e5 ? 3 : 1);
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0].slice(0, 200);
}
