/**
 * The UI's connection to the companion daemon: one WebSocket speaking protocol/ (JSON control
 * messages + binary image frames), pairing with the token, automatic reconnect with backoff, jobs
 * with progress / previews / result, the style library. Runs in the plugin iframe (browser APIs
 * only); the WebSocket and fetch constructors can be injected.
 */
import type { ErrorCode } from '../../protocol/errors.ts';
import { CLOSE_CODES, ProtocolError } from '../../protocol/errors.ts';
import { decodeServerFrame, encodeSaveStyle, encodeSubmit, type SubmitStyle } from '../../protocol/frames.ts';
import {
  PROTOCOL_VERSION, readServerMessage,
  type CapabilitiesMessage, type DoneMessage, type EstimateMessage, type KeptJob, type ProgressMessage, type ServerTextMessage, type StyleInfo, type WireSettings,
} from '../../protocol/messages.ts';

export type ConnectionState =
  | { status: 'connecting'; attempt: number }
  | { status: 'connected'; capabilities: CapabilitiesMessage }
  | { status: 'needs-token'; reason: string }
  | { status: 'offline'; reason: string; advice: string; retryAt: number | null };

export type ClientErrorCode = ErrorCode | 'connection_lost' | 'not_connected' | 'cancelled' | 'bad_reply';

/** A failure with a stable code; `message` is the companion's own words (the UI adds a designer's version). */
export class CompanionError extends Error {
  readonly code: ClientErrorCode;
  constructor(code: ClientErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'CompanionError';
  }
}

export interface JobEvents {
  onAccepted?(jobId: string, position: number): void;
  onQueue?(position: number): void;
  onStarted?(iterations: number): void;
  onProgress?(progress: ProgressMessage): void;
  onPreview?(png: Uint8Array, iteration: number, width: number, height: number): void;
}

export interface JobResult {
  png: Uint8Array;
  width: number;
  height: number;
  done: DoneMessage;
}

export interface JobRequest {
  content: Uint8Array;
  styles: SubmitStyle[];
  settings: WireSettings;
  /** Keep the job and its result when this window goes away (needs a clientId); `note` comes back with it. */
  keep?: { note: string };
}

interface JobRecord {
  ref: string;
  /** Outlives this window: closing it does not cancel the job. */
  keep?: boolean;
  jobId?: string;
  events: JobEvents;
  resultPng?: Uint8Array;
  cancelRequested: boolean;
  /** Stop and keep asked (sent once the job id is known). */
  finishRequested: boolean;
  settled: boolean;
  resolve(result: JobResult): void;
  reject(error: CompanionError): void;
}

export interface JobHandle {
  readonly ref: string;
  /** Known once the companion accepted the job. */
  readonly jobId: string | undefined;
  readonly result: Promise<JobResult>;
  /** Asks the companion to stop; `result` then rejects with code "cancelled". */
  cancel(): void;
  /**
   * Stop and keep: the companion ends the job at the next iteration and `result` resolves with the
   * picture as it is then, at full size (done.stopped). A job still waiting is cancelled instead.
   * False when this companion cannot (no 'finish' feature) or the job has ended.
   */
  finish(): boolean;
}

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
}

export interface CompanionClientOptions {
  port: number;
  token: string;
  /** Default 127.0.0.1 (the companion listens on loopback); the Figma UI uses localhost (its CSP names hosts). */
  host?: string;
  /**
   * The only ports the window's content security policy lets it reach (Figma: what manifest.json
   * lists); null when any port is reachable.
   */
  allowedPorts?: readonly number[] | null;
  /** Shown in the companion's log. */
  clientName?: string;
  /** A stable id of this plugin install: results of kept jobs come back to it after the window was closed. */
  clientId?: string;
  WebSocket?: typeof WebSocket;
  fetch?: typeof fetch;
  backoff?: Partial<BackoffOptions>;
}

type Listener<T> = (value: T) => void;

const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 10_000, factor: 2 };
const START_HINT = 'Start it: open a terminal in the Stylize folder and run “npm start”. The plugin reconnects by itself.';

function copy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes); // frames are views into one buffer; keep only what we need
}

