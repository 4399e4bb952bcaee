/**
 * The self-contained bundle (npm run bundle): built, copied into an empty temporary folder with no
 * node_modules above it, and run there with a plain `node` and NODE_PATH unset. A CLI job on onnx-cpu
 * must give the same pixels as the normal install; every native library it loads must come from the
 * bundle; the daemon (and its engine worker thread) must run a job; bench --synthetic must need no
 * weights and no images.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { buildBundle, type BundleResult } from '../scripts/build-bundle.ts';
import { CONTENT_DIR, REPO, STYLE_DIR, weightsDir } from './helpers/paths.ts';
import { startDaemon, TestClient, testImage } from './helpers/daemon.ts';

let work: string;
let bundle: string;
let built: BundleResult;

/** The environment of a designer's machine: no NODE_PATH, a fresh HOME, no weights unless given. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: path.join(work, 'home'), XDG_CONFIG_HOME: path.join(work, 'home', '.config') };
  delete env.NODE_PATH;
  delete env.STYLIZE_WEIGHTS;
  delete env.NODE_OPTIONS; // nothing of the test runner's loaders may reach the bundle
  return { ...env, ...extra };
}

function run(args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', (d) => { stderr += d; });
    proc.on('error', reject);
    proc.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function findNodeModules(dir: string): string[] {
  const found: string[] = [];
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    if (!ent.isDirectory()) continue;
    if (ent.name === 'node_modules') found.push(path.join(dir, ent.name));
    else found.push(...findNodeModules(path.join(dir, ent.name)));
  }
  return found;
}

before(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'stylize-bundle-'));
  built = await buildBundle({ outDir: path.join(work, 'build') });
  // The copy a designer would unpack: an empty folder of its own, far from the repository.
  const empty = mkdtempSync(path.join(os.tmpdir(), 'stylize-empty-'));
  bundle = path.join(empty, 'stylize');
  cpSync(built.outDir, bundle, { recursive: true });
  rmSync(built.outDir, { recursive: true, force: true });
});

after(() => {
  if (bundle) rmSync(path.dirname(bundle), { recursive: true, force: true });
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the bundle is one folder with no node_modules in it or above it, and a README stating its size', () => {
  for (let dir = bundle; ; dir = path.dirname(dir)) {
    assert.ok(!existsSync(path.join(dir, 'node_modules')), `${dir} has a node_modules folder the bundle could lean on`);
    if (path.dirname(dir) === dir) break;
  }
  assert.deepEqual(findNodeModules(bundle), []);
  const readme = readFileSync(path.join(bundle, 'README.md'), 'utf8');
  const stated = /\((\d+) bytes, (\d+) files\)/.exec(readme);
  assert.ok(stated, 'README states the size in bytes');
  assert.equal(Number(stated[1]), built.bytes);
  assert.equal(Number(stated[2]), built.files.length);
  // No absolute path of this machine's repository or node_modules baked into the code.
  for (const file of ['stylize.mjs', 'companion/server/engine-worker.js']) {
    const code = readFileSync(path.join(bundle, file), 'utf8');
    assert.ok(!code.includes(REPO), `${file} mentions ${REPO}`);
    assert.ok(!code.includes(realpathSync(path.join(REPO, 'node_modules'))), `${file} mentions the installed node_modules`);
  }
});

test('a CLI job on onnx-cpu from the bundle gives the same pixels as the normal install, loading only its own native parts', async () => {
  const out = mkdtempSync(path.join(work, 'out-'));
  const job = [path.join(CONTENT_DIR, 'deadpool.jpg'), path.join(STYLE_DIR, 'guernica.jpg'), '--size', '64', '--iterations', '4', '--seed', '7', '--backend', 'onnx-cpu', '-q'];
  const env = { STYLIZE_WEIGHTS: weightsDir() };

  // LD_DEBUG=files makes the dynamic loader name every library it initializes.
  const fromBundle = await run([path.join(bundle, 'stylize.mjs'), ...job, '-o', path.join(out, 'bundle.png')], { cwd: bundle, env: cleanEnv({ ...env, LD_DEBUG: 'files' }) });
  assert.equal(fromBundle.code, 0, fromBundle.stderr.split('\n').filter((l) => !/^\s*\d+:/.test(l)).join('\n'));
  const fromInstall = await run(['--import', 'tsx', path.join(REPO, 'companion', 'cli', 'stylize.ts'), ...job, '-o', path.join(out, 'install.png')], { cwd: REPO, env: { ...process.env, ...env } });
  assert.equal(fromInstall.code, 0, fromInstall.stderr);

  const [a, b] = await Promise.all(['bundle.png', 'install.png'].map((f) => sharp(path.join(out, f)).raw().toBuffer({ resolveWithObject: true })));
  assert.deepEqual([a.info.width, a.info.height], [64, 48]);
  assert.deepEqual([b.info.width, b.info.height], [64, 48]);
  assert.ok(a.data.equals(b.data), 'the bundle and the install wrote different pixels');
  assert.equal(readFileSync(path.join(out, 'bundle-losses.csv'), 'utf8'), readFileSync(path.join(out, 'install-losses.csv'), 'utf8'));

  const loaded = [...fromBundle.stderr.matchAll(/calling init: (\S+)/g)].map((m) => m[1]);
  const ours = loaded.filter((f) => /\.node$|onnxruntime|vips/.test(f));
  assert.ok(ours.some((f) => f.endsWith('onnxruntime_binding.node')), `onnxruntime's binding was loaded: ${loaded.join(', ')}`);
  assert.ok(ours.some((f) => /libvips-cpp/.test(f)), `libvips was loaded: ${loaded.join(', ')}`);
  for (const f of ours) assert.ok(path.resolve(f).startsWith(bundle + path.sep), `${f} was loaded from outside the bundle`);
});

test('the launcher runs; without weights a job says where to get them; bench --synthetic needs no weights and no images', async () => {
  const help = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
    const p = spawn(path.join(bundle, 'stylize'), ['--help'], { cwd: os.tmpdir(), env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out }));
  });
  assert.equal(help.code, 0);
  assert.match(help.out, /stylize bench/);

  const noWeights = await run([path.join(bundle, 'stylize.mjs'), path.join(CONTENT_DIR, 'deadpool.jpg'), path.join(STYLE_DIR, 'guernica.jpg'), '-o', path.join(work, 'x.png'), '--size', '32', '--iterations', '1', '--backend', 'onnx-cpu'], { cwd: bundle, env: cleanEnv() });
  assert.notEqual(noWeights.code, 0);
  assert.match(noWeights.stderr, /weights were not found[\s\S]*stylize weights/);
  assert.ok(!existsSync(path.join(work, 'x.png')));

  const bench = await run([path.join(bundle, 'stylize.mjs'), 'bench', '--synthetic', '--backends', 'onnx-cpu,wasm', '--sizes', '32', '--iterations', '1', '--check-gradient', '32'], { cwd: bundle, env: cleanEnv() });
  assert.equal(bench.code, 0, bench.stderr);
  const report = JSON.parse(bench.stdout) as { weights: string; results: { backend: string; width: number; height: number; msPerIteration: number }[]; gradientCheck: { backend: string; gradRelError: number }[] };
  assert.match(report.weights, /^synthetic/);
  assert.deepEqual(report.results.map((r) => [r.backend, r.width, r.height]), [['onnx-cpu', 32, 24], ['wasm', 32, 24]]);
  assert.ok(report.results.every((r) => r.msPerIteration > 0));
  // wasm's gradient on the synthetic net agrees with onnx-cpu's: the random weights make a well-posed problem.
  assert.equal(report.gradientCheck.length, 1);
  assert.ok(report.gradientCheck[0].gradRelError < 1e-3, `wasm vs onnx-cpu gradient relative error ${report.gradientCheck[0].gradRelError}`);
});

test('the companion daemon from the bundle runs a job through its engine worker thread', async () => {
  const home = mkdtempSync(path.join(work, 'home-'));
  const daemon = await startDaemon({ entry: [path.join(bundle, 'stylize.mjs'), 'serve'], cwd: bundle, home, args: ['--backend', 'onnx-cpu'], env: { NODE_PATH: '', NODE_OPTIONS: '' } });
  try {
    assert.match(daemon.output(), new RegExp(`${path.join(bundle, 'manifest.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const c = await TestClient.connect(daemon.url, daemon.token);
    c.submit('b1', await testImage('content', 'deadpool.jpg', 64), [{ source: 'upload', image: await testImage('style', 'guernica.jpg', 64) }], { size: 32, iterations: 2 });
    const done = await c.next((m) => m.type === 'done' || m.type === 'error', 120_000);
    assert.ok(done.type === 'done', JSON.stringify(done));
    assert.deepEqual([done.width, done.height, done.iterations], [32, 24, 2]);
    const result = await c.nextBinary((m) => m.type === 'result');
    assert.deepEqual(await sharp(result.payload).metadata().then((m) => [m.format, m.width, m.height]), ['png', 32, 24]);
    c.ws.close();
  } finally {
    await daemon.stop();
  }
});
