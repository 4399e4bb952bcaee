/**
 * `npm run bench`: milliseconds per optimizer iteration (median after a warm-up) for each
 * available backend at several sizes, with peak memory, printed as JSON. Real weights, real images.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Engine } from '../engine/engine.ts';
import { locateWeights, REPO_ROOT } from '../../weights/locate.ts';
import { CliError } from '../cli/cli-error.ts';

/** `onnx` is ONNX Runtime on its best provider here (a GPU one, else the CPU). */
const DEFAULT_BACKENDS = ['tfjs-node-gpu', 'tfjs-node', 'webgpu', 'onnx', 'wasm', 'cpu'];
/** The pure-JS backend needs minutes per iteration at 512 px: only the small size unless asked. */
const SLOW_BACKEND_SIZES: Record<string, number[]> = { cpu: [128] };

export interface BenchRow {
  backend: string;
  device: string;
  size: number;
  width: number;
  height: number;
  msPerIteration: number;
  samplesMs: number[];
  peakRssMB: number;
  tensorMB: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export async function runBench(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      backends: { type: 'string' },
      sizes: { type: 'string', default: '128,256,512' },
      iterations: { type: 'string', default: '3' },
      content: { type: 'string' },
      style: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write('Usage: stylize bench [--backends wasm,cpu] [--sizes 128,256,512] [--iterations 3] [--content IMG] [--style IMG]\n');
    return 0;
  }
  const sizes = values.sizes!.split(',').map(Number);
  const samples = Number(values.iterations);
  if (sizes.some((s) => !Number.isInteger(s) || s < 16) || !Number.isInteger(samples) || samples < 1) {
    throw new CliError('--sizes needs whole numbers >= 16 and --iterations a whole number >= 1.', 2);
  }
  const shared = path.resolve(REPO_ROOT, '..', 'shared', 'images');
  const content = readFileSync(values.content ?? path.join(shared, 'content', 'deadpool.jpg'));
  const style = readFileSync(values.style ?? path.join(shared, 'style', 'guernica.jpg'));
  const explicit = values.backends?.split(',');
  const backends = explicit ?? DEFAULT_BACKENDS;
  const weightsDir = locateWeights().dir;

  const rows: BenchRow[] = [];
  const skipped: { backend: string; reason: string }[] = [];
  for (const name of backends) {
    let engine: Engine;
    try {
      engine = await Engine.create({ backend: name, weightsDir });
    } catch (err) {
      skipped.push({ backend: name, reason: (err as Error).message });
      continue;
    }
    const backendSizes = explicit ? sizes : sizes.filter((s) => !SLOW_BACKEND_SIZES[name] || SLOW_BACKEND_SIZES[name].includes(s));
    for (const size of backendSizes) {
      const stamps: number[] = [];
      let dims = { width: 0, height: 0 };
      let tensorBytes = 0;
      const result = await engine.stylize(
        { content, styles: [{ image: style }], settings: { size, iterations: samples + 1 } },
        { onProgress: (p) => { stamps.push(p.elapsedMs); tensorBytes = Math.max(tensorBytes, engine.memory().bytes); } },
      );
      dims = { width: result.image.width, height: result.image.height };
      // The first iteration includes kernel compilation and allocation: the warm-up, dropped.
      const per = stamps.slice(1).map((t, i) => t - stamps[i]);
      const row: BenchRow = {
        backend: engine.backend.name,
        device: engine.backend.device,
        size,
        ...dims,
        msPerIteration: Math.round(median(per)),
        samplesMs: per.map(Math.round),
        peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
        tensorMB: Math.round(tensorBytes / 2 ** 20),
      };
      rows.push(row);
      process.stderr.write(`${row.backend} ${size}px (${dims.width}x${dims.height}): ${row.msPerIteration} ms/iteration\n`);
    }
    engine.dispose();
  }
  // Ratios against the fastest backend and each other backend at each size, so a run compares like with like.
  const ratios = rows.map((r) => {
    const same = rows.filter((o) => o.size === r.size);
    const best = Math.min(...same.map((o) => o.msPerIteration));
    const vs = Object.fromEntries(same.filter((o) => o !== r).map((o) => [o.backend, +(r.msPerIteration / o.msPerIteration).toFixed(2)]));
    return { backend: r.backend, size: r.size, vsFastest: +(r.msPerIteration / best).toFixed(2), vs };
  });
  process.stdout.write(JSON.stringify({ machine: { cpus: (await import('node:os')).cpus().length, platform: process.platform, arch: process.arch, node: process.version }, results: rows, ratios, skipped }, null, 2) + '\n');
  return rows.length ? 0 : 1;
}
