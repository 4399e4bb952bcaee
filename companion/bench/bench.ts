/**
 * `npm run bench`: milliseconds per optimizer iteration (median after a warm-up) for each
 * available backend at several sizes, with peak memory, printed as JSON. Real weights, real images;
 * or, with --synthetic, random weights of VGG-19's shapes and random images (the time of an
 * iteration does not depend on the values), so it runs where the weights are not.
 * --check-gradient N also compares each backend's loss gradient at N px with onnx-cpu's.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Engine } from '../engine/engine.ts';
import { locateWeights, REPO_ROOT } from '../../weights/locate.ts';
import { loadVggWeights } from '../../weights/loader.ts';
import { syntheticVggWeights } from '../../weights/synthetic.ts';
import type { VggWeights } from '../../weights/types.ts';
import { CliError } from '../cli/cli-error.ts';
import { syntheticImages } from './synthetic-images.ts';
import { REFERENCE_BACKEND, compareEvaluations, evaluateOn, gradientProbe, type GradientCheckRow, type GradientProbe } from './gradient-check.ts';
import type { Evaluation, StylizeResult } from '../engine/types.ts';

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
  /** Tiles per pass when the size did not fit the backend's memory budget (STYLIZE_MEMORY_MB), else absent. */
  tiles?: number;
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
      weights: { type: 'string' },
      synthetic: { type: 'boolean' },
      seed: { type: 'string', default: '1' },
      'check-gradient': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(BENCH_USAGE);
    return 0;
  }
  const sizes = values.sizes!.split(',').map(Number);
  const samples = Number(values.iterations);
  const seed = Number(values.seed);
  const checkSize = values['check-gradient'] === undefined ? undefined : Number(values['check-gradient']);
  if (sizes.some((s) => !Number.isInteger(s) || s < 16) || !Number.isInteger(samples) || samples < 1) {
    throw new CliError('--sizes needs whole numbers >= 16 and --iterations a whole number >= 1.', 2);
  }
  if (!Number.isInteger(seed) || seed < 0) throw new CliError(`--seed needs a whole number >= 0 (got "${values.seed}").`, 2);
  if (checkSize !== undefined && (!Number.isInteger(checkSize) || checkSize < 16)) {
    throw new CliError(`--check-gradient needs a size in pixels, a whole number >= 16 (got "${values['check-gradient']}").`, 2);
  }
  if (values.synthetic && (values.content || values.style || values.weights)) {
    throw new CliError('--synthetic uses random weights and images; leave out --content, --style and --weights (or drop --synthetic).', 2);
  }
  const { content, style, weights, inputs } = values.synthetic ? await syntheticInputs(seed) : await realInputs(values);
  const explicit = values.backends?.split(',');
  const backends = explicit ?? DEFAULT_BACKENDS;

  const reference = checkSize === undefined ? undefined : await referenceGradient(weights, content, style, checkSize);
  const gradientCheck: GradientCheckRow[] = [];
  const rows: BenchRow[] = [];
  const skipped: { backend: string; reason: string }[] = [];
  const failed: { backend: string; size: number; error: string }[] = [];
  if (reference && 'reason' in reference) skipped.push({ backend: `${REFERENCE_BACKEND} (gradient reference)`, reason: reference.reason });
  for (const name of backends) {
    let engine: Engine;
    try {
      engine = await Engine.create({ backend: name, weights });
    } catch (err) {
      skipped.push({ backend: name, reason: (err as Error).message });
      continue;
    }
    const backendSizes = explicit ? sizes : sizes.filter((s) => !SLOW_BACKEND_SIZES[name] || SLOW_BACKEND_SIZES[name].includes(s));
    for (const size of backendSizes) {
      const stamps: number[] = [];
      let dims = { width: 0, height: 0 };
      let tensorBytes = 0;
      let tiles = 0;
      let result: StylizeResult;
      try {
        // One scale: coarse-to-fine above 512 px would mix sizes into the figure.
        result = await engine.stylize(
          { content, styles: [{ image: style }], settings: { size, iterations: samples + 1, scales: 'off' } },
          {
            onProgress: (p) => {
              stamps.push(p.elapsedMs);
              tensorBytes = Math.max(tensorBytes, engine.memory().bytes);
              tiles = Math.max(tiles, p.stage.tile?.count ?? 0);
            },
          },
        );
      } catch (err) {
        // A size that fails (a GPU limit, memory) is a finding to report; the other sizes still run.
        failed.push({ backend: engine.backend.name, size, error: (err as Error).message.split('\n')[0] });
        process.stderr.write(`${engine.backend.name} ${size}px failed: ${failed[failed.length - 1].error}\n`);
        continue;
      }
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
        ...(tiles ? { tiles } : {}),
      };
      rows.push(row);
      process.stderr.write(`${row.backend} ${size}px (${dims.width}x${dims.height}${tiles ? `, ${tiles} tiles` : ''}): ${row.msPerIteration} ms/iteration\n`);
    }
    if (reference && 'evaluation' in reference && engine.backend.name !== REFERENCE_BACKEND) {
      try {
        const check = compareEvaluations(engine.backend.name, reference.probe, checkSize!, await evaluateOn(engine, reference.probe), reference.evaluation);
        gradientCheck.push(check);
        process.stderr.write(
          `gradient ${check.backend} vs ${check.reference} at ${check.width}x${check.height}: relative error ${check.gradRelError.toExponential(2)}, loss ${check.lossRelError.toExponential(2)}\n`,
        );
      } catch (err) {
        failed.push({ backend: engine.backend.name, size: checkSize!, error: `gradient check: ${(err as Error).message.split('\n')[0]}` });
      }
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
  const machine = { cpus: (await import('node:os')).cpus().length, platform: process.platform, arch: process.arch, node: process.version };
  const report = { machine, weights: weights.source, images: inputs, results: rows, ratios, ...(reference ? { gradientCheck } : {}), skipped, failed };
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  return rows.length && !failed.length ? 0 : 1;
}

