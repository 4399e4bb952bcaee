/**
 * The Editor for Photopea: the plugin page runs in a Photopea panel and drives Photopea through its
 * Live Messaging (PhotopeaBridge). Photopea has no selection events and no per-layer export, so:
 * the active layer is polled; a layer is exported by hiding the others and saving the canvas
 * (scripts.ts), then cut out here; a result is opened into the document as a layer (app.open with
 * asSmart) and moved onto the source's bounds. Layers are named by Photopea's layer id.
 */
import {
  EditorError, type Bounds, type Editor, type EditorErrorCode, type EditorTraits, type LayerPixels, type LayerSummary,
  type PlaceOutcome, type PlaceRequest, type SelectionSnapshot,
} from '../editor/editor.ts';
import { pngSize } from '../editor/png.ts';
import type { PluginSettings } from '../editor/settings.ts';
import type { PhotopeaBridge } from './bridge.ts';
import { clipToCanvas, cropLayer, opaqueBox, pngDataUrl, resizePng } from './image.ts';
import { exportScript, openScript, placedScript, selectionScript } from './scripts.ts';
import type { PageSettingsStore } from './settings-store.ts';

export const PHOTOPEA_TRAITS: Partial<EditorTraits> = {
  multiSelect: false,
  selectHint: 'Pick a layer in Photopea’s Layers panel.',
  emptySelection: 'Open a document in Photopea and pick a layer in its Layers panel to stylize it.',
  replaceLabel: 'Replace the layer (the original is kept, hidden)',
  replacedStatus: 'Replaced the layer (the original is kept, hidden)',
  replaceHint: 'replaces the layer',
  portEditable: false,
};

export const NOT_IN_PHOTOPEA =
  'This page is the Stylize plugin for Photopea and works inside Photopea only. Add it to Photopea as a plugin ' +
  '(the companion serves its settings at /photopea/plugin.json; see the README), then open it from Photopea’s side bar.';

/** Photopea's layer id as the plugin's layer id ("12"); null for anything else. */
export function parseLayerId(id: string): number | null {
  return /^\d{1,15}$/.test(id) ? Number(id) : null;
}

export function resultLayerName(sourceName: string, styleName: string): string {
  return styleName ? `${sourceName} · ${styleName}` : `${sourceName} · stylized`;
}

interface SelectionReply {
  doc: { name: string; width: number; height: number } | null;
  layer?: { id: string | null; name: string; group: boolean; visible: boolean; bounds: [number, number, number, number] | null; selection: boolean };
}

interface ScriptError { error: EditorErrorCode; message: string }

function parseReply<T>(value: string, what: string): T {
  let data: unknown;
  try {
    data = JSON.parse(value);
  } catch {
    throw new EditorError('internal', `Photopea answered ${what} with something the plugin does not understand: ${value.slice(0, 120)}`);
  }
  if (typeof data !== 'object' || data === null) throw new EditorError('internal', `Photopea answered ${what} with ${value.slice(0, 120)}.`);
  const err = data as Partial<ScriptError>;
  if (typeof err.error === 'string') throw new EditorError(err.error, String(err.message ?? 'Photopea refused.'));
  return data as T;
}

function boundsOf(b: readonly number[]): Bounds {
  return { x: b[0], y: b[1], width: b[2] - b[0], height: b[3] - b[1] };
}

export interface PhotopeaEditorOptions {
  bridge: PhotopeaBridge;
  settings: PageSettingsStore;
  /** False when the page is not inside a frame (opened on its own): every call explains where it belongs. */
  framed?: boolean;
  /** How often the active layer is read (ms); Photopea sends no selection events. */
  pollMs?: number;
  /** How long one read of the active layer may take (ms): it is small, so seconds, not the export's limit. */
  pollTimeoutMs?: number;
  /** How long a result's picture may take to land after app.open (ms); default 30 s. */
  landingTimeoutMs?: number;
}

/** How often the plugin looks whether an opened picture has landed (ms). */
const LANDING_POLL_MS = 200;

export class PhotopeaEditor implements Editor {
  readonly kind = 'photopea';
  readonly traits = PHOTOPEA_TRAITS;
  private readonly bridge: PhotopeaBridge;
  private readonly store: PageSettingsStore;
  private readonly framed: boolean;
  private readonly pollMs: number;
  private readonly pollTimeoutMs: number;
  private readonly landingTimeoutMs: number;
  /** Layer sizes seen without a selection: while one is active, Photopea reports its bounds instead. */
  private readonly sizes = new Map<string, Bounds>();
  private readonly listeners = new Set<(selection: SelectionSnapshot) => void>();
  private snapshot: SelectionSnapshot = { seq: 0, layers: [] };
  private lastReply: string | null = null;
  private pollTimer: ReturnType<typeof setTimeout> | null = null;
  private polling = false;
  private disposed = false;
  /** Placing takes several scripts that rely on the active layer; one placement at a time. */
  private placing: Promise<unknown> = Promise.resolve();