export class CompanionClient {
  private opts: Required<Omit<CompanionClientOptions, 'backoff'>> & { backoff: BackoffOptions };
  private ws: WebSocket | null = null;
  private _state: ConnectionState = { status: 'offline', reason: 'Not started.', advice: '', retryAt: null };
  private readonly stateListeners = new Set<Listener<ConnectionState>>();
  private readonly thumbListeners = new Set<(name: string, png: Uint8Array) => void>();
  private readonly errorListeners = new Set<Listener<CompanionError>>();
  private readonly keptListeners = new Set<Listener<KeptJob[]>>();
  private readonly jobsByRef = new Map<string, JobRecord>();
  private readonly jobsById = new Map<string, JobRecord>();
  private pendingStyles: { resolve(styles: StyleInfo[]): void; reject(e: CompanionError): void }[] = [];
  /** Requests answered by a message with the same ref (save_style, estimate). */
  private readonly pendingRefs = new Map<string, { resolve(answer: unknown): void; reject(e: CompanionError): void }>();
  private running = false;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastError: { code: ErrorCode; message: string } | null = null;
  private shutdownNote: string | null = null;
  private wasConnected = false;
  /** The window's policy refused this attempt's connection (a securitypolicyviolation was seen). */
  private policyBlocked: string | null = null;
  private refCounter = 0;
  /** Cancels sent and not yet answered (by `cancelled` or unknown_job), in sending order. */
  private cancelsAwaitingAnswer: JobRecord[] = [];
  /** Jobs a `finish` was sent for: its unknown_job answer names the job and is not a cancel's. */
  private readonly finishesSent = new Set<string>();

  constructor(options: CompanionClientOptions) {
    const g = globalThis as unknown as { WebSocket: typeof WebSocket; fetch: typeof fetch };
    this.opts = {
      host: '127.0.0.1',
      allowedPorts: null,
      clientName: 'stylize-plugin',
      clientId: '',
      WebSocket: g.WebSocket,
      fetch: g.fetch?.bind(globalThis),
      ...options,
      backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
    };
  }

  get state(): ConnectionState {
    return this._state;
  }

  get capabilities(): CapabilitiesMessage | null {
    return this._state.status === 'connected' ? this._state.capabilities : null;
  }

  /** Whether the companion can stop a job and keep its picture (capabilities feature 'finish'). */
  get canFinish(): boolean {
    return this.capabilities?.features?.includes('finish') === true;
  }

  get url(): string {
    return `ws://${this.opts.host}:${this.opts.port}/`;
  }

  onStateChange(listener: Listener<ConnectionState>): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Style thumbnails as they stream in after listStyles(). */
  onThumbnail(listener: (name: string, png: Uint8Array) => void): () => void {
    this.thumbListeners.add(listener);
    return () => this.thumbListeners.delete(listener);
  }

  /** Errors not tied to a request (the companion's general complaints). */
  onError(listener: Listener<CompanionError>): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  private setState(state: ConnectionState): void {
    this._state = state;
    for (const l of this.stateListeners) l(state);
  }

  /** Starts connecting, and keeps reconnecting until stop(). */
  start(): void {
    this.running = true;
    this.connect();
  }

