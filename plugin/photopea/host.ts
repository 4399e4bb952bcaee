/**
 * The Host for Photopea: the plugin page runs in a Photopea panel and drives Photopea through its
 * Live Messaging (PhotopeaBridge). Photopea has no selection events and no per-layer export, so:
 * the active layer is polled; a layer is exported by hiding the others and saving the canvas
 * (scripts.ts), then cut out here; a result is opened into the document as a layer (app.open with
 * asSmart) and moved onto the source's bounds.
 */
import {
  HostError, type Bounds, type Host, type HostErrorCode, type HostTraits, type LayerPixels, type LayerSummary,
  type PlaceOutcome, type PlaceRequest, type SelectionSnapshot,
} from '../host/host.ts';
import { pngSize } from '../host/png.ts';
import type { PluginSettings } from '../host/settings.ts';
import type { PhotopeaBridge } from './bridge.ts';
import { clipToCanvas, cropLayer, pngDataUrl, resizePng } from './image.ts';
import { exportScript, openAsLayerScript, preparePlaceScript, selectionScript, settlePlaceScript } from './scripts.ts';
import type { PageSettingsStore } from './settings-store.ts';

export const PHOTOPEA_TRAITS: Partial<HostTraits> = {
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

/** A layer as the plugin names it: its path from the bottom of each layer list, and its name. */
export interface LayerRef {
  path: number[];
  name: string;
}

/** "2.0:Photo" (path 2.0, name Photo); ":Photo" when the path is unknown (found by name). */
export function layerId(ref: LayerRef): string {
  return `${ref.path.join('.')}:${ref.name}`;
}

export function parseLayerId(id: string): LayerRef | null {
  const colon = id.indexOf(':');
  if (colon < 0) return null;
  const head = id.slice(0, colon);
  if (head !== '' && !/^\d+(\.\d+)*$/.test(head)) return null;
  return { path: head === '' ? [] : head.split('.').map(Number), name: id.slice(colon + 1) };
}

export function resultLayerName(sourceName: string, styleName: string): string {
  return styleName ? `${sourceName} · ${styleName}` : `${sourceName} · stylized`;
}

interface SelectionReply {
  doc: { name: string; width: number; height: number } | null;
  layer?: { name: string; group: boolean; visible: boolean; bounds: [number, number, number, number]; path: number[] | null };
}

interface ScriptError { error: HostErrorCode; message: string }

function parseReply<T>(value: string, what: string): T {
  let data: unknown;
  try {
    data = JSON.parse(value);
  } catch {
    throw new HostError('internal', `Photopea answered ${what} with something the plugin does not understand: ${value.slice(0, 120)}`);
  }
  if (typeof data !== 'object' || data === null) throw new HostError('internal', `Photopea answered ${what} with ${value.slice(0, 120)}.`);
  const err = data as Partial<ScriptError>;
  if (typeof err.error === 'string') throw new HostError(err.error, String(err.message ?? 'Photopea refused.'));
  return data as T;
}

function boundsOf(b: readonly number[]): Bounds {
  return { x: b[0], y: b[1], width: b[2] - b[0], height: b[3] - b[1] };
}

export interface PhotopeaHostOptions {
  bridge: PhotopeaBridge;
  settings: PageSettingsStore;
  /** False when the page is not inside a frame (opened on its own): every call explains where it belongs. */
  framed?: boolean;
  /** How often the active layer is read (ms); Photopea sends no selection events. */
  pollMs?: number;
  /** After opening a result: how often and how long to look for the new layer (it may still be loading). */
  settleDelayMs?: number;
  settleTries?: number;
}

export class PhotopeaHost implements Host {
  readonly kind = 'photopea';
  readonly traits = PHOTOPEA_TRAITS;
  private readonly bridge: PhotopeaBridge;
  private readonly store: PageSettingsStore;
  private readonly framed: boolean;
  private readonly pollMs: number;
  private readonly settleDelayMs: number;
  private readonly settleTries: number;
  private readonly listeners = new Set<(selection: SelectionSnapshot) => void>();
  private snapshot: SelectionSnapshot = { seq: 0, layers: [] };
  private lastReply: string | null = null;
  private pollTimer: ReturnType<typeof setTimeout> | null = null;
  private polling = false;
  private disposed = false;
  /** Placing takes several scripts that rely on the active layer; one placement at a time. */
  private placing: Promise<unknown> = Promise.resolve();

  constructor(options: PhotopeaHostOptions) {
    this.bridge = options.bridge;
    this.store = options.settings;
    this.framed = options.framed ?? true;
    this.pollMs = options.pollMs ?? 1000;
    this.settleDelayMs = options.settleDelayMs ?? 250;
    this.settleTries = options.settleTries ?? 40;
  }

  private requireFrame(): void {
    if (!this.framed) throw new HostError('unsupported', NOT_IN_PHOTOPEA);
  }

  // ---- Selection -------------------------------------------------------------------------------

  private summarize(reply: SelectionReply): LayerSummary[] {
    const doc = reply.doc;
    const l = reply.layer;
    if (!doc || !l) return [];
    const b = boundsOf(l.bounds);
    const summary: LayerSummary = {
      id: layerId({ path: l.path ?? [], name: l.name }),
      name: l.name,
      type: l.group ? 'GROUP' : 'LAYER',
      width: b.width,
      height: b.height,
      canReplace: true,
    };
    if (!l.visible) summary.problem = `“${l.name}” is hidden. Show it (eye icon in the Layers panel) to stylize it.`;
    else if (!(b.width >= 1 && b.height >= 1)) summary.problem = `“${l.name}” has no pixels. Pick a layer with content.`;
    else if (!clipToCanvas(b, doc.width, doc.height)) summary.problem = `“${l.name}” lies outside the canvas. Move it onto the canvas to stylize it.`;
    return [summary];
  }

  /** Reads the active layer; tells the listeners when it changed. */
  private async readSelection(): Promise<SelectionSnapshot> {
    const { value } = await this.bridge.run(selectionScript(), { what: 'reading the active layer' });
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
    if (!Number.isFinite(maxSide) || maxSide < 1) throw new HostError('bad_request', `The export size must be at least 1 px; got ${maxSide}.`);
    const ref = parseLayerId(id);
    if (!ref) throw new HostError('bad_request', `“${id}” is not a Photopea layer id of this plugin.`);
    const run = await this.bridge.run(exportScript(ref), { what: `reading “${ref.name}”` });
    const reply = parseReply<{ name: string; path: number[]; bounds: number[]; doc: [number, number] }>(run.value, 'reading the layer');
    const canvas = run.buffers[run.buffers.length - 1];
    if (!canvas) throw new HostError('export_failed', `Photopea did not send the pixels of “${reply.name}”. Try again.`);
    const box = clipToCanvas(boundsOf(reply.bounds), reply.doc[0], reply.doc[1]);
    if (!box) throw new HostError('unsupported', `“${reply.name}” lies outside the canvas. Move it onto the canvas to stylize it.`);
    let cut: { png: Uint8Array; width: number; height: number };
    try {
      cut = await cropLayer(canvas, reply.doc[0], reply.doc[1], box, maxSide);
    } catch (err) {
      throw new HostError('export_failed', `The pixels Photopea sent for “${reply.name}” could not be read: ${err instanceof Error ? err.message : String(err)}.`);
    }
    return {
      id: layerId({ path: reply.path, name: reply.name }),
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
      throw new HostError('bad_request', 'The result is not a PNG picture; the companion sent something unexpected.');
    }
    const b = request.bounds;
    const target = { x: Math.round(b.x), y: Math.round(b.y), width: Math.max(1, Math.round(b.width)), height: Math.max(1, Math.round(b.height)) };
    const ref = parseLayerId(request.sourceId) ?? { path: [], name: request.sourceName };

    let png: Uint8Array;
    try {
      // Photopea gets the picture at the layer's own pixel size, so nothing needs scaling there.
      png = await resizePng(request.png, target.width, target.height);
    } catch (err) {
      throw new HostError('place_failed', `The result could not be prepared for Photopea: ${err instanceof Error ? err.message : String(err)}.`);
    }
    const prep = parseReply<{ found: boolean; count: number; path?: number[] }>(
      (await this.bridge.run(preparePlaceScript(ref), { what: 'preparing to add the result' })).value, 'preparing to add the result');
    const sourceName = prep.found ? ref.name : request.sourceName;
    const newName = resultLayerName(sourceName, request.styleName);
    await this.bridge.run(openAsLayerScript(pngDataUrl(png)), { what: 'adding the result picture' });

    const replace = request.mode === 'replace' && prep.found && prep.path !== undefined;
    let settled: { path: number[] | null; bounds: number[]; hidden: number[] | null } | null = null;
    for (let i = 0; i < this.settleTries && !settled; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, this.settleDelayMs));
      const reply = parseReply<{ pending?: boolean; path: number[] | null; bounds: number[]; hidden: number[] | null }>(
        (await this.bridge.run(settlePlaceScript({
          before: prep.count, ...target, newName,
          ...(replace && { hide: { path: prep.path!, name: ref.name } }),
        }), { what: 'moving the result into place' })).value, 'moving the result into place');
      if (!reply.pending) settled = reply;
    }
    if (!settled) {
      throw new HostError('place_failed', `Photopea did not add the result picture to the document within ${Math.round((this.settleTries * this.settleDelayMs) / 1000)} s. Check the Layers panel; run Stylize again if it is missing.`);
    }
    const outcome: PlaceOutcome = {
      nodeId: layerId({ path: settled.path ?? [], name: newName }),
      mode: replace && settled.hidden ? 'replace' : 'new-layer',
    };
    if (!prep.found) {
      outcome.note = `“${request.sourceName}” was deleted or renamed while it was being stylized; the result was added where it was.`;
    } else if (outcome.mode === 'replace') {
      outcome.note = `“${ref.name}” is kept, hidden, under the result; show it again in the Layers panel to compare.`;
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
