/**
 * The typed messages between the plugin UI (an iframe) and a host living on the other side of
 * postMessage (Figma's main thread). Requests carry an id; each gets exactly one reply. The host
 * also pushes selection changes. Every message carries `channel` so stray messages are ignored.
 */
import type {
  EditorErrorCode, LayerPixels, LiveRequest, PlaceOutcome, PlaceRequest, SelectionSnapshot,
} from './editor.ts';
import type { PluginSettings } from './settings.ts';

export const CHANNEL = 'stylize-editor/1';

/** Every request the UI can make: its parameters and its result. */
export interface EditorMethods {
  getSelection: { params: Record<string, never>; result: SelectionSnapshot };
  exportLayer: { params: { id: string; maxSide: number }; result: LayerPixels };
  placeResult: { params: PlaceRequest; result: PlaceOutcome };
  showLive: { params: LiveRequest; result: string | null };
  removeLive: { params: { liveId: string }; result: null };
  commitUndo: { params: Record<string, never>; result: null };
  loadSettings: { params: Record<string, never>; result: PluginSettings };
  saveSettings: { params: { settings: PluginSettings }; result: PluginSettings };
  notify: { params: { message: string; error?: boolean }; result: null };
  close: { params: Record<string, never>; result: null };
}
export type EditorMethod = keyof EditorMethods;
export const HOST_METHODS: readonly EditorMethod[] = [
  'getSelection', 'exportLayer', 'placeResult', 'showLive', 'removeLive', 'commitUndo', 'loadSettings', 'saveSettings', 'notify', 'close',
];

export type RequestMessage<M extends EditorMethod = EditorMethod> = {
  [K in M]: { channel: typeof CHANNEL; kind: 'request'; id: number; method: K; params: EditorMethods[K]['params'] };
}[M];

export type ReplyMessage<M extends EditorMethod = EditorMethod> =
  | { channel: typeof CHANNEL; kind: 'reply'; id: number; ok: true; result: EditorMethods[M]['result'] }
  | { channel: typeof CHANNEL; kind: 'reply'; id: number; ok: false; error: { code: EditorErrorCode; message: string } };

export interface SelectionMessage {
  channel: typeof CHANNEL;
  kind: 'selection';
  selection: SelectionSnapshot;
}

/** Sent once by the UI when its script has loaded, so the host knows it can push selections. */
export interface ReadyMessage {
  channel: typeof CHANNEL;
  kind: 'ready';
}

export type UiToEditor = RequestMessage | ReadyMessage;
export type EditorToUi = ReplyMessage | SelectionMessage;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Narrows an untrusted postMessage payload to a UI->host message (shape only; params are checked by the handler). */
export function isUiToEditor(value: unknown): value is UiToEditor {
  if (!isRecord(value) || value.channel !== CHANNEL) return false;
  if (value.kind === 'ready') return true;
  return value.kind === 'request'
    && typeof value.id === 'number'
    && typeof value.method === 'string'
    && (HOST_METHODS as readonly string[]).includes(value.method)
    && isRecord(value.params);
}

export function isEditorToUi(value: unknown): value is EditorToUi {
  if (!isRecord(value) || value.channel !== CHANNEL) return false;
  if (value.kind === 'selection') return isRecord(value.selection) && Array.isArray(value.selection.layers);
  return value.kind === 'reply' && typeof value.id === 'number' && typeof value.ok === 'boolean';
}
