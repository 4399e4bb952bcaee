/**
 * Binary frame layout, shared by the plugin and the companion (pure TypeScript, no Node imports):
 *
 *   offset 0   uint32, big-endian: N = byte length of the header
 *   offset 4   N bytes: UTF-8 JSON header, a message object with a `type` (see messages.ts)
 *   offset 4+N the payload: raw image bytes (PNG, JPEG, WebP...), several images back to back when
 *              the header lists their lengths (submit: content.bytes, then each upload style's bytes)
 *
 * One frame is one complete message, so a job submission is atomic: there is no half-uploaded state.
 */
import { ProtocolError } from './errors.ts';
import {
  parseClientBinaryHeader, parseServerBinaryHeader,
  type ClientBinaryMessage, type SaveStyleMessage, type ServerBinaryMessage, type StyleSource, type WireSettings,
} from './messages.ts';

/** Largest JSON header a frame may carry. */
export const MAX_FRAME_HEADER_BYTES = 16 * 1024;

export interface DecodedFrame {
  header: unknown;
  payload: Uint8Array;
}

const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** Builds a frame from a header object and zero or more payload parts (concatenated in order). */
export function encodeFrame(header: object, parts: Uint8Array | Uint8Array[] = []): Uint8Array {
  const list = Array.isArray(parts) ? parts : [parts];
  const head = encoder.encode(JSON.stringify(header));
  if (head.length > MAX_FRAME_HEADER_BYTES) throw new ProtocolError('bad_frame', `Frame header is ${head.length} bytes; the limit is ${MAX_FRAME_HEADER_BYTES}.`);
  const total = 4 + head.length + list.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  new DataView(out.buffer).setUint32(0, head.length, false);
  out.set(head, 4);
  let offset = 4 + head.length;
  for (const p of list) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Splits a frame into its parsed JSON header and its payload (a view, not a copy). */
export function decodeFrame(frame: Uint8Array): DecodedFrame {
  if (frame.length < 4) throw new ProtocolError('bad_frame', `Binary frame of ${frame.length} bytes is too short: it must start with a 4-byte header length.`);
  const headerLength = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(0, false);
  if (headerLength === 0 || headerLength > MAX_FRAME_HEADER_BYTES) {
    throw new ProtocolError('bad_frame', `Binary frame declares a ${headerLength}-byte header; it must be 1..${MAX_FRAME_HEADER_BYTES} bytes (4-byte big-endian length, then JSON).`);
  }
  if (4 + headerLength > frame.length) {
    throw new ProtocolError('bad_frame', `Binary frame declares a ${headerLength}-byte header but only ${frame.length - 4} bytes follow the length: the frame is truncated.`);
  }
  let header: unknown;
  try {
    header = JSON.parse(decoder.decode(frame.subarray(4, 4 + headerLength)));
  } catch (err) {
    throw new ProtocolError('bad_frame', `Binary frame header is not valid UTF-8 JSON (${(err as Error).message}).`);
  }
  return { header, payload: frame.subarray(4 + headerLength) };
}

// ---- Client side: building the frames a plugin sends -------------------------------------------

export type SubmitStyle =
  | { source: 'upload'; image: Uint8Array; weight?: number }
  | { source: 'library'; name: string; weight?: number };

/** Builds a `submit` frame: content bytes, then the uploaded styles' bytes, sizes in the header. */
export function encodeSubmit(opts: { ref: string; content: Uint8Array; styles: SubmitStyle[]; settings?: WireSettings; keep?: boolean; note?: string }): Uint8Array {
  const styles: StyleSource[] = opts.styles.map((s) =>
    s.source === 'upload'
      ? { source: 'upload', bytes: s.image.length, ...(s.weight !== undefined && { weight: s.weight }) }
      : { source: 'library', name: s.name, ...(s.weight !== undefined && { weight: s.weight }) });
  const uploads = opts.styles.flatMap((s) => (s.source === 'upload' ? [s.image] : []));
  const header = {
    type: 'submit',
    ref: opts.ref,
    content: { bytes: opts.content.length },
    styles,
    ...(opts.settings !== undefined && { settings: opts.settings }),
    ...(opts.keep !== undefined && { keep: opts.keep }),
    ...(opts.note !== undefined && { note: opts.note }),
  };
  return encodeFrame(header, [opts.content, ...uploads]);
}

/** Builds a `save_style` frame. */
export function encodeSaveStyle(message: Omit<SaveStyleMessage, 'type'>, image: Uint8Array): Uint8Array {
  return encodeFrame({ type: 'save_style', ...message }, image);
}

// ---- Server side: reading the frames a client sends --------------------------------------------

export interface ClientFrame {
  message: ClientBinaryMessage;
  /** For submit: [content, ...upload styles in order]; for save_style: [image]. Views into the frame. */
  images: Uint8Array[];
}

/** Decodes and validates a client's binary frame. Throws ProtocolError. */
export function decodeClientFrame(frame: Uint8Array): ClientFrame {
  const { header, payload } = decodeFrame(frame);
  const { message, parts } = parseClientBinaryHeader(header, payload.length);
  return { message, images: parts.map((p) => payload.subarray(p.offset, p.offset + p.length)) };
}

/** Decodes and validates a server's binary frame (the plugin's side). Throws ProtocolError. */
export function decodeServerFrame(frame: Uint8Array): { message: ServerBinaryMessage; payload: Uint8Array } {
  const { header, payload } = decodeFrame(frame);
  return { message: parseServerBinaryHeader(header), payload };
}
