/**
 * The plugin window: connection state, selection, style picker, settings, Stylize, live jobs.
 * Talks to the editor only through a Editor and to the companion only through CompanionClient.
 */
import { DEFAULT_TRAITS, type Editor, type EditorTraits, type LayerSummary, type SelectionSnapshot } from '../editor/editor.ts';
import {
  DEFAULT_SETTINGS, MAX_IMAGE_SIDE, SettingsError, validateSettings, type OutputMode, type PluginSettings,
} from '../editor/settings.ts';
import type { PreparingInfo, StyleInfo } from '../../protocol/messages.ts';
import { BatchRunner, effectiveOutputSize, wireSettings, type JobView, type StyleChoice } from './batch.ts';
import { CompanionClient, CompanionError, type ConnectionState } from './companion-client.ts';
import { KeptOffer } from './kept-offer.ts';
import { explainError, formatDuration, formatSize } from './format.ts';
import { drawLossChart } from './loss-chart.ts';
import { ObjectUrls } from './object-urls.ts';

type StyleTab = 'library' | 'file' | 'layer';

/** Output sizes offered (long side, px); 128 is a quick draft. */
const SIZE_CHOICES = [128, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096];
/** A style file bigger than this is refused before upload (the companion's frame limit is usually 64 MB). */
const MAX_STYLE_FILE_BYTES = 32 * 1024 * 1024;

export interface AppOptions {
  /** Makes the companion client (tests inject one); default: a real one on 127.0.0.1. */
  createClient?: (settings: PluginSettings) => CompanionClient;
  /** Where the window's policy lets it reach the companion (Figma: from manifest.json); default any port on 127.0.0.1. */
  network?: { address: string; ports: readonly number[] };
  /** A stable id of this plugin install: jobs then outlive the window and their results are offered when it reopens. */
  clientId?: string;
}

/**
 * What the companion said of the current layers and settings (key = what it was asked): the time,
 * or `problem` when it refuses every layer (their jobs would fail the same way), or `partly` when it
 * refuses some (those jobs will fail, the rest run).
 */
interface EstimateState {
  key: string;
  ms?: number;
  problem?: string;
  partly?: string;
}

export class App {
  private readonly editor: Editor;
  /** The editor's words and choices (Figma's unless the editor says otherwise). */
  private readonly traits: EditorTraits;
  private readonly doc: Document;
  private readonly options: AppOptions;
  private settings: PluginSettings = { ...DEFAULT_SETTINGS };
  private client!: CompanionClient;
  private runner!: BatchRunner;
  private selection: SelectionSnapshot = { seq: -1, layers: [] };
  private library: StyleInfo[] = [];
  private libraryError = '';
  private readonly libraryThumbs = new Map<string, Uint8Array>();
  private tab: StyleTab = 'library';
  private fileStyle: { name: string; bytes: Uint8Array; url: string } | null = null;
  private layerStyleId: string | null = null;
  private showTokenEntry = false;
  private saveTimer: ReturnType<typeof setTimeout> | null = null;
  private retryTicker: ReturnType<typeof setInterval> | null = null;
  private readonly urls = new ObjectUrls();
  private readonly jobCards = new Map<number, HTMLElement>();
  private chartFrame = 0;
  private readonly dirtyCharts = new Set<number>();
  private lastJobs: JobView[] = [];
  /** Connected at the last state change (capabilities can arrive again on the same connection). */
  private paired = false;
  /** The companion's estimate for the current layers and settings. */
  private estimate: EstimateState | null = null;

  constructor(editor: Editor, doc: Document, options: AppOptions = {}) {
    this.editor = editor;
    this.traits = { ...DEFAULT_TRAITS, ...editor.traits };
    this.doc = doc;
    this.options = options;
  }

  private el<T extends HTMLElement = HTMLElement>(id: string): T {
    const found = this.doc.getElementById(id);
    if (!found) throw new Error(`The plugin page is missing #${id}.`);
    return found as T;
  }

  private urlFor(png: Uint8Array): string {
    return this.urls.for(png);
  }

  /** Frees the blob: URLs of pictures no longer on screen (called after each render). */
  private releaseHiddenPictures(): void {
    this.urls.keepOnly([
      ...this.libraryThumbs.values(),
      ...this.selection.layers.map((l) => l.thumbnail),
      ...this.lastJobs.flatMap((j) => j.previews.map((p) => p.png)),
    ]);
  }

