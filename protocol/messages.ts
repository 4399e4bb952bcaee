/**
 * The Stylize companion protocol, version 1: the messages the plugin and the companion exchange over
 * one WebSocket. Pure TypeScript (no Node imports): the plugin (a browser iframe) imports this file.
 *
 * Two kinds of frames:
 * - Text frames: one JSON control message each, a discriminated union on `type` (below).
 * - Binary frames: a message that carries image bytes (see frames.ts): a 4-byte big-endian header
 *   length, a UTF-8 JSON header (a message with `type`), then the raw bytes. Images never travel as
 *   base64 inside JSON.
 *
 * Conversation: client -> `hello` (token); server -> `capabilities`. Client -> binary `submit`
 * (content + uploaded styles in one frame); server -> `accepted` (job id, position), `queue` updates,
 * `started`, `progress`..., binary `preview` frames, binary `result` frame then `done`; or `cancelled`
 * or `error`. See README "Companion protocol".
 *
 * Kept results (additive, optional): a client that names itself with a stable `clientId` in hello
 * may submit with `keep: true`. Such a job is not cancelled when the connection drops; its finished
 * result is kept (a bounded number, for a bounded time) until a connection with the same clientId
 * fetches it: `kept` lists them (sent after `capabilities` when there are any, when one finishes,
 * and on `list_kept`); `fetch_kept` answers with the usual binary `result` frame and `done`, then
 * forgets it (with `hold`, feature 'kept-hold': keeps it until `discard_kept`); `discard_kept`
 * forgets it. See docs/protocol.md.
 *
 * Stop and keep (additive, feature 'finish'): client -> `finish` {jobId} ends a running job at the
 * next iteration; its current image, at the full output size, comes back as the usual `result`
 * frame and `done` (with `stopped: true`). A job still waiting has no image yet: it is cancelled.
 */
import { ProtocolError, isErrorCode, type ErrorCode } from './errors.ts';
import { arr, bool, fail, isObj, num, obj, oneOf, optNum, optStr, str, type Obj } from './check.ts';

export const PROTOCOL_VERSION = 1;
/** The companion's default port (override: --port or STYLIZE_PORT). */
export const DEFAULT_PORT = 7849;
/** Largest JSON control message the companion accepts (images go in binary frames). */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** Most styles one job may blend. */
export const MAX_STYLES_PER_JOB = 4;

/** Sizes declared in a header are checked against the real payload; this only bounds the arithmetic. */
const MAX_DECLARED_BYTES = 2 ** 40;
/** Client-chosen id that ties a response (`accepted`, `error`, `style_saved`) to a request. */
const REF = { max: 64, pattern: /^[\x21-\x7e]+$/, hint: 'printable ASCII without spaces' };
const JOB_ID = { max: 64 };
/** What hello.clientId may be (the companion also checks the ids it reads back from disk). */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;
const CLIENT_ID = { max: 64, pattern: CLIENT_ID_PATTERN, hint: '8 to 64 letters, digits, "_" or "-"' };
/** Longest `note` a kept job carries back to its client (the client's own description of the job). */
export const MAX_NOTE_CHARS = 4000;
const TOKEN = { max: 256 };
/** Style names become file names in the style library: letters, digits, space, _ . - ; no path parts. */
export const STYLE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9 _.-]{0,62}[A-Za-z0-9_-]$|^[A-Za-z0-9]$/;
const STYLE_NAME = {
  max: 64,
  pattern: STYLE_NAME_PATTERN,
  hint: 'a name of letters, digits, spaces, "_", "." or "-" (starting with a letter or digit, not ending with "." or a space)',
};

// ---------------------------------------------------------------------------------------------
// Shared shapes

/**
 * A job's settings as they travel: the protocol's own contract, declared here so that it changes
 * only on purpose. The companion maps them to its engine's settings and checks, at compile time,
 * that both keep the same fields (companion/server/wire-settings.ts). Layer names are strings here:
 * conv4_2 or block4_conv2, checked by the companion.
 */
