/**
 * `stylize doctor`: checks everything a user could get wrong before the plugin can connect
 * (options, token file, port, weights, backend, style library, image codec) and says how to fix each.
 * Takes the same options as `serve`, so it checks the set-up `serve` would use.
 */
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { access, constants, readdir, stat } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { StylizeError, errorSummary } from '../../common/errors.ts';
import { locateWeights } from '../../weights/locate.ts';
import { verifyWeights } from '../../weights/loader.ts';
import { hostForUrl } from './http-routes.ts';
import { isLoopbackHost, parseServeArgs, serveUsage, UsageError, type DaemonOptions } from './options.ts';
import { tildify } from './paths.ts';
import { inspectTokenFile } from './token.ts';

type Level = 'ok' | 'info' | 'warn' | 'fail';
interface Finding {
  level: Level;
  what: string;
  fix?: string;
}

const MARK: Record<Level, string> = { ok: 'ok  ', info: 'info', warn: 'WARN', fail: 'FAIL' };

export async function runDoctor(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const findings: Finding[] = [];
  const report = (f: Finding) => {
    findings.push(f);
    out.write(`  ${MARK[f.level]}  ${f.what}\n${f.fix ? `        fix: ${f.fix}\n` : ''}`);
  };
  const quick = argv.includes('--quick');
  let opts: DaemonOptions;
  out.write('Stylize doctor\n');
  try {
    const parsed = parseServeArgs(argv.filter((a) => a !== '--quick'));
    if (parsed.help) {
      out.write('Usage: stylize doctor [--quick] [serve options]\n  --quick  skip loading the engine (backend check)\n\n' + serveUsage() + '\n');
      return 0;
    }
    opts = parsed.options;
    report({ level: 'ok', what: `options and config file (${tildify(parsed.configFile)}) are valid` });
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    report({ level: 'fail', what: `options: ${err.message}`, fix: 'correct the flag, environment variable or config.json key named above' });
    return summary(findings, out);
  }

  const major = Number(process.versions.node.split('.')[0]);
  report(major >= 20
    ? { level: 'ok', what: `Node.js ${process.versions.node}` }
    : { level: 'fail', what: `Node.js ${process.versions.node} is too old`, fix: 'install Node.js 20 or newer' });

  checkToken(opts, report);
  await checkPort(opts, report);
  const weightsDir = await checkWeights(opts, report);
  if (weightsDir && !quick) await checkBackend(opts, weightsDir, report);
  await checkStyleLibrary(opts, report);
  await checkKeptDir(opts, report);
  await checkCodec(report);
  await checkService(opts, report);
  if (!isLoopbackHost(opts.host)) {
    report({ level: 'warn', what: `--host ${opts.host} exposes the companion beyond this machine`, fix: 'use the default (localhost) unless you mean to serve other machines (the token is then your only protection)' });
  }
  if (opts.allowOrigins.length) report({ level: 'info', what: `browser origins allowed besides Figma's: ${opts.allowOrigins.join(', ')}` });
  return summary(findings, out);
}

function summary(findings: Finding[], out: NodeJS.WritableStream): number {
  const fails = findings.filter((f) => f.level === 'fail').length;
  const warns = findings.filter((f) => f.level === 'warn').length;
  out.write(fails ? `\n${fails} problem(s) to fix${warns ? `, ${warns} warning(s)` : ''}.\n` : `\nAll checks passed${warns ? ` (${warns} warning(s))` : ''}.\n`);
  return fails ? 1 : 0;
}

function checkToken(opts: DaemonOptions, report: (f: Finding) => void): void {
  const t = inspectTokenFile(opts.tokenFile);
  const file = tildify(opts.tokenFile);
  if (!t.exists && !t.problem) {
    report({ level: 'info', what: `no token file yet (${file}); \`stylize serve\` creates one (mode 0600) on first start` });
  } else if (t.problem) {
    report({ level: t.token ? 'warn' : 'fail', what: `token file ${file}: ${t.problem}`, fix: t.fix });
  } else {
    report({ level: 'ok', what: `token file ${file} (mode ${t.mode?.toString(8) ?? 'n/a'})` });
  }
}