  async start(): Promise<void> {
    try {
      this.settings = await this.editor.loadSettings();
    } catch (err) {
      this.showGeneralError(`Could not load your settings; using the defaults. ${explainError(err).title}`);
    }
    this.client = this.options.createClient?.(this.settings)
      ?? new CompanionClient({
        port: this.settings.port, token: this.settings.token, clientName: `stylize-${this.editor.kind}-plugin`,
        ...(this.options.network && { address: this.options.network.address, allowedPorts: this.options.network.ports }),
        ...(this.options.clientId && { clientId: this.options.clientId }),
      });
    // Figma's CSP refuses what manifest.json does not list; the browser says so only through this event.
    this.doc.addEventListener('securitypolicyviolation', (e) => this.client.blockedByPolicy(e.blockedURI));
    this.runner = new BatchRunner(this.editor, this.client, (jobs) => this.renderJobs(jobs));
    new KeptOffer(this.editor, this.client, this.el('kept'));
    this.client.onStateChange((state) => this.onConnection(state));
    this.client.onThumbnail((name, png) => {
      this.libraryThumbs.set(name.toLowerCase(), png);
      this.renderLibrary();
    });
    this.client.onError((err) => this.showGeneralError(explainError(err).title, explainError(err).detail));
    this.editor.onSelectionChange((selection) => {
      this.selection = selection;
      this.renderSelection();
    });
    this.applyTraits();
    this.bind();
    this.renderSettings();
    this.renderStyleTabs();
    this.renderSelection();
    this.onConnection(this.client.state);
    this.client.start();
    try {
      const selection = await this.editor.getSelection();
      if (selection.seq >= this.selection.seq) this.selection = selection;
      this.renderSelection();
    } catch (err) {
      this.showGeneralError(explainError(err).title, explainError(err).detail);
    }
    // Closing the plugin window cancels this window's jobs (the companion also drops them on disconnect).
    globalThis.addEventListener?.('pagehide', () => this.client.stop());
  }

  /** The static parts of the page that depend on the editor. */
  private applyTraits(): void {
    this.el('selection-empty').textContent = this.traits.emptySelection;
    this.el('mode-replace-label').textContent = this.traits.replaceLabel;
    this.el('port-field').hidden = !this.traits.portEditable;
    // One selected layer at a time: a style layer could never be selected next to the content.
    this.el('tab-btn-layer').hidden = !this.traits.multiSelect;
  }

  // ---- Connection ------------------------------------------------------------------------------

  private onConnection(state: ConnectionState): void {
    const conn = this.el('conn');
    conn.dataset.status = state.status;
    const text = this.el('conn-text');
    const offline = this.el('offline');
    const tokenPanel = this.el('token-panel');
    offline.hidden = state.status !== 'offline';
    const wasConnected = this.paired;
    this.paired = state.status === 'connected';
    this.renderPreparing(state.status === 'connected' ? state.capabilities.preparing : undefined);
    if (this.retryTicker) clearInterval(this.retryTicker);
    this.retryTicker = null;
    switch (state.status) {
      case 'connecting':
        text.textContent = state.attempt > 1 ? 'Reconnecting…' : 'Connecting…';
        break;
      case 'connected': {
        const b = state.capabilities.backend;
        const preparing = state.capabilities.preparing;
        text.textContent = preparing ? `Preparing the style model: ${preparing.percent}%` : `Connected · ${b.name}`;
        conn.title = preparing ? '' : [b.device, b.reason].filter(Boolean).join(' · ');
        this.showTokenEntry = false;
        // The companion re-sends capabilities while it prepares; the library is listed once per connection.
        if (!wasConnected) void this.refreshLibrary();
        this.renderSettings();
        break;
      }
      case 'needs-token':
        text.textContent = 'Needs token';
        this.el('token-reason').textContent = state.reason;
        break;
      case 'offline': {
        text.textContent = 'Offline';
        this.el('offline-reason').textContent = state.reason;
        this.el('offline-advice').textContent = state.advice;
        const tick = () => {
          const left = state.retryAt === null ? null : Math.max(0, state.retryAt - Date.now());
          this.el('offline-retry').textContent = left === null ? '' : `Retrying in ${Math.ceil(left / 1000)} s.`;
        };
        tick();
        if (state.retryAt !== null) this.retryTicker = setInterval(tick, 500);
        break;
      }
    }
    tokenPanel.hidden = !(state.status === 'needs-token' || this.showTokenEntry);
    this.renderAction();
  }