export interface WireJobSettings {
  /** Which defaults the settings not given take: 'stylize' (the companion's plan) or 'seed' (CS20SI's recipe). */
  recipe: 'stylize' | 'seed';
  /** Long side of the output in pixels; the content's aspect ratio is kept. */
  size: number;
  iterations: number;
  contentWeight: number;
  styleWeight: number;
  tvWeight: number;
  optimizer: 'adam' | 'lbfgs';
  learningRate: number;
  /** 'styled': the content in the style's colours. */
  init: 'styled' | 'noise' | 'content' | 'random';
  /** Share of noise in the 'noise' init. */
  noiseRatio: number;
  seed: number;
  pooling: 'avg' | 'max';
  /** 'target': each loss term a relative error against its target; 'seed': CS20SI's scaling. */
  lossNormalization: 'target' | 'seed';
  contentLayers: string[];
  styleLayers: { layer: string; weight: number }[];
  /** A preview frame every N iterations (0 = none). */
  previewEvery: number;
  /** Luminance-only transfer: keep the content's colours. */
  preserveColors: boolean;
  /** Style image size relative to the output's long side. */
  styleScale: number;
  /** Coarse-to-fine: 'auto', 'off', or ascending long sides ending at `size`. */
  scales: 'auto' | 'off' | number[];
  /** Iterations per scale, one per scale. */
  scaleIterations?: number[];
}

/** What a `submit` may carry: any subset; the rest comes from `capabilities.settings.defaults`. */
export type WireSettings = Partial<WireJobSettings>;

/** One iteration's loss by term, as `progress` and `done` report it. */
export interface WireLossTerms {
  content: number;
  style: number;
  tv: number;
  total: number;
}

/** A style of a submitted job: bytes uploaded in the same frame, or an entry of the style library. */
export type StyleSource =
  | { source: 'upload'; /** Byte length of this style's image inside the frame payload. */ bytes: number; weight?: number }
  | { source: 'library'; name: string; weight?: number };

export interface StyleInfo {
  name: string;
  width: number;
  height: number;
  /** 'png' | 'jpeg' | 'webp' ... */
  format: string;
  bytes: number;
  /** Built-in styles only: the painting's title, artist and year (the user's styles have just a name). */
  title?: string;
  artist?: string;
  year?: string;
  /** True for the companion's built-in styles: listed first, never overwritten. */
  builtin?: boolean;
}

/** While the companion gets its model (a first start downloads the weights): how far, and what failed. */
export interface PreparingInfo {
  /** 0..100 of the weights downloaded (100 while the engine loads). */
  percent: number;
  /** The last failure, one line, with the manual way; the companion retries by itself. */
  error?: string;
  /** When the next attempt starts, in ms from when this was sent. */
  retryInMs?: number;
}

export interface JobPosition {
  jobId: string;
  /** Number of jobs ahead of this one in the shared queue: 0 = running now (or next to run). */
  position: number;
}

export interface EngineMemory {
  tensors: number;
  bytes: number;
}

export interface SettingBounds {
  [name: string]: { min: number; max: number };
}

// ---------------------------------------------------------------------------------------------
// Client -> server, text frames

export interface HelloMessage {
  type: 'hello';
  protocol: number;
  /** The pairing token the companion printed at start-up (dashes and case do not matter). */
  token: string;
  /** Free text for the companion's log, e.g. "figma-plugin 0.1.0". */
  client?: string;
  /** A stable id of this plugin install: jobs submitted with `keep` survive a disconnect and come back to it. */
  clientId?: string;
}
export interface CancelMessage { type: 'cancel'; jobId: string }
/** Stop and keep: end the job now and send its current image, at full size, as the result. */
export interface FinishMessage { type: 'finish'; jobId: string }
export interface StatusRequest { type: 'status' }
export interface ListStylesMessage {
  type: 'list_styles';
  /** Send a small thumbnail (binary `thumbnail` frame) per style after the list. Default true. */
  thumbnails?: boolean;
  /** Echoed in `styles` and in an `error` about this request, so the client matches the answer without guessing. */
  ref?: string;
}
export interface PingMessage { type: 'ping'; t?: number }
/**
 * How long would a job take? Answered by `estimate` (or `error` with the same ref). Optional: a
 * client that never asks loses nothing. The companion plans the job as `submit` would (scales,
 * iterations) and prices it with costs it measured on its own backend.
 */
