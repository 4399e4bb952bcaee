/** One client connection: its socket, pairing state, jobs, timers and ordered message handling. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { WebSocket } from 'ws';
import { closeCodeFor, type ErrorCode } from '../../protocol/errors.ts';
import type { ServerTextMessage } from '../../protocol/messages.ts';
import { toWireError, type ErrorContext } from './wire-error.ts';
import type { Job, JobClient } from './scheduler.ts';

/** Messages (or bytes) waiting per connection before its socket is paused (backpressure). */
const MAX_PENDING = 8;
const MAX_PENDING_BYTES = 1024 * 1024;
/** How long a socket stays after a fatal error before it is destroyed. */
const FATAL_LINGER_MS = 250;
const DRAIN_POLL_MS = 50;

export class ClientConnection implements JobClient {
  authed = false;
  clientName = '';
  /** The client's stable id from hello, if it sent one (kept results come back to it). */
  clientId?: string;
  readonly jobs = new Map<string, Job>();
  errors = 0;
  closed = false;
  /** A fatal error was sent: the socket is closing and nothing more it sends is handled. */
  ending = false;
  alive = true;
  readonly connectedAt = Date.now();
  authTimer?: NodeJS.Timeout;
  idleTimer?: NodeJS.Timeout;
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private pendingBytes = 0;
  private paused = false;

  constructor(
    readonly id: number,
    readonly ws: WebSocket,
    readonly origin: string | undefined,
    readonly remote: string,
  ) {}

  get label(): string {
    return `client #${this.id}${this.clientName ? ` (${this.clientName})` : ''}`;
  }

  get unsentBytes(): number {
    return this.ws.bufferedAmount;
  }

  sendJson(msg: ServerTextMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(msg));
  }

  sendBinary(frame: Uint8Array): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(frame, { binary: true });
  }

  /** Answers with `err` as the wire's error message (wire-error.ts). */
  sendError(err: unknown, context?: ErrorContext): void {
    this.sendJson(toWireError(err, context));
  }

  /**
   * Sends the error, then closes the connection with the close code the protocol's table gives
   * (the close reason repeats the code). Nothing more
   * is read from the socket, and it is destroyed shortly after, whether or not the client answers
   * the close: a client cannot hold a slot, or feed the daemon frames, after a fatal error.
   */
  fatal(code: ErrorCode, message: string): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    this.sendJson({ type: 'error', code, message, fatal: true });
    this.ws.close(closeCodeFor(code), code);
    this.ws.pause();
    // Long enough for the error and the close frame to leave; short enough that the slot frees at once.
    setTimeout(() => this.ws.terminate(), FATAL_LINGER_MS).unref();
  }

  /** Waits until the messages received so far are handled (and any that arrive meanwhile). */
  async settled(): Promise<void> {
    let chain: Promise<void>;
    do {
      chain = this.chain;
      await chain;
    } while (chain !== this.chain);
  }

  /**
   * Resolves once less than `limit` bytes wait unsent to this client (or it is gone). Handlers
   * await it before answering, so a client that does not read stops being answered, its pending
   * messages pause its socket, and what the daemon holds for it stays bounded.
   */
  async drained(limit: number): Promise<void> {
    while (!this.closed && this.ws.readyState === this.ws.OPEN && this.ws.bufferedAmount >= limit) {
      await sleep(DRAIN_POLL_MS);
    }
  }

  /**
   * Runs handlers one after another in arrival order. When too many are waiting, the socket is
   * paused, so a flooding client is slowed down instead of growing the daemon's memory.
   */
  enqueue(handler: () => Promise<void>, onError: (err: unknown) => void, bytes = 0): void {
    this.pending++;
    this.pendingBytes += bytes;
    // A big upload waiting for its turn also pauses the socket: at most one more frame is buffered.
    if ((this.pending >= MAX_PENDING || this.pendingBytes >= MAX_PENDING_BYTES) && !this.paused) {
      this.paused = true;
      this.ws.pause();
    }
    this.chain = this.chain.then(handler).catch(onError).finally(() => {
      this.pending--;
      this.pendingBytes -= bytes;
      if (this.paused && this.pending < MAX_PENDING / 2 && this.pendingBytes < MAX_PENDING_BYTES) {
        this.paused = false;
        if (!this.closed && !this.ending) this.ws.resume();
      }
    });
  }

  clearTimers(): void {
    if (this.authTimer) clearTimeout(this.authTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
  }
}
