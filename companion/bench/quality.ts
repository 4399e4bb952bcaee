/**
 * `npm run bench:quality`: time to a finished image against how good it is. For content x style
 * pairs of ../shared/images at each size, runs named plans (the seed recipe, the default, and
 * alternatives) on one backend, and reports wall time (and its ratio to `seed` in the same run),
 * iterations per scale, the time the engine estimated beforehand, and the content and style
 * distances (quality-distance.ts). Also the two ends of the scale: the content image itself and the
 * style image resized. Writes JSON and one contact sheet PNG per size.
 */
import { parseArgs } from 'node:util';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import sharp from 'sharp';
import { Engine } from '../engine/engine.ts';
import { decodeImage, fitLongSide, resizeRgba, rgbaToFloatRgb } from '../engine/image.ts';
import { QualityMeter, type Distances, type Features } from './quality-distance.ts';
import { parsePlans, type QualityPlan } from './quality-plans.ts';
import { contactSheet, type SheetCell } from './contact-sheet.ts';
import { strengthToWeights } from '../../common/strength.ts';
import { REPO_ROOT } from '../../weights/locate.ts';
import { CliError } from '../cli/cli-error.ts';
import type { RgbaImage, StylizeSettings } from '../engine/types.ts';

const IMAGES = path.resolve(REPO_ROOT, '..', 'shared', 'images');
const DEFAULT_PAIRS = 'tubingen:starry_night,deadpool:guernica';

export interface QualityRow {
  size: number;
  content: string;
  style: string;
  plan: string;
  strength?: number;
  width: number;
  height: number;
  seconds: number;
  /** Wall time over `seed`'s for the same pair and size, in this run. */
  timeVsSeed: number;
  /** What the engine estimated before the job, in seconds. */
  estimateSeconds?: number;
  scales: { width: number; height: number; iterations: number }[];
  distances: Distances;
  /** Distances over `seed`'s (both <= 1.05 is the default plan's target). */
  vsSeed: Distances;
  firstProgressSeconds: number;
}

interface PairRefs {
  content: Features;
  style: Features;
  ends: { contentImage: Distances; styleImage: Distances };
  thumbs: { content: RgbaImage; style: RgbaImage };
}

function toFloat(img: RgbaImage) {
  return rgbaToFloatRgb(img);
}

function findImage(folder: string, name: string): string {
  const dir = path.join(IMAGES, folder);
  const file = readdirSync(dir).find((f) => f === name || f.replace(/\.[a-z]+$/i, '') === name);
  if (!file) throw new CliError(`No ${folder} image "${name}" in ${dir}; there are: ${readdirSync(dir).join(', ')}.`, 2);
  return path.join(dir, file);
}

function allPairs(): string {
  const names = (folder: string) => readdirSync(path.join(IMAGES, folder)).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).map((f) => f.replace(/\.[a-z]+$/i, ''));
  return names('content').flatMap((c) => names('style').map((s) => `${c}:${s}`)).join(',');
}

/** The references of one pair at one output size: what the distances are measured against. */
async function pairRefs(meter: QualityMeter, contentBytes: Uint8Array, styleBytes: Uint8Array, size: number): Promise<PairRefs & { width: number; height: number }> {
  const c = await decodeImage(contentBytes);
  const s = await decodeImage(styleBytes);
  const out = fitLongSide(c.width, c.height, size);
  const contentImg = await resizeRgba({ width: c.width, height: c.height, data: c.rgba }, out.width, out.height);
  // The style whole, aspect kept, long side = the output's long side (as the engine takes it).
  const sd = fitLongSide(s.width, s.height, Math.max(out.width, out.height));
  const styleImg = await resizeRgba({ width: s.width, height: s.height, data: s.rgba }, sd.width, sd.height);
  // The style's end of the scale: the style image cut to the output's shape.
  const styleCover = await sharp(Buffer.from(s.rgba), { raw: { width: s.width, height: s.height, channels: 4 } })
    .resize(out.width, out.height, { fit: 'cover' }).raw().toBuffer();
  const coverImg: RgbaImage = { width: out.width, height: out.height, data: new Uint8Array(styleCover) };
  const content = await meter.features(toFloat(contentImg));
  const style = await meter.features(toFloat(styleImg));
  const cover = await meter.features(toFloat(coverImg));
  return {
    ...out, content, style,
    ends: { contentImage: QualityMeter.distances(content, content, style), styleImage: QualityMeter.distances(cover, content, style) },
    thumbs: { content: contentImg, style: styleImg },
  };
}