const BENCH_USAGE = `Usage: stylize bench [options]
  --backends L          comma list (default: ${DEFAULT_BACKENDS.join(',')})
  --sizes L             long sides in pixels (default 128,256,512)
  --iterations N        timed iterations per size, after one warm-up (default 3)
  --content IMG, --style IMG, --weights DIR   real inputs (default: ../shared images, located weights)
  --synthetic           random weights of VGG-19's shapes and random 800x600 images: needs no files
  --seed N              seed of the synthetic weights and images (default 1)
  --check-gradient N    also compare each backend's loss gradient at N px with ${REFERENCE_BACKEND}'s
`;

interface BenchInputs {
  content: Uint8Array;
  style: Uint8Array;
  weights: VggWeights;
  /** What the images were, for the report. */
  inputs: string;
}

async function syntheticInputs(seed: number): Promise<BenchInputs> {
  const { content, style } = await syntheticImages(seed);
  return { content, style, weights: syntheticVggWeights({ seed }), inputs: `synthetic (random 800x600, seed ${seed})` };
}

async function realInputs(values: { content?: string; style?: string; weights?: string }): Promise<BenchInputs> {
  const shared = path.resolve(REPO_ROOT, '..', 'shared', 'images');
  const contentPath = values.content ?? path.join(shared, 'content', 'deadpool.jpg');
  const stylePath = values.style ?? path.join(shared, 'style', 'guernica.jpg');
  const read = (file: string, flag: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new CliError(`Cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}). Pass an image with ${flag}, or run with --synthetic to need no files.`, 2);
    }
  };
  const content = read(contentPath, '--content');
  const style = read(stylePath, '--style');
  const weights = await loadVggWeights(values.weights ?? locateWeights().dir);
  return { content, style, weights, inputs: `${contentPath} + ${stylePath}` };
}

type Reference = { probe: GradientProbe; evaluation: Evaluation } | { reason: string };

/** The reference evaluation for --check-gradient, or why there is none. */
async function referenceGradient(weights: VggWeights, content: Uint8Array, style: Uint8Array, size: number): Promise<Reference> {
  let engine: Engine;
  try {
    engine = await Engine.create({ backend: REFERENCE_BACKEND, weights });
  } catch (err) {
    return { reason: (err as Error).message };
  }
  try {
    const probe = await gradientProbe(weights, content, style, size);
    const evaluation = await evaluateOn(engine, probe);
    return { probe, evaluation };
  } finally {
    engine.dispose();
  }
}
