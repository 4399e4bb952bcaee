/**
 * CI's first-run check: `npm start` from this clone as a new user runs it (empty HOME, empty weights
 * cache, ../shared weights out of reach via STYLIZE_NO_SHARED_WEIGHTS=1) must download the weights from
 * a local server and have /health say ready within 2 minutes. Exits non-zero with the output otherwise.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/plugin-companion.ts';
import { loadWeightFiles, startWeightsServer } from '../test/helpers/weights-server.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEADLINE_MS = 120_000;

const server = await startWeightsServer(await loadWeightFiles());
const home = mkdtempSync(path.join(os.tmpdir(), 'stylize-first-run-'));
const port = await freePort();
const child = spawn('npm', ['start'], {
  cwd: ROOT,
  detached: true, // its own process group: npm, sh and node stop together
  stdio: ['ignore', 'pipe', 'pipe'],
  env: {
    PATH: process.env.PATH ?? '',
    HOME: home,
    STYLIZE_PORT: String(port),
    STYLIZE_WEIGHTS_CACHE: path.join(home, 'weights-cache'),
    STYLIZE_NO_SHARED_WEIGHTS: '1',
    STYLIZE_WEIGHTS_URL: server.url,
  },
});
let out = '';
child.stdout!.on('data', (d) => { out += d; });
child.stderr!.on('data', (d) => { out += d; });

const started = Date.now();
let sawPreparing: number | undefined;
let ready = false;
while (Date.now() - started < DEADLINE_MS && child.exitCode === null) {
  try {
    const h = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { status: string; preparing?: { percent: number } };
    if (h.status === 'preparing' && h.preparing) sawPreparing = h.preparing.percent;
    if (h.status === 'ready') { ready = true; break; }
  } catch { /* not listening yet */ }
  await new Promise((r) => setTimeout(r, 250));
}
const seconds = ((Date.now() - started) / 1000).toFixed(1);
try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* already gone */ }
await new Promise((r) => setTimeout(r, 2000));
try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* stopped */ }
await server.close();
rmSync(home, { recursive: true, force: true });

if (!ready) {
  process.stderr.write(`first-run check FAILED: /health did not say ready within ${DEADLINE_MS / 1000} s (exit ${child.exitCode}). Output:\n${out}\n`);
  process.exit(1);
}
process.stdout.write(`first-run check: npm start on a fresh HOME downloaded the weights (${server.requests.length} requests` +
  `${sawPreparing !== undefined ? `, /health said preparing ${sawPreparing}%` : ''}) and was ready in ${seconds} s.\n`);
