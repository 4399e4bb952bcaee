/**
 * Photopea's Live Messaging, as a queue of scripts. Photopea (the parent window) runs a string the
 * plugin posts as a script, then posts back what the script produced: an ArrayBuffer for each
 * doc.saveToOE(), a string for each app.echoToOE(), and finally the string "done". It also posts
 * "done" on its own (when it is ready) and other messages a plugin must ignore.
 *
 * So that nothing stray is mistaken for an answer, every script is wrapped: it first echoes a
 * begin marker with its sequence number, then its body runs inside try/catch and echoes an end
 * marker carrying the body's result or error. Buffers count only between the two markers; the
 * "done" after the end marker closes the script (if that "done" is lost, a short grace period
 * closes it instead). One script is in flight at a time; each has a timeout, after which it is
 * abandoned and anything it still sends is ignored (its markers carry an old number). A script that
 * reads a property of undefined ends inside Photopea with no output and no "done" at all, so the
 * timeout is the only sign: each script gets one that fits it (a selection poll: seconds).
 * No DOM types: the window is described structurally, so this also runs under Node.
 */
import { HostError } from '../host/host.ts';

/** Whatever carries messages to and from Photopea. */
export interface ParentPort {
  post(message: string): void;
  /** Delivers every message from Photopea; returns an unsubscribe. */
  listen(handler: (data: unknown) => void): () => void;
}

interface MessageEventLike { data: unknown; source: unknown }
export interface WindowLike {
  parent: { postMessage(message: unknown, targetOrigin: string): void };
  addEventListener(type: 'message', handler: (event: MessageEventLike) => void): void;
  removeEventListener(type: 'message', handler: (event: MessageEventLike) => void): void;
}

/**
 * The plugin page's own window: posts to window.parent (Photopea) and listens only to messages
 * whose source is that parent (other frames cannot inject answers). `targetOrigin` is Photopea's
 * origin when known; '*' otherwise (scripts hold nothing secret, and the companion only lets
 * Photopea frame the page: Content-Security-Policy frame-ancestors).
 */
export function parentWindowPort(win: WindowLike, targetOrigin = '*'): ParentPort {
  return {
    post(message) {
      win.parent.postMessage(message, targetOrigin);
    },
    listen(handler) {
      const onMessage = (event: MessageEventLike) => {
        if (event.source !== win.parent) return;
        handler(event.data);
      };
      win.addEventListener('message', onMessage);
      return () => win.removeEventListener('message', onMessage);
    },
  };
}

export interface BridgeOptions {
  /** How long one script may take, from posting to its end marker (ms). Default 30 s. */
  timeoutMs?: number;
  /** After the end marker, how long to wait for Photopea's "done" before going on without it (ms). */
  doneGraceMs?: number;
  /**
   * A "done" while the script in flight has not begun is either stray (Photopea's own) or the
   * sign that Photopea could not run the script (a syntax error runs nothing). If the begin marker
   * has not come this long after such a "done", the script fails (ms).
   */
  strayDoneMs?: number;
  /** Distinguishes this page's markers from anything else echoed (default: random per page). */
  session?: string;
}

export interface ScriptResult {
  /** What the body returned (a string; "" for none). */
  value: string;
  /** The ArrayBuffers the script produced (doc.saveToOE), in order. */
  buffers: ArrayBuffer[];
  /** True when Photopea's "done" never came and the grace period closed the script. */
  lostDone: boolean;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Names the step in error messages, e.g. "reading the layer". */
  what?: string;
}

interface Pending {
  n: number;
  script: string;
  what: string;
  timeoutMs: number;
  resolve(result: ScriptResult): void;
  reject(error: Error): void;
}

interface InFlight extends Pending {
  begun: boolean;
  end: { ok: true; value: string } | { ok: false; message: string } | null;
  buffers: ArrayBuffer[];
  timer: ReturnType<typeof setTimeout>;
  doneTimer: ReturnType<typeof setTimeout> | null;
  strayTimer: ReturnType<typeof setTimeout> | null;
}

export interface BridgeStats {
  scripts: number;
  timeouts: number;
  lostDone: number;
  /** Messages that belonged to no script: Photopea's own "done", pings, late answers. */
  ignored: number;
}

const MARK = 'stylize|';

function isArrayBuffer(data: unknown): data is ArrayBuffer {
  // instanceof fails across realms (the buffer is made in Photopea's window), so also check the tag.
  return data instanceof ArrayBuffer || Object.prototype.toString.call(data) === '[object ArrayBuffer]';
}

export class PhotopeaBridge {
  private readonly port: ParentPort;
  private readonly timeoutMs: number;
  private readonly doneGraceMs: number;
  private readonly strayDoneMs: number;
  private readonly prefix: string;
  private readonly queue: Pending[] = [];
  private current: InFlight | null = null;
  private nextN = 1;
  private readonly unlisten: () => void;
  private disposed = false;
  readonly stats: BridgeStats = { scripts: 0, timeouts: 0, lostDone: 0, ignored: 0 };

  constructor(port: ParentPort, options: BridgeOptions = {}) {
    this.port = port;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.doneGraceMs = options.doneGraceMs ?? 1500;
    this.strayDoneMs = options.strayDoneMs ?? Math.min(5000, this.timeoutMs / 2);
    const session = options.session ?? Math.random().toString(36).slice(2, 10);
    if (!/^[a-z0-9]+$/i.test(session)) throw new Error('The bridge session must be letters and digits.');
    this.prefix = `${MARK}${session}|`;
    this.unlisten = port.listen((data) => this.receive(data));
  }

  /** Scripts queued or in flight. */
  get pending(): number {
    return this.queue.length + (this.current ? 1 : 0);
  }