const f3 = (x: number) => x.toFixed(3);

function table(rows: QualityRow[], ends: { size: number; content: string; style: string; ends: PairRefs['ends'] }[]): string {
  const head = ['size', 'pair', 'plan', 'seconds', 'x seed', 'estimate', 'content', 'style', 'c/seed', 's/seed', 'iterations per scale'];
  const body = rows.map((r) => [
    String(r.size), `${r.content} x ${r.style}`, r.plan + (r.strength !== undefined ? ` @${r.strength}` : ''), r.seconds.toFixed(1),
    r.timeVsSeed.toFixed(3), r.estimateSeconds !== undefined ? r.estimateSeconds.toFixed(1) : '-',
    f3(r.distances.content), f3(r.distances.style), f3(r.vsSeed.content), f3(r.vsSeed.style),
    r.scales.map((s) => `${Math.max(s.width, s.height)}:${s.iterations}`).join(' '),
  ]);
  for (const e of ends) {
    body.push([String(e.size), `${e.content} x ${e.style}`, '(content image)', '', '', '', f3(e.ends.contentImage.content), f3(e.ends.contentImage.style), '', '', '']);
    body.push([String(e.size), `${e.content} x ${e.style}`, '(style image)', '', '', '', f3(e.ends.styleImage.content), f3(e.ends.styleImage.style), '', '', '']);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n') + '\n';
}

export async function runQualityBench(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      sizes: { type: 'string', default: '256' },
      pairs: { type: 'string', default: DEFAULT_PAIRS },
      all: { type: 'boolean' },
      plans: { type: 'string', default: 'seed,default' },
      strengths: { type: 'string' },
      backend: { type: 'string', default: 'onnx-cpu' },
      out: { type: 'string', default: 'out-quality' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`Usage: stylize bench-quality [--sizes 256,512] [--pairs content:style,...| --all] [--plans seed,default,lbfgs50,NAME={json}]
                            [--strengths 0,50,100] [--backend onnx-cpu] [--out DIR] [--json]
Defaults: --sizes 256 --pairs ${DEFAULT_PAIRS} --plans seed,default --backend onnx-cpu --out out-quality
`);
    return 0;
  }
  const sizes = values.sizes!.split(',').map(Number);
  if (sizes.some((s) => !Number.isInteger(s) || s < 64 || s > 4096)) throw new CliError('--sizes needs whole numbers between 64 and 4096.', 2);
  const pairs = (values.all ? allPairs() : values.pairs!).split(',').map((p) => {
    const [c, s] = p.split(':');
    if (!c || !s) throw new CliError(`--pairs takes content:style names (got "${p}").`, 2);
    return { content: c, style: s, contentPath: findImage('content', c), stylePath: findImage('style', s) };
  });
  const plans = parsePlans(values.plans!);
  const strengths = values.strengths?.split(',').map(Number);
  if (strengths?.some((s) => !(s >= 0 && s <= 100))) throw new CliError('--strengths takes numbers from 0 to 100.', 2);
  const outDir = path.resolve(values.out!);
  mkdirSync(outDir, { recursive: true });

  const engine = await Engine.create({ backend: values.backend });
  await engine.warmUp();
  const meter = await QualityMeter.open(engine.weights);
  process.stderr.write(`backend ${engine.backend.name} (${engine.backend.device}); ${pairs.length} pair(s) x ${sizes.length} size(s) x ${plans.length} plan(s)\n`);

  // Each plan once, plus the default at each strength asked for (its weights from the plugin's mapping).
  const runs: { plan: QualityPlan; strength?: number }[] = [
    ...plans.map((plan) => ({ plan })),
    ...(strengths ?? []).map((strength) => ({ plan: plans.find((p) => p.name === 'default') ?? parsePlans('default')[1], strength })),
  ];
  const rows: QualityRow[] = [];
  const ends: { size: number; content: string; style: string; ends: PairRefs['ends'] }[] = [];
  for (const size of sizes) {
    const sheet: SheetCell[][] = [];
    for (const pair of pairs) {
      const contentBytes = readFileSync(pair.contentPath), styleBytes = readFileSync(pair.stylePath);
      const refs = await pairRefs(meter, contentBytes, styleBytes, size);
      ends.push({ size, content: pair.content, style: pair.style, ends: refs.ends });
      const cells: SheetCell[] = [
        { image: refs.thumbs.content, caption: [`${pair.content}`, `style d ${f3(refs.ends.contentImage.style)}`] },
        { image: refs.thumbs.style, caption: [`${pair.style}`, `content d ${f3(refs.ends.styleImage.content)}`] },
      ];
      let seed: QualityRow | undefined;
      for (const { plan, strength } of runs) {
        const settings: Partial<StylizeSettings> = { ...plan.settings(size), size, previewEvery: 0, ...(strength !== undefined && strengthToWeights(strength)) };
        const estimate = engine.estimate(refs.thumbs.content.width, refs.thumbs.content.height, settings);
        const stages = new Map<number, { width: number; height: number; iterations: number }>();
        let first = 0;
        const t0 = performance.now();
        const result = await engine.stylize({ content: contentBytes, styles: [{ image: styleBytes }], settings }, {
          onProgress: (p) => {
            first ||= performance.now() - t0;
            const st = stages.get(p.stage.index) ?? { width: p.stage.width, height: p.stage.height, iterations: 0 };
            st.iterations++;
            stages.set(p.stage.index, st);
          },
        });
        const seconds = (performance.now() - t0) / 1000;
        const d = QualityMeter.distances(await meter.features(toFloat(result.image)), refs.content, refs.style);
        const row: QualityRow = {
          size, content: pair.content, style: pair.style, plan: plan.name, ...(strength !== undefined && { strength }),
          width: result.image.width, height: result.image.height, seconds: +seconds.toFixed(2),
          timeVsSeed: seed ? +(seconds / seed.seconds).toFixed(3) : 1,
          estimateSeconds: +(estimate.ms / 1000).toFixed(1),
          scales: [...stages.values()], distances: { content: +d.content.toFixed(4), style: +d.style.toFixed(4) },
          vsSeed: seed ? { content: +(d.content / seed.distances.content).toFixed(3), style: +(d.style / seed.distances.style).toFixed(3) } : { content: 1, style: 1 },
          firstProgressSeconds: +(first / 1000).toFixed(2),
        };
        if (plan.name === 'seed' && strength === undefined) seed = row;
        rows.push(row);
        process.stderr.write(`${size}px ${pair.content} x ${pair.style} ${plan.name}${strength !== undefined ? `@${strength}` : ''}: ${row.seconds}s (x${row.timeVsSeed} seed, estimate ${row.estimateSeconds}s) content ${f3(d.content)} style ${f3(d.style)} (x${row.vsSeed.content} / x${row.vsSeed.style} seed)\n`);
        cells.push({
          image: result.image,
          caption: [`${plan.name}${strength !== undefined ? ` @${strength}` : ''}  ${row.seconds.toFixed(0)} s  x${row.timeVsSeed.toFixed(2)}`, `content ${f3(d.content)}  style ${f3(d.style)}`],
        });
      }
      sheet.push(cells);
    }
    const sheetPath = path.join(outDir, `quality-${size}.png`);
    writeFileSync(sheetPath, await contactSheet(sheet));
    process.stderr.write(`contact sheet: ${sheetPath}\n`);
  }
  meter.dispose();
  engine.dispose();
  const report = {
    machine: { cpus: os.cpus().length, platform: process.platform, arch: process.arch, node: process.version, load: os.loadavg().map((x) => +x.toFixed(2)) },
    backend: engine.backend.name, command: `stylize bench-quality ${argv.join(' ')}`.trim(), rows, ends,
  };
  const jsonPath = path.join(outDir, 'quality.json');
  writeFileSync(jsonPath, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(values.json ? JSON.stringify(report, null, 2) + '\n' : table(rows, ends) + `JSON: ${jsonPath}\n`);
  return 0;
}