export interface EstimateRequest {
  type: 'estimate';
  ref: string;
  /** The content image's size in pixels (the job keeps its aspect ratio). */
  width: number;
  height: number;
  settings?: WireSettings;
}

export interface ListKeptMessage { type: 'list_kept' }
export interface FetchKeptMessage {
  type: 'fetch_kept';
  jobId: string;
  /**
   * Feature 'kept-hold': send it but keep it until `discard_kept`, so a result the client fails to
   * place is not lost (the client discards it once it is placed). Without it, it is forgotten once sent.
   */
  hold?: boolean;
}
export interface DiscardKeptMessage { type: 'discard_kept'; jobId: string }

export type ClientTextMessage =
  | HelloMessage | CancelMessage | FinishMessage | StatusRequest | ListStylesMessage | PingMessage | EstimateRequest | ListKeptMessage | FetchKeptMessage | DiscardKeptMessage;

// Client -> server, binary frames (header + bytes; see frames.ts)

/** Payload: content image bytes, then each `upload` style's bytes in `styles` order. */
export interface SubmitMessage {
  type: 'submit';
  ref: string;
  /** Byte length of the content image at the start of the payload. */
  content: { bytes: number };
  styles: StyleSource[];
  settings?: WireSettings;
  /** Keep the job when the connection drops, and its result until this clientId fetches it (needs hello.clientId). */
  keep?: boolean;
  /** The client's own note about the job (e.g. where to put the result), given back in `kept`. */
  note?: string;
}
/** Payload: the image bytes to store in the companion's style library under `name`. */
export interface SaveStyleMessage {
  type: 'save_style';
  ref: string;
  name: string;
  /** Replace an existing style of the same name (default false: `style_exists` error). */
  overwrite?: boolean;
}
export type ClientBinaryMessage = SubmitMessage | SaveStyleMessage;

// ---------------------------------------------------------------------------------------------
// Server -> client, text frames

