/**
 * The UI's connection to the companion daemon: pairing with the token, reconnecting by itself,
 * jobs with progress / previews / result, kept results, the style library, estimates. It wires
 * three parts (the split krita-ai-diffusion makes between its client and its connection state):
 *   companion/transport.ts         the WebSocket: frames, typed sends, pings, backoff
 *   companion/connection-state.ts  how a close becomes what the designer is told (pure)
 *   companion/requests.ts          requests by ref until their answer, each settled once
 * Runs in the plugin iframe (browser APIs only); the WebSocket and fetch constructors can be injected.
 */
import type { ErrorCode } from '../../protocol/errors.ts';
import { encodeSaveStyle, encodeSubmit, type SubmitStyle } from '../../protocol/frames.ts';
import {
  PROTOCOL_VERSION,
  type CapabilitiesMessage, type ClientTextMessage, type EstimateMessage, type KeptJob, type ServerBinaryMessage, type ServerTextMessage, type StyleInfo, type WireSettings,
} from '../../protocol/messages.ts';
import {
  blockedByPolicyWords, portNotAllowedWords, stateAfterClose, stateAfterProbe,
  type ConnectionState, type HealthProbe,
} from './companion/connection-state.ts';
import {
  CompanionError, JobRegistry, OneAnswerRequests, asCompanionError, nextRef,
  type JobEvents, type JobRecord, type JobResult,
} from './companion/requests.ts';
import { CompanionTransport, DEFAULT_BACKOFF, type BackoffOptions } from './companion/transport.ts';

export type { ConnectionState } from './companion/connection-state.ts';
export { CompanionError, type ClientErrorCode, type JobEvents, type JobResult } from './companion/requests.ts';
export type { BackoffOptions } from './companion/transport.ts';

export interface JobRequest {
  content: Uint8Array;
  styles: SubmitStyle[];
  settings: WireSettings;
  /** Keep the job and its result when this window goes away (needs a clientId); `note` comes back with it. */
  keep?: { note: string };
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

export interface CompanionClientOptions {
  port: number;
  token: string;
  /** The companion's host name. Default 127.0.0.1 (it listens on loopback); the Figma UI uses localhost (its CSP names hosts). */
  address?: string;
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

function copy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes); // frames are views into one buffer; keep only what we need
}

export class CompanionClient {
  private readonly opts: Required<Omit<CompanionClientOptions, 'backoff'>>;
  private readonly transport: CompanionTransport;
  private _state: ConnectionState = { status: 'offline', reason: 'Not started.', advice: '', retryAt: null };
  private readonly stateListeners = new Set<Listener<ConnectionState>>();
  private readonly thumbListeners = new Set<(name: string, png: Uint8Array) => void>();
  private readonly errorListeners = new Set<Listener<CompanionError>>();
  private readonly keptListeners = new Set<Listener<KeptJob[]>>();
  private readonly jobs = new JobRegistry();
  /** Jobs a `finish` was sent for: its unknown_job answer names the job and is not a cancel's. */
  private readonly finishesSent = new Set<string>();
  /** Kept results a `discard_kept` was sent for: their unknown_job answer (already gone) changes nothing. */
  private readonly discardsSent = new Set<string>();
  private readonly styleLists = new OneAnswerRequests<StyleInfo[]>();
  private readonly saves = new OneAnswerRequests<StyleInfo>();
  private readonly estimates = new OneAnswerRequests<EstimateMessage>();
  private running = false;
  /** What the companion said before closing: its last fatal error and its shutdown note. */
  private lastError: { code: ErrorCode; message: string } | null = null;
  private shutdownNote: string | null = null;
  private wasConnected = false;
  /** The window's policy refused this attempt's connection (a securitypolicyviolation was seen). */
  private policyBlocked: string | null = null;

