/**
 * Runs a batch: every selected layer is its own job (export from the editor, submit to the
 * companion, stream progress, place the result through the editor). No DOM: the view renders the
 * JobView list this reports.
 */
import type { Editor, LayerPixels, LayerSummary, PlaceOutcome } from '../editor/editor.ts';
import { MAX_IMAGE_SIDE, type PluginSettings } from '../editor/settings.ts';
import { strengthToWeights } from '../../common/strength.ts';
import type { SubmitStyle } from '../../protocol/frames.ts';
import type { CapabilitiesMessage, WireSettings } from '../../protocol/messages.ts';
import { CompanionError, type CompanionClient, type JobHandle } from './companion-client.ts';
import { explainError, type Explained } from './format.ts';
import type { KeptNote } from './kept-offer.ts';
import type { LossPoint } from './loss-chart.ts';

export type StyleChoice =
  | { kind: 'library'; name: string }
  | { kind: 'file'; name: string; bytes: Uint8Array }
  | { kind: 'layer'; layerId: string; name: string };

export type JobPhase = 'exporting' | 'sending' | 'queued' | 'running' | 'placing' | 'done' | 'cancelled' | 'failed';

export interface JobView {
  id: number;
  layerId: string;
  layerName: string;
  styleName: string;
  phase: JobPhase;
  /** Jobs ahead in the companion's queue while queued. */
  position: number;
  iteration: number;
  iterations: number;
  etaMs: number | null;
  elapsedMs: number;
  losses: LossPoint[];
  /** Latest preview PNG and the ones before it (newest last, a few kept). */
  previews: { png: Uint8Array; iteration: number }[];
  outcome?: PlaceOutcome;
  error?: Explained;
  /** "Keep this" was asked: the companion is stopping the job and sending the picture as it is. */
  keeping?: boolean;
  /** The result is the picture as it was when the job was stopped (Keep this), at full size. */
  kept?: boolean;
  /** The job's picture is live on the canvas (the editor's live layer). */
  live?: boolean;
}

const PREVIEWS_KEPT = 6;
/** About this many previews per job, whatever the iteration count. */
const PREVIEWS_PER_JOB = 30;

export function styleDisplayName(style: StyleChoice): string {
  if (style.kind === 'file') return style.name.replace(/\.[a-z0-9]+$/i, '');
  return style.name;
}

/** The long side the companion will be asked for: the setting, within the companion's and Figma's limits. */
export function effectiveOutputSize(settings: PluginSettings, caps: CapabilitiesMessage | null): number {
  const max = Math.min(MAX_IMAGE_SIDE, caps?.settings.bounds.size?.max ?? MAX_IMAGE_SIDE);
  const min = caps?.settings.bounds.size?.min ?? 16;
  return Math.max(min, Math.min(settings.outputSize, max));
}

/** Plugin settings -> the engine's settings on the wire (see strengthToWeights for the balance). */
export function wireSettings(settings: PluginSettings, caps: CapabilitiesMessage | null): WireSettings {
  const { contentWeight, styleWeight } = strengthToWeights(settings.strength);
  return {
    size: effectiveOutputSize(settings, caps),
    iterations: settings.iterations,
    contentWeight,
    styleWeight,
    optimizer: settings.optimizer,
    // L-BFGS takes its step from the curvature; 1 is its natural scale (Adam's 2 is in pixels).
    ...(settings.optimizer === 'lbfgs' && { learningRate: 1 }),
    preserveColors: settings.preserveColors,
    styleScale: settings.styleScale,
    previewEvery: Math.max(1, Math.ceil(settings.iterations / PREVIEWS_PER_JOB)),
  };
}

interface Running {
  view: JobView;
  handle?: JobHandle;
  cancelRequested: boolean;
  live: LiveState;
}

/** A job's live layer: updates go one at a time, and only the newest waiting picture is sent. */
interface LiveState {
  id?: string;
  /** Deleted by the designer, or the editor could not show it: no more updates. */
  off: boolean;
  /** The job has ended: previews arriving late are not shown. */
  ended: boolean;
  waiting: Uint8Array | null;
  queued: boolean;
  chain: Promise<void>;
}

export class BatchRunner {
  private readonly editor: Editor;
  private readonly client: CompanionClient;
  private readonly onChange: (jobs: JobView[]) => void;
  private readonly jobs: Running[] = [];
  private nextId = 1;
  private active = 0;

  constructor(editor: Editor, client: CompanionClient, onChange: (jobs: JobView[]) => void) {
    this.editor = editor;
    this.client = client;
    this.onChange = onChange;
  }

