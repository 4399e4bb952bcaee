/**
 * Downloads the pinned weight files. Each file goes to "<name>.part" (resumed with an HTTP Range request
 * when a .part is already there), is checked against its pinned SHA-256, and only then renamed onto its
 * final name, so a final name never holds a half-written or wrong file.
 */
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { StylizeError, isAbortError } from '../common/errors.ts';
import { sha256File } from './hash.ts';
import { weightsCacheDir } from './locate.ts';
import { PINNED_FILES, PINNED_TOTAL_BYTES, weightsBaseUrl, type PinnedFile } from './sources.ts';

export interface DownloadProgress {
  file: string;
  /** Bytes of `file` on disk so far (including a resumed .part). */
  fileBytes: number;
  fileTotal?: number;
  /** Bytes of all files so far: finished or already-present ones plus `fileBytes`. */
  doneBytes: number;
  totalBytes?: number;
}

export interface DownloadOptions {
  /** Target folder; default the download cache (STYLIZE_WEIGHTS_CACHE, else weights/cache/vgg19-keras-uint8). */
  dest?: string;
  /** Folder URL holding model.json; default STYLIZE_WEIGHTS_URL, else the pinned GitHub commit. */
  baseUrl?: string;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  fetchImpl?: typeof fetch;
  /** Extra attempts per file after a network error (each resumes the .part). Default 3. */
  retries?: number;
  /** Wait before the first retry, doubled on each next one. Default 1000 ms. */
  retryDelayMs?: number;
}

export interface DownloadResult {
  dir: string;
  /** Files fetched (fully or by resuming) in this run. */
  downloaded: string[];
  /** Files already present with the right hash. */
  skipped: string[];
}

/** A failed attempt; `retryable` ones (network trouble, 5xx) are tried again from the .part. */
class AttemptError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

async function fileSize(file: string): Promise<number | undefined> {
  try {
    const st = await stat(file);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

/** Waits `ms`; rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function describe(err: unknown): string {
  const e = err as Error & { cause?: { message?: string; code?: string } };
  const cause = e?.cause?.code ?? e?.cause?.message;
  return cause ? `${e.message} (${cause})` : String(e?.message ?? err);
}

/**
 * One HTTP attempt: appends to (or restarts) `part` until it holds `f.size` bytes.
 * Returns when the .part is complete; throws AttemptError otherwise.
 */
async function fetchIntoPart(
  f: PinnedFile,
  url: string,
  part: string,
  fetchImpl: typeof fetch,
  signal: AbortSignal | undefined,
  report: (fileBytes: number) => void,
): Promise<void> {
  let have = (await fileSize(part)) ?? 0;
  if (have > f.size) {
    await unlink(part);
    have = 0;
  }
  if (have === f.size) return; // complete from an earlier run; the caller checks its hash
  report(have);

  let res: Response;
  try {
    res = await fetchImpl(url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {}, signal, redirect: 'follow' });
  } catch (err) {
    if (isAbortError(err) || signal?.aborted) throw err;
    throw new AttemptError(`cannot reach ${url}: ${describe(err)}`, true, { cause: err });
  }

  let append: boolean;
  if (res.status === 206 && have > 0) {
    const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
    if (!m || Number(m[1]) !== have) {
      // The server resumed from somewhere else; the only safe thing is to start over.
      await res.body?.cancel();
      await unlink(part).catch(() => {});
      throw new AttemptError(`the server resumed ${f.name} at the wrong offset`, true);
    }
    append = true;
  } else if (res.status === 200) {
    append = false; // no .part, or a server that ignores Range: start from byte 0
    have = 0;
  } else if (res.status === 416) {
    await res.body?.cancel();
    await unlink(part).catch(() => {});
    throw new AttemptError(`the server refused to resume ${f.name} (416)`, true);
  } else {
    await res.body?.cancel();
    const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
    throw new AttemptError(`the server answered ${res.status} ${res.statusText} for ${url}`, retryable);
  }
  if (!res.body) throw new AttemptError(`the server sent no body for ${url}`, true);

  report(have);
  const fh = await open(part, append ? 'a' : 'w');
  try {
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        if (have + chunk.length > f.size) {
          await fh.close().catch(() => {});
          await unlink(part).catch(() => {});
          throw new StylizeError(
            'weights_corrupt',
            `The server sent more than the ${f.size} bytes expected for ${f.name} (${url}); it is not the pinned file. ` +
              `Check the weights URL (--url or STYLIZE_WEIGHTS_URL).`,
          );
        }
        await fh.write(chunk);
        have += chunk.length;
        report(have);
      }
    } catch (err) {
      if (err instanceof StylizeError || isAbortError(err) || signal?.aborted) throw err;
      throw new AttemptError(`the connection dropped after ${have} of ${f.size} bytes of ${f.name}: ${describe(err)}`, true, {
        cause: err,
      });
    }
    // Flush to disk before the caller renames, so a crash cannot leave a short file under the final name.
    await fh.sync();
  } finally {
    await fh.close().catch(() => {});
  }
  if (have < f.size) {
    throw new AttemptError(`the connection closed after ${have} of ${f.size} bytes of ${f.name}`, true);
  }
}

