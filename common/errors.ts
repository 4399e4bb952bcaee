/**
 * Errors a user can act on, shared by the engine, the weights and the CLI. `code` is stable (the
 * daemon sends it to the plugin); `message` says what was wrong and what to do.
 */
export type StylizeErrorCode =
  | 'bad_image'          // not decodable, zero-size
  | 'image_too_large'    // over the pixel limit
  | 'bad_setting'        // option out of range / wrong type
  | 'weights_missing'
  | 'weights_corrupt'
  | 'backend_unavailable'
  | 'out_of_memory'
  | 'cancelled'
  | 'internal';

export class StylizeError extends Error {
  readonly code: StylizeErrorCode;
  constructor(code: StylizeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'StylizeError';
  }
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as StylizeError).code === 'cancelled');
}

/**
 * A third-party error as one short clause to embed in our own message: its first line, at most
 * 200 characters (native libraries put whole stack dumps and build logs in their messages).
 */
export function errorSummary(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].slice(0, 200);
}
