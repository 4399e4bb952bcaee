/**
 * A stand-in for a newer companion: it speaks this protocol's handshake, then lets a test script
 * each job's answers, including message types and error codes this plugin version does not know.
 * Real WebSocket server (ws) on loopback; no engine.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import { decodeFrame, encodeFrame } from '../../protocol/frames.ts';
import { PROTOCOL_VERSION } from '../../protocol/messages.ts';

export interface ScriptedJob {
  ref: string;
  jobId: string;
  /** Sends one JSON text message to the client. */
  text(message: Record<string, unknown>): void;
  /** Sends one binary frame (header + payload). */
  binary(header: Record<string, unknown>, payload?: Uint8Array): void;
}

export class NewerCompanion {
  readonly cancels: string[] = [];
  /** What to answer a cancel with (default: unknown_job, as when the job has already ended). */
  onCancel: (jobId: string, socket: WebSocket) => void = (_id, socket) => {
    socket.send(JSON.stringify({ type: 'error', code: 'unknown_job', message: 'You have no such job queued or running (it may have finished already).' }));
  };
  /** Text requests other than hello and cancel (list_styles, estimate...), for the test to answer. */
  readonly requests: { message: Record<string, unknown>; answer(message: Record<string, unknown>): void }[] = [];
  private readonly wss: WebSocketServer;
  private jobs = 0;
  private readonly waiting: ((job: ScriptedJob) => void)[] = [];
  private readonly pending: ScriptedJob[] = [];

  private constructor(wss: WebSocketServer) {
    this.wss = wss;
    wss.on('connection', (socket) => this.onConnection(socket));
  }

  static async start(): Promise<NewerCompanion> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    return new NewerCompanion(wss);
  }

  get port(): number {
    return (this.wss.address() as AddressInfo).port;
  }

  /** The next job a client submits. */
  nextJob(): Promise<ScriptedJob> {
    const job = this.pending.shift();
    return job ? Promise.resolve(job) : new Promise((resolve) => this.waiting.push(resolve));
  }

  private onConnection(socket: WebSocket): void {
    socket.on('message', (data, isBinary) => {
      if (!isBinary) {
        const m = JSON.parse(data.toString()) as { type: string; jobId?: string };
        if (m.type === 'hello') socket.send(JSON.stringify(capabilities()));
        if (m.type === 'cancel' && m.jobId) { this.cancels.push(m.jobId); this.onCancel(m.jobId, socket); }
        else if (m.type !== 'hello' && m.type !== 'ping') this.requests.push({ message: m, answer: (a) => socket.send(JSON.stringify(a)) });
        return;
      }
      const { header } = decodeFrame(new Uint8Array(data as Buffer));
      const h = header as { type: string; ref: string };
      if (h.type !== 'submit') return;
      const job: ScriptedJob = {
        ref: h.ref,
        jobId: `job-${++this.jobs}`,
        text: (message) => socket.send(JSON.stringify(message)),
        binary: (hdr, payload = new Uint8Array()) => socket.send(encodeFrame(hdr, payload)),
      };
      const waiter = this.waiting.shift();
      if (waiter) waiter(job);
      else this.pending.push(job);
    });
  }

  async close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

function capabilities(): Record<string, unknown> {
  return {
    type: 'capabilities', protocol: PROTOCOL_VERSION, server: { name: 'stylize-companion', version: '99.0.0' },
    backend: { name: 'stand-in', device: 'none', reason: 'test' },
    limits: { maxPixels: 1 << 24, maxFrameBytes: 1 << 26, maxMessageBytes: 1 << 16, maxQueue: 8, maxJobsPerClient: 4, maxStylesPerJob: 4, previewMaxSide: 256, idleTimeoutMs: 0 },
    settings: { defaults: {}, bounds: {} },
    styles: [],
  };
}