  get views(): JobView[] {
    return this.jobs.map((j) => j.view);
  }

  get running(): boolean {
    return this.active > 0;
  }

  private changed(): void {
    this.onChange(this.views);
  }

  /** Forgets finished jobs (the view's "Clear"). */
  clearFinished(): void {
    for (let i = this.jobs.length - 1; i >= 0; i--) {
      if (['done', 'cancelled', 'failed'].includes(this.jobs[i].view.phase)) this.jobs.splice(i, 1);
    }
    this.changed();
  }

  /**
   * Stylizes each layer with the style. Resolves when every job has finished, one way or another;
   * failures are reported per job and never stop the others.
   */
  async run(layers: LayerSummary[], style: StyleChoice, settings: PluginSettings): Promise<void> {
    const caps = this.client.capabilities;
    const wire = wireSettings(settings, caps);
    const styleName = styleDisplayName(style);
    const batch: Running[] = layers.map((layer) => ({
      view: {
        id: this.nextId++, layerId: layer.id, layerName: layer.name, styleName, phase: 'exporting', position: 0,
        iteration: 0, iterations: settings.iterations, etaMs: null, elapsedMs: 0, losses: [], previews: [],
      },
      cancelRequested: false,
      live: { off: !this.editor.live, ended: false, waiting: null, queued: false, chain: Promise.resolve() },
    }));
    this.jobs.push(...batch);
    this.active += batch.length;
    this.changed();

    let styleSource: SubmitStyle;
    try {
      styleSource = await this.resolveStyle(style, wire.size as number);
    } catch (err) {
      for (const job of batch) this.finish(job, 'failed', explainError(err));
      return;
    }
    // A few at a time: every job in flight holds its pictures in memory on both sides.
    const limit = Math.max(1, Math.min(3, caps?.limits.maxJobsPerClient ?? 3));
    let next = 0;
    const worker = async () => {
      while (next < batch.length) {
        const job = batch[next++];
        await this.runOne(job, styleSource, wire, settings);
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(limit, batch.length) }, worker));
    } finally {
      // The whole batch (live layers, their updates, the results) becomes one undo step.
      await this.editor.live?.commit().catch(() => undefined /* the editor is gone; closing commits anyway */);
    }
  }

  /** Shows the newest preview in the job's live layer, one update at a time (older waiting ones are skipped). */
  private showLive(job: Running, pixels: LayerPixels, png: Uint8Array): void {
    const live = job.live;
    const editor = this.editor.live;
    if (!editor || live.off || live.ended) return;
    live.waiting = png;
    if (live.queued) return;
    live.queued = true;
    live.chain = live.chain.then(async () => {
      live.queued = false;
      const latest = live.waiting;
      live.waiting = null;
      if (!latest || live.off || live.ended) return;
      try {
        const id = await editor.show({
          ...(live.id !== undefined && { liveId: live.id }),
          sourceId: pixels.id, sourceName: pixels.name, bounds: pixels.bounds, png: latest, styleName: job.view.styleName,
        });
        if (id === null) live.off = true;
        else live.id = id;
      } catch {
        live.off = true; // the live view is a nicety: the result still lands at the end
      }
      job.view.live = live.id !== undefined && !live.off;
      this.changed();
    });
  }

  /** Waits for the live layer's last update; the job's end decides what becomes of it. */
  private async settleLive(job: Running): Promise<string | undefined> {
    job.live.ended = true;
    await job.live.chain;
    return job.live.off ? undefined : job.live.id;
  }

  /** A cancelled or failed job takes its live layer with it. */
  private async dropLive(job: Running): Promise<void> {
    const id = await this.settleLive(job);
    job.view.live = false;
    if (id !== undefined) await this.editor.live?.remove(id).catch(() => undefined /* already gone with the editor */);
  }

  private async end(job: Running, phase: 'cancelled' | 'failed', error?: Explained): Promise<void> {
    await this.dropLive(job);
    this.finish(job, phase, error);
  }

  private async resolveStyle(style: StyleChoice, size: number): Promise<SubmitStyle> {
    if (style.kind === 'library') return { source: 'library', name: style.name };
    if (style.kind === 'file') return { source: 'upload', image: style.bytes };
    const pixels = await this.editor.exportLayer(style.layerId, size);
    return { source: 'upload', image: pixels.png };
  }

  private finish(job: Running, phase: 'done' | 'cancelled' | 'failed', error?: Explained): void {
    if (['done', 'cancelled', 'failed'].includes(job.view.phase)) return;
    job.view.phase = phase;
    job.view.etaMs = null;
    if (error) job.view.error = error;
    this.active--;
    this.changed();
  }

  private async runOne(job: Running, style: SubmitStyle, wire: WireSettings, settings: PluginSettings): Promise<void> {
    const v = job.view;
    if (job.cancelRequested) return this.finish(job, 'cancelled');
    let pixels: LayerPixels;
    try {
      v.phase = 'exporting';
      this.changed();
      pixels = await this.editor.exportLayer(v.layerId, wire.size as number);
    } catch (err) {
      return this.finish(job, 'failed', explainError(err));
    }
    if (job.cancelRequested) return this.finish(job, 'cancelled');
    v.phase = 'sending';
    this.changed();
    // Where the result goes, kept by the companion with the job: if this window is closed meanwhile
    // (Photopea destroys a hidden panel), the reopened one can still place it (kept-offer.ts).
    const note: KeptNote = { sourceId: pixels.id, sourceName: pixels.name, bounds: pixels.bounds, mode: settings.outputMode, styleName: v.styleName };
    const handle = this.client.submit({ content: pixels.png, styles: [style], settings: wire, keep: { note: JSON.stringify(note) } }, {
      onAccepted: (_id, position) => { v.phase = position > 0 ? 'queued' : 'running'; v.position = position; this.changed(); },
      onQueue: (position) => { if (v.phase === 'queued' || v.phase === 'sending') { v.position = position; v.phase = position > 0 ? 'queued' : 'running'; this.changed(); } },
      onStarted: (iterations) => { v.phase = 'running'; v.position = 0; v.iterations = iterations; this.changed(); },
      onProgress: (p) => {
        v.phase = 'running';
        v.iteration = p.iteration;
        v.iterations = p.iterations;
        v.etaMs = p.etaMs;
        v.elapsedMs = p.elapsedMs;
        v.losses.push({ iteration: p.iteration, content: p.losses.content, style: p.losses.style, total: p.losses.total });
        this.changed();
      },
      onPreview: (png, iteration) => {
        v.previews.push({ png, iteration });
        if (v.previews.length > PREVIEWS_KEPT) v.previews.shift();
        this.showLive(job, pixels, png);
        this.changed();
      },
    });
    job.handle = handle;
    if (job.cancelRequested) handle.cancel();
    let result;
    try {
      result = await handle.result;
    } catch (err) {
      if (err instanceof CompanionError && err.code === 'cancelled') {
        // Not the designer's cancel: the companion was stopped under the job. That is a failure, said as such.
        if (!job.cancelRequested) return this.end(job, 'failed', explainError(new CompanionError('shutting_down', err.message)));
        return this.end(job, 'cancelled');
      }
      return this.end(job, 'failed', explainError(err));
    }
    const liveId = await this.settleLive(job);
    v.phase = 'placing';
    v.keeping = false;
    if (result.done.stopped) v.kept = true;
    v.iteration = result.done.stopped ? result.done.iterations : v.iterations;
    v.previews.push({ png: result.png, iteration: v.iteration });
    if (v.previews.length > PREVIEWS_KEPT) v.previews.shift();
    this.changed();
    try {
      v.outcome = await this.editor.placeResult({
        sourceId: pixels.id, sourceName: pixels.name, bounds: pixels.bounds, png: result.png, mode: settings.outputMode, styleName: v.styleName,
        ...(liveId !== undefined && { liveId }),
        // With live layers the batch is sealed as one undo step at its end (run()).
        ...(this.editor.live && { commit: false }),
      });
    } catch (err) {
      return this.end(job, 'failed', explainError(err));
    }
    v.live = false;
    this.finish(job, 'done');
  }

  cancel(id: number): void {
    const job = this.jobs.find((j) => j.view.id === id);
    if (!job || job.cancelRequested) return;
    job.cancelRequested = true;
    if (job.handle) job.handle.cancel();
    this.changed();
  }

  /** "Keep this": stop the job and place its picture as it is now, at full size. */
  keep(id: number): void {
    const job = this.jobs.find((j) => j.view.id === id);
    if (!job || job.cancelRequested || job.view.keeping || job.view.phase !== 'running') return;
    if (!job.handle?.finish()) return;
    job.view.keeping = true;
    this.changed();
  }

  /** Whether "Keep this" can act on the job now: running, with a picture to keep, on a companion that can. */
  canKeep(view: JobView): boolean {
    return view.phase === 'running' && view.previews.length > 0 && !view.keeping && this.client.canFinish
      && !this.jobs.find((j) => j.view === view)?.cancelRequested;
  }

  cancelAll(): void {
    for (const job of this.jobs) this.cancel(job.view.id);
  }
}