/** Free, or held by a running companion (fine), or by something else (fix). */
async function checkPort(opts: DaemonOptions, report: (f: Finding) => void): Promise<void> {
  const where = `${opts.host}:${opts.port}`;
  const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    const srv = net.createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => resolve(e));
    srv.listen(opts.port, opts.host, () => srv.close(() => resolve(undefined)));
  });
  if (!err) return report({ level: 'ok', what: `port ${where} is free` });
  if (err.code !== 'EADDRINUSE') {
    return report({ level: 'fail', what: `cannot listen on ${where}: ${err.message}`, fix: err.code === 'EACCES' ? 'use a port above 1023 (--port)' : 'check --host; it must be an address of this machine' });
  }
  const health = await getHealth(opts.host, opts.port);
  if (health && health.name === 'stylize-companion') {
    report({ level: 'ok', what: `a Stylize companion ${health.version} is already running on ${where} (${health.backend ?? 'starting'}, ${health.status})` });
  } else {
    report({
      level: 'fail',
      what: `port ${where} is used by another program`,
      fix: `stop that program, or run the companion on another port: --port N or STYLIZE_PORT=N (and set the same port in the plugin)`,
    });
  }
}

function getHealth(host: string, port: number): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/health', timeout: 2000, headers: { host: `${hostForUrl(isLoopbackHost(host) ? '127.0.0.1' : host)}:${port}` } }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as Record<string, unknown>);
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

async function checkWeights(opts: DaemonOptions, report: (f: Finding) => void): Promise<string | undefined> {
  let dir: string;
  try {
    dir = opts.weightsDir ?? locateWeights().dir;
  } catch (err) {
    if (!(err instanceof StylizeError)) throw err;
    report({ level: 'fail', what: `weights: ${err.message}`, fix: 'run `npx stylize weights` (about 21 MB, checksummed)' });
    return undefined;
  }
  const results = await verifyWeights(dir);
  const bad = results.filter((r) => !r.ok);
  if (bad.length === 0) {
    report({ level: 'ok', what: `weights in ${tildify(dir)}: ${results.length} files, checksums match` });
    return dir;
  }
  if (bad.length === results.length) {
    report({ level: 'fail', what: `no VGG-19 weights in ${tildify(dir)} (none of the ${results.length} files is there)`, fix: opts.weightsDir ? `point --weights at the folder holding model.json, or download there: npx stylize weights --dest ${dir}` : 'run `npx stylize weights`' });
    return undefined;
  }
  const list = bad.slice(0, 4).map((r) => `${r.file} (${r.problem})`).join('; ');
  report({
    level: 'fail',
    what: `weights in ${tildify(dir)}: ${bad.length} of ${results.length} files missing or corrupt: ${list}${bad.length > 4 ? '; ...' : ''}`,
    fix: opts.weightsDir ? `re-download: npx stylize weights --dest ${dir}` : 'run `npx stylize weights` to download them again (only the bad files are fetched)',
  });
  return undefined;
}

async function checkBackend(opts: DaemonOptions, weightsDir: string, report: (f: Finding) => void): Promise<void> {
  try {
    const { Engine } = await import('../engine/engine.ts');
    const engine = await Engine.create({ backend: opts.backend, weightsDir });
    const b = engine.backend;
    engine.dispose();
    report({ level: 'ok', what: `backend ${b.name} on ${b.device} (${b.reason})` });
    const gpu = /gpu|cuda|webgpu/i;
    if (!gpu.test(b.name) && !gpu.test(b.device)) {
      for (const s of b.skipped) report({ level: 'info', what: `not ${s.name}: ${s.reason}` });
      report({
        level: 'warn',
        what: `no GPU backend: jobs run on the CPU (${b.name}), many times slower`,
        fix: 'for NVIDIA GPUs: `npm install @tensorflow/tfjs-node-gpu` (needs CUDA 11.2 + cuDNN 8.1); otherwise a Vulkan/Metal/D3D12 driver enables webgpu',
      });
    }
  } catch (err) {
    const code = err instanceof StylizeError ? err.code : 'internal';
    report({
      level: 'fail',
      what: `backend ${opts.backend}: ${(err as Error).message}`,
      fix: code === 'backend_unavailable' ? 'use --backend auto (or wasm, which always works)' : 'see the message above; `npx stylize weights` repairs the weights',
    });
  }
}

/** A folder the companion writes into, as it stands: absent (made at start), not a folder, read-only, or usable. */
async function folderState(dir: string): Promise<'absent' | 'not-a-folder' | 'read-only' | 'ok'> {
  let st;
  try {
    st = await stat(dir);
  } catch {
    return 'absent';
  }
  if (!st.isDirectory()) return 'not-a-folder';
  try {
    await access(dir, constants.R_OK | constants.W_OK);
  } catch {
    return 'read-only';
  }
  return 'ok';
}

