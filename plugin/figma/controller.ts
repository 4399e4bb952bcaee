/**
 * Figma's side of the host interface: answers the UI's requests (messages.ts) with the figma API
 * and pushes selection changes. Takes the `figma` object as a parameter so tests can drive it.
 */
import { EditorError, type Bounds, type LiveRequest, type PlaceRequest, type SelectionSnapshot } from '../editor/editor.ts';
import {
  CHANNEL, isUiToEditor, type EditorMethod, type EditorMethods, type EditorToUi, type RequestMessage,
} from '../editor/messages.ts';
import type { FigmaApi } from './api.ts';
import { LiveLayerRegistry } from './live.ts';
import { placeResult } from './place.ts';
import { exportLayer, exportThumbnail, summarizeSelection } from './selection.ts';
import { loadSettings, saveSettings } from './settings-store.ts';

export interface MainThreadOptions {
  /** UI window size in px. */
  width?: number;
  height?: number;
  /** Render small previews of the selected layers for the UI (default true). */
  thumbnails?: boolean;
  /** At most this many thumbnails per selection (a huge selection would stall the editor). */
  maxThumbnails?: number;
  /**
   * Thumbnails wait for the selection to rest this long (ms): clicking through big frames would
   * otherwise queue an export per click, each of which blocks the editor.
   */
  thumbnailDelayMs?: number;
}

function requireString(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw new EditorError('bad_request', `${what} is missing.`);
  return value;
}

function requireBounds(value: unknown): Bounds {
  const b = value as Record<string, unknown> | undefined;
  const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  if (!b || !num(b.x) || !num(b.y) || !num(b.width) || !num(b.height)) throw new EditorError('bad_request', 'The layer position is missing from the result.');
  return { x: b.x as number, y: b.y as number, width: b.width as number, height: b.height as number };
}

function optionalString(value: unknown, what: string): string | undefined {
  if (value === undefined) return undefined;
  return requireString(value, what);
}

function requireLiveRequest(p: Record<string, unknown>): LiveRequest {
  const liveId = optionalString(p.liveId, 'The live layer id');
  return {
    ...(liveId !== undefined && { liveId }),
    sourceId: requireString(p.sourceId, 'The source layer id'),
    sourceName: typeof p.sourceName === 'string' ? p.sourceName : 'Layer',
    bounds: requireBounds(p.bounds),
    png: p.png as Uint8Array,
    styleName: typeof p.styleName === 'string' ? p.styleName : '',
  };
}

function requirePlaceRequest(p: Record<string, unknown>): PlaceRequest {
  const bounds = requireBounds(p.bounds);
  if (p.mode !== 'new-layer' && p.mode !== 'replace') throw new EditorError('bad_request', `Unknown output mode ${JSON.stringify(p.mode)}.`);
  const liveId = optionalString(p.liveId, 'The live layer id');
  return {
    sourceId: requireString(p.sourceId, 'The source layer id'),
    sourceName: typeof p.sourceName === 'string' ? p.sourceName : 'Layer',
    bounds,
    png: p.png as Uint8Array,
    mode: p.mode,
    styleName: typeof p.styleName === 'string' ? p.styleName : '',
    ...(liveId !== undefined && { liveId }),
    ...(p.commit === false && { commit: false }),
  };
}

export class FigmaMainThread {
  private readonly figma: FigmaApi;
  private readonly options: Required<MainThreadOptions>;
  private seq = 0;
  private uiReady = false;
  private thumbnailTimer: ReturnType<typeof setTimeout> | null = null;
  private readonly live: LiveLayerRegistry;
  /** A batch placed a result it left for commitUndo to seal (a batch that placed nothing commits no empty step). */
  private placedUncommitted = false;

  constructor(figma: FigmaApi, options: MainThreadOptions = {}) {
    this.figma = figma;
    this.live = new LiveLayerRegistry(figma);
    this.options = { width: 360, height: 640, thumbnails: true, maxThumbnails: 24, thumbnailDelayMs: 300, ...options };
  }

