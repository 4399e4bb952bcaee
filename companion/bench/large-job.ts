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
import { planJob } from '../engine/plan.ts';
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

  // Seams: lines where tile edges fell in the last scale, against all lines.
  const last = plan.stages.at(-1)!;
  const { cols, rows } = lineEnergy(result.image);
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
  const mean = (xs: Iterable<number>) => { let s = 0, n = 0; for (const x of xs) { s += x; n++; } return n ? s / n : NaN; };
  const seamEnergy = mean([...[...seamCols].map((c) => cols[c]), ...[...seamRows].map((r) => rows[r])]);
  const allEnergy = mean([...cols, ...rows]);
  const report = {
    backend: engine.backend.name, size: `${result.image.width}x${result.image.height}`, plan: describePlan(plan),
    steps: plan.totalSteps, time: formatDuration(elapsed), timeMs: elapsed,
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    seams: { borderLines: seamCols.size + seamRows.size, borderEnergy: +seamEnergy.toFixed(3), allLinesEnergy: +allEnergy.toFixed(3), ratio: +(seamEnergy / allEnergy).toFixed(3) },
    finalLoss: result.losses.at(-1),
  };
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  engine.dispose();
  return 0;
}
