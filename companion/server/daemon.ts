/**
 * The companion daemon: one port for WebSocket (the plugin) and plain HTTP (GET /health), a pairing
 * token, a shared job queue in front of one engine worker, and hard limits on everything a client
 * can send. Knows sockets and jobs; the engine knows tensors and images.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import { ProtocolError, closeCodeFor } from '../../protocol/errors.ts';
import {
  MAX_MESSAGE_BYTES, MAX_STYLES_PER_JOB, PROTOCOL_VERSION, parseClientMessage,
  type CapabilitiesMessage, type EstimateRequest, type SaveStyleMessage, type SubmitMessage,
} from '../../protocol/messages.ts';
import { decodeClientFrame, encodeFrame } from '../../protocol/frames.ts';
import { DEFAULT_SETTINGS, SETTING_BOUNDS } from '../engine/settings.ts';
import { StylizeError } from '../../common/errors.ts';
import type { StylizeSettings } from '../engine/types.ts';
import { estimateJob, planFor } from '../engine/estimate.ts';
import { memoryBudgetBytes } from '../engine/memory.ts';
import { EngineThread } from './engine-thread.ts';
import type { EngineFailure } from './job-engine.ts';
import { checkInputImage, rgbaToPng } from './images.ts';
import { limitRepeats, type Logger } from './log.ts';
import { isLoopbackHost, type DaemonOptions } from './options.ts';
import { AccessPolicy } from './origin.ts';
import { createHttpHandler, hostForUrl } from './http-routes.ts';
import { companionVersion, tildify } from './paths.ts';
import { Scheduler, mb } from './scheduler.ts';
import { ClientConnection } from './connection.ts';
import { checkJobSettings } from './job-settings.ts';
import { StyleLibrary } from './styles.ts';
import { KeptResults } from './kept-results.ts';
import { KeptStore } from './kept-store.ts';
import { BUILTIN_STYLES_DIR } from './builtin-styles.ts';
import { loadOrCreateToken, tokenMatches } from './token.ts';
import type { WeightsPreparation } from './weights-preparation.ts';
import { TEST_FAULTS_ENV, testFaults } from './test-faults.ts';
import { isTypedError, toWireError } from './wire-error.ts';

const HEARTBEAT_MS = 30_000;
/** A client that keeps sending bad messages is cut off after this many errors. */
const MAX_ERRORS_PER_CONNECTION = 50;
const THUMBNAIL_SIDE = 96;
/** Connections not yet paired (each may hold one frame in memory until refused). */
const MAX_UNPAIRED = 16;
/** Answers wait while this much is still unsent to a client (one that does not read gets no more). */
const MAX_UNSENT_BYTES = 4 * 1024 * 1024;
const HEADERS_TIMEOUT_MS = 5000;
const REQUEST_TIMEOUT_MS = 10_000;
/** Shutdown waits this long for requests in progress to be answered. */
const SHUTDOWN_ANSWER_MS = 10_000;

/** 'preparing': listening and pairing, but still getting the model (first start); no jobs yet. */
export type DaemonState = 'starting' | 'preparing' | 'ready' | 'stopping' | 'stopped';

/** A first start without weights: get them while already listening. */
export interface DaemonPreparation {
  preparation: WeightsPreparation;
  /** Called once the port is open, before the download starts (the caller prints where to connect). */
  onListening?(daemon: Daemon): void;
}

export interface DaemonInfo {
  host: string;
  port: number;
  token: string;
  tokenFile: string;
  tokenCreated: boolean;
  styleLibrary: string;
  styleCount: number;
}

export class DaemonStartError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'DaemonStartError';
  }
}

export class Daemon {
  state: DaemonState = 'starting';
  readonly engine: EngineThread;
  readonly library: StyleLibrary;
  private readonly server: http.Server;
  /** Further loopback addresses (::1 beside 127.0.0.1) handing their connections to `server`. */
  private readonly extraListeners: net.Server[] = [];
  private readonly wss: WebSocketServer;
  private readonly policy: AccessPolicy;
  private readonly scheduler: Scheduler;
  private readonly connections = new Set<ClientConnection>();
  /** Open TCP sockets from every listener, oldest first, and those of them that carry a WebSocket. */
  private readonly rawSockets = new Set<net.Socket>();
  private readonly webSockets = new WeakSet<object>();
  private token = '';
  private nextConnectionId = 1;
  private intake: Promise<unknown> = Promise.resolve();
  private heartbeat?: NodeJS.Timeout;
  private stopping?: Promise<void>;
  private preparation?: WeightsPreparation;
  info!: DaemonInfo;

