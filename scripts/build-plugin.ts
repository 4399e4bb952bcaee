/**
 * Builds the Figma plugin that manifest.json names:
 *   plugin/figma/main.ts -> dist/plugin/code.js   (Figma's main-thread sandbox)
 *   plugin/ui/main.ts + styles.css -> dist/plugin/ui.html  (one self-contained HTML file: Figma loads
 *   the UI from a string, so the script and styles are inlined)
 *   plugin/photopea/main.ts + the same UI -> dist/plugin/photopea.html  (the Photopea plugin page, next
 *   to ui.html; the companion serves it at /photopea)
 * and type-checks the plugin first (main thread against @figma/plugin-typings without DOM, UI and
 * Photopea page with DOM).
 *
 *   npx tsx scripts/build-plugin.ts [--no-typecheck] [--minify] [--watch] [--out DIR]
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { COMPANION_HOST, companionPorts } from './manifest-network.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export class BuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BuildError';
  }
}

export interface BuildOptions {
  /** Where code.js and ui.html go; default: the folders manifest.json names. */
  outDir?: string;
  typecheck?: boolean;
  minify?: boolean;
  /** The manifest whose networkAccess the Figma UI is built for (default: the repository's). */
  manifestPath?: string;
}

export interface BuildResult {
  codePath: string;
  uiPath: string;
  /** The Photopea plugin page (same folder as uiPath). */
  photopeaPath: string;
  codeBytes: number;
  uiBytes: number;
  photopeaBytes: number;
}

/** The Photopea page's file name; the companion looks for it in its --plugin-dir. */
export const PHOTOPEA_PAGE = 'photopea.html';

interface Manifest {
  main: string;
  ui: string;
  /** Companion ports the manifest lets the Figma UI reach (ws and http on localhost). */
  companionPorts: number[];
}

/** What the Figma UI is told at build time: where Figma's CSP lets it reach the companion. */
export interface FigmaNetwork {
  address: string;
  ports: number[];
}

export async function readManifest(file = path.join(ROOT, 'manifest.json')): Promise<Manifest> {
  let data: unknown;
  try {
    data = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new BuildError(`Cannot read ${file}: ${(err as Error).message}`);
  }
  const m = data as { main?: unknown; ui?: unknown; networkAccess?: { allowedDomains?: unknown } };
  if (typeof m.main !== 'string' || typeof m.ui !== 'string') {
    throw new BuildError(`${file} must name "main" (the main-thread script) and "ui" (the UI's HTML file).`);
  }
  const domains = m.networkAccess?.allowedDomains;
  const ports = Array.isArray(domains) ? companionPorts(domains.filter((d): d is string => typeof d === 'string')) : [];
  if (ports.length === 0) {
    throw new BuildError(
      `${file} lets the plugin reach no companion port: Figma only lets the UI connect to what networkAccess.allowedDomains lists. ` +
      `Add "ws://${COMPANION_HOST}:7849" and "http://${COMPANION_HOST}:7849" (or your companion's port).`,
    );
  }
  return { main: m.main, ui: m.ui, companionPorts: ports };
}

/** Runs tsc on one project; throws BuildError with tsc's own report. */
function typecheck(project: string): void {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', project], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) {
    throw new BuildError(`Type errors in ${path.relative(ROOT, project)}:\n${(r.stdout + r.stderr).trim()}`);
  }
}

/** Inlines script and styles so `</script>` or `</style>` inside them cannot end the tag early. */
export function inlineUi(template: string, js: string, css: string): string {
  if (!template.includes('<!-- SCRIPT -->') || !template.includes('<!-- STYLES -->')) {
    throw new BuildError('plugin/ui/index.html must contain <!-- STYLES --> and <!-- SCRIPT --> placeholders.');
  }
  const safeJs = js.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
  const safeCss = css.replace(/<\/(style)/gi, '<\\/$1');
  // Functions as replacements: `$` sequences in the bundle must not be read as patterns.
  return template
    .replace('<!-- STYLES -->', () => `<style>\n${safeCss}</style>`)
    .replace('<!-- SCRIPT -->', () => `<script>\n${safeJs}</script>`);
}

async function writeAtomic(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file); // a failed build never leaves a half-written plugin behind
}