export interface CapabilitiesMessage {
  type: 'capabilities';
  protocol: number;
  server: { name: string; version: string };
  backend: { name: string; device: string; reason: string };
  limits: {
    /** Largest input image, in pixels (width * height), content and styles alike. */
    maxPixels: number;
    /** Largest frame (binary or text) in bytes; a bigger one closes the connection (1009). */
    maxFrameBytes: number;
    maxMessageBytes: number;
    maxQueue: number;
    maxJobsPerClient: number;
    maxStylesPerJob: number;
    /** Long side of preview images. */
    previewMaxSide: number;
    /** Connections with no message and no job for this long are closed (0 = never). */
    idleTimeoutMs: number;
  };
  settings: { defaults: WireJobSettings; bounds: SettingBounds };
  styles: StyleInfo[];
  /**
   * Present while the companion is not ready to run jobs yet (it is downloading or loading the model);
   * `submit` is then refused with `preparing`. The companion sends `capabilities` again as it
   * progresses and once more, without this field, when it is ready.
   */
  preparing?: PreparingInfo;
  /** Optional requests this companion answers beyond protocol 1's core: 'estimate', 'finish', 'kept-hold'. */
  features?: string[];
}
export interface AcceptedMessage { type: 'accepted'; ref: string; jobId: string; position: number }
/** Sent whenever this client's queued jobs move (a job ahead finished, was cancelled or dropped). */
export interface QueueMessage { type: 'queue'; length: number; jobs: JobPosition[] }
export interface StartedMessage { type: 'started'; jobId: string; iterations: number }
export interface ProgressMessage {
  type: 'progress';
  jobId: string;
  iteration: number;
  iterations: number;
  losses: WireLossTerms;
  elapsedMs: number;
  etaMs: number;
}
/** Sent right after the binary `result` frame of the same job. */
export interface DoneMessage {
  type: 'done';
  jobId: string;
  width: number;
  height: number;
  /** Byte length of the PNG in the `result` frame. */
  bytes: number;
  iterations: number;
  losses: WireLossTerms;
  elapsedMs: number;
  backend: string;
  /** True when `finish` ended the job early: the result is the image as it was then. */
  stopped?: boolean;
}
export interface CancelledMessage { type: 'cancelled'; jobId: string; reason: 'client' | 'shutdown' }
export interface ErrorMessage {
  type: 'error';
  code: ErrorCode;
  message: string;
  /** The request this answers (submit/save_style), when there is one. */
  ref?: string;
  /** The job this concerns, when there is one. */
  jobId?: string;
  /** True when the companion closes the connection right after this message. */
  fatal?: boolean;
}
export interface StatusMessage {
  type: 'status';
  /** Jobs waiting plus the one running, across all clients. */
  length: number;
  running: boolean;
  jobs: JobPosition[];
  connections: number;
  /** The engine's tensor memory now and right after start-up: between jobs they should match. */
  engine: { memory: EngineMemory; baseline: EngineMemory; jobsDone: number; restarts: number };
  /** The companion process's memory, in bytes. */
  process: { rss: number; heapUsed: number };
}
/** Followed (if thumbnails were asked for) by one binary `thumbnail` frame per style, in order. */
/** The answer to list_styles; `ref` is the request's, when it gave one. */
export interface StylesMessage { type: 'styles'; styles: StyleInfo[]; ref?: string }
export interface StyleSavedMessage { type: 'style_saved'; ref: string; style: StyleInfo }
export interface PongMessage { type: 'pong'; t?: number }
export interface EstimateMessage {
  type: 'estimate';
  ref: string;
  /** Expected wall time of the job once it starts (queue wait not included). */
  ms: number;
  /** The planned scales, coarsest first, and their iterations. */
  scales: { width: number; height: number; iterations: number }[];
}
export interface ShutdownMessage { type: 'shutdown'; message: string }
/** A job kept for a client: still waiting or running after its connection dropped, or finished and kept. */
export interface KeptJob {
  jobId: string;
  ref: string;
  note?: string;
  state: 'waiting' | 'running' | 'done';
  /** When done: the result's size, and when it finished (ms since the epoch). */
  width?: number;
  height?: number;
  finishedAt?: number;
}
export interface KeptMessage { type: 'kept'; jobs: KeptJob[] }

export type ServerTextMessage =
  | CapabilitiesMessage | AcceptedMessage | QueueMessage | StartedMessage | ProgressMessage | DoneMessage
  | CancelledMessage | ErrorMessage | StatusMessage | StylesMessage | StyleSavedMessage | PongMessage
  | ShutdownMessage | EstimateMessage | KeptMessage;

// Server -> client, binary frames

export interface PreviewFrameHeader {
  type: 'preview';
  jobId: string;
  iteration: number;
  mime: 'image/png';
  width: number;
  height: number;
}
export interface ResultFrameHeader { type: 'result'; jobId: string; mime: 'image/png'; width: number; height: number }
export interface ThumbnailFrameHeader { type: 'thumbnail'; name: string; mime: 'image/png'; width: number; height: number }
export type ServerBinaryMessage = PreviewFrameHeader | ResultFrameHeader | ThumbnailFrameHeader;

// ---------------------------------------------------------------------------------------------
// Validators

export const CLIENT_TEXT_TYPES = ['hello', 'cancel', 'finish', 'status', 'list_styles', 'ping', 'estimate', 'list_kept', 'fetch_kept', 'discard_kept'] as const;
export const CLIENT_BINARY_TYPES = ['submit', 'save_style'] as const;
export const SERVER_TEXT_TYPES = [
  'capabilities', 'accepted', 'queue', 'started', 'progress', 'done', 'cancelled', 'error', 'status',
  'styles', 'style_saved', 'pong', 'shutdown', 'estimate', 'kept',
] as const;
export const SERVER_BINARY_TYPES = ['preview', 'result', 'thumbnail'] as const;

