/**
 * Gets the VGG-19 weights for a companion that starts without them: downloads them (the pinned,
 * checksummed, resumable downloader) while the daemon already listens, and keeps retrying with a
 * growing delay when the network or the server fails. The daemon shows `preparing` meanwhile.
 */
import { StylizeError, errorSummary } from '../../common/errors.ts';
import { downloadWeights, sleep, type DownloadProgress } from '../../weights/download.ts';
import { WEIGHTS_DIR_ENV } from '../../weights/locate.ts';
import type { PreparingInfo } from '../../protocol/messages.ts';
import type { Logger } from './log.ts';

/** How to get the weights by hand; every failure message ends with it. */
export const MANUAL_WEIGHTS_HINT = `To do it by hand: run \`npx stylize weights\`, or set ${WEIGHTS_DIR_ENV} to a folder that holds the weights.`;

export interface PreparationOptions {
  /** Folder the weights go to (the download cache). */
  dest: string;
  /** Folder URL holding model.json; default STYLIZE_WEIGHTS_URL, else the pinned commit. */
  baseUrl?: string;
  /** Wait before the first retry after a failed download; doubled each time up to maxRetryMs. */
  firstRetryMs?: number;
  maxRetryMs?: number;
  /** Byte-level progress (the terminal's bar). */
  onProgress?: (p: DownloadProgress) => void;
  log: Logger;
}

export class WeightsPreparation {
  private percent = 0;
  private error?: string;
  private retryAt?: number;
  private readonly controller = new AbortController();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly opts: PreparationOptions) {}

  /** What `capabilities.preparing` and /health say now. */
  info(): PreparingInfo {
    return {
      percent: this.percent,
      ...(this.error !== undefined && { error: this.error }),
      ...(this.retryAt !== undefined && { retryInMs: Math.max(0, this.retryAt - Date.now()) }),
    };
  }

  /** Called when the whole percentage or the error changes. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  /** Stops downloading; run() then rejects with code 'cancelled' (the .part files stay for next time). */
  abort(): void {
    this.controller.abort();
  }

  /** Downloads until the weights are complete and verified; retries forever unless aborted. Returns their folder. */
  async run(): Promise<string> {
    const first = this.opts.firstRetryMs ?? 5000;
    const max = this.opts.maxRetryMs ?? 5 * 60_000;
    const signal = this.controller.signal;
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await downloadWeights({
          dest: this.opts.dest,
          baseUrl: this.opts.baseUrl,
          signal,
          // The daemon retries by itself below, so one quick extra try per file is enough here.
          retries: 1,
          retryDelayMs: 1000,
          onProgress: (p) => this.progress(p),
        });
        this.error = undefined;
        this.retryAt = undefined;
        this.percent = 100;
        this.changed();
        return result.dir;
      } catch (err) {
        if (signal.aborted || (err instanceof StylizeError && err.code === 'cancelled')) {
          throw new StylizeError('cancelled', 'The weights download was stopped; the next start resumes it.');
        }
        if (err instanceof StylizeError && err.code === 'bad_setting') throw err; // a malformed URL never heals
        const delay = Math.min(max, first * 2 ** attempt);
        const reason = errorSummary(err);
        this.error = `Could not download the style model: ${reason} Retrying in ${Math.ceil(delay / 1000)} s. ${MANUAL_WEIGHTS_HINT}`;
        this.retryAt = Date.now() + delay;
        this.opts.log.warn(this.error);
        this.changed();
        await sleep(delay, signal).catch(() => undefined);
        this.retryAt = undefined;
      }
    }
  }

  private progress(p: DownloadProgress): void {
    this.opts.onProgress?.(p);
    const percent = p.totalBytes ? Math.min(99, Math.floor((100 * p.doneBytes) / p.totalBytes)) : 0;
    if (percent === this.percent && this.error === undefined) return;
    // Bytes flowing again: the last failure is over.
    this.percent = percent;
    this.error = undefined;
    this.changed();
  }
}
