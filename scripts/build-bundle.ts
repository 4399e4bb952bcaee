/**
 * `npm run bundle`: a folder that runs the companion and the CLI with a plain `node` (20+) and
 * nothing else, for the platform it is built on:
 *   stylize.mjs                         the CLI and the daemon, one esbuild bundle
 *   companion/server/engine-worker.js   the daemon's engine thread, found beside engine-thread's place
 *   native/…, wasm/                     onnxruntime-node, sharp + libvips, dawn.node (optional), tfjs wasm
 *   dist/plugin/, manifest.json         the Figma plugin and the Photopea page the daemon serves
 *   stylize                             the launcher; package.json ("type": "module", the version)
 *   README.md                           what is inside and its size
 * Written to a temporary folder and renamed, so a failed build never replaces a good bundle.
 *
 *   npx tsx scripts/build-bundle.ts [--out DIR] [--no-plugin]
 */
import { chmod, mkdir, readFile, readdir, rename, rm, stat, writeFile, copyFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { copyNativeParts, type CopiedPart, type NativePart } from './bundle/native-parts.ts';
import { runtimeBanner, sourcePatches } from './bundle/source-patches.ts';
import { buildPlugin } from './build-plugin.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_BUNDLE_DIR = path.join(ROOT, 'dist', 'bundle');

export interface BundleOptions {
  outDir?: string;
  /** Also build the Figma plugin and the Photopea page into the bundle (default true). */
  plugin?: boolean;
  log?: (line: string) => void;
}

export interface BundleResult {
  outDir: string;
  bytes: number;
  ms: number;
  files: { file: string; bytes: number }[];
  missingOptional: string[];
}

/** The two entry points: where each source goes in the bundle. */
const ENTRIES = [
  { source: 'companion/cli/stylize.ts', out: 'stylize.mjs', main: true },
  // engine-thread.ts starts new URL('./engine-worker.js', <its own URL>): the worker goes to that place.
  { source: 'companion/server/engine-worker.ts', out: 'companion/server/engine-worker.js', main: false },
];

async function bundleEntry(entry: (typeof ENTRIES)[number], outDir: string): Promise<void> {
  const patches = sourcePatches(ROOT);
  const result = await esbuild.build({
    entryPoints: [path.join(ROOT, entry.source)],
    outfile: path.join(outDir, entry.out),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Whitespace and syntax only: readable names keep stack traces of a user's report useful.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'eof',
    banner: { js: runtimeBanner(path.posix.dirname(entry.out) === '.' ? '' : path.posix.dirname(entry.out), entry.main) },
    // Optional native packages that need their own install (libtensorflow): found at run time or skipped.
    external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
    plugins: [patches.plugin],
    logLevel: 'silent',
  }).catch((err: esbuild.BuildFailure) => {
    const lines = (err.errors ?? []).map((e) => `  ${e.location ? `${e.location.file}:${e.location.line}: ` : ''}${e.text}`);
    throw new Error(`esbuild could not bundle ${entry.source}:\n${lines.join('\n') || err.message}`);
  });
  const unused = patches.unused();
  if (unused.length) throw new Error(`The bundle of ${entry.source} did not apply: ${unused.join('; ')}. Update scripts/bundle/source-patches.ts.`);
  void result;
}

async function listFiles(dir: string, base = dir): Promise<{ file: string; bytes: number }[]> {
  const out: { file: string; bytes: number }[] = [];
  for (const ent of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, ent.name);
    if (ent.isDirectory()) out.push(...(await listFiles(full, base)));
    else out.push({ file: path.relative(base, full).split(path.sep).join('/'), bytes: (await stat(full)).size });
  }
  return out.sort((a, b) => a.file.localeCompare(b.file));
}

const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MB`;

const LAUNCHER = `#!/bin/sh
# Runs the bundled Stylize with the node on PATH (Node.js 20 or newer), or the one named by $STYLIZE_NODE.
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd) || exit 1
exec "\${STYLIZE_NODE:-node}" "$here/stylize.mjs" "$@"
`;

function readme(version: string, files: { file: string; bytes: number }[], copied: CopiedPart[], missing: NativePart[], total: number): string {
  const sizeOf = (prefix: string) => files.filter((f) => f.file.startsWith(prefix)).reduce((s, f) => s + f.bytes, 0);
  return `# Stylize ${version}: self-contained bundle (${process.platform}-${process.arch})