/** UTF-8 byte length of a string (browser-safe). */
export function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length;
}

/** Parses JSON text into an object with a string `type`; throws bad_json / bad_message. */
export function parseJsonObject(text: string, what: string): Obj & { type: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ProtocolError('bad_json', `${what} is not valid JSON (${(err as Error).message}). Send one JSON object per text frame.`);
  }
  if (!isObj(value)) fail(what, 'a JSON object', value);
  if (typeof value.type !== 'string') fail(`${what}.type`, 'a string naming the message type', value.type);
  return value as Obj & { type: string };
}

function unknownType(type: string, known: readonly string[], where: string): never {
  const binaryHint = (CLIENT_BINARY_TYPES as readonly string[]).includes(type) && where === 'text frame'
    ? ` "${type}" carries image bytes: send it as a binary frame (see protocol/frames.ts).`
    : '';
  throw new ProtocolError(
    'unknown_type',
    `Unknown message type ${JSON.stringify(type.slice(0, 40))} in a ${where}; protocol ${PROTOCOL_VERSION} knows ${known.join(', ')}.${binaryHint}`,
  );
}

/** Validates a client's text frame. Throws ProtocolError with a precise message. */
export function parseClientMessage(text: string): ClientTextMessage {
  const m = parseJsonObject(text, 'message');
  const p = m.type;
  switch (m.type) {
    case 'hello': {
      const protocol = num(m, 'protocol', p, { min: 0, max: 1_000_000, integer: true });
      if (typeof m.token !== 'string' || m.token.trim() === '') {
        throw new ProtocolError('auth_required', 'hello.token is missing: paste the pairing token the companion printed at start-up (also in its token file).');
      }
      const token = str(m, 'token', p, TOKEN);
      const client = optStr(m, 'client', p, { max: 200 });
      const clientId = optStr(m, 'clientId', p, CLIENT_ID);
      return { type: 'hello', protocol, token, ...(client !== undefined && { client }), ...(clientId !== undefined && { clientId }) };
    }
    case 'cancel':
    case 'finish':
      return { type: m.type, jobId: str(m, 'jobId', p, JOB_ID) };
    case 'status':
      return { type: 'status' };
    case 'list_styles': {
      const thumbnails = bool(m, 'thumbnails', p);
      const ref = optStr(m, 'ref', p, REF);
      return { type: 'list_styles', ...(thumbnails !== undefined && { thumbnails }), ...(ref !== undefined && { ref }) };
    }
    case 'ping': {
      const t = optNum(m, 't', p, { min: -Number.MAX_VALUE, max: Number.MAX_VALUE });
      return { type: 'ping', ...(t !== undefined && { t }) };
    }
    case 'estimate': {
      const ref = str(m, 'ref', p, REF);
      const width = num(m, 'width', p, { min: 1, max: 1_000_000, integer: true });
      const height = num(m, 'height', p, { min: 1, max: 1_000_000, integer: true });
      const settings = m.settings === undefined ? undefined : (obj(m.settings, `${p}.settings`) as WireSettings);
      return { type: 'estimate', ref, width, height, ...(settings !== undefined && { settings }) };
    }
    case 'list_kept':
      return { type: 'list_kept' };
    case 'fetch_kept': {
      const hold = m.hold === undefined ? undefined : bool(m, 'hold', p);
      return { type: 'fetch_kept', jobId: str(m, 'jobId', p, JOB_ID), ...(hold && { hold }) };
    }
    case 'discard_kept':
      return { type: m.type, jobId: str(m, 'jobId', p, JOB_ID) };
    default:
      return unknownType(m.type, [...CLIENT_TEXT_TYPES, ...CLIENT_BINARY_TYPES.map((t) => `${t} (binary)`)], 'text frame');
  }
}

/**
 * Validates the JSON header of a client's binary frame against its payload length.
 * Returns the message and the payload split into its images.
 */