  private readonly log: Logger;

  private constructor(readonly opts: DaemonOptions, log: Logger, kept: KeptResults) {
    // Clients can provoke log lines (refusals); repeated ones are counted instead of written.
    this.log = log = limitRepeats(log);
    this.policy = new AccessPolicy({ host: opts.host, port: opts.port, allowOrigins: opts.allowOrigins, loopback: isLoopbackHost(opts.host) });
    const faults = testFaults();
    if (Object.keys(faults).length > 0) log.warn(`${TEST_FAULTS_ENV} is set: test faults ${JSON.stringify(faults)} are active.`);
    this.engine = new EngineThread(
      { backend: opts.backend, weightsDir: opts.weightsDir, maxPixels: opts.maxPixels, warmup: opts.warmup },
      log,
      faults.cancelGraceMs,
    );
    this.scheduler = new Scheduler(this.engine, {
      limits: { maxQueue: opts.maxQueue, maxQueueBytes: opts.maxQueueBytes, maxJobsPerClient: opts.maxJobsPerClient },
      log,
      encodePreview: (rgba, width, height) => rgbaToPng(rgba, width, height, opts.previewMaxSide),
      onKept: (clientId) => {
        for (const open of this.connections) if (open.clientId === clientId && open.authed) this.sendKept(open);
      },
      kept,
    });
    this.library = new StyleLibrary(opts.styleLibrary, {
      maxPixels: opts.maxPixels,
      maxFileBytes: opts.maxFrameBytes,
      thumbnailSide: THUMBNAIL_SIDE,
      log: (line) => log.warn(line),
      builtinDir: BUILTIN_STYLES_DIR,
    });
    // A client that sends its request slowly is dropped within seconds (Node's defaults allow minutes).
    this.server = http.createServer(
      { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 1000 },
      createHttpHandler({
        policy: this.policy,
        listenHost: opts.host,
        port: () => this.port,
        pluginDir: opts.pluginDir,
        health: () => ({ ready: this.state === 'ready', body: this.health() }),
      }),
    );
    // Raw sockets are bounded too (WebSocket connections are counted separately, with a clear error).
    this.server.on('connection', (socket: net.Socket) => this.admitSocket(socket));
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: opts.maxFrameBytes,
      // Compression buys nothing for PNG/JPEG and is a decompression-bomb surface.
      perMessageDeflate: false,
    });
    this.server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
  }

  /**
   * Token, style library, port, then (with `prep`) the weights while already serving, then the engine
   * (seconds). Resolves when ready. Rejects with DaemonStartError ('stopped' when stop() came first).
   */
  static async start(opts: DaemonOptions, log: Logger, prep?: DaemonPreparation): Promise<Daemon> {
    let kept: KeptResults;
    try {
      kept = await KeptResults.open(new KeptStore(opts.keptDir, (line) => log.warn(line)));
    } catch (err) {
      // Not a reason to refuse to run: results are then kept in memory, as far as they can be.
      log.warn(`Cannot use the kept-results folder ${opts.keptDir} (${(err as Error).message}): results of closed Photopea panels are kept in memory only, and a restart loses them. Give a writable folder with --kept-dir.`);
      kept = new KeptResults();
    }
    if (kept.size) log.info(`${kept.size} kept result(s) from an earlier run wait for their plugin panels (${opts.keptDir})`);
    const d = new Daemon(opts, log, kept);
    let tokenCreated: boolean;
    try {
      const t = loadOrCreateToken(opts.tokenFile);
      for (const w of t.warnings) log.warn(w);
      d.token = t.token;
      tokenCreated = t.created;
    } catch (err) {
      throw new DaemonStartError('token', (err as Error).message);
    }
    await d.library.init();
    // The port is taken before the engine loads, so "port in use" is reported at once.
    await d.listen();
    const styles = await d.library.list();
    const address = d.server.address() as AddressInfo;
    d.info = {
      host: opts.host, port: address.port, token: d.token, tokenFile: opts.tokenFile, tokenCreated,
      styleLibrary: opts.styleLibrary, styleCount: styles.length,
    };
    if (prep) await d.prepare(prep);
    try {
      await d.engine.start();
    } catch (err) {
      if (d.stopping) throw new DaemonStartError('stopped', 'The companion was stopped while it was starting.');
      // After preparing, clients are paired: tell them, do not just drop the port.
      await (prep ? d.stop('unable to start the engine') : d.closeServer());
      const e = err as EngineFailure;
      throw new DaemonStartError(e.code ?? 'internal', e.message);
    }
    d.heartbeat = setInterval(() => d.beat(), HEARTBEAT_MS);
    d.heartbeat.unref();
    if (d.stopping) throw new DaemonStartError('stopped', 'The companion was stopped while it was starting.');
    d.state = 'ready';
    if (prep) {
      d.preparation = undefined;
      await d.announceCapabilities();
    }
    return d;
  }

  /** Serves in 'preparing' until the weights are there; paired clients hear each step. */
  private async prepare(prep: DaemonPreparation): Promise<void> {
    this.preparation = prep.preparation;
    this.state = 'preparing';
    const unsubscribe = prep.preparation.onChange(() => void this.announceCapabilities());
    this.heartbeat = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.heartbeat.unref();
    prep.onListening?.(this);
    try {
      await prep.preparation.run();
    } catch (err) {
      if (this.stopping) throw new DaemonStartError('stopped', 'The companion was stopped while it was preparing.');
      await this.stop('unable to prepare the model');
      throw new DaemonStartError((err as StylizeError).code ?? 'internal', (err as Error).message);
    } finally {
      unsubscribe();
      clearInterval(this.heartbeat);
    }
    if (this.stopping) throw new DaemonStartError('stopped', 'The companion was stopped while it was preparing.');
  }

  /** Sends fresh capabilities to every paired client (preparing progress, then ready). */
  private async announceCapabilities(): Promise<void> {
    const paired = [...this.connections].filter((s) => s.authed && !s.closed);
    if (paired.length === 0) return;
    const caps = this.capabilities(await this.library.list());
    for (const s of paired) if (!s.closed) s.sendJson(caps);
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        const where = `${this.opts.host}:${this.opts.port}`;
        if (err.code === 'EADDRINUSE') {
          reject(new DaemonStartError('port_in_use',
            `Port ${where} is already in use: another Stylize companion may be running (check http://${hostForUrl(this.opts.host)}:${this.opts.port}/health), ` +
            'or another program has it. Stop that one, or choose another port with --port N (or STYLIZE_PORT); the plugin must then use the same port.'));
        } else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') {
          reject(new DaemonStartError('bad_host', `Cannot listen on ${where}: this machine has no such address (${err.code}). Check --host.`));
        } else if (err.code === 'EACCES') {
          reject(new DaemonStartError('port_denied', `Not allowed to listen on ${where} (ports below 1024 need privileges). Use --port 7849 or another port above 1023.`));
        } else {
          reject(new DaemonStartError('listen', `Cannot listen on ${where}: ${err.message}`));
        }
      };
      const [first, ...more] = listenAddresses(this.opts.host);
      this.server.once('error', onError);
      this.server.listen(this.opts.port, first, () => {
        this.server.off('error', onError);
        this.server.on('error', (err) => this.log.error(`server: ${err.message}`));
        const port = (this.server.address() as AddressInfo).port;
        this.policy.setPort(port);
        this.listenAlso(more, port).then(resolve, (err: NodeJS.ErrnoException) => {
          this.server.close();
          onError(err);
        });
      });
    });
  }

  /**
   * Every TCP socket, from every listener (the ::1 one hands its sockets over), counts against one
   * limit. When it is reached the oldest socket that is not a WebSocket goes, not the newcomer: a
   * program holding idle sockets (dropped only after seconds of silence) cannot keep the plugin out.
   */
  private admitSocket(socket: net.Socket): void {
    if (this.rawSockets.size >= this.opts.maxConnections * 2 + 16) {
      const idle = [...this.rawSockets].find((x) => !this.webSockets.has(x));
      if (!idle) return void socket.destroy();
      idle.destroy();
      this.rawSockets.delete(idle);
    }
    this.rawSockets.add(socket);
    socket.once('close', () => this.rawSockets.delete(socket));
  }

  /** Connections are taken when ready, and while preparing (to pair and show progress). */
  private get accepting(): boolean {
    return this.state === 'ready' || this.state === 'preparing';
  }

  /** The same port on each further address; an address this machine lacks (no IPv6) is skipped. */
  private async listenAlso(addresses: string[], port: number): Promise<void> {
    for (const address of addresses) {
      const extra = net.createServer((socket) => this.server.emit('connection', socket));
      try {
        await new Promise<void>((resolve, reject) => {
          extra.once('error', reject);
          extra.listen(port, address, () => { extra.off('error', reject); resolve(); });
        });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT' || code === 'EINVAL') {
          this.log.warn(`not listening on ${address} (${code}); localhost reaches the companion on the other loopback address`);
          continue;
        }
        await this.closeExtraListeners();
        throw err;
      }
      extra.on('error', (e) => this.log.error(`server (${address}): ${e.message}`));
      this.extraListeners.push(extra);
    }
  }

  private async closeExtraListeners(): Promise<void> {
    const all = this.extraListeners.splice(0);
    await Promise.all(all.map((l) => new Promise<void>((resolve) => l.close(() => resolve()))));
  }

  get port(): number {
    return (this.server.address() as AddressInfo | null)?.port ?? this.opts.port;
  }

  health(): Record<string, unknown> {
    const ready = this.state === 'ready' || (this.state === 'stopping' && this.engine.backend !== undefined);
    return {
      name: 'stylize-companion',
      version: companionVersion(),
      protocol: PROTOCOL_VERSION,
      status: this.state,
      backend: ready ? this.engine.backend.name : null,
      device: ready ? this.engine.backend.device : null,
      queue: { length: this.scheduler.length, running: this.scheduler.running },
      connections: this.connections.size,
      ...(this.preparation && { preparing: this.preparation.info() }),
    };
  }

  // ---- WebSocket -----------------------------------------------------------------------------

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: number, text: string, reason: string) => {
      this.log.warn(`refused a connection from ${req.socket.remoteAddress}: ${reason}`);
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
    };
    const host = this.policy.checkHost(req.headers.host);
    if (!host.ok) return refuse(403, host.reason, host.reason);
    const origin = this.policy.checkOrigin(req.headers.origin);
    if (!origin.ok) return refuse(403, origin.reason, origin.reason);
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== '/' && path !== '/ws') return refuse(404, 'The Stylize companion takes WebSocket connections on / only.', `path ${path}`);
    if (!this.accepting) return refuse(503, `The Stylize companion is ${this.state}; try again in a moment.`, `state ${this.state}`);
    this.webSockets.add(socket);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, req));
  }

  private onConnection(ws: WebSocket, req: http.IncomingMessage): void {
    const s = new ClientConnection(this.nextConnectionId++, ws, req.headers.origin, `${req.socket.remoteAddress}:${req.socket.remotePort}`);
    // Connections ending after a fatal error are gone within 250 ms and read nothing: they hold no slot.
    const open = [...this.connections].filter((x) => !x.ending).length;
    if (open >= this.opts.maxConnections) {
      this.log.warn(`refused ${s.label}: ${open} connections already open (--max-connections ${this.opts.maxConnections})`);
      s.fatal('too_many_connections', `The companion already has ${open} connections, its limit. Close other plugin windows or try again later.`);
      return;
    }
    const unpaired = [...this.connections].filter((x) => !x.authed && !x.ending);
    if (unpaired.length >= MAX_UNPAIRED) {
      // Any page can open unpaired connections (a sandboxed "null" iframe). Refusing the newest would
      // let it keep the plugin out; the oldest waiting one goes instead, so a client that sends
      // hello at once pairs before MAX_UNPAIRED newer connections can push it out.
      const oldest = unpaired[0];
      this.log.warn(`dropped ${oldest.label} (origin ${oldest.origin ?? 'none'}): ${unpaired.length} connections were waiting to pair and a new one came`);
      oldest.fatal('too_many_connections', `${unpaired.length} newer connections are waiting to pair; send hello right after connecting.`);
    }
    if (!this.accepting) {
      s.fatal('shutting_down', 'The companion is shutting down.');
      return;
    }
    this.connections.add(s);
    s.authTimer = setTimeout(() => {
      if (!s.authed && !s.ending) this.log.warn(`refused ${s.label} (origin ${s.origin ?? 'none'}): auth_timeout`);
      if (!s.authed) s.fatal('auth_timeout', `No hello within ${this.opts.authTimeoutMs / 1000} s of connecting. Send {"type":"hello","protocol":${PROTOCOL_VERSION},"token":"..."} first.`);
    }, this.opts.authTimeoutMs);
    this.touch(s);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      this.touch(s);
      const bytes = toBytes(data);
      s.enqueue(() => this.onMessage(s, bytes, isBinary), (err) => this.answerError(s, err), bytes.length);
    });
    ws.on('pong', () => { s.alive = true; });
    ws.on('error', (err: Error & { code?: string }) => {
      // ws closes the socket itself (1009 for an oversized frame); say why in the log.
      const why = err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'
        ? `a frame over the ${mb(this.opts.maxFrameBytes)} limit (closed with 1009 frame_too_large)`
        : err.message;
      this.log.warn(`${s.label}: ${why}`);
    });
    ws.on('close', (code, reason) => this.onClose(s, code, reason.toString()));
  }

  /** Restarts the idle timer; a connection with jobs is never idle. */
  private touch(s: ClientConnection): void {
    if (s.idleTimer) clearTimeout(s.idleTimer);
    if (this.opts.idleTimeoutMs <= 0) return;
    s.idleTimer = setTimeout(() => {
      if (s.jobs.size > 0) return this.touch(s);
      this.log.info(`${s.label}: idle for ${this.opts.idleTimeoutMs / 1000} s, closing`);
      s.fatal('idle_timeout', `No message for ${this.opts.idleTimeoutMs / 1000} s and no job: closing. Reconnect when needed, or send {"type":"ping"} to stay connected.`);
    }, this.opts.idleTimeoutMs);
    s.idleTimer.unref();
  }

  private beat(): void {
    for (const s of this.connections) {
      if (!s.alive) {
        this.log.warn(`${s.label}: no answer to ping, dropping the connection`);
        s.ws.terminate();
        continue;
      }
      s.alive = false;
      s.ws.ping();
    }
  }

  private async onMessage(s: ClientConnection, bytes: Uint8Array, isBinary: boolean): Promise<void> {
    if (s.closed || s.ending) return;
    // The request an error answers, as far as it is known when the error comes.
    let ref: string | undefined;
    let finishOf: string | undefined;
    try {
      if (!isBinary) {
        if (bytes.length > MAX_MESSAGE_BYTES) {
          throw new ProtocolError('message_too_large', `A JSON message of ${bytes.length} bytes is over the ${MAX_MESSAGE_BYTES}-byte limit for control messages; images go in binary frames.`);
        }
        const msg = parseClientMessage(new TextDecoder().decode(bytes));
        if ('ref' in msg && typeof msg.ref === 'string') ref = msg.ref;
        if (msg.type === 'finish') finishOf = msg.jobId;
        if (!s.authed) {
          if (msg.type !== 'hello') throw new ProtocolError('auth_required', `The first message must be hello with the pairing token, not ${msg.type}.`);
          await this.hello(s, msg.protocol, msg.token, msg.client);
          if (msg.clientId !== undefined) {
            s.clientId = msg.clientId;
            if (this.scheduler.keptJobs(msg.clientId).length) this.sendKept(s);
          }
          return;
        }
        // Answers wait for the client to read the ones before (a cancel or finish needs no room to act).
        if (msg.type !== 'cancel' && msg.type !== 'finish') await s.drained(MAX_UNSENT_BYTES);
        switch (msg.type) {
          case 'hello':
            throw new ProtocolError('bad_message', 'This connection is already paired; send hello only once.');
          case 'cancel':
            return this.scheduler.cancel(s, msg.jobId);
          case 'finish':
            return this.scheduler.finish(s, msg.jobId);
          case 'status':
            return await this.status(s);
          case 'list_styles':
            return await this.listStyles(s, msg.thumbnails !== false, msg.ref);
          case 'ping':
            return s.sendJson({ type: 'pong', ...(msg.t !== undefined && { t: msg.t }) });
          case 'estimate':
            return this.estimate(s, msg);
          case 'list_kept':
            return this.sendKept(s);
          case 'fetch_kept':
            return this.sendKeptResult(s, msg.jobId, msg.hold === true);
          case 'discard_kept':
            return this.discardKept(s, msg.jobId);
        }
        return;
      }
      if (!s.authed) throw new ProtocolError('auth_required', 'Send hello with the pairing token before anything else.');
      // The ref, if the header got that far, lets the client match an error to its request.
      ref = refOf(bytes);
      const frame = decodeClientFrame(bytes);
      ref = frame.message.ref;
      await s.drained(MAX_UNSENT_BYTES);
      if (this.state === 'preparing') throw this.preparingError();
      if (this.state !== 'ready') throw new ProtocolError('shutting_down', 'The companion is shutting down; nothing more is saved or queued. Send it again once it is back.');
      if (frame.message.type === 'submit') {
        const m = frame.message;
        return await this.serially(() => this.submit(s, m, frame.images));
      }
      return await this.saveStyle(s, frame.message, frame.images[0]);
    } catch (err) {
      // A finish names its job in the answer, so the client can tell it from a cancel's.
      this.answerError(s, err, ref, finishOf);
    }
  }

  /**
   * Answers a request that failed. A typed error refuses a bad request (before pairing, that ends
   * the connection; too many end it too); anything else is the companion's fault, logged in full.
   */
  private answerError(s: ClientConnection, err: unknown, ref?: string, jobId?: string): void {
    if (!isTypedError(err)) {
      this.log.error(`${s.label}: ${(err as Error)?.stack ?? String(err)}`);
      // Counted like a bad request: a client must not make the companion fail (and log) without end.
      if (s.authed && ++s.errors > MAX_ERRORS_PER_CONNECTION) return s.fatal('too_many_errors', `${s.errors} requests on this connection failed; closing it.`);
      return s.sendError(err, { ref, jobId });
    }
    const answer = toWireError(err, { ref, jobId });
    if (!s.authed) {
      this.log.warn(`refused ${s.label} (origin ${s.origin ?? 'none'}): ${answer.code}`);
      return s.fatal(answer.code, answer.message);
    }
    s.errors++;
    if (s.errors > MAX_ERRORS_PER_CONNECTION) {
      return s.fatal('too_many_errors', `${s.errors} bad requests on this connection; closing it. Last: ${answer.message}`);
    }
    s.sendJson(answer);
  }

  private async hello(s: ClientConnection, protocol: number, token: string, client?: string): Promise<void> {
    if (protocol !== PROTOCOL_VERSION) {
      throw new ProtocolError('protocol_mismatch',
        `The plugin speaks protocol ${protocol}, this companion (${companionVersion()}) speaks ${PROTOCOL_VERSION}. ` +
        (protocol > PROTOCOL_VERSION ? 'Update the companion.' : 'Update the plugin.'));
    }
    if (!tokenMatches(this.token, token)) {
      // The path with ~ for the home folder: any page can ask this, and the user's name is not its business.
      throw new ProtocolError('bad_token', `The pairing token is wrong. Copy the token the companion printed at start-up (also in ${tildify(this.opts.tokenFile)}) into the plugin.`);
    }
    s.authed = true;
    if (s.authTimer) clearTimeout(s.authTimer);
    s.clientName = (client ?? '').replace(/[^\x20-\x7e]/g, '').slice(0, 60);
    this.log.info(`${s.label} paired (origin ${s.origin ?? 'none'}, ${s.remote})`);
    // Styles are listed fresh (the folder may have changed); thumbnails come with list_styles.
    s.sendJson(this.capabilities(await this.library.list()));
  }

  private effectiveDefaults(): StylizeSettings {
    return { ...DEFAULT_SETTINGS, size: Math.min(DEFAULT_SETTINGS.size, this.opts.maxSize), previewEvery: this.opts.previewEvery };
  }

  private capabilities(styles: CapabilitiesMessage['styles']): CapabilitiesMessage {
    // While preparing there is no engine yet; `preparing` says why.
    const b = this.engine.backend ?? { name: 'none', device: 'not loaded yet', reason: 'preparing the style model' };
    return {
      type: 'capabilities',
      protocol: PROTOCOL_VERSION,
      server: { name: 'stylize-companion', version: companionVersion() },
      backend: { name: b.name, device: b.device, reason: b.reason },
      limits: {
        maxPixels: this.opts.maxPixels,
        maxFrameBytes: this.opts.maxFrameBytes,
        maxMessageBytes: MAX_MESSAGE_BYTES,
        maxQueue: this.opts.maxQueue,
        maxJobsPerClient: this.opts.maxJobsPerClient,
        maxStylesPerJob: MAX_STYLES_PER_JOB,
        previewMaxSide: this.opts.previewMaxSide,
        idleTimeoutMs: this.opts.idleTimeoutMs,
      },
      settings: { defaults: this.effectiveDefaults(), bounds: { ...SETTING_BOUNDS, size: { min: SETTING_BOUNDS.size.min, max: this.opts.maxSize } } },
      styles,
      ...(this.preparation && { preparing: this.preparation.info() }),
      features: ['finish', 'kept-hold', ...(this.engine.cost ? ['estimate'] : [])],
    };
  }

  // ---- Jobs ----------------------------------------------------------------------------------

  /** Submissions are checked one at a time, so the queue keeps arrival order across clients. */
  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.intake.then(fn);
    this.intake = p.catch(() => undefined);
    return p;
  }

  private preparingError(): ProtocolError {
    const p = this.preparation!.info();
    return new ProtocolError('preparing', `The companion is still preparing the style model (${p.percent}% downloaded${p.error ? `; ${p.error}` : ''}). Submit again once capabilities arrive without "preparing".`);
  }

  /** Jobs are taken only when ready; then the scheduler's limits decide. */
  private checkCapacity(s: ClientConnection, bytes: number): void {
    if (this.preparation) throw this.preparingError();
    if (this.state !== 'ready') throw new ProtocolError('shutting_down', 'The companion is shutting down and takes no new jobs.');
    this.scheduler.checkCapacity(s, bytes);
  }

  /** Prices a job as `submit` would plan it, with the costs the engine measured (engine/estimate.ts). */
  private estimate(s: ClientConnection, msg: EstimateRequest): void {
    const cost = this.engine.cost;
    if (!cost) throw new ProtocolError('backend_unavailable', 'This companion has not measured its engine yet (it starts with --no-warmup?); no estimate is available.');
    const { settings } = this.jobSettings(msg.settings);
    // The plan's refusals (bad_setting, out_of_memory) go to the client as they are (wire-error.ts).
    const e = estimateJob(cost, msg.width, msg.height, settings, memoryBudgetBytes(this.engine.backend.name));
    s.sendJson({
      type: 'estimate', ref: msg.ref, ms: Math.round(e.ms),
      scales: e.plan.stages.map((st) => ({ width: st.width, height: st.height, iterations: st.iterations })),
    });
  }

  private jobSettings(raw: SubmitMessage['settings']): ReturnType<typeof checkJobSettings> {
    return checkJobSettings(raw, { maxSize: this.opts.maxSize, defaultSize: this.effectiveDefaults().size, previewEvery: this.opts.previewEvery });
  }

  private async submit(s: ClientConnection, msg: SubmitMessage, images: Uint8Array[]): Promise<void> {
    if (s.closed) return;
    const uploaded = images.reduce((n, b) => n + b.length, 0);
    this.checkCapacity(s, uploaded);
    const { settings, resolved } = this.jobSettings(msg.settings);
    const styles: { image: Uint8Array; weight?: number; label: string }[] = [];
    let next = 1;
    for (const [i, st] of msg.styles.entries()) {
      const label = msg.styles.length > 1 ? `style image ${i + 1}` : 'style image';
      const image = st.source === 'upload' ? images[next++] : await this.library.read(st.name);
      styles.push({ image, label: st.source === 'library' ? `library style "${st.name}"` : label, ...(st.weight !== undefined && { weight: st.weight }) });
    }
    if (styles.every((st) => st.weight === 0)) throw new ProtocolError('bad_setting', 'All style weights are 0; give at least one style a positive weight.');
    const contentInfo = await checkInputImage(images[0], this.opts.maxPixels, 'content image');
    // The plan's refusals (a result too thin, a scale list that breaks its rules) come now, not
    // after the job has waited its turn in the queue, and without the estimate a plugin may not ask.
    planFor(contentInfo.width, contentInfo.height, settings, memoryBudgetBytes(this.engine.backend.name));
    for (const st of styles) await checkInputImage(st.image, this.opts.maxPixels, st.label);
    if (s.closed) return;
    const bytes = images[0].length + styles.reduce((n, st) => n + st.image.length, 0);
    this.checkCapacity(s, bytes);

    this.scheduler.add(s, {
      ref: msg.ref,
      keep: msg.keep === true,
      ...(msg.note !== undefined && { note: msg.note }),
      content: images[0],
      styles: styles.map(({ image, weight }) => ({ image, ...(weight !== undefined && { weight }) })),
      settings,
      iterations: resolved.iterations,
      size: resolved.size,
      bytes,
    });
  }

  // ---- Kept results (jobs that outlive their connection) ----------------------------------------

  private sendKept(s: ClientConnection): void {
    s.sendJson({ type: 'kept', jobs: s.clientId ? this.scheduler.keptJobs(s.clientId) : [] });
  }

  /** Sends a kept result; forgets it unless the client holds it (then `discard_kept` does, once it is placed). */
  private sendKeptResult(s: ClientConnection, jobId: string, hold: boolean): void {
    const r = s.clientId ? (hold ? this.scheduler.kept.get(s.clientId, jobId) : this.scheduler.kept.take(s.clientId, jobId)) : undefined;
    if (!r) return this.noKeptResult(s, jobId);
    s.sendBinary(encodeFrame({ type: 'result', jobId: r.jobId, mime: 'image/png', width: r.done.width, height: r.done.height }, r.png));
    s.sendJson(r.done);
  }

  private discardKept(s: ClientConnection, jobId: string): void {
    if (!(s.clientId && this.scheduler.kept.take(s.clientId, jobId))) this.noKeptResult(s, jobId);
  }

  private noKeptResult(s: ClientConnection, jobId: string): void {
    // Answered with the jobId, so the client can tell which request failed.
    s.sendError(new ProtocolError('unknown_job', `No kept result ${JSON.stringify(jobId)} for this client (it was fetched, discarded or expired, or hello carried another clientId).`), { jobId });
  }

  private async status(s: ClientConnection): Promise<void> {
    const memory = await this.engine.currentMemory();
    const pm = process.memoryUsage();
    s.sendJson({
      type: 'status',
      length: this.scheduler.length,
      running: this.scheduler.running,
      jobs: this.scheduler.positions(s),
      connections: this.connections.size,
      engine: { memory, baseline: this.engine.baseline, jobsDone: this.engine.jobsDone, restarts: this.engine.restarts },
      process: { rss: pm.rss, heapUsed: pm.heapUsed },
    });
  }

  private async listStyles(s: ClientConnection, thumbnails: boolean, ref?: string): Promise<void> {
    // A failure here is answered with the request's ref by onMessage, which read it from the message.
    const styles = await this.library.list();
    s.sendJson({ type: 'styles', styles, ...(ref !== undefined && { ref }) });
    if (!thumbnails) return;
    for (const st of styles) {
      await s.drained(MAX_UNSENT_BYTES);
      if (s.closed) return;
      try {
        const t = await this.library.thumbnail(st.name);
        s.sendBinary(encodeFrame({ type: 'thumbnail', name: st.name, mime: 'image/png', width: t.width, height: t.height }, t.png));
      } catch (err) {
        this.log.warn(`thumbnail of style "${st.name}": ${(err as Error).message}`);
      }
    }
  }

  private async saveStyle(s: ClientConnection, msg: SaveStyleMessage, image: Uint8Array): Promise<void> {
    const info = await checkInputImage(image, this.opts.maxPixels, 'style image');
    const style = await this.library.save(msg.name, image, info.format, msg.overwrite ?? false);
    this.log.info(`${s.label} saved style "${style.name}" (${style.width} x ${style.height})`);
    s.sendJson({ type: 'style_saved', ref: msg.ref, style });
  }

  private onClose(s: ClientConnection, code: number, reason: string): void {
    s.closed = true;
    s.clearTimers();
    if (!this.connections.delete(s)) return;
    const { dropped, cancelledRunning, keptGoOn } = this.scheduler.dropClient(s);
    // Unpaired connections were logged when refused; a second line each would double a flood.
    if (s.authed) {
      this.log.info(`${s.label} disconnected (${code}${reason ? ` ${reason}` : ''})${dropped ? `, ${dropped} waiting job(s) dropped` : ''}${cancelledRunning ? ', running job cancelled' : ''}${keptGoOn ? ', kept job(s) go on' : ''}`);
    }
  }

  // ---- Shutdown ------------------------------------------------------------------------------

  /** Cancels the running job, tells every client, closes every socket, releases the port. */
  stop(reason = 'shutting down'): Promise<void> {
    this.stopping ??= this.doStop(reason);
    return this.stopping;
  }

  private async doStop(reason: string): Promise<void> {
    this.state = 'stopping';
    this.preparation?.abort();
    if (this.heartbeat) clearInterval(this.heartbeat);
    // Requests being handled (a save writing its file) finish and are answered; later ones are refused.
    const answered = Promise.race([Promise.all([...this.connections].map((s) => s.settled())), sleep(SHUTDOWN_ANSWER_MS)]);
    await this.scheduler.stop();
    await this.scheduler.kept.flush();
    await this.engine.close(2000);
    await answered;
    for (const s of this.connections) {
      s.sendJson({ type: 'shutdown', message: `The companion is ${reason}; requests it has not answered were not carried out.` });
      s.ws.close(closeCodeFor('shutting_down'), 'shutting_down');
    }
    const deadline = Date.now() + 2000;
    while (this.connections.size > 0 && Date.now() < deadline) await sleep(20);
    for (const s of this.connections) s.ws.terminate();
    await this.closeServer();
    this.state = 'stopped';
  }

  private closeServer(): Promise<void> {
    const extra = this.closeExtraListeners();
    const main = new Promise<void>((resolve) => {
      this.wss.close();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    return Promise.all([main, extra]).then(() => undefined);
  }
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Best-effort `ref` from a binary frame whose header may be broken. */
function refOf(bytes: Uint8Array): string | undefined {
  try {
    const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, false);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + Math.min(n, 16384)))) as { ref?: unknown };
    return typeof header.ref === 'string' && header.ref.length <= 64 ? header.ref : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The addresses behind --host. "localhost" (the default) is both loopback addresses: browsers may
 * resolve the name to either, and the Figma plugin may only use the name (its CSP lists host names).
 */
export function listenAddresses(host: string): string[] {
  return host.toLowerCase() === 'localhost' ? ['127.0.0.1', '::1'] : [host];
}
