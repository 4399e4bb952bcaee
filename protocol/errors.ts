/**
 * Error codes the companion sends in `error` messages, and WebSocket close codes.
 * Pure TypeScript (no Node imports): the plugin imports this file too.
 * Codes are stable identifiers a client can switch on; messages are for humans and may change.
 */

export const ERROR_CODES = [
  // Pairing and connection
  'auth_required',       // the first message was not `hello`, or `hello` had no token
  'bad_token',           // `hello` carried a token that does not match the companion's
  'auth_timeout',        // no `hello` within the allowed time after connecting
  'protocol_mismatch',   // client and companion speak different protocol versions
  'too_many_connections',
  'idle_timeout',        // no message for too long while no job was queued or running
  'shutting_down',       // the companion is stopping
  'too_many_errors',     // a client kept sending bad messages; the connection was closed
  // Message format
  'bad_json',            // a text frame that is not valid JSON
  'bad_message',         // valid JSON, but a field is missing or has the wrong type/range
  'unknown_type',        // `type` is not a message this protocol version knows
  'message_too_large',   // a text (JSON) frame over the control-message limit
  'frame_too_large',     // a frame over the companion's frame limit (also close code 1009)
  'bad_frame',           // a binary frame whose header or length layout is wrong
  // Jobs
  'bad_image',           // bytes that are not a complete, decodable image
  'image_too_large',     // an image over the pixel limit
  'bad_setting',         // a setting out of range or of the wrong type
  'queue_full',          // the shared queue (count or bytes) is at its limit
  'too_many_jobs',       // this client already has the maximum number of jobs queued or running
  'unknown_job',         // cancel of a job id this client does not own (or that already finished)
  'preparing',           // the companion is still getting its model (first start); submit again when ready
  // Style library
  'unknown_style',
  'bad_style_name',
  'style_exists',
  'style_library_unavailable',
  'style_builtin',       // save_style under a built-in style's name (built-ins are never replaced)
  // Engine
  'weights_missing',
  'weights_corrupt',
  'backend_unavailable',
  'out_of_memory',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** A protocol-level failure with a stable code; `message` says what was wrong and what to do. */
export class ProtocolError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'ProtocolError';
  }
}

/**
 * WebSocket close codes the companion uses. 1000-1015 are the standard ones (RFC 6455);
 * 4000-4999 are application codes. The close reason repeats the error code (e.g. "bad_token").
 */
export const CLOSE_CODES = {
  normal: 1000,
  goingAway: 1001,         // the companion shuts down
  policy: 1008,            // repeated bad input
  tooBig: 1009,            // frame over the limit (sent by the ws library itself, without a reason)
  tryAgainLater: 1013,     // too many connections
  authFailed: 4001,        // auth_required, bad_token, auth_timeout
  protocolMismatch: 4002,
  idle: 4008,
} as const;

export type CloseCode = (typeof CLOSE_CODES)[keyof typeof CLOSE_CODES];

/**
 * Which close code follows a fatal `error` with this code (the close reason repeats the error code).
 * A fatal error not listed here closes with `policy`. The companion closes by this table; a client
 * reads it to tell "pair again" (authFailed) from "update" (protocolMismatch), "retry" (tryAgainLater,
 * goingAway) and "reconnect when needed" (idle).
 */
export const FATAL_CLOSE_CODES = {
  auth_required: CLOSE_CODES.authFailed,
  bad_token: CLOSE_CODES.authFailed,
  auth_timeout: CLOSE_CODES.authFailed,
  protocol_mismatch: CLOSE_CODES.protocolMismatch,
  too_many_connections: CLOSE_CODES.tryAgainLater,
  shutting_down: CLOSE_CODES.goingAway,
  idle_timeout: CLOSE_CODES.idle,
  too_many_errors: CLOSE_CODES.policy,
  frame_too_large: CLOSE_CODES.tooBig,
} as const satisfies Partial<Record<ErrorCode, CloseCode>>;

/** The close code after a fatal error with `code`. */
export function closeCodeFor(code: ErrorCode): CloseCode {
  return (FATAL_CLOSE_CODES as Partial<Record<ErrorCode, CloseCode>>)[code] ?? CLOSE_CODES.policy;
}
