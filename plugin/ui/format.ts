/** Words and numbers a designer reads: durations, sizes, and errors in plain language. */
import { EditorError } from '../editor/editor.ts';
import type { ErrorCode } from '../../protocol/errors.ts';
import { CompanionError, type ClientErrorCode } from './companion-client.ts';

/** "12 s", "3 min 05 s", "1 h 02 min". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

export function formatSize(width: number, height: number): string {
  return `${Math.round(width)} × ${Math.round(height)}`;
}

export interface Explained {
  /** One sentence: what happened and what to do. */
  title: string;
  /** The technical detail, shown small. */
  detail?: string;
}

/**
 * One sentence per code the companion can send: keyed by the protocol's ErrorCode, so a new code
 * without a sentence fails tsc. A code from a newer companion arrives as "internal" (readServerMessage).
 */
const COMPANION_WORDS: Record<ErrorCode, string> = {
  auth_required: 'The companion needs the pairing token. Paste it in the token field.',
  bad_token: 'The companion did not accept the token. Paste the token it printed when it started.',
  auth_timeout: 'The plugin took too long to pair with the companion. It reconnects by itself.',
  protocol_mismatch: 'The plugin and the companion are different versions. Update both to the same version.',
  too_many_connections: 'Too many Stylize windows are connected to the companion. Close one and try again.',
  idle_timeout: 'The companion closed an idle connection. The plugin reconnects by itself.',
  shutting_down: 'The companion is shutting down. Start it again with “npm start”.',
  too_many_errors: 'The companion stopped listening to this window after too many bad requests. Close the plugin and open it again.',
  bad_json: 'The plugin sent the companion a message it could not read. Update the plugin and the companion to the same version.',
  bad_message: 'The plugin sent the companion a request it did not accept.',
  unknown_type: 'The companion does not know this request. Update the plugin and the companion to the same version.',
  message_too_large: 'A request was too large for the companion. Choose fewer or smaller settings.',
  frame_too_large: 'The pictures are too large to send. Choose a smaller output size or style image.',
  bad_frame: 'The companion could not read the pictures the plugin sent. Try again.',
  bad_image: 'The companion could not read one of the pictures. Try again, or pick another image.',
  image_too_large: 'A picture is too large for the companion. Choose a smaller output size or style image.',
  bad_setting: 'A setting is outside what the companion accepts.',
  queue_full: 'The companion is busy with many other pictures. Try again in a minute.',
  too_many_jobs: 'This window already has the most pictures the companion takes at once. Wait for one to finish.',
  unknown_job: 'The companion no longer has that picture: it finished or was cancelled.',
  preparing: 'The companion is still getting ready (downloading its model). Try again in a moment.',
  unknown_style: 'That style is no longer in the library. Pick another one.',
  bad_style_name: 'That name cannot be a style name. Use letters, digits, spaces, “_”, “.” or “-”.',
  style_exists: 'The library already has a style with that name. Choose another name.',
  style_library_unavailable: 'The companion’s style library is unavailable. Use an image file or a layer as the style.',
  style_builtin: 'That is a built-in style’s name; built-ins cannot be replaced. Choose another name.',
  weights_missing: 'The companion is missing its model files. In the Stylize folder run “npm run stylize -- weights”, then restart it.',
  weights_corrupt: 'The companion’s model files are damaged. In the Stylize folder run “npm run stylize -- weights” again, then restart it.',
  backend_unavailable: 'The companion cannot use its compute engine. Run “npm run stylize -- doctor” in the Stylize folder.',
  out_of_memory: 'The companion ran out of memory. Choose a smaller output size, or close other apps.',
  internal: 'Something went wrong inside the companion. Try again; if it keeps happening, restart it.',
};

/** The client's own codes: what happened to the connection or the request on this side. */
const CLIENT_WORDS: Record<Exclude<ClientErrorCode, ErrorCode>, string> = {
  connection_lost: 'The connection to the companion was lost. It reconnects by itself; run Stylize again when it is back.',
  not_connected: 'Not connected to the companion. Start it with “npm start” in the Stylize folder.',
  cancelled: 'Cancelled.',
  bad_reply: 'The companion sent something this plugin does not understand. Update the plugin and the companion to the same version.',
};

const GENERIC = 'Something went wrong.';

const has = (table: object, key: string): boolean => Object.prototype.hasOwnProperty.call(table, key);

/** The sentence for a client error's code; a code no table knows (never from a typed path) gets the generic one. */
function companionWords(code: string): string | undefined {
  return has(COMPANION_WORDS, code) ? COMPANION_WORDS[code as ErrorCode]
    : has(CLIENT_WORDS, code) ? CLIENT_WORDS[code as keyof typeof CLIENT_WORDS] : undefined;
}

const HOST_WORDS: Partial<Record<string, string>> = {
  timeout: 'The editor did not answer in time. Close the plugin and open it again.',
  internal: 'Something went wrong in the plugin.',
};

export function explainError(err: unknown): Explained {
  if (err instanceof CompanionError) {
    const words = companionWords(err.code);
    if (!words) return { title: GENERIC, detail: err.message };
    // The companion's own message says which setting or picture; keep it as the detail.
    return words === err.message || err.code === 'cancelled' ? { title: words } : { title: words, detail: err.message };
  }
  if (err instanceof EditorError) {
    // Editor messages are written for designers already.
    const words = HOST_WORDS[err.code];
    return words ? { title: words, detail: err.message } : { title: err.message };
  }
  return { title: GENERIC, detail: err instanceof Error ? err.message : String(err) };
}
