/**
 * The WebSocket to the companion and nothing else: open it and say hello, decode what arrives
 * (typed text messages and binary frames), send typed messages, keep the pairing alive with pings,
 * report how it closed, and wait with backoff before the next attempt. What a close means and
 * which request an answer belongs to are decided elsewhere (connection-state.ts, requests.ts).
 */
import { CLOSE_CODES, ProtocolError } from '../../../protocol/errors.ts';
import { encodeClientText } from '../../../protocol/client-text.ts';
import { decodeServerFrame } from '../../../protocol/frames.ts';
import { readServerMessage, type ClientTextMessage, type ServerBinaryMessage, type ServerTextMessage } from '../../../protocol/messages.ts';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 10_000, factor: 2 };

export interface TransportEvents {
  /** The socket is open: the first thing to send is hello. */
  onOpen(): void;
  onText(message: ServerTextMessage): void;
  onFrame(message: ServerBinaryMessage, payload: Uint8Array): void;
  /** A message this version cannot read; `text` is the raw text when it was a text frame. */
  onUnreadable(error: Error, text: string | undefined): void;
  onClose(code: number, reason: string): void;
}

/** The wait before attempt number `attempt` (1-based): exponential, capped, with ±15 % jitter so many windows do not retry in lockstep. */
export function backoffDelay(backoff: BackoffOptions, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(backoff.maxMs, backoff.initialMs * Math.pow(backoff.factor, Math.max(0, attempt - 1)));
  return Math.round(base * (0.85 + random() * 0.3));
}

export class NotConnectedError extends Error {
  constructor() {
    super('Not connected to the companion.');
    this.name = 'NotConnectedError';
  }
}

export class CompanionTransport {
  private ws: WebSocket | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  /** Connection attempts since the last successful pairing (drives the backoff). */
  attempt = 0;

  constructor(
    private readonly WebSocketImpl: typeof WebSocket,
    private readonly backoff: BackoffOptions,
    private readonly events: TransportEvents,
  ) {}

  /** A socket is open or opening. */
  get active(): boolean {
    return this.ws !== null;
  }

  get isOpen(): boolean {
    return this.ws !== null && this.ws.readyState === 1;
  }

  /** Opens a new socket (counting an attempt). Throws what the WebSocket constructor throws (a bad URL). */
  open(url: string): void {
    this.attempt++;
    const ws = new this.WebSocketImpl(url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws === ws) this.events.onOpen();
    };
    ws.onmessage = (event: MessageEvent) => {
      if (this.ws !== ws) return;
      const text = typeof event.data === 'string' ? event.data : undefined;
      try {
        if (text !== undefined) {
          const msg = readServerMessage(text);
          if (msg) this.events.onText(msg); // null: a newer companion's message type, not for us
        } else {
          const { message, payload } = decodeServerFrame(new Uint8Array(event.data as ArrayBuffer));
          this.events.onFrame(message, payload);
        }
      } catch (err) {
        // A binary frame of a type this version does not know: ignored, like unknown text types.
        if (err instanceof ProtocolError && err.code === 'unknown_type') return;
        this.events.onUnreadable(err as Error, text);
      }
    };
    ws.onclose = (event: CloseEvent) => {
      if (this.ws === ws) this.closed(event.code, event.reason);
    };
    ws.onerror = () => {
      // Normally onclose follows with the details we can get. A connection the window's CSP
      // blocks gets no close event in Chromium, only this error: treat it as closed if none comes.
      setTimeout(() => {
        if (this.ws === ws && ws.readyState === 3) this.closed(1006, '');
      }, 1000);
    };
  }

  private closed(code: number, reason: string): void {
    this.ws = null;
    this.stopPing();
    this.events.onClose(code, reason);
  }

  /** Closes the socket on our side; no onClose follows (the caller knows why). */
  close(reason: string): void {
    const ws = this.ws;
    this.ws = null;
    this.stopPing();
    if (ws && ws.readyState <= 1) ws.close(CLOSE_CODES.normal, reason);
  }

  send(message: ClientTextMessage): void {
    this.sendRaw(encodeClientText(message));
  }

  /** A binary frame (protocol/frames.ts). */
  sendFrame(frame: Uint8Array): void {
    this.sendRaw(frame);
  }

  private sendRaw(data: string | Uint8Array): void {
    if (!this.ws || this.ws.readyState !== 1) throw new NotConnectedError();
    this.ws.send(data);
  }

  /** Paired: the attempts start over, and a ping well inside the companion's idle limit keeps the pairing. */
  paired(idleTimeoutMs: number): void {
    this.attempt = 0;
    const every = idleTimeoutMs > 0 ? Math.max(5_000, Math.min(60_000, idleTimeoutMs / 3)) : 60_000;
    this.stopPing();
    this.pingTimer = setInterval(() => {
      try { this.send({ type: 'ping' }); } catch { /* closing */ }
    }, every);
  }

  private stopPing(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  /** Calls `then` after the backoff for the next attempt; returns when, as a Date.now() time. */
  retryLater(then: () => void): number {
    const delay = backoffDelay(this.backoff, this.attempt);
    this.cancelRetry();
    this.retryTimer = setTimeout(() => { this.retryTimer = null; then(); }, delay);
    return Date.now() + delay;
  }

  cancelRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }
}
