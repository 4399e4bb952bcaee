/**
 * Pixel work the Photopea page does itself (Photopea only hands over whole-canvas PNGs): cut a
 * layer's box out of the canvas, scale, encode PNG, and make data: URLs. Browser canvas APIs only.
 */
import type { Bounds } from '../host/host.ts';

type Canvas2D = OffscreenCanvasRenderingContext2D | CanvasRenderingContext2D;

function makeCanvas(width: number, height: number): { ctx: Canvas2D; toPng(): Promise<Uint8Array> } {
  if (typeof OffscreenCanvas === 'function') {
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('This browser cannot draw on a canvas.');
    return { ctx, toPng: async () => new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer()) };
  }
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('This browser cannot draw on a canvas.');
  return {
    ctx,
    toPng: () => new Promise((resolve, reject) => canvas.toBlob((blob) => {
      if (!blob) return reject(new Error('The picture could not be encoded as PNG.'));
      blob.arrayBuffer().then((b) => resolve(new Uint8Array(b)), reject);
    }, 'image/png')),
  };
}

async function decode(bytes: ArrayBuffer | Uint8Array): Promise<ImageBitmap> {
  try {
    return await createImageBitmap(new Blob([bytes as BlobPart], { type: 'image/png' }));
  } catch (err) {
    throw new Error(`the picture could not be decoded (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** `box` clipped to a width x height canvas; null when nothing of it is on the canvas. */
export function clipToCanvas(box: Bounds, width: number, height: number): Bounds | null {
  const x0 = Math.max(0, Math.floor(box.x));
  const y0 = Math.max(0, Math.floor(box.y));
  const x1 = Math.min(width, Math.ceil(box.x + box.width));
  const y1 = Math.min(height, Math.ceil(box.y + box.height));
  if (x1 - x0 < 1 || y1 - y0 < 1) return null;
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** The size that keeps the aspect ratio with the long side at most maxSide (never enlarged). */
export function fitWithin(width: number, height: number, maxSide: number): { width: number; height: number } {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/**
 * Cuts `box` (document pixels) out of a whole-canvas PNG of a docWidth x docHeight document and
 * scales it so its long side is at most maxSide. The PNG may have another resolution than the
 * document's pixel size; the box is scaled along.
 */
export async function cropLayer(canvasPng: ArrayBuffer, docWidth: number, docHeight: number, box: Bounds, maxSide: number):
  Promise<{ png: Uint8Array; width: number; height: number }> {
  const image = await decode(canvasPng);
  try {
    const sx = image.width / docWidth;
    const sy = image.height / docHeight;
    const size = fitWithin(box.width, box.height, maxSide);
    const { ctx, toPng } = makeCanvas(size.width, size.height);
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(image, box.x * sx, box.y * sy, box.width * sx, box.height * sy, 0, 0, size.width, size.height);
    return { png: await toPng(), ...size };
  } finally {
    image.close();
  }
}

/** A PNG scaled to exactly width x height. */
export async function resizePng(png: Uint8Array, width: number, height: number): Promise<Uint8Array> {
  const image = await decode(png);
  try {
    if (image.width === width && image.height === height) return png;
    const { ctx, toPng } = makeCanvas(width, height);
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(image, 0, 0, width, height);
    return await toPng();
  } finally {
    image.close();
  }
}

/** The box [left, top, right, bottom] of a PNG's non-transparent pixels; null when it has none. */
export async function opaqueBox(png: Uint8Array): Promise<[number, number, number, number] | null> {
  const image = await decode(png);
  try {
    const { ctx } = makeCanvas(image.width, image.height);
    ctx.drawImage(image, 0, 0);
    const d = ctx.getImageData(0, 0, image.width, image.height).data;
    let x0 = image.width, y0 = image.height, x1 = 0, y1 = 0;
    for (let y = 0; y < image.height; y++) {
      for (let x = 0; x < image.width; x++) {
        if (d[(y * image.width + x) * 4 + 3] === 0) continue;
        if (x < x0) x0 = x;
        if (y < y0) y0 = y;
        if (x >= x1) x1 = x + 1;
        if (y >= y1) y1 = y + 1;
      }
    }
    return x1 > x0 && y1 > y0 ? [x0, y0, x1, y1] : null;
  } finally {
    image.close();
  }
}

export function pngDataUrl(png: Uint8Array): string {
  let binary = '';
  const CHUNK = 0x8000; // String.fromCharCode takes a limited number of arguments
  for (let i = 0; i < png.length; i += CHUNK) binary += String.fromCharCode(...png.subarray(i, i + CHUNK));
  return `data:image/png;base64,${btoa(binary)}`;
}
