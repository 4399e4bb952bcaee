/**
 * The UI side of a host that lives across postMessage (Figma's main thread): implements Host by
 * sending typed requests (messages.ts) and resolving them from the replies.
 * No DOM types: the window is described structurally, so this compiles for every target.
 */
import {
  EditorError, type Editor, type LayerPixels, type LiveLayers, type PlaceOutcome, type PlaceRequest, type SelectionSnapshot,
} from './editor.ts';
import {
  CHANNEL, isEditorToUi, type EditorMethod, type EditorMethods, type RequestMessage, type UiToEditor,
} from './messages.ts';
import type { PluginSettings } from './settings.ts';

/** A bidirectional message pipe to the host. */
export interface EditorPort {
  post(message: UiToEditor): void;
  /** Delivers every incoming payload (already unwrapped); returns an unsubscribe. */
  listen(handler: (payload: unknown) => void): () => void;
}

interface MessageEventLike { data: unknown }
interface WindowLike {
  parent: { postMessage(message: unknown, targetOrigin: string): void };
  addEventListener(type: 'message', handler: (event: MessageEventLike) => void): void;
  removeEventListener(type: 'message', handler: (event: MessageEventLike) => void): void;
}

/**
 * Figma's UI iframe convention: send `parent.postMessage({ pluginMessage }, '*')`, receive
 * `event.data.pluginMessage`. Messages are not filtered by `event.source` (Figma does not promise
 * which of its frames posts them); the channel tag in every message (isEditorToUi) filters instead.
 */
export function figmaWindowPort(win: WindowLike): EditorPort {
  return {
    post(message) {
      // Figma's parent is on another origin (the iframe's is null), so '*' is the only target that works.
      win.parent.postMessage({ pluginMessage: message }, '*');
    },
    listen(handler) {
      const onMessage = (event: MessageEventLike) => {
        const data = event.data as { pluginMessage?: unknown } | null;
        if (data && typeof data === 'object' && 'pluginMessage' in data) handler(data.pluginMessage);
      };
      win.addEventListener('message', onMessage);
      return () => win.removeEventListener('message', onMessage);
    },
  };
}

/** How long each request may take before the UI gives up on the host (ms). */
const TIMEOUTS: Record<EditorMethod, number> = {
  getSelection: 30_000,
  exportLayer: 120_000, // a large frame can take a while to render
  placeResult: 60_000,
  showLive: 30_000,
  removeLive: 30_000,
  commitUndo: 30_000,
  loadSettings: 10_000,
  saveSettings: 10_000,
  notify: 10_000,
  close: 10_000,
};

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

export class PostMessageEditor implements Editor {
  readonly kind: string;
  private readonly port: EditorPort;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(selection: SelectionSnapshot) => void>();
  private nextId = 1;
  private lastSelection: SelectionSnapshot | null = null;
  private readonly unlisten: () => void;
  private disposed = false;

  constructor(port: EditorPort, kind = 'figma') {
    this.port = port;
    this.kind = kind;
    this.unlisten = port.listen((payload) => this.receive(payload));
    port.post({ channel: CHANNEL, kind: 'ready' });
  }

  private receive(payload: unknown): void {
    if (!isEditorToUi(payload)) return;
    if (payload.kind === 'selection') {
      if (this.lastSelection && payload.selection.seq < this.lastSelection.seq) return; // stale
      this.lastSelection = payload.selection;
      for (const listener of this.listeners) listener(payload.selection);
      return;
    }
    const pending = this.pending.get(payload.id);
    if (!pending) return;
    this.pending.delete(payload.id);
    clearTimeout(pending.timer);
    if (payload.ok) pending.resolve(payload.result);
    else pending.reject(new EditorError(payload.error.code, payload.error.message));
  }

  private request<M extends EditorMethod>(method: M, params: EditorMethods[M]['params']): Promise<EditorMethods[M]['result']> {
    const id = this.nextId++;
    if (this.disposed) return Promise.reject(new EditorError('internal', 'The plugin window was closed.'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new EditorError('timeout', `The editor did not answer in time (${method}). Close and reopen the plugin.`));
      }, TIMEOUTS[method]);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.port.post({ channel: CHANNEL, kind: 'request', id, method, params } as RequestMessage);
    });
  }

  async getSelection(): Promise<SelectionSnapshot> {
    const selection = await this.request('getSelection', {});
    if (!this.lastSelection || selection.seq >= this.lastSelection.seq) this.lastSelection = selection;
    return this.lastSelection;
  }

  onSelectionChange(listener: (selection: SelectionSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  exportLayer(id: string, maxSide: number): Promise<LayerPixels> {
    return this.request('exportLayer', { id, maxSide });
  }

  placeResult(request: PlaceRequest): Promise<PlaceOutcome> {
    return this.request('placeResult', request);
  }

  readonly live: LiveLayers = {
    show: (request) => this.request('showLive', request),
    remove: async (liveId) => { await this.request('removeLive', { liveId }); },
    commit: async () => { await this.request('commitUndo', {}); },
  };

  loadSettings(): Promise<PluginSettings> {
    return this.request('loadSettings', {});
  }

  saveSettings(settings: PluginSettings): Promise<PluginSettings> {
    return this.request('saveSettings', { settings });
  }

  /** Sends a request whose answer nobody waits for (a toast; closing, after which no answer comes). */
  private fire<M extends EditorMethod>(method: M, params: EditorMethods[M]['params']): void {
    this.port.post({ channel: CHANNEL, kind: 'request', id: this.nextId++, method, params } as RequestMessage);
  }

  notify(message: string, options?: { error?: boolean }): void {
    this.fire('notify', { message, error: options?.error });
  }

  close(): void {
    this.fire('close', {});
  }

  /** Stops listening and fails every request still waiting. */
  dispose(): void {
    this.disposed = true;
    this.unlisten();
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new EditorError('internal', 'The plugin window was closed.'));
      this.pending.delete(id);
    }
    this.listeners.clear();
  }
}
