/**
 * The one conversion from anything thrown in the companion to the wire's `error` message. Typed
 * errors keep their code (the engine's mapped by a total table, so a new engine code without a
 * wire code fails tsc); anything else is the companion's own fault and says so. The request's
 * `ref` and the job's `jobId` are given here, never patched onto error objects on the way.
 */
import { ProtocolError, type ErrorCode } from '../../protocol/errors.ts';
import type { ErrorMessage } from '../../protocol/messages.ts';
import { StylizeError, errorSummary, type StylizeErrorCode } from '../../common/errors.ts';
import { EngineFailure } from './job-engine.ts';

/** Each engine code as the wire says it. 'cancelled' is answered as `cancelled`, never as an error. */
const ENGINE_TO_WIRE: Record<StylizeErrorCode, ErrorCode> = {
  bad_image: 'bad_image',
  image_too_large: 'image_too_large',
  bad_setting: 'bad_setting',
  weights_missing: 'weights_missing',
  weights_corrupt: 'weights_corrupt',
  backend_unavailable: 'backend_unavailable',
  out_of_memory: 'out_of_memory',
  cancelled: 'internal',
  internal: 'internal',
};

/** What the error answers: the request (`ref`) and/or the job (`jobId`). */
export interface ErrorContext {
  ref?: string;
  jobId?: string;
}

/** An error with a code a client can act on (its request was refused), not a fault of the companion. */
export function isTypedError(err: unknown): err is ProtocolError | StylizeError | EngineFailure {
  return err instanceof ProtocolError || err instanceof StylizeError || err instanceof EngineFailure;
}

export function wireCode(err: unknown): ErrorCode {
  if (err instanceof ProtocolError) return err.code;
  if (err instanceof StylizeError || err instanceof EngineFailure) return ENGINE_TO_WIRE[err.code];
  return 'internal';
}

export function toWireError(err: unknown, context: ErrorContext = {}): ErrorMessage {
  const message = isTypedError(err)
    ? err.message
    : `The companion hit an internal error (${errorSummary(err)}). The request was dropped; the companion keeps running.`;
  return {
    type: 'error', code: wireCode(err), message,
    ...(context.ref !== undefined && { ref: context.ref }),
    ...(context.jobId !== undefined && { jobId: context.jobId }),
  };
}
