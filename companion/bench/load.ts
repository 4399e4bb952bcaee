/**
 * `npm run bench:load`: N clients x M small jobs against a real companion on 127.0.0.1, with random
 * cancels and disconnects. Prints jobs done / cancelled / refused / lost (lost must be 0: every
 * request answered), answer latency percentiles (submit -> accepted, ping -> pong while loaded, job
 * turnaround) and the daemon's RSS over time. Bounded in jobs and in time; stops by itself.
 *
 *   npm run bench:load -- --clients 8 --jobs 6 --cancel 0.2 --disconnect 0.1 --seconds 240
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import WebSocket from 'ws';
import { encodeSubmit } from '../../protocol/frames.ts';
import { PROTOCOL_VERSION, type ServerTextMessage } from '../../protocol/messages.ts';
import { PROJECT_ROOT } from '../server/paths.ts';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '8' },
    jobs: { type: 'string', default: '6' },
    cancel: { type: 'string', default: '0.2' },
    disconnect: { type: 'string', default: '0.1' },
    seconds: { type: 'string', default: '240' },
    size: { type: 'string', default: '32' },
    iterations: { type: 'string', default: '4' },
    seed: { type: 'string', default: '1' },
  },
});
const CLIENTS = Math.min(64, Number(args.clients));
const JOBS = Math.min(100, Number(args.jobs));
const P_CANCEL = Number(args.cancel);
const P_DISCONNECT = Number(args.disconnect);
const LIMIT_MS = Number(args.seconds) * 1000;
const SETTINGS = { size: Number(args.size), iterations: Number(args.iterations), previewEvery: 2 };

/** Seeded, so two runs make the same choices. */
let rngState = Number(args.seed) >>> 0 || 1;
function random(): number {
  rngState ^= rngState << 13; rngState >>>= 0;
  rngState ^= rngState >>> 17;
  rngState ^= rngState << 5; rngState >>>= 0;
  return rngState / 2 ** 32;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Daemon { port: number; token: string; stop(): Promise<void> }

async function startDaemon(): Promise<Daemon> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'stylize-bench-load-'));
  const proc = spawn(process.execPath, [
    '--import', 'tsx', path.join(PROJECT_ROOT, 'companion', 'server', 'serve-command.ts'),
    '--host', '127.0.0.1', '--port', '0', '--max-size', '128', '--max-connections', String(CLIENTS + 8),
    '--token-file', path.join(home, 'token'), '--style-library', path.join(home, 'styles'),
  ], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, STYLIZE_PORT: '' } });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the companion did not start in 180 s:\n${out}`)), 180_000);
    proc.stdout!.on('data', () => {
      const m = /Address\s+ws:\/\/[^\s]+:(\d+)/.exec(out);
      if (m && out.includes('Ready.')) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the companion exited (${code}):\n${out}`)); });
  });
  return {
    port,
    token: readFileSync(path.join(home, 'token'), 'utf8').trim(),
    async stop() {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([exited, delay(20_000).then(() => proc.kill('SIGKILL'))]);
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** One paired connection; JSON messages go to `onJson`. */
function connect(port: number, token: string, onJson: (m: ServerTextMessage) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { origin: 'null' });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, token, client: 'bench-load' })));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const m = JSON.parse(data.toString()) as ServerTextMessage;
      if (m.type === 'capabilities') resolve(ws);
      else if (m.type === 'error' && m.fatal) reject(new Error(`${m.code}: ${m.message}`));
      onJson(m);
    });
    ws.on('error', reject);
  });
}

function percentiles(xs: number[]): string {
  if (!xs.length) return 'n/a';
  const s = [...xs].sort((a, b) => a - b);
  const p = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))].toFixed(0);
  return `p50 ${p(0.5)} ms, p90 ${p(0.9)} ms, p99 ${p(0.99)} ms, max ${s.at(-1)!.toFixed(0)} ms (n=${s.length})`;
}

interface Tally { done: number; cancelled: number; refused: number; failed: number; abandoned: number; lost: number }