  /** The first start's download: how far, and the companion's reason when it failed (it retries by itself). */
  private renderPreparing(preparing: PreparingInfo | undefined): void {
    this.el('preparing').hidden = !preparing;
    if (!preparing) return;
    this.el('preparing-title').textContent = preparing.error
      ? 'The companion could not download the style model yet'
      : `Preparing the style model: ${preparing.percent}%`;
    this.el('preparing-detail').textContent = preparing.error
      ?? 'The companion is downloading the VGG-19 weights (about 21 MB, once). Stylize is available when it is ready.';
  }

  private async refreshLibrary(): Promise<void> {
    try {
      this.library = await this.client.listStyles(true);
      this.libraryError = '';
      const names = new Set(this.library.map((st) => st.name.toLowerCase()));
      for (const name of [...this.libraryThumbs.keys()]) if (!names.has(name)) this.libraryThumbs.delete(name);
    } catch (err) {
      this.library = [];
      this.libraryError = explainError(err).title;
    }
    this.renderLibrary();
    this.renderAction();
  }

  // ---- Events ----------------------------------------------------------------------------------

  private bind(): void {
    this.el('retry-now').addEventListener('click', () => this.client.reconnectNow());
    this.el('token-save').addEventListener('click', () => this.saveToken());
    this.el<HTMLInputElement>('token-input').addEventListener('keydown', (e) => { if (e.key === 'Enter') this.saveToken(); });
    this.el('change-token').addEventListener('click', () => {
      this.showTokenEntry = true;
      this.el('token-reason').textContent = 'Paste the token the companion printed when it started (also in ~/.config/stylize/token).';
      this.el('token-panel').hidden = false;
      this.el<HTMLInputElement>('token-input').focus();
    });
    for (const tab of ['library', 'file', 'layer'] as const) {
      this.el(`tab-btn-${tab}`).addEventListener('click', () => { this.tab = tab; this.renderStyleTabs(); this.renderSelection(); this.renderAction(); });
    }
    this.el<HTMLInputElement>('style-file').addEventListener('change', (e) => void this.pickFile(e.target as HTMLInputElement));
    this.el('save-style').addEventListener('click', () => void this.saveFileToLibrary());
    const form = ['set-strength', 'set-iterations', 'set-size', 'set-optimizer', 'set-style-scale', 'set-preserve-colors', 'set-port'];
    for (const id of form) this.el(id).addEventListener('change', () => this.readSettingsForm());
    this.el<HTMLInputElement>('set-strength').addEventListener('input', (e) => {
      this.el('strength-value').textContent = (e.target as HTMLInputElement).value;
    });
    for (const radio of Array.from(this.doc.querySelectorAll<HTMLInputElement>('input[name="mode"]'))) {
      radio.addEventListener('change', () => this.readSettingsForm());
    }
    this.el('stylize').addEventListener('click', () => void this.stylize());
    this.el('jobs').addEventListener('click', (e) => {
      const target = e.target as HTMLElement;
      const card = target.closest<HTMLElement>('[data-job]');
      if (target.closest('.cancel') && card) this.runner.cancel(Number(card.dataset.job));
      if (target.closest('.keep') && card) this.runner.keep(Number(card.dataset.job));
      if (target.closest('.clear')) this.runner.clearFinished();
    });
  }

  private saveToken(): void {
    const token = this.el<HTMLInputElement>('token-input').value.trim();
    if (!token) {
      this.el('token-reason').textContent = 'The token is empty. Paste the token the companion printed when it started.';
      return;
    }
    this.el<HTMLInputElement>('token-input').value = '';
    this.showTokenEntry = false;
    this.applySettings({ ...this.settings, token });
  }

  private readSettingsForm(): void {
    const mode = this.doc.querySelector<HTMLInputElement>('input[name="mode"]:checked')?.value as OutputMode | undefined;
    const n = (id: string) => Number(this.el<HTMLInputElement>(id).value);
    try {
      const next = validateSettings({
        strength: n('set-strength'),
        iterations: n('set-iterations'),
        outputSize: n('set-size'),
        optimizer: this.el<HTMLSelectElement>('set-optimizer').value as PluginSettings['optimizer'],
        styleScale: n('set-style-scale'),
        preserveColors: this.el<HTMLInputElement>('set-preserve-colors').checked,
        port: n('set-port'),
        ...(mode && { outputMode: mode }),
      }, this.settings);
      this.el('settings-error').hidden = true;
      this.applySettings(next);
    } catch (err) {
      const box = this.el('settings-error');
      box.textContent = err instanceof SettingsError ? err.message : String(err);
      box.hidden = false;
    }
  }

