/** Decoding, sizing and encoding of images with sharp. The engine's only door to image files. */
import sharp, { type Metadata, type Stats } from 'sharp';
import { StylizeError, errorSummary } from '../../common/errors.ts';
import type { FloatImage, RgbaImage } from './types.ts';

/** Default cap on decoded pixels: 8192 x 8192, far over Figma's 4096 limit, far under a bomb. */
export const DEFAULT_MAX_INPUT_PIXELS = 8192 * 8192;

export interface DecodedImage {
  width: number;
  height: number;
  /** RGBA, 8 bit, with EXIF orientation applied. */
  rgba: Uint8Array;
  /** True when some pixel is not fully opaque. */
  hasAlpha: boolean;
  /** The picture's own size, as shown (before any shrinking or cropping here): what messages name. */
  source: { width: number; height: number };
  /**
   * With alpha: the colour see-through pixels are laid on (their visible pixels' mean). What an
   * editor stores under alpha 0 is arbitrary (black, white, old paint) and resizing turns it black,
   * so without this the hidden colour would enter the losses and the start image.
   */
  matte?: readonly [number, number, number];
}

/** Image formats a user may hand in (sharp decodes more, e.g. SVG or PDF, which are not pictures to restyle). */
export const ACCEPTED_FORMATS = ['png', 'jpeg', 'webp', 'gif', 'tiff', 'avif', 'heif'] as const;
const FORMATS_IN_WORDS = 'PNG, JPEG, WebP, GIF, TIFF or AVIF';

export interface ImageInfo {
  width: number;
  height: number;
  /** sharp's format name: 'png', 'jpeg', ... */
  format: string;
  /** Whether it has an alpha channel (its pixels may still all be opaque). */
  hasAlpha: boolean;
}

export interface ImageLimit {
  maxPixels?: number;
  /** How a refusal names the limit and says how to raise it (the daemon: "this companion's limit", --max-pixels). */
  owner?: string;
  raise?: string;
}

/** Header only: format, size and the pixel limit, without decoding pixels (a decompression bomb is never allocated). */
async function readHeader(bytes: Uint8Array, label: string, limit: ImageLimit): Promise<ImageInfo> {
  const maxPixels = limit.maxPixels ?? DEFAULT_MAX_INPUT_PIXELS;
  if (!bytes || bytes.length === 0) throw new StylizeError('bad_image', `The ${label} is empty (0 bytes). Send a PNG, JPEG or WebP file.`);
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new StylizeError('bad_image', `The ${label} is not a readable image (${errorSummary(err)}). Use ${FORMATS_IN_WORDS}.`, { cause: err });
  }
  const format = meta.format ?? 'unknown';
  if (!(ACCEPTED_FORMATS as readonly string[]).includes(format)) {
    throw new StylizeError('bad_image', `The ${label} is in ${format} format, which Stylize does not take. Use ${FORMATS_IN_WORDS}.`);
  }
  // EXIF orientations 5-8 turn the picture a quarter: its width and height as shown are swapped.
  const turned = (meta.orientation ?? 1) >= 5;
  const width = (turned ? meta.height : meta.width) ?? 0;
  const height = (turned ? meta.width : meta.height) ?? 0;
  if (width < 1 || height < 1) throw new StylizeError('bad_image', `The ${label} has no pixels (${width} x ${height}).`);
  if (width * height > maxPixels) {
    throw new StylizeError(
      'image_too_large',
      `The ${label} is ${width} x ${height} = ${megapixels(width * height)} MP, over ${limit.owner ?? 'the limit'} of ${megapixels(maxPixels)} MP. Scale it down${limit.raise ? ` ${limit.raise}` : ''}.`,
    );
  }
  return { width, height, format, hasAlpha: meta.hasAlpha === true };
}

/** The refusal of a fully transparent image (an empty or hidden layer exports so). */
export function fullyTransparent(label: string, width: number, height: number): StylizeError {
  return new StylizeError('bad_image', `The ${label} is fully transparent (${width} x ${height} px, every pixel see-through), so it has no picture to ${label.startsWith('content') ? 'stylize' : 'take a style from'}. Use an image or layer with visible pixels.`);
}

/**
 * Checks that `bytes` are one whole image in an accepted format of at most `maxPixels`, with some
 * visible pixel, without keeping its pixels: the header first, then a decode into per-channel
 * statistics (streaming, little memory), which finds truncated or damaged files and a fully
 * transparent one. For checks before a job waits or starts.
 */
export async function probeImage(bytes: Uint8Array, label = 'image', limit: ImageLimit = {}): Promise<ImageInfo> {
  const info = await readHeader(bytes, label, limit);
  let stats: Stats;
  try {
    // failOn 'warning' turns libvips' "premature end of file" into an error instead of grey pixels.
    stats = await sharp(bytes, { limitInputPixels: limit.maxPixels ?? DEFAULT_MAX_INPUT_PIXELS, failOn: 'warning', pages: 1 }).stats();
  } catch (err) {
    throw new StylizeError('bad_image', `The ${label} could not be decoded (${errorSummary(err)}): the file is truncated or damaged. Export it again.`, { cause: err });
  }
  if (info.hasAlpha && stats.channels.at(-1)!.max === 0) throw fullyTransparent(label, info.width, info.height);
  return info;
}

/**
 * Decodes to 8-bit RGBA. With `longSide`, a larger picture comes out at that long side (its aspect
 * kept, as fitLongSide sizes it): a job never works above its output size, and JPEG then decodes
 * shrunk (a 24 MP photo for a 512 px job takes a fraction of the time and memory). With
 * `cropToVisible` (a style), see-through margins are cut off first, at full resolution, so the
 * picture kept is the same whatever margin it had.
 */