export function parseClientBinaryHeader(header: unknown, payloadLength: number): { message: ClientBinaryMessage; parts: { offset: number; length: number }[] } {
  if (!isObj(header) || typeof header.type !== 'string') fail('binary frame header', 'a JSON object with a string "type"', header, 'bad_frame');
  const p = header.type;
  switch (header.type) {
    case 'submit': {
      const ref = str(header, 'ref', p, REF);
      const content = obj(header.content, `${p}.content`);
      const contentBytes = num(content, 'bytes', `${p}.content`, { min: 1, max: MAX_DECLARED_BYTES, integer: true });
      const rawStyles = arr(header, 'styles', p, { min: 1, max: MAX_STYLES_PER_JOB });
      const styles: StyleSource[] = rawStyles.map((s, i) => parseStyleSource(s, `${p}.styles[${i}]`));
      let settings: WireSettings | undefined;
      if (header.settings !== undefined) settings = obj(header.settings, `${p}.settings`) as WireSettings;
      const parts = [{ offset: 0, length: contentBytes }];
      let offset = contentBytes;
      for (const s of styles) {
        if (s.source !== 'upload') continue;
        parts.push({ offset, length: s.bytes });
        offset += s.bytes;
      }
      if (offset !== payloadLength) {
        throw new ProtocolError(
          'bad_frame',
          `submit declares ${offset} bytes of images (content.bytes plus each upload style's bytes) but the frame carries ${payloadLength}: the frame was truncated or the sizes are wrong.`,
        );
      }
      const keep = bool(header, 'keep', p);
      const note = optStr(header, 'note', p, { max: MAX_NOTE_CHARS });
      return {
        message: {
          type: 'submit', ref, content: { bytes: contentBytes }, styles, ...(settings !== undefined && { settings }),
          ...(keep !== undefined && { keep }), ...(note !== undefined && { note }),
        },
        parts,
      };
    }
    case 'save_style': {
      const ref = str(header, 'ref', p, REF);
      const name = str(header, 'name', p, STYLE_NAME);
      const overwrite = bool(header, 'overwrite', p);
      if (payloadLength === 0) throw new ProtocolError('bad_image', 'save_style carries no image bytes: append the image after the header.');
      return { message: { type: 'save_style', ref, name, ...(overwrite !== undefined && { overwrite }) }, parts: [{ offset: 0, length: payloadLength }] };
    }
    default:
      return unknownType(header.type, CLIENT_BINARY_TYPES, 'binary frame');
  }
}

function parseStyleSource(value: unknown, path: string): StyleSource {
  const s = obj(value, path);
  const source = oneOf(s, 'source', path, ['upload', 'library'] as const);
  const weight = optNum(s, 'weight', path, { min: 0, max: 1000 });
  if (source === 'upload') {
    const bytes = num(s, 'bytes', path, { min: 1, max: MAX_DECLARED_BYTES, integer: true });
    return { source, bytes, ...(weight !== undefined && { weight }) };
  }
  const name = str(s, 'name', path, STYLE_NAME);
  return { source, name, ...(weight !== undefined && { weight }) };
}

