/** A contact sheet PNG: rows of thumbnails, each with a caption under it, to look at results side by side. */
import sharp, { type OverlayOptions } from 'sharp';
import type { RgbaImage } from '../engine/types.ts';

export interface SheetCell {
  image: RgbaImage;
  caption: string[];
}

const CELL = 200;
const LINE = 14;
const GAP = 8;

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

export async function contactSheet(rows: SheetCell[][]): Promise<Buffer> {
  const lines = Math.max(1, ...rows.flat().map((c) => c.caption.length));
  const cellH = CELL + lines * LINE + GAP;
  const cols = Math.max(1, ...rows.map((r) => r.length));
  const width = cols * (CELL + GAP) + GAP, height = rows.length * cellH + GAP;
  const layers: OverlayOptions[] = [];
  const text: string[] = [];
  for (const [r, row] of rows.entries()) {
    for (const [c, cell] of row.entries()) {
      const x = GAP + c * (CELL + GAP), y = GAP + r * cellH;
      const { width: w, height: h, data } = cell.image;
      const thumb = await sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), { raw: { width: w, height: h, channels: 4 } })
        .resize(CELL, CELL, { fit: 'inside' }).png().toBuffer();
      layers.push({ input: thumb, left: x, top: y });
      cell.caption.forEach((line, i) => {
        text.push(`<text x="${x}" y="${y + CELL + (i + 1) * LINE - 3}">${escapeXml(line)}</text>`);
      });
    }
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><style>text{font:11px sans-serif;fill:#222}</style>${text.join('')}</svg>`;
  layers.push({ input: Buffer.from(svg), left: 0, top: 0 });
  return sharp({ create: { width, height, channels: 4, background: '#ffffff' } }).composite(layers).png().toBuffer();
}