  constructor(options: PhotopeaEditorOptions) {
    this.bridge = options.bridge;
    this.store = options.settings;
    this.framed = options.framed ?? true;
    this.pollMs = options.pollMs ?? 1000;
    this.pollTimeoutMs = options.pollTimeoutMs ?? 5000;
    this.landingTimeoutMs = options.landingTimeoutMs ?? 30_000;
  }

  private requireFrame(): void {
    if (!this.framed) throw new EditorError('unsupported', NOT_IN_PHOTOPEA);
  }

  // ---- Selection -------------------------------------------------------------------------------

  private summarize(reply: SelectionReply): LayerSummary[] {
    const doc = reply.doc;
    const l = reply.layer;
    if (!doc || !l) return [];
    if (l.id === null) {
      return [{ id: '', name: l.name, type: 'LAYER', width: 0, height: 0, canReplace: false,
        problem: 'This version of Photopea gives its layers no id, which the plugin needs to find the layer again. Update Photopea, or report this.' }];
    }
    if (l.bounds) this.sizes.set(l.id, boundsOf(l.bounds));
    // With a selection active the layer's own bounds cannot be read without touching the selection;
    // the last size seen is shown, and the export puts the selection aside to read the real one.
    const b = this.sizes.get(l.id) ?? null;
    const summary: LayerSummary = {
      id: l.id,
      name: l.name,
      type: l.group ? 'GROUP' : 'LAYER',
      width: b?.width ?? 0,
      height: b?.height ?? 0,
      canReplace: true,
    };
    if (!l.visible) summary.problem = `“${l.name}” is hidden. Show it (eye icon in the Layers panel) to stylize it.`;
    else if (b && !(b.width >= 1 && b.height >= 1)) summary.problem = `“${l.name}” has no pixels. Pick a layer with content.`;
    else if (b && !clipToCanvas(b, doc.width, doc.height)) summary.problem = `“${l.name}” lies outside the canvas. Move it onto the canvas to stylize it.`;
    return [summary];
  }

  /** Reads the active layer; tells the listeners when it changed. */
  private async readSelection(): Promise<SelectionSnapshot> {
    const { value } = await this.bridge.run(selectionScript(), { what: 'reading the active layer', timeoutMs: this.pollTimeoutMs });
    if (value !== this.lastReply) {
      const layers = this.summarize(parseReply<SelectionReply>(value, 'reading the active layer'));
      this.lastReply = value;
      this.snapshot = { seq: this.snapshot.seq + 1, layers };
      for (const listener of this.listeners) listener(this.snapshot);
    }
    return this.snapshot;
  }

  async getSelection(): Promise<SelectionSnapshot> {
    this.requireFrame();
    return this.readSelection();
  }

  onSelectionChange(listener: (selection: SelectionSnapshot) => void): () => void {
    this.listeners.add(listener);
    this.schedulePoll();
    return () => this.listeners.delete(listener);
  }

  private schedulePoll(): void {
    if (!this.framed || this.disposed || this.pollTimer !== null || this.polling || this.listeners.size === 0) return;
    this.pollTimer = setTimeout(() => {
      this.pollTimer = null;
      this.polling = true;
      // A failed read keeps the last selection; the next one tries again.
      this.readSelection().catch(() => {}).finally(() => {
        this.polling = false;
        this.schedulePoll();
      });
    }, this.pollMs);
  }

  // ---- Export ----------------------------------------------------------------------------------

