/** `stylize CONTENT STYLE [STYLE...] -o OUT.png [options]`: one job from the terminal. */
import { parseArgs } from 'node:util';
import { access, readFile, stat } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import cliProgress from 'cli-progress';
import { Engine } from '../engine/engine.ts';
import { StylizeError, errorSummary } from '../../common/errors.ts';
import { resolveSettings } from '../engine/settings.ts';
import type { ProgressEvent, StylizeSettings } from '../engine/types.ts';
import { encodePng, probeImage } from '../engine/image.ts';
import { writeFileAtomic } from '../server/atomic-write.ts';
import { lossCsv, lossSvg } from './loss-plot.ts';
import { CliError, formatDuration } from './cli-error.ts';
import { FLAG_OF, PARSE_OPTIONS, RUN_USAGE, num, settingsFromArgs } from './run-options.ts';

export { RUN_USAGE };

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

/** A file's identity (device and inode), so a symlink, a hard link or another spelling of it is still it; null when absent. */
async function identity(file: string): Promise<string | null> {
  try {
    const st = await stat(file);
    return `${st.dev}:${st.ino}`;
  } catch {
    return null;
  }
}

/**
 * Every file the run writes: its folder must be writable, none may be an input (by path or by
 * identity: a symlink or a case-insensitive disk's other spelling) and no two may be the same file.
 */
async function checkOutputs(outputs: { flag: string; file: string }[], inputs: string[]): Promise<(file: string) => Promise<boolean>> {
  const inputIds = new Set((await Promise.all(inputs.map(identity))).filter((id) => id !== null));
  const inputPaths = new Set(inputs.map((f) => path.resolve(f)));
  const seen = new Map<string, string>();
  for (const { flag, file } of outputs) {
    const dir = path.dirname(file);
    try {
      await access(dir, constants.W_OK);
    } catch {
      throw new CliError(`Cannot write ${flag} to the folder "${dir}": it does not exist or is not writable.`);
    }
    const id = await identity(file);
    if (inputPaths.has(file) || (id && inputIds.has(id))) {
      throw new CliError(`${flag} ${file} would overwrite an input image; choose another output name.`);
    }
    const key = id ?? file;
    const other = seen.get(key);
    if (other) throw new CliError(`${flag} and ${other} both name ${file}; give them different files.`);
    seen.set(key, flag);
  }
  // For the files named only during the run (intermediate images).
  return async (file) => inputPaths.has(path.resolve(file)) || inputIds.has((await identity(file)) ?? '');
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
    parsed = parseArgs({ args: argv, options: PARSE_OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new CliError(`${errorSummary(err)} (see stylize --help)`, 2);
  }
  const { positionals } = parsed;
  const o = parsed.values as Record<string, string | boolean | undefined>;
  /** The value of a string option (parseArgs has checked its type). */
  const str = (flag: string) => o[flag] as string | undefined;
  if (o.help) {
    process.stdout.write(RUN_USAGE);
    return 0;
  }
  if (positionals.length < 2) throw new CliError('Give a content image and at least one style image: stylize CONTENT STYLE -o OUT.png', 2);
  const output = str('output');
  if (!output) throw new CliError('Missing -o OUT.png: where should the result go?', 2);
  const [contentPath, ...stylePaths] = positionals;
  const out = path.resolve(output);
  checkOutputType(out);
  const csvPath = path.resolve(str('loss-log') ?? withSuffix(out, '-losses', '.csv'));
  const svgPath = path.resolve(str('loss-plot') ?? withSuffix(out, '-losses', '.svg'));
  const isInput = await checkOutputs([{ flag: '-o', file: out }, { flag: '--loss-log', file: csvPath }, { flag: '--loss-plot', file: svgPath }], positionals);

  const blend = str('style-blend-weights')?.split(',').map((s) => num('--style-blend-weights', s)!);
  if (blend && blend.length !== stylePaths.length) {
    throw new CliError(`--style-blend-weights has ${blend.length} values for ${stylePaths.length} style image(s).`);
  }
  const settings = settingsFromArgs(o) as Partial<StylizeSettings>;
  const saveEvery = settings.previewEvery ?? 0;
  // Validate before the slow start (weights, backend), so a typo fails in milliseconds.
  try {
    resolveSettings(settings);
  } catch (err) {
    throw toCliError(err);
  }

  const content = await readInput(contentPath, 'content image');
  const styles = [];
  for (const [i, p] of stylePaths.entries()) styles.push({ image: await readInput(p, 'style image'), weight: blend?.[i] });

  const quiet = o.quiet === true;
  const log = (msg: string) => { if (!quiet) process.stderr.write(msg + '\n'); };
  let engine: Engine;
  try {
    engine = await Engine.create({ backend: str('backend') ?? 'auto', weightsDir: str('weights') });
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
      pendingWrites.push(isInput(file).then(async (hit) => {
        if (hit) log(`not writing ${file}: it is an input image`);
        else await writeFileAtomic(file, await encodePng(p.preview!));
      }));
    }
  };

  try {
    const result = await engine.stylize({ content, styles, settings }, { signal: controller.signal, onProgress });
    bar?.stop();
    await Promise.all(pendingWrites);
    await writeFileAtomic(out, await encodeFor(out, result.png));
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
