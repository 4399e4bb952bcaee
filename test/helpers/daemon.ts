/**
 * Test helpers: spawn a real companion daemon process (temp HOME, any free port, real weights) and
 * talk to it with a real WebSocket client that records every message in order.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import sharp from 'sharp';
import { PROTOCOL_VERSION, parseServerMessage, type ServerTextMessage, type ServerBinaryMessage } from '../../protocol/messages.ts';
import { decodeServerFrame, encodeSubmit, type SubmitStyle } from '../../protocol/frames.ts';
import type { WireSettings } from '../../protocol/messages.ts';
import { REPO, SHARED, weightsDir } from './paths.ts';

/** A real image from ../shared, resized to `side` px on the long side, as PNG bytes. */
export async function testImage(kind: 'content' | 'style', name: string, side: number): Promise<Uint8Array> {
  const buf = await sharp(path.join(SHARED, 'images', kind, name)).resize(side, side, { fit: 'inside' }).png().toBuffer();
  return new Uint8Array(buf);
}

export interface DaemonHandle {
  proc: ChildProcess;
  port: number;
  url: string;
  httpUrl: string;
  token: string;
  home: string;
  configDir: string;
  tokenFile: string;
  styleLibrary: string;
  /** Everything the daemon printed so far (stdout and stderr). */
  output(): string;
  /** Sends a signal and waits for the process to exit. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  args?: string[];
  env?: Record<string, string>;
  /** Reuse a home folder (e.g. to test an existing token file). */
  home?: string;
  timeoutMs?: number;
  /**
   * Pass no --weights: the daemon finds (or, on a fresh machine, downloads) them itself. Then this
   * resolves as soon as it listens, which may be long before it is ready.
   */
  findOwnWeights?: boolean;
  /** Node arguments that start the daemon, before --port (default: serve-command.ts under tsx). */
  entry?: string[];
  cwd?: string;
}

export interface SpawnOptions {
  /** Which companion command to run (default serve). */
  command?: 'serve' | 'doctor';
  /** Node arguments that start it (default: companion/server/COMMAND-command.ts under tsx). */
  entry?: string[];
  args?: string[];
  /** HOME of the process; its config goes to configHome (default HOME/.config). */
  home: string;
  configHome?: string;
  env?: Record<string, string>;
  cwd?: string;
}

export interface SpawnedCompanion {
  proc: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * THE way tests start a companion process (serve or doctor): its own HOME and config folder, the
 * repository as cwd, STYLIZE_PORT cleared so the developer's own setting never leaks in.
 */
export function spawnCompanion(opts: SpawnOptions): SpawnedCompanion {
  const entry = opts.entry ?? ['--import', 'tsx', path.join(REPO, 'companion', 'server', `${opts.command ?? 'serve'}-command.ts`)];
  const proc = spawn(process.execPath, [...entry, ...(opts.args ?? [])], {
    cwd: opts.cwd ?? REPO,
    env: { ...process.env, HOME: opts.home, XDG_CONFIG_HOME: opts.configHome ?? path.join(opts.home, '.config'), STYLIZE_PORT: '', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => proc.once('exit', (code, signal) => res({ code, signal })));
  return { proc, output: () => out, exited };
}

/** Starts `serve-command.ts` in its own process on a free port and waits for its ready banner. */
export async function startDaemon(opts: StartOptions = {}): Promise<DaemonHandle> {
  const home = opts.home ?? mkdtempSync(path.join(os.tmpdir(), 'stylize-daemon-'));
  const configDir = path.join(home, '.config', 'stylize');
  const args = ['--port', '0', ...(opts.findOwnWeights ? [] : ['--weights', weightsDir()]), ...(opts.args ?? [])];
  const { proc, output, exited } = spawnCompanion({ entry: opts.entry, args, home, env: opts.env, cwd: opts.cwd });

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon not ready after ${opts.timeoutMs ?? 120000} ms; output:\n${output()}`)), opts.timeoutMs ?? 120_000);
    const check = () => {
      const m = /Address\s+ws:\/\/[^\s]+:(\d+)/.exec(output());
      if (m && (opts.findOwnWeights || output().includes('Ready.'))) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    proc.stdout!.on('data', check);
    void exited.then(({ code }) => { clearTimeout(timer); reject(new Error(`daemon exited (code ${code}) before it was ready; output:\n${output()}`)); });
  });
  const tokenFile = path.join(configDir, 'token');
  return {
    proc,
    port,
    url: `ws://127.0.0.1:${port}`,
    httpUrl: `http://127.0.0.1:${port}`,
    token: readFileSync(tokenFile, 'utf8').trim(),
    home,
    configDir,
    tokenFile,
    styleLibrary: path.join(configDir, 'styles'),
    output,
    stop: async (signal = 'SIGTERM', timeoutMs = 30_000) => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      const r = await exited;
      clearTimeout(timer);
      if (!opts.home) rmSync(home, { recursive: true, force: true });
      return r;
    },
  };
}

export type Received =
  | { kind: 'json'; msg: ServerTextMessage; at: number }
  | { kind: 'binary'; msg: ServerBinaryMessage; payload: Uint8Array; at: number };

/** A WebSocket client that validates and records everything it receives, in order. */
export class TestClient {
  readonly received: Received[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        const { message, payload } = decodeServerFrame(new Uint8Array(data));
        this.received.push({ kind: 'binary', msg: message, payload, at: performance.now() });
      } else {
        this.received.push({ kind: 'json', msg: parseServerMessage(data.toString('utf8')), at: performance.now() });
      }
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((res) => ws.on('close', (code, reason) => {
      res({ code, reason: reason.toString() });
      for (const w of this.waiters.splice(0)) w();
    }));
  }

