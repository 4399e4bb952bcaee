/** Words and numbers a designer reads: durations, sizes, and errors in plain language. */
import { HostError } from '../host/host.ts';
import { CompanionError } from './companion-client.ts';

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

const COMPANION_WORDS: Partial<Record<string, string>> = {
  bad_token: 'The companion did not accept the token. Paste the token it printed when it started.',
  auth_required: 'The companion needs the pairing token. Paste it in the token field.',
  too_many_connections: 'Too many Stylize windows are connected to the companion. Close one and try again.',
  queue_full: 'The companion is busy with many other pictures. Try again in a minute.',
  too_many_jobs: 'This window already has the most pictures the companion takes at once. Wait for one to finish.',
  bad_image: 'The companion could not read one of the pictures. Try again, or pick another image.',
  image_too_large: 'A picture is too large for the companion. Choose a smaller output size or style image.',
  frame_too_large: 'The pictures are too large to send. Choose a smaller output size or style image.',
  bad_setting: 'A setting is outside what the companion accepts.',
  unknown_style: 'That style is no longer in the library. Pick another one.',
  style_library_unavailable: 'The companion’s style library is unavailable. Use an image file or a layer as the style.',
  weights_missing: 'The companion is missing its model files. In the Stylize folder run “npm run stylize -- weights”, then restart it.',
  weights_corrupt: 'The companion’s model files are damaged. In the Stylize folder run “npm run stylize -- weights” again, then restart it.',
  backend_unavailable: 'The companion cannot use its compute engine. Run “npm run stylize -- doctor” in the Stylize folder.',
  out_of_memory: 'The companion ran out of memory. Choose a smaller output size, or close other apps.',
  shutting_down: 'The companion is shutting down. Start it again with “npm start”.',
  connection_lost: 'The connection to the companion was lost. It reconnects by itself; run Stylize again when it is back.',
  not_connected: 'Not connected to the companion. Start it with “npm start” in the Stylize folder.',
  cancelled: 'Cancelled.',
  internal: 'Something went wrong inside the companion. Try again; if it keeps happening, restart it.',
};

const HOST_WORDS: Partial<Record<string, string>> = {
  timeout: 'The editor did not answer in time. Close the plugin and open it again.',
  internal: 'Something went wrong in the plugin.',
};

export function explainError(err: unknown): Explained {
  if (err instanceof CompanionError) {
    const words = COMPANION_WORDS[err.code];
    if (!words) return { title: err.message };
    // The companion's own message says which setting or picture; keep it as the detail.
    return words === err.message || err.code === 'cancelled' ? { title: words } : { title: words, detail: err.message };
  }
  if (err instanceof HostError) {
    // Host messages are written for designers already.
    const words = HOST_WORDS[err.code];
    return words ? { title: words, detail: err.message } : { title: err.message };
  }
  return { title: 'Something went wrong.', detail: err instanceof Error ? err.message : String(err) };
}
