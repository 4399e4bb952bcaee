/** `stylize CONTENT STYLE [STYLE...] -o OUT.png [options]`: one job from the terminal. */
import { parseArgs } from 'node:util';
import { access, readFile, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import cliProgress from 'cli-progress';
import { Engine } from '../engine/engine.ts';
import { backendNames } from '../engine/select-backend.ts';
import { StylizeError, errorSummary } from '../../common/errors.ts';
import { DEFAULT_SETTINGS, resolveSettings } from '../engine/settings.ts';
import type { ProgressEvent, StylizeSettings } from '../engine/types.ts';
import { encodePng, probeImage } from '../engine/image.ts';
import { writeFileAtomic } from './atomic-write.ts';
import { lossCsv, lossSvg } from './loss-plot.ts';
import { CliError, formatDuration } from './cli-error.ts';

export const RUN_USAGE = `Usage: stylize CONTENT STYLE [STYLE ...] -o OUT.png [options]

Optimizes OUT so that its VGG-19 features match CONTENT (conv4_2) and the Gram matrices of
STYLE (conv1_1..conv5_1), after Gatys et al. Losses are the CS20SI assignment's; the default
plan is L-BFGS coarse to fine (docs/quality.md).

Output
  -o, --output FILE          result image (.png, .jpg or .webp)                      (required)
  --size N                   long side of the output in px, aspect kept       (default ${DEFAULT_SETTINGS.size})
  --save-every N             also write OUT-iterN.png every N iterations           (default 0: off)
  --loss-log FILE            loss CSV (iteration,content,style,tv,total)  (default OUT-losses.csv)
  --loss-plot FILE           loss curves as SVG                           (default OUT-losses.svg)
Optimization
  --iterations N             per scale of the coarse-to-fine plan    (default ${DEFAULT_SETTINGS.iterations})
  --optimizer adam|lbfgs     (default ${DEFAULT_SETTINGS.optimizer})
  --learning-rate X          Adam step size, L-BFGS step scale           (default 2 with adam, 1 with lbfgs)
  --init noise|content|random  starting image                              (default ${DEFAULT_SETTINGS.init})
  --noise-ratio X            noise share of the 'noise' init, 0..1            (default ${DEFAULT_SETTINGS.noiseRatio})
  --seed N                   integer seed of the initial noise                  (default ${DEFAULT_SETTINGS.seed})
Loss
  --content-weight X         (default ${DEFAULT_SETTINGS.contentWeight})
  --style-weight X           (default ${DEFAULT_SETTINGS.styleWeight})
  --tv-weight X              total-variation smoothing                         (default ${DEFAULT_SETTINGS.tvWeight})
  --style-blend-weights L    comma list, one weight per STYLE          (default equal)
  --content-layers L         comma list of VGG layers                     (default conv4_2)
  --style-layers L           comma list                         (default conv1_1,conv2_1,conv3_1,conv4_1,conv5_1)
  --style-layer-weights L    comma list, one per style layer                 (default 0.5,1,1.5,3,4)
  --pooling avg|max          (default ${DEFAULT_SETTINGS.pooling})
  --style-scale X            style image size relative to the output            (default ${DEFAULT_SETTINGS.styleScale})
  --preserve-colors          keep the content's colours (luminance-only transfer)
Scale
  --scales auto|off|L        coarse-to-fine long sides (default auto: from 128 px in sqrt(2) steps)
  --scale-iterations L       iterations per scale (default with L: --iterations, then half per finer scale)
  The seed recipe (CS20SI): --optimizer adam --scales off --iterations 300
Compute
  --backend NAME             ${backendNames().join(', ')}
                             (default auto: the fastest that works here)
  --weights DIR              VGG-19 weights folder (default: $STYLIZE_WEIGHTS, weights/cache, ../shared)
  -q, --quiet                no progress output
  -h, --help
`;

const OPTIONS = {
  output: { type: 'string', short: 'o' },
  size: { type: 'string' },
  iterations: { type: 'string' },
  'content-weight': { type: 'string' },
  'style-weight': { type: 'string' },
  'tv-weight': { type: 'string' },
  'style-blend-weights': { type: 'string' },
  optimizer: { type: 'string' },
  'learning-rate': { type: 'string' },
  init: { type: 'string' },
  'noise-ratio': { type: 'string' },
  seed: { type: 'string' },
  pooling: { type: 'string' },
  'style-scale': { type: 'string' },
  'preserve-colors': { type: 'boolean' },
  scales: { type: 'string' },
  'scale-iterations': { type: 'string' },
  'content-layers': { type: 'string' },
  'style-layers': { type: 'string' },
  'style-layer-weights': { type: 'string' },
  backend: { type: 'string' },
  weights: { type: 'string' },
  'save-every': { type: 'string' },
  'loss-log': { type: 'string' },
  'loss-plot': { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** CLI flag name for a settings key, so error messages name what the user typed. */
const FLAG_OF: Record<string, string> = {
  size: '--size', iterations: '--iterations', contentWeight: '--content-weight', styleWeight: '--style-weight',
  tvWeight: '--tv-weight', optimizer: '--optimizer', learningRate: '--learning-rate', init: '--init',
  noiseRatio: '--noise-ratio', seed: '--seed', pooling: '--pooling', contentLayers: '--content-layers',
  styleLayers: '--style-layers', styleLayerWeights: '--style-layer-weights', previewEvery: '--save-every',
  styleScale: '--style-scale', preserveColors: '--preserve-colors', scales: '--scales', scaleIterations: '--scale-iterations',
};

function num(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v)) throw new CliError(`${flag} needs a number (got "${raw}").`);
  return v;
}

async function readInput(file: string, what: string): Promise<Uint8Array> {
  let st;
  try {
    st = await stat(file);
  } catch {
    throw new CliError(`The ${what} "${file}" does not exist.`);
  }
  if (!st.isFile()) throw new CliError(`The ${what} "${file}" is not a file.`);
  if (st.size === 0) throw new CliError(`The ${what} "${file}" is empty (0 bytes).`);
  const bytes = await readFile(file);
  // Decode the header now: a wrong file should fail before the slow engine start.
  await probeImage(bytes, `${what} "${file}"`).catch((err) => {
    throw toCliError(err);
  });
  return bytes;
}

function withSuffix(out: string, suffix: string, ext: string): string {
  const parsed = path.parse(out);
  return path.join(parsed.dir, `${parsed.name}${suffix}${ext}`);
}

const OUTPUT_TYPES = ['.png', '.jpg', '.jpeg', '.webp'];

function checkOutputType(file: string): void {
  const ext = path.extname(file).toLowerCase();
  if (!OUTPUT_TYPES.includes(ext)) throw new CliError(`Unsupported output type "${ext || '(none)'}" for ${file}; use .png, .jpg or .webp.`, 2);
}

async function encodeFor(file: string, png: Uint8Array): Promise<Uint8Array> {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.jpg' || ext === '.jpeg') return sharp(png).flatten({ background: '#ffffff' }).jpeg({ quality: 92 }).toBuffer();
  if (ext === '.webp') return sharp(png).webp({ quality: 92 }).toBuffer();
  return png;
}

export async function runStylizeCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new CliError(`${errorSummary(err)} (see stylize --help)`, 2);
  }
  const { values: o, positionals } = parsed;
  if (o.help) {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  if (positionals.length < 2) throw new CliError('Give a content image and at least one style image: stylize CONTENT STYLE -o OUT.png', 2);
  if (!o.output) throw new CliError('Missing -o OUT.png: where should the result go?', 2);
  const [contentPath, ...stylePaths] = positionals;
  const out = path.resolve(o.output);
  const outDir = path.dirname(out);
  try {
    await access(outDir, constants.W_OK);
  } catch {
    throw new CliError(`Cannot write to the output folder "${outDir}": it does not exist or is not writable.`);
  }
  for (const input of positionals) {
    if (path.resolve(input) === out) throw new CliError(`-o ${o.output} would overwrite an input image; choose another output name.`);
  }
  checkOutputType(out);

  const blend = o['style-blend-weights']?.split(',').map((s) => num('--style-blend-weights', s)!);
  if (blend && blend.length !== stylePaths.length) {
    throw new CliError(`--style-blend-weights has ${blend.length} values for ${stylePaths.length} style image(s).`);
  }
  const saveEvery = num('--save-every', o['save-every']) ?? 0;
  const settings: Partial<StylizeSettings> & Record<string, unknown> = {
    size: num('--size', o.size),
    iterations: num('--iterations', o.iterations),
    contentWeight: num('--content-weight', o['content-weight']),
    styleWeight: num('--style-weight', o['style-weight']),
    tvWeight: num('--tv-weight', o['tv-weight']),
    optimizer: o.optimizer as StylizeSettings['optimizer'],
    learningRate: num('--learning-rate', o['learning-rate']),
    init: o.init as StylizeSettings['init'],
    noiseRatio: num('--noise-ratio', o['noise-ratio']),
    seed: num('--seed', o.seed),
    pooling: o.pooling as StylizeSettings['pooling'],
    contentLayers: o['content-layers'] as unknown as StylizeSettings['contentLayers'],
    styleLayers: o['style-layers'] as unknown as StylizeSettings['styleLayers'],
    styleLayerWeights: o['style-layer-weights'],
    previewEvery: saveEvery,
    styleScale: num('--style-scale', o['style-scale']),
    preserveColors: o['preserve-colors'],
    scales: o.scales as StylizeSettings['scales'] | undefined,
    scaleIterations: o['scale-iterations'] as unknown as number[] | undefined,
  };
  for (const k of Object.keys(settings)) if (settings[k] === undefined) delete settings[k];
  // Validate before the slow start (weights, backend), so a typo fails in milliseconds.
  try {
    resolveSettings(settings);
  } catch (err) {
    throw toCliError(err);
  }

  const content = await readInput(contentPath, 'content image');
  const styles = [];
  for (const [i, p] of stylePaths.entries()) styles.push({ image: await readInput(p, 'style image'), weight: blend?.[i] });

  const quiet = o.quiet ?? false;
  const log = (msg: string) => { if (!quiet) process.stderr.write(msg + '\n'); };
  let engine: Engine;
  try {
    engine = await Engine.create({ backend: o.backend ?? 'auto', weightsDir: o.weights });
  } catch (err) {
    throw toCliError(err);
  }
  log(`backend: ${engine.backend.name} (${engine.backend.device})`);
  for (const s of engine.backend.skipped) log(`  skipped ${s.name}: ${s.reason}`);

  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const bar = !quiet && process.stderr.isTTY
    ? new cliProgress.SingleBar({
        format: '{bar} {value}/{total} | ETA {eta_h} | content {content} style {style} total {total_loss}',
        stream: process.stderr,
        hideCursor: true,
      }, cliProgress.Presets.shades_classic)
    : undefined;
  const pendingWrites: Promise<void>[] = [];
  let lastLine = 0;
  let lastStage = '';
  const onProgress = (p: ProgressEvent) => {
    const st = p.stage;
    const stageText = st.count > 1 || st.tile ? `scale ${st.index + 1}/${st.count} ${st.width}x${st.height}${st.tile ? ' in tiles' : ''}` : '';
    if (stageText !== lastStage && (st.count > 1 || st.tile)) {
      lastStage = stageText;
      if (bar) bar.stop();
      log(stageText);
      if (bar) bar.start(p.iterations, p.iteration - 1);
    }
    const payload = { content: p.terms.content.toExponential(3), style: p.terms.style.toExponential(3), total_loss: p.terms.total.toExponential(3), eta_h: formatDuration(p.etaMs) };
    if (bar) {
      if (p.iteration === 1 && !lastStage) bar.start(p.iterations, 0, payload);
      bar.update(p.iteration, payload);
    } else if (!quiet && (p.iteration === p.iterations || p.iteration - lastLine >= Math.max(1, Math.round(p.iterations / 20)))) {
      lastLine = p.iteration;
      log(`iteration ${p.iteration}/${p.iterations}  content ${payload.content}  style ${payload.style}  total ${payload.total_loss}  ETA ${payload.eta_h}`);
    }
    // The engine also previews the first step and by time (for the plugin); files only every N.
    if (p.preview && saveEvery > 0 && p.iteration % saveEvery === 0 && p.iteration < p.iterations) {
      const file = withSuffix(out, `-iter${p.iteration}`, '.png');
      pendingWrites.push(encodePng(p.preview).then((png) => writeFileAtomic(file, png)));
    }
  };

  try {
    const result = await engine.stylize({ content, styles, settings }, { signal: controller.signal, onProgress });
    bar?.stop();
    await Promise.all(pendingWrites);
    await writeFileAtomic(out, await encodeFor(out, result.png));
    const csvPath = o['loss-log'] ?? withSuffix(out, '-losses', '.csv');
    const svgPath = o['loss-plot'] ?? withSuffix(out, '-losses', '.svg');
    await writeFileAtomic(csvPath, lossCsv(result.losses));
    await writeFileAtomic(svgPath, lossSvg(result.losses, `${path.basename(contentPath)} in the style of ${stylePaths.map((p) => path.basename(p)).join(' + ')}`));
    const last = result.losses.at(-1)!;
    log(`wrote ${out} (${result.image.width}x${result.image.height}) in ${formatDuration(result.elapsedMs)}; losses: ${csvPath}, ${svgPath}`);
    log(`final losses: content ${last.content.toExponential(3)}, style ${last.style.toExponential(3)}, total ${last.total.toExponential(3)}`);
    return 0;
  } catch (err) {
    bar?.stop();
    await Promise.allSettled(pendingWrites);
    if (err instanceof StylizeError && err.code === 'cancelled') {
      process.stderr.write('stylize: interrupted; no output written.\n');
      return 130;
    }
    throw toCliError(err);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    engine.dispose();
  }
}

function toCliError(err: unknown): Error {
  if (err instanceof StylizeError) {
    const msg = err.message.replace(/\b([a-zA-Z]+)\b(?= must| needs| has| for| cannot)/g, (k) => FLAG_OF[k] ?? k);
    return new CliError(msg, 1);
  }
  return err as Error;
}