  /** Opens a connection (no hello yet). Rejects with the HTTP status if the upgrade is refused. */
  static open(url: string, opts: { origin?: string; headers?: Record<string, string> } = {}): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { ...(opts.origin !== undefined && { origin: opts.origin }), headers: opts.headers });
      const client = new TestClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d: Buffer) => { body += d; });
        res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${body}`), { status: res.statusCode, body })));
      });
      ws.once('error', (err) => reject(err));
    });
  }

  /** Opens and pairs; resolves after `capabilities`. */
  static async connect(url: string, token: string, opts: { origin?: string } = {}): Promise<TestClient> {
    const c = await TestClient.open(url, opts);
    c.send({ type: 'hello', protocol: PROTOCOL_VERSION, token, client: 'test' });
    await c.next((m) => m.type === 'capabilities');
    return c;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  sendBinary(bytes: Uint8Array): void {
    this.ws.send(bytes, { binary: true });
  }

  submit(ref: string, content: Uint8Array, styles: SubmitStyle[], settings?: WireSettings): void {
    this.sendBinary(encodeSubmit({ ref, content, styles, ...(settings && { settings }) }));
  }

  jsonMessages(): ServerTextMessage[] {
    return this.received.flatMap((r) => (r.kind === 'json' ? [r.msg] : []));
  }

  /** Waits for a JSON message matching `pred` that arrives at index >= `from` (default: any so far). */
  async next<T extends ServerTextMessage>(pred: (m: ServerTextMessage) => boolean, timeoutMs = 60_000, from = 0): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.received.slice(from).find((r) => r.kind === 'json' && pred(r.msg));
      if (hit) return hit.msg as T;
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`connection closed while waiting; got: ${this.summary()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a message; got: ${this.summary()}`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        this.waiters.push(() => { clearTimeout(t); res(); });
      });
    }
  }

  /** Waits for a binary frame matching `pred` that arrives at index >= `from`. */
  async nextBinary(pred: (m: ServerBinaryMessage) => boolean, timeoutMs = 60_000, from = 0): Promise<Extract<Received, { kind: 'binary' }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.received.slice(from).find((r) => r.kind === 'binary' && pred(r.msg));
      if (hit && hit.kind === 'binary') return hit;
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`connection closed while waiting; got: ${this.summary()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a binary frame; got: ${this.summary()}`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        this.waiters.push(() => { clearTimeout(t); res(); });
      });
    }
  }

  /** Waits for the error answering `ref` (or any error when ref is undefined). */
  error(ref?: string, timeoutMs?: number) {
    return this.next<Extract<ServerTextMessage, { type: 'error' }>>((m) => m.type === 'error' && (ref === undefined || m.ref === ref), timeoutMs);
  }

  /** A job's terminal message: done, cancelled or error. */
  finished(jobId: string, timeoutMs = 120_000) {
    return this.next((m) => (m.type === 'done' || m.type === 'cancelled' || m.type === 'error') && 'jobId' in m && m.jobId === jobId, timeoutMs);
  }

  /** Everything about one job, in arrival order. */
  jobEvents(jobId: string): Received[] {
    return this.received.filter((r) => 'jobId' in r.msg && r.msg.jobId === jobId);
  }

  summary(): string {
    return this.received.map((r) => (r.kind === 'json' ? r.msg.type + ('code' in r.msg ? `(${r.msg.code})` : '') : `[${r.msg.type}]`)).join(' ');
  }

  close(): void {
    this.ws.close();
  }
}

/** Sends `status` and returns the answer. */
export async function status(c: TestClient) {
  const from = c.received.length;
  c.send({ type: 'status' });
  return c.next<Extract<ServerTextMessage, { type: 'status' }>>((m) => m.type === 'status', 30_000, from);
}
