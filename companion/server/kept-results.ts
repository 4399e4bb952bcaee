/**
 * Results kept for clients that went away: a job submitted with `keep` by a client with a stable
 * clientId is not cancelled when its connection drops, and when it finishes with nobody listening
 * its result waits here until a connection with the same clientId fetches or discards it. Bounded
 * so a forgotten panel cannot fill the companion's memory: a few per client, a total byte budget,
 * and an age limit; the oldest go first. With a KeptStore they are also on disk and survive a
 * restart of the companion (KeptResults.open); without one (tests of the bounds) in memory only.
 */
import type { DoneMessage, KeptJob } from '../../protocol/messages.ts';
import type { KeptStore } from './kept-store.ts';

export interface KeptResult {
  clientId: string;
  jobId: string;
  ref: string;
  note?: string;
  png: Uint8Array;
  done: DoneMessage;
  finishedAt: number;
}

export interface KeptLimits {
  perClient: number;
  totalBytes: number;
  maxAgeMs: number;
}

export const DEFAULT_KEPT_LIMITS: KeptLimits = { perClient: 8, totalBytes: 256 * 1024 * 1024, maxAgeMs: 24 * 60 * 60 * 1000 };

export class KeptResults {
  private readonly results: KeptResult[] = []; // oldest first

  constructor(
    private readonly limits: KeptLimits = DEFAULT_KEPT_LIMITS,
    private readonly now: () => number = Date.now,
    private readonly store?: KeptStore,
  ) {}

  /** The results saved in `store` by an earlier run, within the limits (the rest are removed). */
  static async open(store: KeptStore, limits: KeptLimits = DEFAULT_KEPT_LIMITS, now: () => number = Date.now): Promise<KeptResults> {
    const kept = new KeptResults(limits, now, store);
    for (const r of await store.load()) kept.results.push(r);
    kept.enforce();
    return kept;
  }

  /** Keeps a result; returns the ones dropped to stay within the limits. */
  add(result: KeptResult): KeptResult[] {
    this.results.push(result);
    void this.store?.save(result);
    return this.enforce();
  }

  list(clientId: string): KeptJob[] {
    this.expire();
    return this.results.filter((r) => r.clientId === clientId).map((r) => ({
      jobId: r.jobId, ref: r.ref, ...(r.note !== undefined && { note: r.note }), state: 'done' as const,
      width: r.done.width, height: r.done.height, finishedAt: r.finishedAt,
    }));
  }

  /** The result, still kept; undefined when this client has no such result. */
  get(clientId: string, jobId: string): KeptResult | undefined {
    this.expire();
    return this.results.find((x) => x.clientId === clientId && x.jobId === jobId);
  }

  /** The result, forgotten here; undefined when this client has no such result. */
  take(clientId: string, jobId: string): KeptResult | undefined {
    this.expire();
    const r = this.results.find((x) => x.clientId === clientId && x.jobId === jobId);
    if (r) this.remove(r);
    return r;
  }

  get size(): number {
    return this.results.length;
  }

  /** The highest job counter among the kept results (new job ids start above it). */
  get highestJobNumber(): number {
    return this.results.reduce((n, r) => Math.max(n, Number.parseInt(r.jobId, 10) || 0), 0);
  }

  /** Resolves when the store has every change so far on disk. */
  flush(): Promise<void> {
    return this.store?.flush() ?? Promise.resolve();
  }

  /** Age, per-client and byte limits; the oldest go first. Returns what was dropped. */
  private enforce(): KeptResult[] {
    const dropped = this.expire();
    for (const clientId of new Set(this.results.map((r) => r.clientId))) {
      const mine = this.results.filter((r) => r.clientId === clientId);
      for (const r of mine.slice(0, Math.max(0, mine.length - this.limits.perClient))) dropped.push(...this.remove(r));
    }
    let bytes = this.results.reduce((n, r) => n + r.png.length, 0);
    while (bytes > this.limits.totalBytes && this.results.length > 1) {
      const oldest = this.results[0];
      bytes -= oldest.png.length;
      dropped.push(...this.remove(oldest));
    }
    return dropped;
  }

  private expire(): KeptResult[] {
    const cutoff = this.now() - this.limits.maxAgeMs;
    return this.results.filter((r) => r.finishedAt < cutoff).flatMap((r) => this.remove(r));
  }

  private remove(r: KeptResult): KeptResult[] {
    const i = this.results.indexOf(r);
    if (i < 0) return [];
    this.results.splice(i, 1);
    void this.store?.remove(r.jobId);
    return [r];
  }
}