/** Validates a server's text frame (the plugin's side). Checks the fields a client acts on. */
export function parseServerMessage(text: string): ServerTextMessage {
  const m = parseJsonObject(text, 'message');
  const p = m.type;
  switch (m.type) {
    case 'capabilities':
      num(m, 'protocol', p, { min: 0, max: 1_000_000, integer: true });
      obj(m.backend, `${p}.backend`);
      obj(m.limits, `${p}.limits`);
      obj(m.settings, `${p}.settings`);
      arr(m, 'styles', p, { min: 0, max: 100_000 });
      if (m.preparing !== undefined) num(obj(m.preparing, `${p}.preparing`), 'percent', `${p}.preparing`, { min: 0, max: 100 });
      break;
    case 'accepted':
      str(m, 'ref', p, REF);
      str(m, 'jobId', p, JOB_ID);
      num(m, 'position', p, { min: 0, max: 1_000_000, integer: true });
      break;
    case 'queue':
      num(m, 'length', p, { min: 0, max: 1_000_000, integer: true });
      arr(m, 'jobs', p, { min: 0, max: 1_000_000 });
      break;
    case 'started':
      str(m, 'jobId', p, JOB_ID);
      num(m, 'iterations', p, { min: 0, max: 1_000_000_000, integer: true });
      break;
    case 'progress':
      str(m, 'jobId', p, JOB_ID);
      num(m, 'iteration', p, { min: 0, max: 1_000_000_000, integer: true });
      num(m, 'iterations', p, { min: 0, max: 1_000_000_000, integer: true });
      obj(m.losses, `${p}.losses`);
      break;
    case 'done':
      str(m, 'jobId', p, JOB_ID);
      num(m, 'width', p, { min: 1, max: 1_000_000, integer: true });
      num(m, 'height', p, { min: 1, max: 1_000_000, integer: true });
      break;
    case 'cancelled':
      str(m, 'jobId', p, JOB_ID);
      break;
    case 'error':
      if (!isErrorCode(m.code)) fail(`${p}.code`, 'a known error code', m.code);
      str(m, 'message', p, { max: 10_000 });
      break;
    case 'estimate':
      str(m, 'ref', p, REF);
      num(m, 'ms', p, { min: 0, max: Number.MAX_VALUE });
      arr(m, 'scales', p, { min: 0, max: 1000 });
      break;
    case 'kept':
      arr(m, 'jobs', p, { min: 0, max: 10_000 });
      break;
    case 'styles':
      arr(m, 'styles', p, { min: 0, max: 100_000 });
      optStr(m, 'ref', p, REF);
      break;
    case 'status':
    case 'style_saved':
    case 'pong':
    case 'shutdown':
      break;
    default:
      return unknownType(m.type, SERVER_TEXT_TYPES, 'text frame');
  }
  return m as unknown as ServerTextMessage;
}

/**
 * The plugin's reading of a server text frame: like parseServerMessage, but a newer companion's
 * additions never break a running plugin. A message type this version does not know is null (the
 * caller ignores it); an error code it does not know becomes "internal", keeping the companion's
 * own words and naming the code.
 */
export function readServerMessage(text: string): ServerTextMessage | null {
  const m = parseJsonObject(text, 'message');
  if (!(SERVER_TEXT_TYPES as readonly string[]).includes(m.type)) return null;
  if (m.type === 'error' && !isErrorCode(m.code)) {
    const said = typeof m.message === 'string' ? m.message.slice(0, 10_000) : 'The companion reported an error.';
    const code = typeof m.code === 'string' ? m.code.slice(0, 60) : String(m.code);
    return parseServerMessage(JSON.stringify({ ...m, code: 'internal', message: `${said} (companion error code ${JSON.stringify(code)})` }));
  }
  return parseServerMessage(text);
}

/** Validates the JSON header of a server's binary frame (the plugin's side). */
export function parseServerBinaryHeader(header: unknown): ServerBinaryMessage {
  if (!isObj(header) || typeof header.type !== 'string') fail('binary frame header', 'a JSON object with a string "type"', header, 'bad_frame');
  const p = header.type;
  switch (header.type) {
    case 'preview':
      num(header, 'iteration', p, { min: 0, max: 1_000_000_000, integer: true });
      str(header, 'jobId', p, JOB_ID);
      break;
    case 'result':
      str(header, 'jobId', p, JOB_ID);
      break;
    case 'thumbnail':
      str(header, 'name', p, { max: 64 });
      break;
    default:
      return unknownType(header.type, SERVER_BINARY_TYPES, 'binary frame');
  }
  str(header, 'mime', p, { max: 64 });
  num(header, 'width', p, { min: 1, max: 1_000_000, integer: true });
  num(header, 'height', p, { min: 1, max: 1_000_000, integer: true });
  return header as unknown as ServerBinaryMessage;
}

/** The pairing token as users may type it: case and separators do not matter. */
export function normalizeToken(token: string): string {
  return token.replace(/[\s-]/g, '').toUpperCase();
}