async function checkStyleLibrary(opts: DaemonOptions, report: (f: Finding) => void): Promise<void> {
  const dir = opts.styleLibrary;
  switch (await folderState(dir)) {
    case 'absent': return report({ level: 'info', what: `no style library yet (${tildify(dir)}); \`stylize serve\` creates it` });
    case 'not-a-folder': return report({ level: 'fail', what: `style library ${tildify(dir)} is not a folder`, fix: 'move that file away or use --style-library DIR' });
    case 'read-only': return report({ level: 'warn', what: `style library ${tildify(dir)} is not writable: the plugin cannot save styles there`, fix: `chmod u+rw ${dir}` });
    case 'ok': break;
  }
  const images = (await readdir(dir)).filter((f) => /\.(png|jpe?g|webp|gif|tiff?|avif)$/i.test(f) && !f.startsWith('.'));
  report({ level: 'ok', what: `style library ${tildify(dir)}: ${images.length} image(s)` });
  for (const f of images) {
    try {
      const meta = await sharp(path.join(dir, f), { limitInputPixels: false }).metadata();
      if ((meta.width ?? 0) * (meta.height ?? 0) > opts.maxPixels) {
        report({ level: 'warn', what: `style ${f} is ${meta.width} x ${meta.height}, over --max-pixels; it is not listed`, fix: 'scale it down' });
      }
    } catch (err) {
      report({ level: 'warn', what: `style ${f} is not a readable image (${errorSummary(err)}); it is not listed`, fix: `replace or remove ${path.join(dir, f)}` });
    }
  }
}

/** The kept-results folder must be writable, or a closed Photopea panel's results stay in memory only. */
async function checkKeptDir(opts: DaemonOptions, report: (f: Finding) => void): Promise<void> {
  const dir = opts.keptDir;
  switch (await folderState(dir)) {
    case 'absent': return; // created at the first start; nothing to say
    case 'not-a-folder': return report({ level: 'warn', what: `kept-results folder ${tildify(dir)} is not a folder: results of a closed panel stay in memory only and a restart loses them`, fix: 'move that file away or use --kept-dir DIR' });
    case 'read-only': return report({ level: 'warn', what: `kept-results folder ${tildify(dir)} is not writable: results of a closed panel stay in memory only and a restart loses them`, fix: `chmod u+rwx ${dir}` });
    case 'ok': break;
  }
  const waiting = (await readdir(dir)).filter((f) => f.endsWith('.json')).length;
  report({ level: 'ok', what: `kept results ${tildify(dir)}: ${waiting} waiting for their plugin panel` });
}

/** Whether the companion runs in the background (`stylize service install`); informational either way. */
async function checkService(opts: DaemonOptions, report: (f: Finding) => void): Promise<void> {
  try {
    const { ServiceManager } = await import('../service/service-manager.ts');
    const s = await new ServiceManager().status(async () => (await getHealth(opts.host, opts.port))?.name === 'stylize-companion');
    report(s.installed
      ? { level: s.running ? 'ok' : 'warn', what: `background service installed (${tildify(s.file)}), ${s.running ? 'running' : 'not running'}${s.managerSays ? ` (${s.managerSays})` : ''}; log ${tildify(s.logFile)}`, ...(!s.running && { fix: `see the log; \`npx stylize service install\` starts it again` }) }
      : { level: 'info', what: 'background service not installed (`npx stylize service install` starts the companion at login)' });
  } catch (err) {
    report({ level: 'info', what: `background service: ${(err as Error).message}` });
  }
}

async function checkCodec(report: (f: Finding) => void): Promise<void> {
  try {
    const png = await sharp({ create: { width: 4, height: 4, channels: 4, background: '#336699' } }).png().toBuffer();
    const meta = await sharp(png).metadata();
    if (meta.width !== 4) throw new Error(`decoded width ${meta.width}`);
    report({ level: 'ok', what: `image codec (sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips})` });
  } catch (err) {
    report({ level: 'fail', what: `image codec (sharp) does not work: ${(err as Error).message}`, fix: 'reinstall dependencies: `npm ci`' });
  }
}

// Run directly: `npx tsx companion/server/doctor-command.ts` (the CLI's `doctor` calls runDoctor).
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  runDoctor(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