Runs the Stylize CLI and companion daemon with a plain \`node\` (Node.js 20 or newer) and nothing
else: no \`npm install\`. Built by \`npm run bundle\` on ${process.platform}-${process.arch}; the native parts
are for that platform only. Total size: **${mb(total)}** (${total} bytes, ${files.length} files).

\`\`\`sh
./stylize --help
./stylize weights                      # download the VGG-19 weights (21 MB) into weights/cache here
./stylize content.jpg style.jpg -o out.png --size 512
./stylize serve                        # the companion for the Figma / Photopea plugin
./stylize bench --synthetic            # speed of each backend; needs no weights and no images
\`\`\`

(\`node stylize.mjs …\` does the same as \`./stylize …\`.) Weights are looked for in \`$STYLIZE_WEIGHTS\`,
then \`weights/cache/vgg19-keras-uint8/\` inside this folder; \`--weights DIR\` names one.
The Figma plugin: import \`manifest.json\` from this folder (Plugins > Development > Import plugin
from manifest…).

| part | size |
| --- | --- |
| stylize.mjs (CLI, daemon, engine, tfjs, ONNX Runtime's JS) | ${mb(sizeOf('stylize.mjs'))} |
| companion/server/engine-worker.js (the daemon's engine thread) | ${mb(sizeOf('companion/'))} |
${copied.map((c) => `| ${c.part.to}/: ${c.part.what} | ${mb(sizeOf(c.part.to + '/'))} |`).join('\n')}
| dist/plugin/ + manifest.json (Figma plugin, Photopea page) | ${mb(sizeOf('dist/') + sizeOf('manifest.json'))} |

Not included: ${[...missing.map((m) => `${m.what} (not installed where this was built)`),
    '@tensorflow/tfjs-node and tfjs-node-gpu (they download libtensorflow at install time; `auto` skips them)',
    "ONNX Runtime's CUDA provider libraries (hundreds of MB; they need CUDA 12 and cuDNN 9 installed)",
    'the VGG-19 weights'].join('; ')}.
`;
}

export async function buildBundle(opts: BundleOptions = {}): Promise<BundleResult> {
  const started = performance.now();
  const log = opts.log ?? (() => {});
  const outDir = path.resolve(opts.outDir ?? DEFAULT_BUNDLE_DIR);
  const tmp = `${outDir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    for (const entry of ENTRIES) {
      log(`bundling ${entry.source} -> ${entry.out}`);
      await bundleEntry(entry, tmp);
    }
    log('copying native parts');
    const { copied, missing } = await copyNativeParts(path.join(ROOT, 'node_modules'), tmp);
    for (const m of missing) log(`optional, not installed: ${m.what}`);
    if (opts.plugin !== false) {
      log('building the Figma plugin and the Photopea page');
      await buildPlugin({ outDir: path.join(tmp, 'dist', 'plugin'), typecheck: false, minify: true });
      await copyFile(path.join(ROOT, 'manifest.json'), path.join(tmp, 'manifest.json'));
    }
    const version = String(JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')).version);
    await writeFile(path.join(tmp, 'package.json'), JSON.stringify({ name: 'stylize-bundle', version, private: true, type: 'module' }, null, 2) + '\n');
    await writeFile(path.join(tmp, 'stylize'), LAUNCHER);
    await chmod(path.join(tmp, 'stylize'), 0o755);
    // The README states the total including itself: write it, measure, write again with the final figure.
    let files = await listFiles(tmp);
    let total = 0;
    for (let i = 0; i < 3; i++) {
      total = files.reduce((s, f) => s + f.bytes, 0);
      await writeFile(path.join(tmp, 'README.md'), readme(version, files, copied, missing, total));
      files = await listFiles(tmp);
      if (files.reduce((s, f) => s + f.bytes, 0) === total) break;
    }
    await rm(outDir, { recursive: true, force: true });
    await rename(tmp, outDir);
    return { outDir, bytes: total, ms: performance.now() - started, files, missingOptional: missing.map((m) => m.what) };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

async function cli(argv: string[]): Promise<number> {
  const opts: BundleOptions = { log: (l) => process.stderr.write(`${l}\n`) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') opts.outDir = path.resolve(argv[++i] ?? '');
    else if (a === '--no-plugin') opts.plugin = false;
    else {
      process.stderr.write(`build-bundle: unknown option ${a}. Options: --out DIR, --no-plugin.\n`);
      return 2;
    }
  }
  try {
    const r = await buildBundle(opts);
    process.stdout.write(`${r.outDir}: ${mb(r.bytes)} in ${r.files.length} files, built in ${(r.ms / 1000).toFixed(1)} s\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`build-bundle: ${(err as Error).message}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  process.exitCode = await cli(process.argv.slice(2));
}