export async function downloadWeights(opts: DownloadOptions = {}): Promise<DownloadResult> {
  const dir = path.resolve(opts.dest ?? weightsCacheDir());
  const base = weightsBaseUrl(opts.baseUrl);
  const fetchImpl = opts.fetchImpl ?? fetch;
  const retries = opts.retries ?? 3;
  const retryDelayMs = opts.retryDelayMs ?? 1000;
  const { signal, onProgress } = opts;

  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new StylizeError('weights_missing', `Cannot create the weights folder ${dir}: ${(err as Error).message}. Choose another with --dest.`, {
      cause: err,
    });
  }

  const cancelled = (f: PinnedFile) =>
    new StylizeError('cancelled', `Weights download cancelled during ${f.name}; the partial file is kept and the next run resumes it.`);

  const downloaded: string[] = [];
  const skipped: string[] = [];
  let doneBytes = 0;
  // model.json last: locateWeights() accepts a folder once model.json is there, so it should arrive after the shards.
  const order = [...PINNED_FILES.filter((f) => f.name !== 'model.json'), ...PINNED_FILES.filter((f) => f.name === 'model.json')];

  for (const f of order) {
    if (signal?.aborted) throw cancelled(f);
    const final = path.join(dir, f.name);
    const part = `${final}.part`;
    const report = (fileBytes: number) =>
      onProgress?.({ file: f.name, fileBytes, fileTotal: f.size, doneBytes: doneBytes + fileBytes, totalBytes: PINNED_TOTAL_BYTES });

    if ((await fileSize(final)) === f.size && (await sha256File(final)) === f.sha256) {
      skipped.push(f.name);
      report(f.size);
      doneBytes += f.size;
      continue;
    }

    const url = new URL(f.name, base).href;
    // A resumed .part whose hash fails may hold a bad prefix from an earlier run: allow one fresh download.
    let freshRetryLeft = true;
    for (;;) {
      const resumed = ((await fileSize(part)) ?? 0) > 0;
      for (let attempt = 0; ; attempt++) {
        try {
          await fetchIntoPart(f, url, part, fetchImpl, signal, report);
          break;
        } catch (err) {
          if (isAbortError(err) || signal?.aborted) throw cancelled(f);
          if (!(err instanceof AttemptError)) throw err;
          if (!err.retryable || attempt >= retries) {
            const kept = (await fileSize(part)) ?? 0;
            const keptNote =
              kept > 0 ? ` ${kept} of ${f.size} bytes are kept in ${part}; run \`npx stylize weights\` again to resume.` : ' Run `npx stylize weights` again to retry.';
            const urlNote = err.retryable ? '' : ' Check the weights URL (--url or STYLIZE_WEIGHTS_URL): it must be the folder holding model.json.';
            throw new StylizeError(
              'weights_missing',
              `Downloading ${f.name} failed after ${attempt + 1} attempt${attempt ? 's' : ''}: ${err.message}.${urlNote}${keptNote}`,
              { cause: err },
            );
          }
          try {
            await sleep(retryDelayMs * 2 ** attempt, signal);
          } catch {
            throw cancelled(f);
          }
        }
      }
      const actual = await sha256File(part);
      if (actual === f.sha256) break;
      await unlink(part).catch(() => {});
      if (resumed && freshRetryLeft) {
        freshRetryLeft = false;
        continue;
      }
      throw new StylizeError(
        'weights_corrupt',
        `Downloaded ${f.name} from ${url} but its SHA-256 is ${actual}, expected ${f.sha256}. ` +
          `The file was deleted. The server (or a proxy) sent different bytes: check the weights URL ` +
          `(--url or STYLIZE_WEIGHTS_URL) and run \`npx stylize weights\` again.`,
      );
    }
    await rename(part, final); // atomic on the same filesystem: the final name is either absent, old, or complete
    downloaded.push(f.name);
    doneBytes += f.size;
  }
  return { dir, downloaded, skipped };
}