export async function decodeImage(bytes: Uint8Array, opts: { maxPixels?: number; label?: string; longSide?: number; cropToVisible?: boolean } = {}): Promise<DecodedImage> {
  const label = opts.label ?? 'image';
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_INPUT_PIXELS;
  const header = await readHeader(bytes, label, { maxPixels });
  const cropFirst = opts.cropToVisible === true && header.hasAlpha;
  let img: DecodedImage;
  try {
    let pipeline = sharp(bytes, { limitInputPixels: maxPixels, failOn: 'warning', pages: 1 }).rotate();
    if (!cropFirst && opts.longSide !== undefined && Math.max(header.width, header.height) > opts.longSide) {
      const to = fitLongSide(header.width, header.height, opts.longSide);
      // fastShrinkOnLoad off: JPEG shrinks while decoding only as far as keeps lanczos3's quality (no moire, true colours).
      pipeline = pipeline.resize(to.width, to.height, { fit: 'fill', kernel: 'lanczos3', fastShrinkOnLoad: false });
    }
    const { data, info } = await pipeline.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    const rgba = new Uint8Array(data.buffer, data.byteOffset, data.length);
    let hasAlpha = false;
    for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 255) { hasAlpha = true; break; }
    img = { width: info.width, height: info.height, rgba, hasAlpha, source: { width: header.width, height: header.height } };
  } catch (err) {
    throw new StylizeError('bad_image', `The ${label} could not be decoded (${errorSummary(err)}): the file is truncated or damaged. Export it again.`, { cause: err });
  }
  if (cropFirst) {
    img = cropToVisible(img);
    if (opts.longSide !== undefined && Math.max(img.width, img.height) > opts.longSide) {
      const to = fitLongSide(img.width, img.height, opts.longSide);
      const small = await resizeRgba({ width: img.width, height: img.height, data: img.rgba }, to.width, to.height);
      img = { ...img, width: small.width, height: small.height, rgba: small.data };
    }
  }
  if (img.hasAlpha) img.matte = visibleMean(img.rgba);
  return img;
}

function megapixels(pixels: number): string {
  return (pixels / 1e6).toFixed(pixels < 1e5 ? 3 : 1);
}

/** Output size for a long side of `size`, keeping the aspect ratio (at least 1 px each way). */
export function fitLongSide(width: number, height: number, size: number): { width: number; height: number } {
  const scale = size / Math.max(width, height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** Resizes RGBA pixels with a high-quality filter. */
export async function resizeRgba(img: RgbaImage, width: number, height: number): Promise<RgbaImage> {
  if (img.width === width && img.height === height) return img;
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 4 } })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

/** The alpha-weighted mean colour of RGBA pixels; mid grey when none is visible. */
export function visibleMean(rgba: Uint8Array): [number, number, number] {
  let r = 0, g = 0, b = 0, a = 0;
  for (let i = 0; i < rgba.length; i += 4) {
    const w = rgba[i + 3];
    r += w * rgba[i]; g += w * rgba[i + 1]; b += w * rgba[i + 2]; a += w;
  }
  return a > 0 ? [r / a, g / a, b / a] : [128, 128, 128];
}

/** The image cut to the box of its visible pixels (a style's see-through margins carry no style). */
export function cropToVisible(img: DecodedImage): DecodedImage {
  if (!img.hasAlpha) return img;
  let x0 = img.width, y0 = img.height, x1 = -1, y1 = -1;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      if (img.rgba[(y * img.width + x) * 4 + 3] === 0) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  if (x1 < 0 || (x0 === 0 && y0 === 0 && x1 === img.width - 1 && y1 === img.height - 1)) return img;
  const width = x1 - x0 + 1, height = y1 - y0 + 1;
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) rgba.set(img.rgba.subarray(((y0 + y) * img.width + x0) * 4, ((y0 + y) * img.width + x1 + 1) * 4), y * width * 4);
  return { ...img, width, height, rgba };
}

/** Float RGB of RGBA pixels; with a matte, each pixel is laid over it by its alpha (see DecodedImage.matte). */
export function rgbaToFloatRgb(img: RgbaImage, matte?: readonly [number, number, number]): FloatImage {
  const n = img.width * img.height;
  const data = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) {
    const a = matte ? img.data[i * 4 + 3] / 255 : 1;
    for (let c = 0; c < 3; c++) data[i * 3 + c] = a * img.data[i * 4 + c] + (a < 1 ? (1 - a) * matte![c] : 0);
  }
  return { width: img.width, height: img.height, channels: 3, data };
}

/** Float RGB (clipped to 0..255) plus an alpha plane (or opaque) -> 8-bit RGBA. */
export function floatRgbToRgba(rgb: Float32Array, width: number, height: number, alpha?: Uint8Array): RgbaImage {
  const n = width * height;
  const data = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) data[i * 4 + c] = Math.min(255, Math.max(0, Math.round(rgb[i * 3 + c])));
    data[i * 4 + 3] = alpha ? alpha[i] : 255;
  }
  return { width, height, data };
}

export function alphaPlane(img: RgbaImage): Uint8Array {
  const a = new Uint8Array(img.width * img.height);
  for (let i = 0; i < a.length; i++) a[i] = img.data[i * 4 + 3];
  return a;
}

export async function encodePng(img: RgbaImage, opts: { opaque?: boolean } = {}): Promise<Uint8Array> {
  let pipeline = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 4 } });
  if (opts.opaque) pipeline = pipeline.removeAlpha();
  const buf = await pipeline.png().toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}