  /** Closes for good (the plugin is closing): running jobs are cancelled first. */
  stop(): void {
    this.running = false;
    this.clearTimers();
    this.cancelAll();
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= 1) ws.close(CLOSE_CODES.normal, 'plugin closed');
    this.failAll(new CompanionError('connection_lost', 'The plugin was closed.'));
  }

  /** New port or token: drop the connection and connect again at once. */
  configure(changes: { port?: number; token?: string }): void {
    const changed = (changes.port !== undefined && changes.port !== this.opts.port) || (changes.token !== undefined && changes.token !== this.opts.token);
    if (changes.port !== undefined) this.opts.port = changes.port;
    if (changes.token !== undefined) this.opts.token = changes.token;
    if (changed && this.running) this.reconnectNow();
  }

  /** Skips the backoff wait (the "Retry now" button). */
  reconnectNow(): void {
    this.attempt = 0;
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= 1) ws.close(CLOSE_CODES.normal, 'reconnecting');
    this.failAll(new CompanionError('connection_lost', 'The connection was restarted.'));
    this.clearTimers();
    if (this.running) this.connect();
  }

  private clearTimers(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.retryTimer = null;
    this.pingTimer = null;
  }

  private connect(): void {
    if (!this.running) return;
    if (!this.opts.token.trim()) {
      this.setState({ status: 'needs-token', reason: 'Paste the pairing token the companion printed when it started.' });
      return;
    }
    const allowed = this.opts.allowedPorts;
    if (allowed && !allowed.includes(this.opts.port)) {
      // Trying would only be refused by the window's policy; say so instead of "not running".
      const { reason, advice } = this.policyWords(`port ${this.opts.port}`);
      this.setState({ status: 'offline', reason, advice, retryAt: null });
      return;
    }
    this.attempt++;
    this.lastError = null;
    this.shutdownNote = null;
    this.policyBlocked = null;
    this.setState({ status: 'connecting', attempt: this.attempt });
    let ws: WebSocket;
    try {
      ws = new this.opts.WebSocket(this.url);
    } catch (err) {
      this.goOffline(`Could not open ${this.url}: ${(err as Error).message}.`, 'Check the port in Settings.', true);
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      ws.send(JSON.stringify({
        type: 'hello', protocol: PROTOCOL_VERSION, token: this.opts.token, client: this.opts.clientName,
        ...(this.opts.clientId && { clientId: this.opts.clientId }),
      }));
    };
    ws.onmessage = (event: MessageEvent) => {
      if (this.ws !== ws) return;
      try {
        if (typeof event.data === 'string') {
          const msg = readServerMessage(event.data);
          if (msg) this.handleText(msg); // null: a newer companion's message type, not for us
        } else this.handleBinary(new Uint8Array(event.data as ArrayBuffer));
      } catch (err) {
        // A binary frame of a type this version does not know: ignored, like unknown text types.
        if (err instanceof ProtocolError && err.code === 'unknown_type') return;
        const bad = new CompanionError('bad_reply', `The companion sent a message this plugin does not understand: ${(err as Error).message}`);
        // A garbled message about a job still ends that job, so it cannot wait forever.
        const job = typeof event.data === 'string' ? this.jobNamedIn(event.data) : undefined;
        if (job) this.settle(job, bad);
        else this.emitError(bad);
      }
    };
    ws.onclose = (event: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      void this.onClosed(event.code, event.reason);
    };
    ws.onerror = () => {
      // Normally onclose follows with the details we can get. A connection the window's CSP
      // blocks gets no close event in Chromium, only this error: treat it as closed if none comes.
      setTimeout(() => {
        if (this.ws !== ws || ws.readyState !== 3) return;
        this.ws = null;
        void this.onClosed(1006, '');
      }, 1000);
    };
  }

  private async onClosed(code: number, reason: string): Promise<void> {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    const connectedBefore = this._state.status === 'connected';
    this.failAll(new CompanionError('connection_lost', connectedBefore
      ? 'The connection to the companion was lost during the job.'
      : 'The companion closed the connection.'));
    if (!this.running) return;
    const err = this.lastError;
    if (code === CLOSE_CODES.authFailed || err?.code === 'bad_token' || err?.code === 'auth_required') {
      this.setState({
        status: 'needs-token',
        reason: err?.code === 'bad_token'
          ? 'The companion did not accept this token. Copy the token it printed at start-up (it is also in ~/.config/stylize/token) and paste it here.'
          : err?.message ?? 'The companion needs the pairing token.',
      });
      return; // no point retrying the same token
    }
    if (code === CLOSE_CODES.idle) {
      this.attempt = 0;
      this.connect(); // it only closed because nothing happened for a while
      return;
    }
    if (code === CLOSE_CODES.protocolMismatch) {
      this.goOffline(err?.message ?? 'The plugin and the companion are different versions.', 'Update both to the same version.', true);
      return;
    }
    if (code === CLOSE_CODES.tryAgainLater) {
      this.goOffline(err?.message ?? 'The companion has too many connections.', 'Close other plugin windows that use it.', true);
      return;
    }
    if (this.shutdownNote || code === CLOSE_CODES.goingAway) {
      this.goOffline(`The companion was stopped${this.shutdownNote ? ` (${this.shutdownNote.replace(/\.$/, '')})` : ''}.`, START_HINT, true);
      return;
    }
    if (err) {
      this.goOffline(err.message, 'The plugin keeps trying to reconnect.', true);
      return;
    }
    // Browsers hide why a WebSocket failed (code 1006); ask /health to tell "not running" from "refused".
    const probe = await this.probeHealth();
    if (!this.running || this.ws) return;
    if (this.policyBlocked) {
      const { reason, advice } = this.blockedWords();
      this.goOffline(reason, advice, true);
    } else if (probe.kind === 'down') {
      this.goOffline(
        connectedBefore || this.wasConnected
          ? `Lost the connection: the companion on port ${this.opts.port} is no longer running.`
          : `The Stylize companion is not running on port ${this.opts.port}.`,
        `${START_HINT} If it runs on another port, change Port in Settings.`,
        true,
      );
    } else if (probe.kind === 'starting') {
      this.goOffline('The companion is starting up (loading the model).', 'Wait a moment; the plugin connects by itself.', true);
    } else if (probe.kind === 'refused') {
      this.goOffline(`The companion refused the connection: ${probe.message}`, 'See the companion’s terminal for details.', true);
    } else {
      this.goOffline(`The companion on port ${this.opts.port} is running but the connection failed (code ${code}${reason ? `, ${reason}` : ''}).`, 'The plugin keeps trying to reconnect.', true);
    }
  }

  /**
   * The window's content security policy refused `blockedUrl` (the UI saw a
   * securitypolicyviolation). Only the companion's own addresses concern this client.
   */
  blockedByPolicy(blockedUrl: string): void {
    const mine = [`ws://${this.opts.host}:${this.opts.port}`, `http://${this.opts.host}:${this.opts.port}`];
    if (!mine.some((prefix) => blockedUrl.startsWith(prefix))) return;
    this.policyBlocked = blockedUrl;
    const s = this._state;
    if (s.status === 'offline') {
      const { reason, advice } = this.blockedWords();
      this.setState({ status: 'offline', reason, advice, retryAt: s.retryAt });
    }
  }

  /** The port is not one the build's manifest lists: the plugin does not even try. */
  private policyWords(what: string): { reason: string; advice: string } {
    const ports = this.opts.allowedPorts;
    const listed = ports?.length ? `port ${ports.join(' or ')} on ${this.opts.host}` : 'no companion port';
    return {
      reason: `Figma does not let this plugin reach ${what}: its manifest.json allows ${listed} only (Figma's content security policy would block the connection; the companion may well be running).`,
      advice: `Choose an allowed port in Settings and run the companion on it (npm start -- --port N), or add "ws://${this.opts.host}:N" and "http://${this.opts.host}:N" to networkAccess.allowedDomains in manifest.json, run npm run build and import the plugin again.`,
    };
  }

  /** The window's policy refused the connection: the manifest Figma imported does not list it. */
  private blockedWords(): { reason: string; advice: string } {
    const where = `${this.opts.host}:${this.opts.port}`;
    return {
      reason: `Figma's content security policy blocked the connection to ${where}: the manifest.json Figma imported does not list it (the companion may well be running).`,
      advice: `Make sure networkAccess.allowedDomains in manifest.json lists "ws://${where}" and "http://${where}", run npm run build and import the plugin again (Plugins > Development > Import plugin from manifest…).`,
    };
  }

  private async probeHealth(): Promise<{ kind: 'down' | 'starting' | 'up' } | { kind: 'refused'; message: string }> {
    if (!this.opts.fetch) return { kind: 'down' };
    const controller = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = setTimeout(() => controller?.abort(), 2000);
    try {
      const res = await this.opts.fetch(`http://${this.opts.host}:${this.opts.port}/health`, { signal: controller?.signal, cache: 'no-store' });
      let body: { status?: string; message?: string } = {};
      try { body = await res.json(); } catch { /* not JSON: still something answered */ }
      if (res.status === 403) return { kind: 'refused', message: body.message ?? 'access denied' };
      if (res.status === 503 || body.status === 'starting') return { kind: 'starting' };
      return { kind: 'up' };
    } catch {
      return { kind: 'down' };
    } finally {
      clearTimeout(timer);
    }
  }

  private goOffline(reason: string, advice: string, retry: boolean): void {
    if (!retry || !this.running) {
      this.setState({ status: 'offline', reason, advice, retryAt: null });
      return;
    }
    const b = this.opts.backoff;
    const base = Math.min(b.maxMs, b.initialMs * Math.pow(b.factor, Math.max(0, this.attempt - 1)));
    const delay = Math.round(base * (0.85 + Math.random() * 0.3)); // jitter: many windows do not retry in lockstep
    this.setState({ status: 'offline', reason, advice, retryAt: Date.now() + delay });
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => { this.retryTimer = null; this.connect(); }, delay);
  }

  private send(data: string | Uint8Array): void {
    if (!this.ws || this.ws.readyState !== 1) throw new CompanionError('not_connected', 'Not connected to the companion.');
    this.ws.send(data);
  }

  private emitError(err: CompanionError): void {
    for (const l of this.errorListeners) l(err);
  }

  private handleText(msg: ServerTextMessage): void {
    switch (msg.type) {
      case 'capabilities': {
        this.attempt = 0;
        this.wasConnected = true;
        this.setState({ status: 'connected', capabilities: msg });
        const idle = msg.limits.idleTimeoutMs;
        // Stay paired while the window is open: a ping well inside the companion's idle limit.
        const every = idle > 0 ? Math.max(5_000, Math.min(60_000, idle / 3)) : 60_000;
        if (this.pingTimer) clearInterval(this.pingTimer);
        this.pingTimer = setInterval(() => { try { this.send(JSON.stringify({ type: 'ping' })); } catch { /* closing */ } }, every);
        return;
      }
      case 'accepted': {
        const job = this.jobsByRef.get(msg.ref);
        if (!job) return;
        job.jobId = msg.jobId;
        this.jobsById.set(msg.jobId, job);
        job.events.onAccepted?.(msg.jobId, msg.position);
        if (job.cancelRequested) this.sendCancel(job);
        else if (job.finishRequested) this.sendFinish(job);
        return;
      }
      case 'queue':
        for (const p of msg.jobs) this.jobsById.get(p.jobId)?.events.onQueue?.(p.position);
        return;
      case 'started':
        this.jobsById.get(msg.jobId)?.events.onStarted?.(msg.iterations);
        return;
      case 'progress':
        this.jobsById.get(msg.jobId)?.events.onProgress?.(msg);
        return;
      case 'done': {
        const job = this.jobsById.get(msg.jobId);
        if (!job) return;
        if (!job.resultPng) {
          this.settle(job, new CompanionError('bad_reply', 'The companion said the job is done but sent no picture.'));
          return;
        }
        this.settle(job, { png: job.resultPng, width: msg.width, height: msg.height, done: msg });
        return;
      }
      case 'cancelled': {
        // Each cancel is answered once: by this, or by unknown_job when the job had ended.
        const answered = this.cancelsAwaitingAnswer.findIndex((j) => j.jobId === msg.jobId);
        if (answered >= 0) this.cancelsAwaitingAnswer.splice(answered, 1);
        const job = this.jobsById.get(msg.jobId);
        if (job) this.settle(job, new CompanionError('cancelled', msg.reason === 'shutdown' ? 'The companion was stopped.' : 'Cancelled.'));
        return;
      }
      case 'error': {
        if (msg.code === 'unknown_job' && msg.jobId !== undefined && this.finishesSent.delete(msg.jobId)) {
          // The job ended before our finish reached the companion: its end message is on its way
          // (or already here), so this answer changes nothing.
          return;
        }
        const err = new CompanionError(msg.code, msg.message);
        const job = (msg.jobId && this.jobsById.get(msg.jobId)) || (msg.ref && this.jobsByRef.get(msg.ref));
        if (job) {
          this.settle(job, err);
          return;
        }
        if (msg.ref && this.pendingRefs.has(msg.ref)) {
          this.pendingRefs.get(msg.ref)!.reject(err);
          this.pendingRefs.delete(msg.ref);
          return;
        }
        if (msg.code === 'unknown_job') {
          // The answer to our oldest unanswered cancel (the companion answers in order): it no
          // longer has that job. Usually its end crossed the cancel and it is settled already;
          // if its end never reached us, it ends here instead of waiting forever.
          const job = this.cancelsAwaitingAnswer.shift();
          if (job) this.settle(job, new CompanionError('cancelled', 'Cancelled (the companion had already finished with this job).'));
          return;
        }
        if (msg.fatal || this._state.status !== 'connected') {
          this.lastError = { code: msg.code, message: msg.message };
          return;
        }
        if (msg.code === 'unknown_style' || msg.code === 'style_library_unavailable') {
          const pending = this.pendingStyles.shift();
          if (pending) { pending.reject(err); return; }
        }
        this.emitError(err);
        return;
      }
      case 'styles': {
        const pending = this.pendingStyles.shift();
        pending?.resolve(msg.styles);
        return;
      }
      case 'style_saved':
      case 'estimate': {
        const p = this.pendingRefs.get(msg.ref);
        this.pendingRefs.delete(msg.ref);
        p?.resolve(msg.type === 'style_saved' ? msg.style : msg);
        return;
      }
      case 'shutdown':
        this.shutdownNote = msg.message;
        return;
      case 'kept':
        for (const l of this.keptListeners) l(msg.jobs);
        return;
      case 'status':
      case 'pong':
        return;
    }
  }

  private handleBinary(frame: Uint8Array): void {
    const { message, payload } = decodeServerFrame(frame);
    switch (message.type) {
      case 'preview':
        this.jobsById.get(message.jobId)?.events.onPreview?.(copy(payload), message.iteration, message.width, message.height);
        return;
      case 'result': {
        const job = this.jobsById.get(message.jobId);
        if (job) job.resultPng = copy(payload);
        return;
      }
      case 'thumbnail':
        for (const l of this.thumbListeners) l(message.name, copy(payload));
        return;
    }
  }

  /** The job a text message names by jobId or ref, read leniently (the message failed validation). */
  private jobNamedIn(text: string): JobRecord | undefined {
    try {
      const m = JSON.parse(text) as { jobId?: unknown; ref?: unknown };
      return (typeof m.jobId === 'string' && this.jobsById.get(m.jobId)) || (typeof m.ref === 'string' && this.jobsByRef.get(m.ref)) || undefined;
    } catch {
      return undefined;
    }
  }

  private settle(job: JobRecord, outcome: JobResult | CompanionError): void {
    if (job.settled) return;
    job.settled = true;
    this.jobsByRef.delete(job.ref);
    if (job.jobId) this.jobsById.delete(job.jobId);
    // A finish that crossed the job's end is still answered with unknown_job (kept in finishesSent).
    if (outcome instanceof CompanionError) job.reject(outcome);
    else job.resolve(outcome);
  }

  private failAll(err: CompanionError): void {
    this.cancelsAwaitingAnswer = [];
    this.finishesSent.clear();
    for (const job of [...this.jobsByRef.values()]) this.settle(job, err);
    for (const p of this.pendingStyles) p.reject(err);
    this.pendingStyles = [];
    for (const p of this.pendingRefs.values()) p.reject(err);
    this.pendingRefs.clear();
  }

  private nextRef(prefix: string): string {
    return `${prefix}-${Date.now().toString(36)}-${(++this.refCounter).toString(36)}`;
  }

  /** Sends one job. Fails at once (not_connected) when there is no connection. */
  submit(request: JobRequest, events: JobEvents = {}): JobHandle {
    const ref = this.nextRef('job');
    let resolve!: (r: JobResult) => void;
    let reject!: (e: CompanionError) => void;
    const result = new Promise<JobResult>((res, rej) => { resolve = res; reject = rej; });
    result.catch(() => { /* the caller awaits it; this only keeps a late await from counting as unhandled */ });
    const keep = request.keep !== undefined && this.opts.clientId !== '';
    const record: JobRecord = { ref, keep, events, cancelRequested: false, finishRequested: false, settled: false, resolve, reject };
    this.jobsByRef.set(ref, record);
    try {
      if (this._state.status !== 'connected') throw new CompanionError('not_connected', 'Not connected to the companion.');
      this.send(encodeSubmit({
        ref, content: request.content, styles: request.styles, settings: request.settings,
        ...(keep && { keep: true, note: request.keep!.note }),
      }));
    } catch (err) {
      this.settle(record, err instanceof CompanionError ? err : new CompanionError('not_connected', (err as Error).message));
    }
    return {
      ref,
      get jobId() { return record.jobId; },
      result,
      cancel: () => {
        if (record.settled || record.cancelRequested) return;
        record.cancelRequested = true;
        if (record.jobId) this.sendCancel(record);
        // Not accepted yet: the cancel goes out as soon as the job id arrives.
      },
      finish: () => {
        if (record.settled || record.cancelRequested || !this.canFinish) return false;
        if (record.finishRequested) return true;
        record.finishRequested = true;
        if (record.jobId) this.sendFinish(record);
        return true;
      },
    };
  }

  private sendFinish(job: JobRecord): void {
    try {
      this.send(JSON.stringify({ type: 'finish', jobId: job.jobId }));
      this.finishesSent.add(job.jobId!);
    } catch {
      // Not connected: the job fails with the connection (connection_lost) like every other.
    }
  }

  private sendCancel(job: JobRecord): void {
    try {
      this.send(JSON.stringify({ type: 'cancel', jobId: job.jobId }));
      this.cancelsAwaitingAnswer.push(job);
    } catch {
      this.settle(job, new CompanionError('cancelled', 'Cancelled.'));
    }
  }

  /** Cancels every job of this window (the plugin is closing), except those the companion keeps for it. */
  cancelAll(): void {
    for (const job of this.jobsByRef.values()) {
      if (job.keep) continue;
      job.cancelRequested = true;
      if (job.jobId) this.sendCancel(job);
    }
  }

  get activeJobs(): number {
    return this.jobsByRef.size;
  }

  /** The companion's list of this client's kept jobs: sent after pairing when there are any, when one finishes, and on listKept(). */
  onKept(listener: Listener<KeptJob[]>): () => void {
    this.keptListeners.add(listener);
    return () => this.keptListeners.delete(listener);
  }

  /** Fetches a kept result (the companion forgets it once sent). */
  fetchKept(jobId: string): Promise<JobResult> {
    const ref = this.nextRef('kept');
    let resolve!: (r: JobResult) => void;
    let reject!: (e: CompanionError) => void;
    const result = new Promise<JobResult>((res, rej) => { resolve = res; reject = rej; });
    const record: JobRecord = { ref, jobId, events: {}, cancelRequested: false, finishRequested: false, settled: false, resolve, reject };
    this.jobsByRef.set(ref, record);
    this.jobsById.set(jobId, record);
    try {
      this.send(JSON.stringify({ type: 'fetch_kept', jobId }));
    } catch (err) {
      this.settle(record, err instanceof CompanionError ? err : new CompanionError('not_connected', (err as Error).message));
    }
    return result;
  }

  /** Tells the companion to forget a kept result. */
  discardKept(jobId: string): void {
    this.send(JSON.stringify({ type: 'discard_kept', jobId }));
  }

  /** The companion's style library; thumbnails follow through onThumbnail. */
  listStyles(thumbnails = true): Promise<StyleInfo[]> {
    return new Promise((resolve, reject) => {
      try {
        this.send(JSON.stringify({ type: 'list_styles', thumbnails }));
        this.pendingStyles.push({ resolve, reject });
      } catch (err) {
        reject(err);
      }
    });
  }

  /** Stores an image in the companion's style library under `name`. */
  saveStyle(name: string, image: Uint8Array, overwrite = false): Promise<StyleInfo> {
    const ref = this.nextRef('style');
    return this.request<StyleInfo>(ref, encodeSaveStyle({ ref, name, overwrite }, image));
  }

  /** How long the companion expects a job on a width x height layer to take (its `estimate` answer). */
  estimate(width: number, height: number, settings: WireSettings): Promise<EstimateMessage> {
    const ref = this.nextRef('estimate');
    return this.request<EstimateMessage>(ref, JSON.stringify({ type: 'estimate', ref, width, height, settings }));
  }

  private request<T>(ref: string, data: string | Uint8Array): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      try {
        this.send(data);
        this.pendingRefs.set(ref, { resolve: resolve as (answer: unknown) => void, reject });
      } catch (err) {
        reject(err);
      }
    });
  }
}