export async function buildPlugin(options: BuildOptions = {}): Promise<BuildResult> {
  const manifest = await readManifest(options.manifestPath);
  const network: FigmaNetwork = { address: COMPANION_HOST, ports: manifest.companionPorts };
  const codePath = options.outDir ? path.join(options.outDir, path.basename(manifest.main)) : path.join(ROOT, manifest.main);
  const uiPath = options.outDir ? path.join(options.outDir, path.basename(manifest.ui)) : path.join(ROOT, manifest.ui);
  const photopeaPath = path.join(path.dirname(uiPath), PHOTOPEA_PAGE);
  if (options.typecheck !== false) {
    typecheck(path.join(ROOT, 'plugin', 'tsconfig.json'));
    typecheck(path.join(ROOT, 'plugin', 'tsconfig.ui.json'));
    typecheck(path.join(ROOT, 'plugin', 'photopea', 'tsconfig.json'));
  }
  const common: esbuild.BuildOptions = {
    bundle: true,
    format: 'iife',
    write: false,
    minify: options.minify ?? false,
    legalComments: 'none',
    logLevel: 'silent',
    absWorkingDir: ROOT,
  };
  let main: esbuild.BuildResult;
  let ui: esbuild.BuildResult;
  let photopea: esbuild.BuildResult;
  try {
    main = await esbuild.build({
      ...common,
      entryPoints: [path.join(ROOT, 'plugin/figma/main.ts')],
      outfile: codePath,
      platform: 'neutral',
      // Figma's sandbox runs modern JS, but older desktop apps lag: ES2017 is safe everywhere.
      target: 'es2017',
      mainFields: ['module', 'main'],
    });
    ui = await esbuild.build({
      ...common,
      entryPoints: [path.join(ROOT, 'plugin/ui/main.ts')],
      outdir: path.join(ROOT, 'dist', 'ui-tmp'),
      platform: 'browser',
      define: { __STYLIZE_FIGMA_NETWORK__: JSON.stringify(network) },
      target: ['chrome100', 'safari15'],
      loader: { '.css': 'css' },
    });
    photopea = await esbuild.build({
      ...common,
      entryPoints: [path.join(ROOT, 'plugin/photopea/main.ts')],
      outdir: path.join(ROOT, 'dist', 'photopea-tmp'),
      platform: 'browser',
      // Photopea runs in current desktop browsers only.
      target: ['chrome100', 'firefox100', 'safari15'],
      loader: { '.css': 'css' },
    });
  } catch (err) {
    const failure = err as esbuild.BuildFailure;
    const lines = failure.errors?.map((e) => `${e.location ? `${e.location.file}:${e.location.line}: ` : ''}${e.text}`) ?? [String(err)];
    throw new BuildError(`esbuild failed:\n${lines.join('\n')}`);
  }
  const code = main.outputFiles![0].text;
  const js = ui.outputFiles!.find((f) => f.path.endsWith('.js'))?.text ?? '';
  const css = ui.outputFiles!.find((f) => f.path.endsWith('.css'))?.text ?? '';
  if (!js) throw new BuildError('esbuild produced no UI script.');
  const ppJs = photopea.outputFiles!.find((f) => f.path.endsWith('.js'))?.text ?? '';
  const ppCss = photopea.outputFiles!.find((f) => f.path.endsWith('.css'))?.text ?? '';
  if (!ppJs) throw new BuildError('esbuild produced no Photopea page script.');
  const template = await readFile(path.join(ROOT, 'plugin/ui/index.html'), 'utf8');
  const html = inlineUi(template, js, css);
  const ppHtml = inlineUi(template, ppJs, ppCss);
  await writeAtomic(codePath, code);
  await writeAtomic(uiPath, html);
  await writeAtomic(photopeaPath, ppHtml);
  return {
    codePath, uiPath, photopeaPath,
    codeBytes: Buffer.byteLength(code), uiBytes: Buffer.byteLength(html), photopeaBytes: Buffer.byteLength(ppHtml),
  };
}

async function cli(argv: string[]): Promise<number> {
  const opts: BuildOptions = {};
  let watch = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--no-typecheck') opts.typecheck = false;
    else if (a === '--minify') opts.minify = true;
    else if (a === '--watch') watch = true;
    else if (a === '--out') opts.outDir = path.resolve(argv[++i] ?? '');
    else if (a === '--help' || a === '-h') {
      process.stdout.write('Usage: tsx scripts/build-plugin.ts [--no-typecheck] [--minify] [--watch] [--out DIR]\n');
      return 0;
    } else {
      process.stderr.write(`build-plugin: unknown option ${a}. Try --help.\n`);
      return 2;
    }
  }
  const once = async (): Promise<boolean> => {
    const started = Date.now();
    try {
      const r = await buildPlugin(opts);
      process.stdout.write(`Built ${path.relative(process.cwd(), r.codePath)} (${(r.codeBytes / 1024).toFixed(1)} KB), ${path.relative(process.cwd(), r.uiPath)} (${(r.uiBytes / 1024).toFixed(1)} KB) and ${path.relative(process.cwd(), r.photopeaPath)} (${(r.photopeaBytes / 1024).toFixed(1)} KB) in ${Date.now() - started} ms.\n`);
      return true;
    } catch (err) {
      process.stderr.write(`build-plugin: ${err instanceof BuildError ? err.message : (err as Error).stack}\n`);
      return false;
    }
  };
  const ok = await once();
  if (!watch) return ok ? 0 : 1;
  // Rebuild on change, polling the sources (no extra dependency); Ctrl+C stops.
  const { watch: fsWatch } = await import('node:fs');
  let timer: NodeJS.Timeout | null = null;
  for (const dir of ['plugin', 'protocol']) {
    fsWatch(path.join(ROOT, dir), { recursive: true }, () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => void once(), 150);
    });
  }
  process.stdout.write('Watching plugin/ and protocol/ for changes...\n');
  return new Promise<number>(() => {});
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  cli(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
