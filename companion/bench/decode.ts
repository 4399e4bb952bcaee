/**
 * `npm run bench:decode`: how long decoding a large photo takes in full and at the long sides a
 * job works at (decodeImage's `longSide`), and the pixels each keeps. The photo is a shared content
 * image enlarged to --width x --height and saved as JPEG, the common case of a phone photo.
 *
 *   npm run bench:decode -- --image tubingen.jpg --width 6000 --height 4000 --sides 512,1024 --runs 3
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { decodeImage } from '../engine/image.ts';
import { REPO_ROOT } from '../../weights/locate.ts';

const { values: args } = parseArgs({
  options: {
    image: { type: 'string', default: 'tubingen.jpg' },
    width: { type: 'string', default: '6000' },
    height: { type: 'string', default: '4000' },
    sides: { type: 'string', default: '512,1024' },
    runs: { type: 'string', default: '3' },
  },
});
const width = Number(args.width), height = Number(args.height), runs = Number(args.runs);
const sides = args.sides!.split(',').map(Number);
const source = readFileSync(path.resolve(REPO_ROOT, '..', 'shared', 'images', 'content', args.image!));
const photo = new Uint8Array(await sharp(source).resize(width, height, { fit: 'fill' }).jpeg({ quality: 92 }).toBuffer());

/** Median wall time of `runs` decodes, and the decoded size. */
async function time(longSide?: number): Promise<{ ms: number; width: number; height: number }> {
  const times: number[] = [];
  let last = { width: 0, height: 0 };
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const d = await decodeImage(photo, { longSide });
    times.push(performance.now() - t);
    last = { width: d.width, height: d.height };
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)], ...last };
}

const mb = (w: number, h: number) => `${((w * h * 4) / 2 ** 20).toFixed(1)} MB`;
console.log(`${width} x ${height} JPEG (${args.image} enlarged, ${(photo.length / 2 ** 20).toFixed(1)} MB), median of ${runs}:`);
const full = await time();
console.log(`  full decode        ${full.ms.toFixed(0).padStart(6)} ms   ${mb(full.width, full.height)} of pixels`);
for (const side of sides) {
  const r = await time(side);
  console.log(`  at ${String(side).padEnd(5)} px        ${r.ms.toFixed(0).padStart(6)} ms   ${mb(r.width, r.height)} of pixels   ${(r.ms / full.ms).toFixed(3)}x the time`);
}
