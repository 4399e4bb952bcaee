/**
 * Starts the real companion daemon for the plugin tests: a child process (`stylize serve`) with
 * its own config folder (XDG_CONFIG_HOME in a temp dir), a known token, a small style library made
 * from ../shared/images/style, and a fixed port so it can be stopped and started again.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { spawnCompanion } from './daemon.ts';
import { SHARED } from './paths.ts';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface CompanionOptions {
  /** Style library entries: name -> image in ../shared/images/style (stored downsized). */
  styles?: Record<string, string>;
  /** Extra `serve` flags. */
  args?: string[];
  /** How long to wait for GET /health (the engine loads weights and warms up). */
  startTimeoutMs?: number;
}

export class Companion {
  readonly port: number;
  readonly token: string;
  readonly configHome: string;
  private child: ChildProcess | null = null;
  private output = '';
  private readonly args: string[];
  private readonly startTimeoutMs: number;

  private constructor(port: number, token: string, configHome: string, args: string[], startTimeoutMs: number) {
    this.port = port;
    this.token = token;
    this.configHome = configHome;
    this.args = args;
    this.startTimeoutMs = startTimeoutMs;
  }

  static async create(options: CompanionOptions = {}): Promise<Companion> {
    const configHome = await mkdtemp(path.join(os.tmpdir(), 'stylize-plugin-test-'));
    const dir = path.join(configHome, 'stylize');
    await mkdir(path.join(dir, 'styles'), { recursive: true, mode: 0o700 });
    // A token in the companion's own format; the daemon reads it instead of making one.
    const token = 'PLGN7-TESTS-0A1B2-C3D4E-F5G6H';
    await writeFile(path.join(dir, 'token'), token + '\n', { mode: 0o600 });
    await chmod(path.join(dir, 'token'), 0o600);
    for (const [name, file] of Object.entries(options.styles ?? {})) {
      const src = path.join(SHARED, 'images', 'style', file);
      await sharp(src).resize(256, 256, { fit: 'inside' }).jpeg({ quality: 90 }).toFile(path.join(dir, 'styles', `${name}.jpg`));
    }
    const c = new Companion(await freePort(), token, configHome, options.args ?? [], options.startTimeoutMs ?? 180_000);
    try {
      await c.start();
    } catch (err) {
      await c.dispose();
      throw err;
    }
    return c;
  }

  get logs(): string {
    return this.output;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null;
  }

  async start(): Promise<void> {
    if (this.running) throw new Error('The companion is already running.');
    const spawned = spawnCompanion({ args: ['--port', String(this.port), '--host', 'localhost', ...this.args], home: this.configHome, configHome: this.configHome });
    const child = spawned.proc;
    this.child = child;
    child.stdout!.on('data', (d) => { this.output += d; });
    child.stderr!.on('data', (d) => { this.output += d; });
    const deadline = Date.now() + this.startTimeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`The companion exited with ${child.exitCode} while starting:\n${this.output}`);
      try {
        const res = await fetch(`http://127.0.0.1:${this.port}/health`);
        if (res.status === 200) return;
      } catch { /* not listening yet */ }
      await new Promise((r) => setTimeout(r, 250));
    }
    await this.stop();
    throw new Error(`The companion did not become healthy within ${this.startTimeoutMs / 1000} s:\n${this.output}`);
  }

  /** SIGTERM (the daemon's clean shutdown), then SIGKILL if it hangs. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }

  async dispose(): Promise<void> {
    await this.stop();
    await rm(this.configHome, { recursive: true, force: true });
  }
}