  /** Opens the UI and starts listening. `html` is Figma's `__html__` (the bundled ui.html). */
  start(html: string): void {
    this.figma.showUI(html, { width: this.options.width, height: this.options.height, themeColors: true, title: 'Stylize' });
    this.figma.ui.onmessage = (message: unknown) => { void this.handleMessage(message); };
    this.figma.on('selectionchange', () => this.selectionChanged());
    // Jobs still running when the plugin closes leave no live layer behind. Synchronous: Figma
    // ends the plugin as soon as close callbacks return (and commits what is left as one undo step).
    this.figma.on('close', () => this.live.removeAll());
  }

  snapshot(): SelectionSnapshot {
    return { seq: this.seq, layers: summarizeSelection(this.figma) };
  }

  private post(message: EditorToUi): void {
    try {
      this.figma.ui.postMessage(message);
    } catch {
      // The UI is gone (plugin closing); nobody is left to tell.
    }
  }

  selectionChanged(): void {
    this.seq++;
    if (!this.uiReady) return;
    this.post({ channel: CHANNEL, kind: 'selection', selection: this.snapshot() });
    if (!this.options.thumbnails) return;
    if (this.thumbnailTimer !== null) clearTimeout(this.thumbnailTimer);
    const seq = this.seq;
    this.thumbnailTimer = setTimeout(() => {
      this.thumbnailTimer = null;
      void this.sendThumbnails(seq);
    }, this.options.thumbnailDelayMs);
  }

  /** Renders previews one by one, then sends the selection again with them (unless it changed meanwhile). */
  private async sendThumbnails(seq: number): Promise<void> {
    const nodes = this.figma.currentPage.selection.slice();
    const snapshot = this.snapshot();
    let any = false;
    for (let i = 0; i < Math.min(nodes.length, this.options.maxThumbnails); i++) {
      const thumb = await exportThumbnail(nodes[i]);
      if (seq !== this.seq) return;
      if (thumb) {
        snapshot.layers[i].thumbnail = thumb;
        any = true;
      }
    }
    if (any && seq === this.seq) this.post({ channel: CHANNEL, kind: 'selection', selection: snapshot });
  }

  async handleMessage(message: unknown): Promise<void> {
    if (!isUiToEditor(message)) return; // not ours
    if (message.kind === 'ready') {
      this.uiReady = true;
      this.selectionChanged();
      return;
    }
    try {
      const result = await this.dispatch(message);
      this.post({ channel: CHANNEL, kind: 'reply', id: message.id, ok: true, result });
    } catch (err) {
      const error = err instanceof EditorError
        ? { code: err.code, message: err.message }
        : { code: 'internal' as const, message: `Something went wrong in the plugin: ${err instanceof Error ? err.message : String(err)}` };
      this.post({ channel: CHANNEL, kind: 'reply', id: message.id, ok: false, error });
    }
  }

  private async dispatch(request: RequestMessage): Promise<EditorMethods[EditorMethod]['result']> {
    const p = request.params as Record<string, unknown>;
    switch (request.method) {
      case 'getSelection':
        return this.snapshot();
      case 'exportLayer':
        return exportLayer(this.figma, requireString(p.id, 'The layer id'), Number(p.maxSide));
      case 'placeResult': {
        const request = requirePlaceRequest(p);
        const outcome = await placeResult(this.figma, request, this.live);
        if (request.commit === false) this.placedUncommitted = true;
        return outcome;
      }
      case 'showLive':
        return this.live.show(requireLiveRequest(p));
      case 'removeLive':
        this.live.remove(requireString(p.liveId, 'The live layer id'));
        return null;
      case 'commitUndo':
        // Cancelled and failed jobs took their live layers with them: nothing to undo, no step.
        if (this.placedUncommitted) this.figma.commitUndo();
        this.placedUncommitted = false;
        return null;
      case 'loadSettings':
        return loadSettings(this.figma);
      case 'saveSettings':
        return saveSettings(this.figma, p.settings);
      case 'notify':
        this.figma.notify(String(p.message ?? ''), { error: p.error === true });
        return null;
      case 'close':
        this.figma.closePlugin();
        return null;
    }
  }
}
