/** Reads a PNG's size from its header, without decoding (Figma's main thread has no image decoder). */

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function isPng(bytes: Uint8Array): boolean {
  if (bytes.length < 24) return false;
  for (let i = 0; i < SIGNATURE.length; i++) if (bytes[i] !== SIGNATURE[i]) return false;
  // The first chunk must be IHDR.
  return bytes[12] === 0x49 && bytes[13] === 0x48 && bytes[14] === 0x44 && bytes[15] === 0x52;
}

/** Width and height of a PNG, or null when the bytes are not a PNG. */
export function pngSize(bytes: Uint8Array): { width: number; height: number } | null {
  if (!isPng(bytes)) return null;
  const u32 = (o: number) => ((bytes[o] << 24) | (bytes[o + 1] << 16) | (bytes[o + 2] << 8) | bytes[o + 3]) >>> 0;
  const width = u32(16);
  const height = u32(20);
  if (width === 0 || height === 0) return null;
  return { width, height };
}

/**
 * The export size for a layer of w x h canvas units so that its long side is `maxSide` px,
 * never over `limit` px on either side: Figma exports a node at a fixed width or height.
 */
export function exportConstraint(width: number, height: number, maxSide: number, limit: number):
  { type: 'WIDTH' | 'HEIGHT'; value: number; pixelWidth: number; pixelHeight: number } {
  const side = Math.max(1, Math.min(Math.floor(maxSide), limit));
  if (width >= height) {
    const pixelHeight = Math.max(1, Math.round((height / width) * side));
    return { type: 'WIDTH', value: side, pixelWidth: side, pixelHeight };
  }
  const pixelWidth = Math.max(1, Math.round((width / height) * side));
  return { type: 'HEIGHT', value: side, pixelWidth, pixelHeight: side };
}
