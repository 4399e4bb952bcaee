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
    await Promise.all(Array.from({ length: Math.min(limit, batch.length) }, worker));
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
        this.changed();
      },
    });
    job.handle = handle;
    if (job.cancelRequested) handle.cancel();
    let result;
    try {
      result = await handle.result;
    } catch (err) {
      if (err instanceof CompanionError && err.code === 'cancelled') return this.finish(job, 'cancelled');
      return this.finish(job, 'failed', explainError(err));
    }
    v.phase = 'placing';
    v.iteration = v.iterations;
    v.previews.push({ png: result.png, iteration: v.iterations });
    if (v.previews.length > PREVIEWS_KEPT) v.previews.shift();
    this.changed();
    try {
      v.outcome = await this.editor.placeResult({
        sourceId: pixels.id, sourceName: pixels.name, bounds: pixels.bounds, png: result.png, mode: settings.outputMode, styleName: v.styleName,
      });
    } catch (err) {
      return this.finish(job, 'failed', explainError(err));
    }
    this.finish(job, 'done');
  }

  cancel(id: number): void {
    const job = this.jobs.find((j) => j.view.id === id);
    if (!job || job.cancelRequested) return;
    job.cancelRequested = true;
    if (job.handle) job.handle.cancel();
    this.changed();
  }

  cancelAll(): void {
    for (const job of this.jobs) this.cancel(job.view.id);
  }
}
