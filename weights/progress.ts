/** A download's progress for a person: a bar on a terminal, one plain line per finished file elsewhere (logs, CI). */
import cliProgress from 'cli-progress';
import type { DownloadProgress } from './download.ts';
import { PINNED_FILES } from './sources.ts';

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

export function progressReporter(): { onProgress: (p: DownloadProgress) => void; stop: () => void } {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: 'VGG-19 weights [{bar}] {percentage}% | {done}/{totalMb} MB | {file}',
        stream: process.stderr,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      onProgress: (p) => {
        const total = p.totalBytes ?? 0;
        const payload = { done: mb(p.doneBytes), totalMb: mb(total), file: p.file };
        if (!started) {
          bar.start(total, p.doneBytes, payload);
          started = true;
        } else bar.update(p.doneBytes, payload);
      },
      stop: () => {
        if (started) bar.stop();
      },
    };
  }
  const finished = new Set<string>();
  return {
    onProgress: (p) => {
      if (p.fileTotal !== undefined && p.fileBytes === p.fileTotal && !finished.has(p.file)) {
        finished.add(p.file);
        const pct = p.totalBytes ? Math.floor((100 * p.doneBytes) / p.totalBytes) : 0;
        process.stderr.write(`[${String(pct).padStart(3)}%] ${p.file} (${finished.size}/${PINNED_FILES.length})\n`);
      }
    },
    stop: () => {},
  };
}