  async exportLayer(id: string, maxSide: number): Promise<LayerPixels> {
    this.requireFrame();
    if (!Number.isFinite(maxSide) || maxSide < 1) throw new EditorError('bad_request', `The export size must be at least 1 px; got ${maxSide}.`);
    const layer = parseLayerId(id);
    if (layer === null) throw new EditorError('bad_request', `“${id}” is not a Photopea layer id of this plugin.`);
    const run = await this.bridge.run(exportScript(layer), { what: 'reading the layer' });
    const reply = parseReply<{ id: string; name: string; bounds: number[]; doc: [number, number] }>(run.value, 'reading the layer');
    const canvas = run.buffers[run.buffers.length - 1];
    if (!canvas) throw new EditorError('export_failed', `Photopea did not send the pixels of “${reply.name}”. Try again.`);
    const box = clipToCanvas(boundsOf(reply.bounds), reply.doc[0], reply.doc[1]);
    if (!box) throw new EditorError('unsupported', `“${reply.name}” lies outside the canvas. Move it onto the canvas to stylize it.`);
    let cut: { png: Uint8Array; width: number; height: number };
    try {
      cut = await cropLayer(canvas, reply.doc[0], reply.doc[1], box, maxSide);
    } catch (err) {
      throw new EditorError('export_failed', `The pixels Photopea sent for “${reply.name}” could not be read: ${err instanceof Error ? err.message : String(err)}.`);
    }
    return {
      id: reply.id,
      name: reply.name,
      png: cut.png,
      pixelWidth: cut.width,
      pixelHeight: cut.height,
      bounds: box,
    };
  }

  // ---- Place -----------------------------------------------------------------------------------

  placeResult(request: PlaceRequest): Promise<PlaceOutcome> {
    const run = this.placing.then(() => this.place(request));
    this.placing = run.catch(() => {});
    return run;
  }

  private async place(request: PlaceRequest): Promise<PlaceOutcome> {
    this.requireFrame();
    if (!(request.png instanceof Uint8Array) || !pngSize(request.png)) {
      throw new EditorError('bad_request', 'The result is not a PNG picture; the companion sent something unexpected.');
    }
    const b = request.bounds;
    const target = { x: Math.round(b.x), y: Math.round(b.y), width: Math.max(1, Math.round(b.width)), height: Math.max(1, Math.round(b.height)) };
    const sourceId = parseLayerId(request.sourceId);

    let png: Uint8Array;
    let opaque: [number, number, number, number] | null;
    try {
      // Photopea gets the picture at the layer's own pixel size, so nothing needs scaling there.
      png = await resizePng(request.png, target.width, target.height);
      // Photopea's bounds cover only opaque pixels: the script moves those onto their place.
      opaque = await opaqueBox(png);
    } catch (err) {
      throw new EditorError('place_failed', `The result could not be prepared for Photopea: ${err instanceof Error ? err.message : String(err)}.`);
    }
    if (!opaque) throw new EditorError('place_failed', 'The result is fully transparent, so there is nothing to add. Try other settings or another style.');
    const newName = resultLayerName(request.sourceName, request.styleName);
    const opened = parseReply<{ before: string[] }>((await this.bridge.run(
      openScript({ sourceId, dataUrl: pngDataUrl(png) }), { what: 'adding the result' })).value, 'adding the result');
    // The picture lands when Photopea has loaded it, which may be after the script above ended.
    const finish = placedScript({ before: opened.before, sourceId, x: target.x, y: target.y, opaque, newName, hide: request.mode === 'replace' });
    const waitUntil = Date.now() + this.landingTimeoutMs;
    let placed: { pending?: boolean; id: string | null; found: boolean; bounds: number[] | null; hidden: boolean };
    for (;;) {
      placed = parseReply<typeof placed>((await this.bridge.run(finish, { what: 'placing the result' })).value, 'placing the result');
      if (!placed.pending) break;
      if (Date.now() >= waitUntil) {
        throw new EditorError('place_failed', `Photopea did not add the result picture within ${Math.round(this.landingTimeoutMs / 1000)} s. If a new unnamed layer shows up later, that is the result; otherwise click Try again.`);
      }
      await new Promise((r) => setTimeout(r, LANDING_POLL_MS));
    }
    const outcome: PlaceOutcome = { nodeId: placed.id ?? '', mode: placed.hidden ? 'replace' : 'new-layer' };
    if (!placed.found) {
      outcome.note = `“${request.sourceName}” was deleted while it was being stylized; the result was added where it was.`;
    } else if (outcome.mode === 'replace') {
      outcome.note = `“${request.sourceName}” is kept, hidden, under the result; show it again in the Layers panel to compare.`;
    }
    return outcome;
  }

  // ---- Settings and the rest -------------------------------------------------------------------

  async loadSettings(): Promise<PluginSettings> {
    return this.store.load();
  }

  async saveSettings(settings: PluginSettings): Promise<PluginSettings> {
    return this.store.save(settings);
  }

  /** Photopea has no toast for plugins; the plugin window shows every outcome itself. */
  notify(): void {}

  /** Photopea closes plugin panels itself (its own button); nothing to do. */
  close(): void {}

  dispose(): void {
    this.disposed = true;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = null;
    this.listeners.clear();
    this.bridge.dispose();
  }
}