  constructor(options: CompanionClientOptions) {
    const g = globalThis as unknown as { WebSocket: typeof WebSocket; fetch: typeof fetch };
    const { backoff, ...rest } = options;
    this.opts = {
      address: '127.0.0.1',
      allowedPorts: null,
      clientName: 'stylize-plugin',
      clientId: '',
      WebSocket: g.WebSocket,
      fetch: g.fetch?.bind(globalThis),
      ...rest,
    };
    this.transport = new CompanionTransport(this.opts.WebSocket, { ...DEFAULT_BACKOFF, ...backoff }, {
      onOpen: () => this.transport.send({
        type: 'hello', protocol: PROTOCOL_VERSION, token: this.opts.token, client: this.opts.clientName,
        ...(this.opts.clientId && { clientId: this.opts.clientId }),
      }),
      onText: (msg) => this.handleText(msg),
      onFrame: (msg, payload) => this.handleFrame(msg, payload),
      onUnreadable: (err, text) => this.handleUnreadable(err, text),
      onClose: (code, reason) => void this.onClosed(code, reason),
    });
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
  /** Whether a fetched kept result stays at the companion until discarded (feature 'kept-hold'). */
  get canHoldKept(): boolean {
    return this.capabilities?.features?.includes('kept-hold') === true;
  }


  get url(): string {
    return `ws://${this.opts.address}:${this.opts.port}/`;
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

  /** The companion's list of this client's kept jobs: sent after pairing when there are any, when one finishes, and on listKept(). */
  onKept(listener: Listener<KeptJob[]>): () => void {
    this.keptListeners.add(listener);
    return () => this.keptListeners.delete(listener);
  }

  private setState(state: ConnectionState): void {
    this._state = state;
    for (const l of this.stateListeners) l(state);
  }

  // -- connection --------------------------------------------------------------------------

  /** Starts connecting, and keeps reconnecting until stop(). */
  start(): void {
    this.running = true;
    this.connect();
  }

  /** Closes for good (the plugin is closing): running jobs are cancelled first. */
  stop(): void {
    this.running = false;
    this.transport.cancelRetry();
    this.cancelAll();
    this.transport.close('plugin closed');
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
    this.transport.attempt = 0;
    this.transport.close('reconnecting');
    this.failAll(new CompanionError('connection_lost', 'The connection was restarted.'));
    this.transport.cancelRetry();
    if (this.running) this.connect();
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
      const { reason, advice } = portNotAllowedWords(this.opts.address, this.opts.port, allowed);
      this.setState({ status: 'offline', reason, advice, retryAt: null });
      return;
    }
    this.lastError = null;
    this.shutdownNote = null;
    this.policyBlocked = null;
    try {
      this.transport.open(this.url);
    } catch (err) {
      this.retryLater(`Could not open ${this.url}: ${(err as Error).message}.`, 'Check the port in Settings.');
      return;
    }
    this.setState({ status: 'connecting', attempt: this.transport.attempt });
  }

  private async onClosed(code: number, reason: string): Promise<void> {
    const connectedBefore = this._state.status === 'connected';
    this.failAll(new CompanionError('connection_lost', connectedBefore
      ? 'The connection to the companion was lost during the job.'
      : 'The companion closed the connection.'));
    if (!this.running) return;
    const verdict = stateAfterClose({ code, reason, error: this.lastError, shutdownNote: this.shutdownNote });
    switch (verdict.next) {
      case 'needs-token':
        this.setState({ status: 'needs-token', reason: verdict.reason });
        return;
      case 'reconnect-now':
        this.transport.attempt = 0;
        this.connect();
        return;
      case 'retry':
        this.retryLater(verdict.reason, verdict.advice);
        return;
      case 'probe': {
        const probe = await this.probeHealth();
        if (!this.running || this.transport.active) return;
        const { reason: why, advice } = this.policyBlocked
          ? blockedByPolicyWords(this.opts.address, this.opts.port)
          : stateAfterProbe({ probe, code, reason, port: this.opts.port, wasConnected: connectedBefore || this.wasConnected });
        this.retryLater(why, advice);
      }
    }
  }

  /**
   * The window's content security policy refused `blockedUrl` (the UI saw a
   * securitypolicyviolation). Only the companion's own addresses concern this client.
   */
  blockedByPolicy(blockedUrl: string): void {
    const where = `${this.opts.address}:${this.opts.port}`;
    if (!blockedUrl.startsWith(`ws://${where}`) && !blockedUrl.startsWith(`http://${where}`)) return;
    this.policyBlocked = blockedUrl;
    const s = this._state;
    if (s.status === 'offline') {
      const { reason, advice } = blockedByPolicyWords(this.opts.address, this.opts.port);
      this.setState({ status: 'offline', reason, advice, retryAt: s.retryAt });
    }
  }

  /** Browsers hide why a WebSocket failed (code 1006); /health tells "not running" from "refused". */
  private async probeHealth(): Promise<HealthProbe> {
    if (!this.opts.fetch) return { kind: 'down' };
    const controller = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = setTimeout(() => controller?.abort(), 2000);
    try {
      const res = await this.opts.fetch(`http://${this.opts.address}:${this.opts.port}/health`, { signal: controller?.signal, cache: 'no-store' });
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

  private retryLater(reason: string, advice: string): void {
    if (!this.running) {
      this.setState({ status: 'offline', reason, advice, retryAt: null });
      return;
    }
    const retryAt = this.transport.retryLater(() => this.connect());
    this.setState({ status: 'offline', reason, advice, retryAt });
  }

  private emitError(err: CompanionError): void {
    for (const l of this.errorListeners) l(err);
  }

  // -- what arrives ------------------------------------------------------------------------

  private handleText(msg: ServerTextMessage): void {
    switch (msg.type) {
      case 'capabilities':
        this.wasConnected = true;
        this.transport.paired(msg.limits.idleTimeoutMs);
        this.setState({ status: 'connected', capabilities: msg });
        return;
      case 'accepted': {
        const job = this.jobs.get(msg.ref);
        if (!job) return;
        this.jobs.identify(job, msg.jobId);
        job.events.onAccepted?.(msg.jobId, msg.position);
        if (job.cancelRequested) this.sendCancel(job);
        else if (job.finishRequested) this.sendFinish(job);
        return;
      }
      case 'queue':
        for (const p of msg.jobs) this.jobs.byJobId(p.jobId)?.events.onQueue?.(p.position);
        return;
      case 'started':
        this.jobs.byJobId(msg.jobId)?.events.onStarted?.(msg.iterations);
        return;
      case 'progress':
        this.jobs.byJobId(msg.jobId)?.events.onProgress?.(msg);
        return;
      case 'done': {
        const job = this.jobs.byJobId(msg.jobId);
        if (!job) return;
        this.jobs.settle(job, job.resultPng
          ? { png: job.resultPng, width: msg.width, height: msg.height, done: msg }
          : new CompanionError('bad_reply', 'The companion said the job is done but sent no picture.'));
        return;
      }
      case 'cancelled': {
        // Each cancel is answered once: by this, or by unknown_job when the job had ended.
        this.jobs.cancelAnswered(msg.jobId);
        const job = this.jobs.byJobId(msg.jobId);
        if (job) this.jobs.settle(job, new CompanionError('cancelled', msg.reason === 'shutdown' ? 'The companion was stopped.' : 'Cancelled.'));
        return;
      }
      case 'error':
        return this.handleError(msg);
      case 'styles': {
        // A companion that does not echo refs answers its list requests in order.
        const ref = msg.ref ?? this.styleLists.oldest();
        if (ref !== undefined) this.styleLists.resolve(ref, msg.styles);
        return;
      }
      case 'style_saved':
        this.saves.resolve(msg.ref, msg.style);
        return;
      case 'estimate':
        this.estimates.resolve(msg.ref, msg);
        return;
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

  private handleError(msg: Extract<ServerTextMessage, { type: 'error' }>): void {
    if (msg.code === 'unknown_job' && msg.jobId !== undefined && this.discardsSent.delete(msg.jobId)) return;
    if (msg.code === 'unknown_job' && msg.jobId !== undefined && this.finishesSent.delete(msg.jobId)) {
      // The job ended before our finish reached the companion: its end message is on its way
      // (or already here), so this answer changes nothing.
      return;
    }
    const err = new CompanionError(msg.code, msg.message);
    const job = (msg.jobId && this.jobs.byJobId(msg.jobId)) || (msg.ref && this.jobs.get(msg.ref));
    if (job) return this.jobs.settle(job, err);
    if (msg.ref && [this.styleLists, this.saves, this.estimates].some((r) => r.reject(msg.ref!, err))) return;
    if (msg.code === 'unknown_job') {
      // The answer to our oldest unanswered cancel: the companion no longer has that job. Usually
      // its end crossed the cancel and it is settled already; if its end never reached us, it
      // ends here instead of waiting forever.
      const cancelled = this.jobs.oldestCancelUnanswered();
      if (cancelled) this.jobs.settle(cancelled, new CompanionError('cancelled', 'Cancelled (the companion had already finished with this job).'));
      return;
    }
    if (msg.fatal || this._state.status !== 'connected') {
      this.lastError = { code: msg.code, message: msg.message }; // the close that follows explains itself with it
      return;
    }
    // A companion older than list_styles.ref answers a failed list without a ref, in order.
    const list = msg.ref === undefined && (msg.code === 'unknown_style' || msg.code === 'style_library_unavailable') ? this.styleLists.oldest() : undefined;
    if (list !== undefined) return void this.styleLists.reject(list, err);
    this.emitError(err);
  }

  private handleFrame(message: ServerBinaryMessage, payload: Uint8Array): void {
    switch (message.type) {
      case 'preview':
        this.jobs.byJobId(message.jobId)?.events.onPreview?.(copy(payload), message.iteration, message.width, message.height);
        return;
      case 'result': {
        const job = this.jobs.byJobId(message.jobId);
        if (job) job.resultPng = copy(payload);
        return;
      }
      case 'thumbnail':
        for (const l of this.thumbListeners) l(message.name, copy(payload));
        return;
    }
  }

  private handleUnreadable(error: Error, text: string | undefined): void {
    const bad = new CompanionError('bad_reply', `The companion sent a message this plugin does not understand: ${error.message}`);
    // A garbled message about a job still ends that job, so it cannot wait forever.
    const job = text !== undefined ? this.jobNamedIn(text) : undefined;
    if (job) this.jobs.settle(job, bad);
    else this.emitError(bad);
  }

  /** The job a text message names by jobId or ref, read leniently (the message failed validation). */
  private jobNamedIn(text: string): JobRecord | undefined {
    try {
      const m = JSON.parse(text) as { jobId?: unknown; ref?: unknown };
      return (typeof m.jobId === 'string' && this.jobs.byJobId(m.jobId)) || (typeof m.ref === 'string' && this.jobs.get(m.ref)) || undefined;
    } catch {
      return undefined;
    }
  }

  private failAll(err: CompanionError): void {
    this.finishesSent.clear();
    this.discardsSent.clear();
    this.jobs.failAll(err);
    this.styleLists.failAll(err);
    this.saves.failAll(err);
    this.estimates.failAll(err);
  }

  // -- requests ----------------------------------------------------------------------------

  /** Sends through the transport; its failures become CompanionErrors (not_connected, message_too_large). */
  private send(message: ClientTextMessage): void {
    try {
      this.transport.send(message);
    } catch (err) {
      throw asCompanionError(err);
    }
  }

  /** Sends one job. Fails at once (not_connected) when there is no connection. */
  submit(request: JobRequest, events: JobEvents = {}): JobHandle {
    const ref = nextRef('job');
    const keep = request.keep !== undefined && this.opts.clientId !== '';
    const record = this.jobs.add(ref, events, { keep });
    try {
      if (this._state.status !== 'connected') throw new CompanionError('not_connected', 'Not connected to the companion.');
      this.transport.sendFrame(encodeSubmit({
        ref, content: request.content, styles: request.styles, settings: request.settings,
        ...(keep && { keep: true, note: request.keep!.note }),
      }));
    } catch (err) {
      this.jobs.settle(record, asCompanionError(err));
    }
    return {
      ref,
      get jobId() { return record.jobId; },
      result: record.result,
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
      this.send({ type: 'finish', jobId: job.jobId! });
      this.finishesSent.add(job.jobId!);
    } catch {
      // Not connected: the job fails with the connection (connection_lost) like every other.
    }
  }

  private sendCancel(job: JobRecord): void {
    try {
      this.send({ type: 'cancel', jobId: job.jobId! });
      this.jobs.cancelSent(job);
    } catch {
      this.jobs.settle(job, new CompanionError('cancelled', 'Cancelled.'));
    }
  }

  /** Cancels every job of this window (the plugin is closing), except those the companion keeps for it. */
  cancelAll(): void {
    for (const job of this.jobs.all()) {
      if (job.keep) continue;
      job.cancelRequested = true;
      if (job.jobId) this.sendCancel(job);
    }
  }

  get activeJobs(): number {
    return this.jobs.size;
  }

  /**
   * Fetches a kept result; it arrives like a job's: result frame, then done. With `hold` (where
   * canHoldKept) the companion keeps it until discardKept, so one that fails to be placed can be
   * tried again; otherwise it forgets it once sent.
   */
  fetchKept(jobId: string, hold = false): Promise<JobResult> {
    // keep: the result waits at the companion, so closing this window must not cancel anything.
    const record = this.jobs.add(nextRef('kept'), {}, { keep: true, jobId });
    try {
      this.send({ type: 'fetch_kept', jobId, ...(hold && this.canHoldKept && { hold: true }) });
    } catch (err) {
      this.jobs.settle(record, asCompanionError(err));
    }
    return record.result;
  }

  /** Tells the companion to forget a kept result. */
  discardKept(jobId: string): void {
    this.send({ type: 'discard_kept', jobId });
    this.discardsSent.add(jobId);
  }

  /** The companion's style library; thumbnails follow through onThumbnail. */
  listStyles(thumbnails = true): Promise<StyleInfo[]> {
    const ref = nextRef('styles');
    return this.styleLists.add(ref, () => this.send({ type: 'list_styles', ref, thumbnails }));
  }

  /** Stores an image in the companion's style library under `name`. */
  saveStyle(name: string, image: Uint8Array, overwrite = false): Promise<StyleInfo> {
    const ref = nextRef('style');
    return this.saves.add(ref, () => this.transport.sendFrame(encodeSaveStyle({ ref, name, overwrite }, image)));
  }

  /** How long the companion expects a job on a width x height layer to take (its `estimate` answer). */
  estimate(width: number, height: number, settings: WireSettings): Promise<EstimateMessage> {
    const ref = nextRef('estimate');
    return this.estimates.add(ref, () => this.send({ type: 'estimate', ref, width, height, settings }));
  }
}
