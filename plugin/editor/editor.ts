/**
 * The one interface between the plugin UI and the editor it runs in. The UI (plugin/ui/) only
 * ever talks to a Editor; Figma's implementation lives behind postMessage (plugin/figma/main.ts
 * plus plugin/editor/post-message-editor.ts), a Photopea editor can implement it directly.
 * Pure TypeScript: no DOM, no editor API.
 */
import type { OutputMode, PluginSettings } from './settings.ts';

/** A rectangle in the editor's canvas units (absolute, page coordinates). */
export interface Bounds {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One selected layer, as the UI lists it. Cheap to compute: no full-size pixels. */
export interface LayerSummary {
  id: string;
  name: string;
  /** The editor's node type, e.g. "RECTANGLE", "FRAME" (for display only). */
  type: string;
  width: number;
  height: number;
  /** Why this layer cannot be stylized (hidden, no area, cannot be exported); absent when it can. */
  problem?: string;
  /** Whether "replace" can put the result into this layer's own fills. */
  canReplace: boolean;
  /** When canReplace is false: why, and that the result will land as a new layer instead. */
  replaceNote?: string;
  /** Small PNG preview (long side at most THUMBNAIL_SIDE px); absent while loading or when export failed. */
  thumbnail?: Uint8Array;
}

export const THUMBNAIL_SIDE = 96;

export interface SelectionSnapshot {
  /** Increases with every change, so a late answer about an old selection can be recognised. */
  seq: number;
  layers: LayerSummary[];
}

/** A layer's pixels as exported for a job. */
export interface LayerPixels {
  id: string;
  name: string;
  /** PNG bytes. */
  png: Uint8Array;
  /** Pixel size of `png`. */
  pixelWidth: number;
  pixelHeight: number;
  /** Where the layer was when exported; used to place the result even if the layer is gone. */
  bounds: Bounds;
}

export interface PlaceRequest {
  sourceId: string;
  /** The source layer's name at export time (names the new layer if the source is gone). */
  sourceName: string;
  /** Where the source was at export time (fallback position if it was deleted meanwhile). */
  bounds: Bounds;
  /** The stylized picture, PNG. */
  png: Uint8Array;
  mode: OutputMode;
  /** Shown in the new layer's name, e.g. "Photo · Starry Night". */
  styleName: string;
  /** The job's live layer (LiveLayers.show), if it has one: it becomes the result (or, in replace mode, goes). */
  liveId?: string;
  /**
   * Seal the placement as its own undo step (default true). A batch with live layers passes false
   * and seals everything once with LiveLayers.commit, so one undo takes the whole Stylize back.
   */
  commit?: boolean;
}

/** A job's picture so far, shown on the canvas while it runs. */
export interface LiveRequest {
  /** The live layer an earlier call returned; absent the first time (a layer is created). */
  liveId?: string;
  sourceId: string;
  sourceName: string;
  /** Where the source was at export time (used if it was deleted meanwhile). */
  bounds: Bounds;
  /** The preview PNG; the layer shows it stretched to the source's size. */
  png: Uint8Array;
  styleName: string;
}

/**
 * The result live on the canvas (optional: an editor without it places only the finished result).
 * None of these is an undo step of its own: a batch's live layers, their updates and its results
 * become one undo step at commit(), so one undo returns the document to its state before Stylize.
 */
export interface LiveLayers {
  /** Creates the job's live layer just above the source (first call) or shows a newer picture in it. Resolves with its id; null when the designer deleted it (no more updates then). */
  show(request: LiveRequest): Promise<string | null>;
  /** Removes a live layer (its job was cancelled or failed). */
  remove(liveId: string): Promise<void>;
  /** Seals everything since the batch began as one undo step (the batch has settled). */
  commit(): Promise<void>;
}

export interface PlaceOutcome {
  /** The layer that now shows the result. */
  nodeId: string;
  /** What was actually done; can differ from the request (see note). */
  mode: OutputMode;
  /** Set when the request could not be followed exactly, e.g. replace fell back to a new layer. */
  note?: string;
}

export type EditorErrorCode =
  | 'not_found'       // the layer no longer exists
  | 'unsupported'     // the layer cannot be exported / placed
  | 'too_large'       // over the editor's image size limit
  | 'export_failed'
  | 'place_failed'
  | 'storage_failed'
  | 'bad_request'     // a malformed message (a bug, not a user error)
  | 'timeout'         // the editor did not answer
  | 'internal';

/** An error a editor method rejects with; `message` is written for a designer. */
export class EditorError extends Error {
  readonly code: EditorErrorCode;
  constructor(code: EditorErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'EditorError';
  }
}

/**
 * What differs between editors in the UI's words and choices. Every field is optional on a Editor;
 * the defaults (DEFAULT_TRAITS) are Figma's, so a editor only names what it does differently.
 */
export interface EditorTraits {
  /** Several layers can be selected at once (the "Layer" style tab needs the style layer selected too). */
  multiSelect: boolean;
  /** The hint under Stylize when nothing is selected. */
  selectHint: string;
  /** The layers panel's text when nothing is selected. */
  emptySelection: string;
  /** The "replace" output choice in Settings. */
  replaceLabel: string;
  /** A finished job's status after a replace. */
  replacedStatus: string;
  /** The summary under Stylize in replace mode, e.g. "replaces the fill". */
  replaceHint: string;
  /** Whether the companion's port can be changed (a page served by the companion is tied to it). */
  portEditable: boolean;
}

export const DEFAULT_TRAITS: Readonly<EditorTraits> = Object.freeze({
  multiSelect: true,
  selectHint: 'Select one or more layers on the canvas.',
  emptySelection: 'Select one or more layers on the canvas to stylize them.',
  replaceLabel: 'Replace the layer’s fill',
  replacedStatus: 'Replaced the layer’s fill',
  replaceHint: 'replaces the fill',
  portEditable: true,
});

export interface Editor {
  /** "figma", "figjam", "photopea", ... */
  readonly kind: string;
  /** Where this editor differs from Figma in the UI (see EditorTraits); absent = Figma's. */
  readonly traits?: Partial<EditorTraits>;
  /** The current selection (with thumbnails where ready). */
  getSelection(): Promise<SelectionSnapshot>;
  /** Called on every selection change, and again when thumbnails arrive. Returns an unsubscribe. */
  onSelectionChange(listener: (selection: SelectionSnapshot) => void): () => void;
  /** Exports one layer as PNG with its long side at most maxSide px (and within the editor's limits). */
  exportLayer(id: string, maxSide: number): Promise<LayerPixels>;
  /** Puts a result into the document as one undo step (see PlaceRequest.commit); never destroys the source. */
  placeResult(request: PlaceRequest): Promise<PlaceOutcome>;
  /** Live result layers while jobs run; absent where the editor cannot show them. */
  readonly live?: LiveLayers;
  loadSettings(): Promise<PluginSettings>;
  /** Validates and stores; resolves with what was stored. */
  saveSettings(settings: PluginSettings): Promise<PluginSettings>;
  /** A short message in the editor's own toast, if it has one. */
  notify(message: string, options?: { error?: boolean }): void;
  /** Closes the plugin window. */
  close(): void;
}