  /**
   * Runs a script body (ES5; it may `return` a string) after every script queued before it.
   * Rejects with HostError: 'timeout' when Photopea does not finish it in time, 'internal' when
   * the script threw or Photopea could not run it.
   */
  run(body: string, options: RunOptions = {}): Promise<ScriptResult> {
    if (this.disposed) return Promise.reject(new HostError('internal', 'The plugin window was closed.'));
    const n = this.nextN++;
    const script = this.wrap(n, body);
    return new Promise((resolve, reject) => {
      this.queue.push({ n, script, what: options.what ?? 'a script', timeoutMs: options.timeoutMs ?? this.timeoutMs, resolve, reject });
      this.pump();
    });
  }

  private wrap(n: number, body: string): string {
    const mark = (kind: string) => JSON.stringify(`${this.prefix}${kind}|${n}|`);
    // Old JavaScript only: this text runs in Photopea's script engine. The body is a function
    // defined outside the try block and only called inside it, so its `return`s are its own
    // (Photopea loses a `return` written inside try); no `finally` (Photopea does not run it).
    return [
      `app.echoToOE(${mark('b')});`,
      `var __stylizeBody = function () {\n${body}\n};`,
      'var __stylizeResult = null, __stylizeError = null;',
      'try {',
      '  __stylizeResult = __stylizeBody();',
      '} catch (__stylizeCaught) {',
      '  __stylizeError = __stylizeCaught === undefined || __stylizeCaught === null ? "unknown error" : __stylizeCaught;',
      '}',
      `if (__stylizeError !== null) app.echoToOE(${mark('e')} + String(__stylizeError.message ? __stylizeError.message : __stylizeError));`,
      `else app.echoToOE(${mark('k')} + (__stylizeResult === undefined || __stylizeResult === null ? "" : String(__stylizeResult)));`,
    ].join('\n');
  }

  private pump(): void {
    if (this.current || this.disposed) return;
    const next = this.queue.shift();
    if (!next) return;
    const job: InFlight = {
      ...next, begun: false, end: null, buffers: [], doneTimer: null, strayTimer: null,
      timer: setTimeout(() => this.timeOut(job), next.timeoutMs),
    };
    this.current = job;
    this.stats.scripts++;
    try {
      this.port.post(job.script);
    } catch (err) {
      this.finish(job, new HostError('internal', `Could not send a script to Photopea: ${err instanceof Error ? err.message : String(err)}.`));
    }
  }

  private receive(data: unknown): void {
    const job = this.current;
    if (isArrayBuffer(data)) {
      if (job && job.begun && !job.end) job.buffers.push(data);
      else this.stats.ignored++;
      return;
    }
    if (typeof data !== 'string') {
      this.stats.ignored++; // pings and anything else that is not Live Messaging
      return;
    }
    if (data === 'done') {
      if (job && job.end) return this.finish(job);
      this.stats.ignored++;
      // Not begun: Photopea's own "done" (harmless), or it could not run our script at all.
      if (job && !job.begun && !job.strayTimer) {
        job.strayTimer = setTimeout(() => {
          if (this.current === job && !job.begun) {
            this.finish(job, new HostError('internal', `Photopea answered without running the plugin's script (${job.what}). Photopea may have changed its scripting; update the plugin, or report this.`));
          }
        }, this.strayDoneMs);
      }
      return;
    }
    if (!data.startsWith(this.prefix)) {
      this.stats.ignored++; // someone else's echo
      return;
    }
    const rest = data.slice(this.prefix.length);
    const bar = rest.indexOf('|', 2);
    const kind = rest.charAt(0);
    const n = Number(rest.slice(2, bar));
    if (!job || n !== job.n || bar < 0) {
      this.stats.ignored++; // a late answer from a script that timed out
      return;
    }
    const payload = rest.slice(bar + 1);
    if (kind === 'b') {
      job.begun = true;
      if (job.strayTimer) clearTimeout(job.strayTimer);
      job.strayTimer = null;
    } else if (kind === 'k' || kind === 'e') {
      job.begun = true;
      job.end = kind === 'k' ? { ok: true, value: payload } : { ok: false, message: payload };
      clearTimeout(job.timer);
      job.doneTimer = setTimeout(() => {
        if (this.current !== job) return;
        this.stats.lostDone++;
        this.finish(job, undefined, true);
      }, this.doneGraceMs);
    }
  }

  private timeOut(job: InFlight): void {
    if (this.current !== job) return;
    this.stats.timeouts++;
    this.finish(job, new HostError('timeout',
      `Photopea did not finish ${job.what} within ${Math.round(job.timeoutMs / 1000)} s. ` +
      'If Photopea is busy (a dialog open, a very large document), wait for it and try again.'));
  }

  private finish(job: InFlight, error?: Error, lostDone = false): void {
    if (this.current !== job) return;
    clearTimeout(job.timer);
    if (job.doneTimer) clearTimeout(job.doneTimer);
    if (job.strayTimer) clearTimeout(job.strayTimer);
    this.current = null;
    if (error) job.reject(error);
    else if (!job.end) job.reject(new HostError('internal', `Photopea ended ${job.what} without an answer.`));
    else if (!job.end.ok) job.reject(new HostError('internal', `Photopea could not run ${job.what}: ${job.end.message}`));
    else job.resolve({ value: job.end.value, buffers: job.buffers, lostDone });
    this.pump();
  }

  /** Stops listening; everything queued or in flight fails. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.unlisten();
    const closed = () => new HostError('internal', 'The plugin window was closed.');
    if (this.current) this.finish(this.current, closed());
    for (const p of this.queue.splice(0)) p.reject(closed());
  }
}