  /** Takes new settings: saves them (debounced) and reconnects if port or token changed. */
  private applySettings(next: PluginSettings): void {
    const reconnect = next.port !== this.settings.port || next.token !== this.settings.token;
    this.settings = next;
    if (reconnect) this.client.configure({ port: next.port, token: next.token });
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => {
      this.editor.saveSettings(this.settings).catch((err) => this.showGeneralError(`Your settings were not saved. ${explainError(err).title}`));
    }, 250);
    this.renderSettings();
    this.renderLibrary();
    this.renderSelection();
    this.renderAction();
  }

  private async pickFile(input: HTMLInputElement): Promise<void> {
    const file = input.files?.[0];
    const error = this.el('file-error');
    error.hidden = true;
    if (!file) return;
    if (!/^image\/(png|jpeg|webp)$/.test(file.type)) {
      error.textContent = `“${file.name}” is not a PNG, JPEG or WebP image. Choose one of those.`;
      error.hidden = false;
      return;
    }
    if (file.size > MAX_STYLE_FILE_BYTES) {
      error.textContent = `“${file.name}” is ${(file.size / 1048576).toFixed(0)} MB; choose an image under ${MAX_STYLE_FILE_BYTES / 1048576} MB.`;
      error.hidden = false;
      return;
    }
    const bytes = new Uint8Array(await file.arrayBuffer());
    if (this.fileStyle) URL.revokeObjectURL(this.fileStyle.url);
    this.fileStyle = { name: file.name, bytes, url: URL.createObjectURL(new Blob([bytes as unknown as BlobPart], { type: file.type })) };
    this.renderStyleTabs();
    this.renderAction();
  }

  private async saveFileToLibrary(): Promise<void> {
    if (!this.fileStyle) return;
    const error = this.el('file-error');
    const name = this.fileStyle.name.replace(/\.[a-z0-9]+$/i, '').replace(/[^A-Za-z0-9 _.-]+/g, ' ').trim().slice(0, 60).replace(/[. ]+$/, '') || 'Style';
    try {
      const style = await this.client.saveStyle(name, this.fileStyle.bytes);
      error.hidden = true;
      this.settings = { ...this.settings, lastStyleId: style.name };
      await this.refreshLibrary();
      this.editor.notify(`Added “${style.name}” to the style library`);
    } catch (err) {
      const e = explainError(err);
      error.textContent = e.detail ? `${e.title} ${e.detail}` : e.title;
      error.hidden = false;
    }
  }

  // ---- Style -----------------------------------------------------------------------------------

  private currentStyle(): StyleChoice | null {
    if (this.tab === 'library') {
      const s = this.library.find((x) => x.name === this.settings.lastStyleId);
      return s ? { kind: 'library', name: s.name } : null;
    }
    if (this.tab === 'file') return this.fileStyle ? { kind: 'file', name: this.fileStyle.name, bytes: this.fileStyle.bytes } : null;
    const layer = this.selection.layers.find((l) => l.id === this.layerStyleId && !l.problem);
    return layer ? { kind: 'layer', layerId: layer.id, name: layer.name } : null;
  }

  private contentLayers(): LayerSummary[] {
    return this.selection.layers.filter((l) => !l.problem && !(this.tab === 'layer' && l.id === this.layerStyleId));
  }

  private renderStyleTabs(): void {
    for (const tab of ['library', 'file', 'layer'] as const) {
      this.el(`tab-btn-${tab}`).setAttribute('aria-selected', String(tab === this.tab));
      this.el(`tab-${tab}`).hidden = tab !== this.tab;
    }
    const preview = this.el('file-preview');
    preview.hidden = !this.fileStyle;
    if (this.fileStyle) {
      this.el<HTMLImageElement>('file-thumb').src = this.fileStyle.url;
      this.el('file-name').textContent = this.fileStyle.name;
      this.el('save-style').hidden = this.client?.state.status !== 'connected';
    }
    this.renderLibrary();
  }

  private renderLibrary(): void {
    const grid = this.el('style-grid');
    const empty = this.el('library-empty');
    grid.replaceChildren();
    if (this.client?.state.status !== 'connected') {
      empty.textContent = 'The library appears once the companion is connected.';
      empty.hidden = false;
      return;
    }
    if (this.libraryError || this.library.length === 0) {
      empty.textContent = this.libraryError || 'The companion’s style library is empty. Use an image file (and “Add to library”), or a layer.';
      empty.hidden = false;
      return;
    }
    empty.hidden = true;
    for (const style of this.library) {
      const card = this.doc.createElement('button');
      card.type = 'button';
      card.className = 'style-card';
      card.setAttribute('role', 'option');
      card.dataset.style = style.name;
      if (style.builtin) card.dataset.builtin = 'true';
      const credit = [style.artist, style.year].filter(Boolean).join(', ');
      card.title = `${style.title ?? style.name}${credit ? ` (${credit})` : ''} · ${formatSize(style.width, style.height)}`;
      card.setAttribute('aria-selected', String(style.name === this.settings.lastStyleId));
      const thumb = this.libraryThumbs.get(style.name.toLowerCase());
      const url = thumb && this.urlFor(thumb);
      const img = this.doc.createElement(url ? 'img' : 'div');
      if (img instanceof HTMLImageElement && url) { img.src = url; img.alt = ''; } else img.className = 'ph';
      const label = this.doc.createElement('span');
      label.textContent = style.name;
      card.append(img, label);
      if (style.artist) {
        const artist = this.doc.createElement('span');
        artist.className = 'artist';
        artist.textContent = style.artist;
        card.append(artist);
      }
      card.addEventListener('click', () => this.applySettings({ ...this.settings, lastStyleId: style.name }));
      grid.append(card);
    }
  }

  // ---- Selection -------------------------------------------------------------------------------

  private layerRow(layer: LayerSummary, choosing: boolean): HTMLLIElement {
    const li = this.doc.createElement('li');
    li.className = 'layer';
    li.dataset.layer = layer.id;
    const thumb = this.doc.createElement(layer.thumbnail ? 'img' : 'div');
    if (thumb instanceof HTMLImageElement && layer.thumbnail) { thumb.src = this.urlFor(layer.thumbnail); thumb.alt = ''; } else thumb.className = 'ph';
    const meta = this.doc.createElement('div');
    meta.className = 'meta';
    const name = this.doc.createElement('div');
    name.className = 'name';
    name.textContent = layer.name;
    const sub = this.doc.createElement('div');
    sub.className = 'sub';
    sub.textContent = `${formatSize(layer.width, layer.height)} · ${layer.type.toLowerCase().replace(/_/g, ' ')}`;
    meta.append(name, sub);
    if (layer.problem) {
      const p = this.doc.createElement('div');
      p.className = 'problem';
      p.textContent = layer.problem;
      meta.append(p);
    } else if (!choosing && this.tab === 'layer' && layer.id === this.layerStyleId) {
      li.classList.add('is-style');
      const p = this.doc.createElement('div');
      p.className = 'sub';
      p.textContent = 'Used as the style';
      meta.append(p);
    } else if (!choosing && this.settings.outputMode === 'replace' && !layer.canReplace && layer.replaceNote) {
      const p = this.doc.createElement('div');
      p.className = 'note';
      p.textContent = layer.replaceNote;
      meta.append(p);
    }
    li.append(thumb, meta);
    return li;
  }

  private renderSelection(): void {
    const layers = this.selection.layers;
    this.el('selection-empty').hidden = layers.length > 0;
    this.el('selection-list').replaceChildren(...layers.map((l) => this.layerRow(l, false)));
    if (this.layerStyleId && !layers.some((l) => l.id === this.layerStyleId)) this.layerStyleId = null;
    const choose = this.el('style-layer-list');
    choose.replaceChildren(...layers.filter((l) => !l.problem).map((l) => {
      const li = this.layerRow(l, true);
      li.setAttribute('role', 'option');
      li.setAttribute('aria-selected', String(l.id === this.layerStyleId));
      li.addEventListener('click', () => {
        this.layerStyleId = this.layerStyleId === l.id ? null : l.id;
        this.renderSelection();
      });
      return li;
    }));
    this.renderAction();
    this.releaseHiddenPictures();
  }

  // ---- Settings --------------------------------------------------------------------------------

  private renderSettings(): void {
    const s = this.settings;
    this.el<HTMLInputElement>('set-strength').value = String(s.strength);
    this.el('strength-value').textContent = String(s.strength);
    this.el<HTMLInputElement>('set-iterations').value = String(s.iterations);
    this.el<HTMLSelectElement>('set-optimizer').value = s.optimizer;
    this.el<HTMLSelectElement>('set-style-scale').value = String(s.styleScale);
    this.el<HTMLInputElement>('set-preserve-colors').checked = s.preserveColors;
    this.renderPortChoices();
    for (const radio of Array.from(this.doc.querySelectorAll<HTMLInputElement>('input[name="mode"]'))) radio.checked = radio.value === s.outputMode;
    const caps = this.client?.capabilities ?? null;
    const max = Math.min(MAX_IMAGE_SIDE, caps?.settings.bounds.size?.max ?? MAX_IMAGE_SIDE);
    const choices = [...new Set([...SIZE_CHOICES.filter((v) => v <= max), s.outputSize])].sort((a, b) => a - b);
    const select = this.el<HTMLSelectElement>('set-size');
    select.replaceChildren(...choices.map((v) => {
      const o = this.doc.createElement('option');
      o.value = String(v);
      o.textContent = v > max ? `${v} px (companion allows ${max})` : `${v} px`;
      return o;
    }));
    select.value = String(s.outputSize);
  }

  /** Only the ports the window may reach (Figma: those manifest.json lists), and the current one. */
  private renderPortChoices(): void {
    const port = this.settings.port;
    const allowed = this.options.network?.ports;
    const choices = [...new Set([...(allowed ?? []), port])].sort((a, b) => a - b);
    const select = this.el<HTMLSelectElement>('set-port');
    select.replaceChildren(...choices.map((p) => {
      const o = this.doc.createElement('option');
      o.value = String(p);
      o.textContent = allowed && !allowed.includes(p) ? `${p} (not in manifest.json)` : String(p);
      return o;
    }));
    select.value = String(port);
  }

  // ---- Stylize ---------------------------------------------------------------------------------

  /** Why Stylize cannot run now, or null when it can. */
  private blocker(): string | null {
    const state = this.client?.state;
    if (!state || state.status !== 'connected') {
      return state?.status === 'needs-token' ? 'Paste the companion’s token above first.' : 'Waiting for the companion (see above).';
    }
    if (state.capabilities.preparing) return 'The companion is preparing the style model (see above).';
    if (this.runner.running) return 'Working… you can cancel below.';
    if (this.selection.layers.length === 0) return this.traits.selectHint;
    const content = this.contentLayers();
    const style = this.currentStyle();
    if (content.length === 0) {
      const problem = this.selection.layers.find((l) => l.problem)?.problem;
      if (this.tab === 'layer' && this.layerStyleId) return 'Also select the layers to stylize (the style layer itself is not stylized).';
      return problem ?? 'None of the selected layers can be stylized.';
    }
    if (!style) {
      if (this.tab === 'library') return this.library.length ? 'Pick a style from the library.' : 'The library is empty: choose an image file or a layer as the style.';
      if (this.tab === 'file') return 'Choose an image file as the style.';
      return 'Pick the selected layer to use as the style.';
    }
    this.estimatedMs();
    return this.estimate?.problem ?? null;
  }

  private renderAction(): void {
    if (!this.runner) return;
    const button = this.el<HTMLButtonElement>('stylize');
    const why = this.blocker();
    button.disabled = why !== null;
    const n = this.contentLayers().length;
    button.textContent = n > 1 ? `Stylize ${n} layers` : 'Stylize';
    const hint = this.el('stylize-hint');
    if (why) hint.textContent = why;
    else {
      const size = effectiveOutputSize(this.settings, this.client.capabilities);
      const ms = this.estimatedMs();
      const partly = this.estimate?.partly;
      hint.textContent = `${partly ? `${partly} · ` : ''}${ms !== undefined ? `about ${formatDuration(ms)} · ` : ''}${this.settings.iterations} iterations at ${size} px · ${this.settings.outputMode === 'replace' ? this.traits.replaceHint : 'adds a new layer'}`;
    }
  }

  /**
   * The companion's estimate for the selected layers (run one after another), asked again when the
   * layers or settings change; undefined while it is on its way or when the companion gives none.
   */
  private estimatedMs(): number | undefined {
    const caps = this.client.capabilities;
    if (!caps?.features?.includes('estimate')) return undefined;
    const layers = this.contentLayers();
    const settings = wireSettings(this.settings, caps);
    const key = JSON.stringify([layers.map((l) => [l.width, l.height]), settings]);
    if (this.estimate?.key === key) return this.estimate.ms;
    const asked: EstimateState = { key };
    this.estimate = asked;
    void Promise.allSettled(layers.map((l) => this.client.estimate(Math.max(1, Math.round(l.width)), Math.max(1, Math.round(l.height)), settings)))
      .then((answers) => {
        // The settings may not suit a layer (e.g. too thin at this output size): say so before Stylize.
        const refused = answers.flatMap((a, i) => (a.status === 'rejected' && a.reason instanceof CompanionError && a.reason.code === 'bad_setting' ? [{ name: layers[i].name, why: a.reason.message }] : []));
        const ms = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value.ms] : []));
        if (refused.length === layers.length) asked.problem = refused[0].why;
        else if (refused.length) asked.partly = `${refused.map((r) => r.name).join(', ')} will not run: ${refused[0].why}`;
        // Anything else (an older companion, not connected): no estimate shown.
        if (ms.length + refused.length === layers.length && ms.length) asked.ms = ms.reduce((a, b) => a + b, 0);
        if (this.estimate === asked && (asked.ms !== undefined || asked.problem || asked.partly)) this.renderAction();
      });
    return undefined;
  }

  private async stylize(): Promise<void> {
    if (this.blocker()) return;
    const style = this.currentStyle();
    if (!style) return;
    this.el('general-error').hidden = true;
    const run = this.runner.run(this.contentLayers(), style, this.settings);
    this.renderAction();
    // Bring the new job's progress into view (the window is small).
    const cards = this.el('jobs').querySelectorAll('.job');
    cards[cards.length - 1]?.scrollIntoView?.({ block: 'nearest' });
    await run;
    this.renderAction();
    const jobs = this.runner.views;
    const done = jobs.filter((j) => j.phase === 'done').length;
    if (done > 0) this.editor.notify(done === 1 ? 'Stylize: 1 layer done' : `Stylize: ${done} layers done`);
  }

  // ---- Jobs ------------------------------------------------------------------------------------

  private statusText(job: JobView): string {
    switch (job.phase) {
      case 'exporting': return 'Reading the layer…';
      case 'sending': return 'Sending to the companion…';
      case 'queued': return job.position === 1 ? 'Waiting: 1 job ahead' : `Waiting: ${job.position} jobs ahead`;
      case 'running': {
        if (job.keeping) return `Keeping the picture at iteration ${job.iteration}…`;
        const eta = job.iteration > 0 && job.etaMs !== null ? ` · about ${formatDuration(job.etaMs)} left` : '';
        const live = job.live ? ' · live on the canvas' : '';
        return job.iteration > 0 ? `Iteration ${job.iteration} / ${job.iterations}${eta}${live}` : 'Starting…';
      }
      case 'placing': return 'Adding the result to the file…';
      case 'done': {
        const kept = job.kept ? `Kept at iteration ${job.iteration} · ` : '';
        return `${kept}${job.outcome?.mode === 'replace' ? this.traits.replacedStatus : 'Added as a new layer'} · ${formatDuration(job.elapsedMs)}`;
      }
      case 'cancelled': return 'Cancelled';
      case 'failed': return job.error?.title ?? 'Failed';
    }
  }

  private jobCard(job: JobView): HTMLElement {
    let card = this.jobCards.get(job.id);
    if (card) return card;
    card = this.doc.createElement('article');
    card.className = 'job';
    card.dataset.job = String(job.id);
    card.innerHTML = `
      <div class="job-head">
        <img class="preview" alt="">
        <div class="meta"><div class="job-name"></div><div class="job-status" role="status"></div></div>
        <div class="job-actions">
          <button type="button" class="keep primary" title="Stop now and add the picture as it is, at full size">Keep this</button>
          <button type="button" class="cancel secondary">Cancel</button>
        </div>
      </div>
      <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100"><div class="progress-fill"></div></div>
      <div class="strip"></div>
      <canvas class="chart" height="56"></canvas>
      <div class="legend"><span class="content"><i></i>content</span><span class="style"><i></i>style</span><span class="total"><i></i>total</span></div>
      <p class="job-detail" hidden></p>`;
    card.querySelector('.job-name')!.textContent = `${job.layerName} · ${job.styleName}`;
    this.jobCards.set(job.id, card);
    return card;
  }

  private renderJobs(jobs: JobView[]): void {
    this.lastJobs = jobs;
    const list = this.el('jobs');
    const cards: HTMLElement[] = [];
    for (const job of jobs) {
      const card = this.jobCard(job);
      card.dataset.phase = job.phase;
      const final = job.phase === 'done' || job.phase === 'cancelled' || job.phase === 'failed';
      card.querySelector<HTMLElement>('.job-status')!.textContent = this.statusText(job);
      (card.querySelector('.cancel') as HTMLButtonElement).hidden = final || job.phase === 'placing' || job.keeping === true;
      (card.querySelector('.keep') as HTMLButtonElement).hidden = !this.runner.canKeep(job);
      const pct = job.phase === 'done' ? 100 : job.iterations > 0 ? Math.round((job.iteration / job.iterations) * 100) : 0;
      const bar = card.querySelector<HTMLElement>('.progress')!;
      bar.setAttribute('aria-valuenow', String(pct));
      bar.querySelector<HTMLElement>('.progress-fill')!.style.width = `${pct}%`;
      const latest = job.previews[job.previews.length - 1];
      const img = card.querySelector<HTMLImageElement>('.preview')!;
      if (latest) {
        const url = this.urlFor(latest.png);
        if (img.src !== url) img.src = url;
        img.dataset.iteration = String(latest.iteration);
      }
      const strip = card.querySelector<HTMLElement>('.strip')!;
      const earlier = job.previews.slice(0, -1);
      const lastEarlier = String(earlier[earlier.length - 1]?.iteration ?? '');
      if (strip.childElementCount !== earlier.length || strip.dataset.last !== lastEarlier) {
        strip.replaceChildren(...earlier.map((p) => {
          const t = this.doc.createElement('img');
          t.src = this.urlFor(p.png);
          t.alt = `Iteration ${p.iteration}`;
          t.title = `Iteration ${p.iteration}`;
          return t;
        }));
        strip.dataset.last = lastEarlier;
      }
      const detail = card.querySelector<HTMLElement>('.job-detail')!;
      const detailText = job.error?.detail ?? job.outcome?.note ?? '';
      detail.textContent = detailText;
      detail.hidden = !detailText;
      const chart = card.querySelector<HTMLCanvasElement>('.chart')!;
      chart.dataset.points = String(job.losses.length);
      if (chart.dataset.drawn !== String(job.losses.length)) this.dirtyCharts.add(job.id);
      cards.push(card);
    }
    if (jobs.some((j) => j.phase === 'done' || j.phase === 'cancelled' || j.phase === 'failed')) {
      const clear = this.doc.createElement('button');
      clear.type = 'button';
      clear.className = 'clear link';
      clear.textContent = 'Clear finished';
      cards.push(clear);
    }
    list.replaceChildren(...cards);
    for (const id of [...this.jobCards.keys()]) if (!jobs.some((j) => j.id === id)) this.jobCards.delete(id);
    this.scheduleCharts();
    this.renderAction();
    this.releaseHiddenPictures();
  }

  /** Charts redraw at most once per frame, however fast progress arrives. */
  private scheduleCharts(): void {
    if (this.chartFrame || this.dirtyCharts.size === 0) return;
    const raf = globalThis.requestAnimationFrame ?? ((f: FrameRequestCallback) => setTimeout(() => f(0), 16));
    this.chartFrame = raf(() => {
      this.chartFrame = 0;
      for (const id of this.dirtyCharts) {
        const job = this.lastJobs.find((j) => j.id === id);
        const canvas = this.jobCards.get(id)?.querySelector<HTMLCanvasElement>('.chart');
        if (!job || !canvas) continue;
        drawLossChart(canvas, job.losses);
        canvas.dataset.drawn = String(job.losses.length);
      }
      this.dirtyCharts.clear();
    }) as unknown as number;
  }

  private showGeneralError(title: string, detail?: string): void {
    const box = this.el('general-error');
    box.textContent = detail ? `${title} (${detail})` : title;
    box.hidden = false;
  }
}