async function main(): Promise<number> {
  const started = Date.now();
  const deadline = started + LIMIT_MS;
  console.log(`bench:load: ${CLIENTS} clients x ${JOBS} jobs of ${SETTINGS.size} px x ${SETTINGS.iterations} iterations; cancel ${P_CANCEL}, disconnect ${P_DISCONNECT}; at most ${LIMIT_MS / 1000} s`);
  const images = await Promise.all([0, 1].map((i) => sharp({ create: { width: 48, height: 40, channels: 3, background: { r: 90 + 80 * i, g: 120, b: 160 - 60 * i }, noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).png().toBuffer()));
  const daemon = await startDaemon();
  console.log(`companion on 127.0.0.1:${daemon.port}, started in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const tally: Tally = { done: 0, cancelled: 0, refused: 0, failed: 0, abandoned: 0, lost: 0 };
  const acceptLatency: number[] = [];
  const pingLatency: number[] = [];
  const turnaround: number[] = [];
  const rss: { t: number; mb: number; queue: number }[] = [];

  // The monitor: status (for RSS) and ping every second, timed.
  let monitorStop = false;
  const pending = new Map<number, number>();
  const monitor = await connect(daemon.port, daemon.token, (m) => {
    if (m.type === 'pong' && typeof m.t === 'number' && pending.has(m.t)) { pingLatency.push(performance.now() - pending.get(m.t)!); pending.delete(m.t); }
    if (m.type === 'status') rss.push({ t: (Date.now() - started) / 1000, mb: m.process.rss / 2 ** 20, queue: m.length });
  });
  const monitorLoop = (async () => {
    for (let i = 0; !monitorStop; i++) {
      pending.set(i, performance.now());
      monitor.send(JSON.stringify({ type: 'ping', t: i }));
      monitor.send(JSON.stringify({ type: 'status' }));
      await delay(1000);
    }
  })();

  async function client(n: number): Promise<void> {
    let left = JOBS;
    while (left > 0 && Date.now() < deadline) {
      // One connection until it is deliberately dropped; then a new one for the jobs left.
      const waiting = new Map<string, { submitted: number; jobId?: string; settle: (outcome: keyof Tally) => void }>();
      const byJob = new Map<string, string>();
      let ws: WebSocket;
      try {
        ws = await connect(daemon.port, daemon.token, (m) => {
          const ref = m.type === 'accepted' ? m.ref : m.type === 'error' ? (m.ref ?? (m.jobId ? byJob.get(m.jobId) : undefined)) : 'jobId' in m ? byJob.get(m.jobId) : undefined;
          const w = ref !== undefined ? waiting.get(ref) : undefined;
          if (!w) return;
          if (m.type === 'accepted') {
            acceptLatency.push(performance.now() - w.submitted);
            w.jobId = m.jobId;
            byJob.set(m.jobId, ref!);
            if (random() < P_CANCEL) setTimeout(() => ws.send(JSON.stringify({ type: 'cancel', jobId: m.jobId })), random() * 400);
          } else if (m.type === 'done') {
            turnaround.push(performance.now() - w.submitted);
            w.settle('done');
          }
          else if (m.type === 'cancelled') w.settle('cancelled');
          else if (m.type === 'error') w.settle(m.code === 'queue_full' || m.code === 'too_many_jobs' ? 'refused' : m.code === 'unknown_job' ? 'cancelled' : 'failed');
        });
      } catch (err) {
        console.log(`client ${n}: could not connect (${(err as Error).message}); retrying`);
        await delay(500);
        continue;
      }
      const dropAfter = random() < P_DISCONNECT ? 1 + Math.floor(random() * 2) : Infinity;
      const batch = Math.min(left, 2, dropAfter);
      const outcomes = Array.from({ length: batch }, (_, k) => new Promise<keyof Tally>((settle) => {
        const ref = `c${n}-${JOBS - left + k}`;
        waiting.set(ref, { submitted: performance.now(), settle: (o) => { waiting.delete(ref); settle(o); } });
        ws.send(encodeSubmit({ ref, content: images[0], styles: [{ source: 'upload', image: images[1] }], settings: SETTINGS }));
      }));
      left -= batch;
      if (dropAfter !== Infinity) {
        // Disconnect while the jobs are queued or running: the daemon must drop or cancel them.
        await delay(random() * 300);
        ws.terminate();
        for (const w of [...waiting.values()]) w.settle('abandoned');
      }
      const timeout = delay(Math.max(0, deadline - Date.now())).then(() => 'lost' as const);
      for (const o of outcomes) {
        const r = await Promise.race([o, timeout]);
        tally[r]++;
      }
      if (ws.readyState === WebSocket.OPEN) ws.close();
    }
  }

  const t0 = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));
  const wall = (performance.now() - t0) / 1000;
  // Nothing may stay queued or running once every client has its answers (abandoned jobs included).
  let leftover = -1;
  for (let i = 0; i < 30 && leftover !== 0; i++) {
    await delay(1000);
    leftover = rss.at(-1)?.queue ?? -1;
  }
  monitorStop = true;
  await monitorLoop;
  monitor.close();
  await daemon.stop();

  console.log('');
  console.log(`jobs: ${tally.done} done, ${tally.cancelled} cancelled, ${tally.refused} refused (queue full), ${tally.failed} failed, ${tally.abandoned} abandoned by a disconnect, ${tally.lost} lost, in ${wall.toFixed(1)} s`);
  console.log(`queue after the last answer: ${leftover} job(s)`);
  console.log(`submit -> accepted: ${percentiles(acceptLatency)}`);
  console.log(`job turnaround (submit -> done, queueing included): ${percentiles(turnaround)}`);
  console.log(`ping -> pong under load: ${percentiles(pingLatency)}`);
  console.log('daemon RSS over time (from status):');
  const step = Math.max(1, Math.ceil(rss.length / 12));
  for (let i = 0; i < rss.length; i += step) console.log(`  t=${rss[i].t.toFixed(0).padStart(4)} s  RSS ${rss[i].mb.toFixed(0).padStart(5)} MB  queue ${rss[i].queue}`);
  if (rss.length) {
    const mbs = rss.map((r) => r.mb);
    console.log(`  first ${mbs[0].toFixed(0)} MB, max ${Math.max(...mbs).toFixed(0)} MB, last ${mbs.at(-1)!.toFixed(0)} MB`);
  }
  if (tally.lost > 0) console.log(`LOST ${tally.lost} job(s): a request went unanswered.`);
  return tally.lost > 0 || leftover !== 0 ? 1 : 0;
}

main().then((code) => process.exit(code), (err) => {
  console.error(`bench:load failed: ${(err as Error).stack ?? err}`);
  process.exit(2);
});
