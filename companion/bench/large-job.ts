/**
 * `npm run bench:large`: one large job (default 2048 x 2048 on wasm) through coarse-to-fine and
 * tiling. Prints time, peak memory, the plan, and a seam check: the image gradient energy on the
 * tile borders against the whole image (1.0 = borders look like everywhere else).
 */
import { parseArgs } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { Engine } from '../engine/engine.ts';
import { planJob, type Stage } from '../engine/plan.ts';
import { tileGrid } from '../engine/tiling.ts';
import { memoryBudgetBytes } from '../engine/memory.ts';
import { describePlan } from '../engine/stylize.ts';
import { resolveSettings } from '../engine/settings.ts';
import { REPO_ROOT } from '../../weights/locate.ts';
import type { RgbaImage } from '../engine/types.ts';
import { formatDuration } from '../cli/cli-error.ts';

/** Mean absolute luminance step across vertical and horizontal lines, per line. */
function lineEnergy(img: RgbaImage) {
  const { width: w, height: h, data } = img;
  const lum = new Float32Array(w * h);
  for (let i = 0; i < w * h; i++) lum[i] = 0.299 * data[i * 4] + 0.587 * data[i * 4 + 1] + 0.114 * data[i * 4 + 2];
  const cols = new Float64Array(w - 1), rows = new Float64Array(h - 1);
  for (let y = 0; y < h; y++) for (let x = 0; x < w - 1; x++) cols[x] += Math.abs(lum[y * w + x + 1] - lum[y * w + x]) / h;
  for (let y = 0; y < h - 1; y++) for (let x = 0; x < w; x++) rows[y] += Math.abs(lum[(y + 1) * w + x] - lum[y * w + x]) / w;
  return { cols, rows };
}

/** Tile borders of the last scale, each against its own neighbourhood of lines. */
export function seamStats(image: RgbaImage, last: Stage) {
  const { cols, rows } = lineEnergy(image);
  const seamCols = new Set<number>(), seamRows = new Set<number>();
  if (last.tile) {
    for (let pass = 0; pass < last.tile.passes; pass++) {
      for (const r of tileGrid(last.width, last.height, last.tile, pass)) {
        if (r.x > 0) seamCols.add(r.x - 1);
        if (r.y > 0) seamRows.add(r.y - 1);
        if (r.x + r.w < last.width) seamCols.add(r.x + r.w - 1);
        if (r.y + r.h < last.height) seamRows.add(r.y + r.h - 1);
      }
    }
  }
  // Each border line against the lines within 8 px of it (content varies across the image; a
  // seam is a line that stands out from its own neighbourhood). 1.0 = no seam.
  const local = (energy: Float64Array, i: number) => {
    let s = 0, n = 0;
    for (let d = 2; d <= 8; d++) for (const j of [i - d, i + d]) if (j >= 0 && j < energy.length) { s += energy[j]; n++; }
    return energy[i] / (s / n);
  };
  // VGG's four 2x2 poolings leave a faint 16 px periodic texture, and tile borders lie on multiples
  // of 16: compare each border line with the non-border lines of the same phase (mod 16).
  const phaseBaseline = (energy: Float64Array, seams: Set<number>, i: number) => {
    const same: number[] = [];
    for (let j = i % 16; j < energy.length; j += 16) if (!seams.has(j)) same.push(local(energy, j));
    return same.reduce((a, b) => a + b, 0) / Math.max(1, same.length);
  };
  const ratios = [
    ...[...seamCols].map((c) => local(cols, c) / phaseBaseline(cols, seamCols, c)),
    ...[...seamRows].map((r) => local(rows, r) / phaseBaseline(rows, seamRows, r)),
  ];
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  // The same statistic on every line, for scale: how much single lines differ by chance.
  const everyLine = [...cols.keys()].map((c) => local(cols, c) / phaseBaseline(cols, seamCols, c));
  const sd = Math.sqrt(mean(everyLine.map((v) => (v - mean(everyLine)) ** 2)));
  // 1.0 = a border line looks like any other line of its phase; anyLineSd is the spread by chance.
  return { borderLines: ratios.length, borderMean: +mean(ratios).toFixed(3), borderMax: +Math.max(...ratios).toFixed(3), anyLineMean: +mean(everyLine).toFixed(3), anyLineSd: +sd.toFixed(3) };
}

export async function runLargeJobBench(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      size: { type: 'string', default: '2048' },
      backend: { type: 'string', default: 'wasm' },
      'scale-iterations': { type: 'string', default: '20,4,2' },
      out: { type: 'string' },
    },
  });
  const size = Number(values.size);
  const shared = path.resolve(REPO_ROOT, '..', 'shared', 'images');
  // A square content image: the job is size x size, as the issue asks.
  const content = await sharp(readFileSync(path.join(shared, 'content', 'golden_gate.jpg'))).resize(1024, 1024, { fit: 'cover' }).png().toBuffer();
  const style = readFileSync(path.join(shared, 'style', 'starry_night.jpg'));
  const engine = await Engine.create({ backend: values.backend });
  const settings = resolveSettings({ size, iterations: 300, scaleIterations: values['scale-iterations'] });
  const plan = planJob({ width: size, height: size, size, iterations: settings.iterations, scales: settings.scales, scaleIterations: settings.scaleIterations, styleScale: 1, budgetBytes: memoryBudgetBytes(engine.backend.name) });
  process.stderr.write(`plan on ${engine.backend.name}: ${describePlan(plan)}; ${plan.totalSteps} steps\n`);
  const started = Date.now();
  let lastLog = 0;
  const result = await engine.stylize({ content, styles: [{ image: style }], settings: { size, scaleIterations: settings.scaleIterations } }, {
    onProgress: (p) => {
      if (Date.now() - lastLog > 30_000 || p.iteration === p.iterations) {
        lastLog = Date.now();
        process.stderr.write(`step ${p.iteration}/${p.iterations} scale ${p.stage.index + 1} ${p.stage.width}px${p.stage.tile ? ` tile ${p.stage.tile.index + 1}/${p.stage.tile.count}` : ''} ETA ${formatDuration(p.etaMs)}\n`);
      }
    },
  });
  const elapsed = Date.now() - started;
  if (values.out) writeFileSync(values.out, result.png);

  const seams = seamStats(result.image, plan.stages.at(-1)!);
  const report = {
    backend: engine.backend.name, size: `${result.image.width}x${result.image.height}`, plan: describePlan(plan),
    steps: plan.totalSteps, time: formatDuration(elapsed), timeMs: elapsed,
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    seams,
    finalLoss: result.losses.at(-1),
  };
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  engine.dispose();
  return 0;
}
