/**
 * A fake `figma` object for the main-thread tests: a small scene graph (pages, frames, groups,
 * shapes, text) with real transforms, PNG export through a pluggable renderer, image storage,
 * clientStorage, the UI message pipe, events and an undo journal. Its members follow
 * @figma/plugin-typings (the Pick<> types below); it is handed to the plugin as FigmaApi.
 * As strict as Figma where the plugin could go wrong:
 * - node objects are not stable: `parent`, `children`, `selection`, getNodeByIdAsync and the
 *   create functions hand out a new object for the same node each time (compare by id);
 * - each node type has only its own properties (`'strokes' in sticky` is false, as in the typings);
 * - exportAsync renders the render bounds (strokes outside the box, shadows) unless
 *   useAbsoluteBounds, and the picture shows the layer's strokes, effects and opacity;
 * - undo (typings of commitUndo/triggerUndo/closePlugin and the "close" event): every change the
 *   plugin makes between two commitUndo calls is one undo step, and closing the plugin commits what
 *   is left; "close" callbacks run first and must be synchronous, because after closePlugin every
 *   API call throws and no callback (UI message, selection, a pending await) reaches the plugin.
 * No Node imports: the browser test bundles it into the host page.
 */
import type {
  Effect, ExportSettingsImage, NodeType, NotificationOptions, OnMessageProperties, Paint, RectangleNode,
  ShowUIOptions, Transform,
} from '@figma/plugin-typings/plugin-api-standalone.js';
import type { FigmaApi } from '../../plugin/figma/api.ts';

/** Renders a node to PNG bytes at exactly pixelWidth x pixelHeight. */
export type Renderer = (node: FakeNode, pixelWidth: number, pixelHeight: number, shows: ExportView) => Promise<Uint8Array>;

type SceneFields = Pick<RectangleNode,
  'id' | 'name' | 'visible' | 'width' | 'height' | 'relativeTransform' | 'absoluteTransform' |
  'absoluteBoundingBox' | 'resize' | 'remove' | 'getPluginData' | 'setPluginData' | 'layoutPositioning' | 'strokes'>;

const CONTAINERS = new Set<string>(['PAGE', 'FRAME', 'GROUP', 'COMPONENT', 'COMPONENT_SET', 'INSTANCE', 'BOOLEAN_OPERATION', 'SECTION']);
/** Sections have fills and strokes (SectionNode: MinimalFillsMixin, MinimalStrokesMixin), but no effects. */
const NO_FILLS = new Set<string>(['GROUP', 'PAGE', 'SLICE', 'CONNECTOR']);
/** FigJam stickies have no strokes (StickyNode: fills and blend only); groups neither. */
const NO_STROKES = new Set<string>(['GROUP', 'PAGE', 'SLICE', 'STICKY']);
/** Only nodes with BlendMixin have effects; FigJam's opaque nodes have none. */
const NO_EFFECTS = new Set<string>(['PAGE', 'SLICE', 'SECTION', 'STICKY', 'SHAPE_WITH_TEXT', 'CONNECTOR']);
const NOT_EXPORTABLE = new Set<string>(['PAGE']);

/** What an export shows besides the fills: Figma renders the layer as it appears. */
export interface ExportView {
  /** Page coordinates of the rendered box. */
  box: { x: number; y: number; width: number; height: number };
  opacity: number;
  strokes: ReadonlyArray<Paint>;
  effects: ReadonlyArray<Effect>;
}

/** The same node behind a new object each time, as Figma's API hands out nodes. */
const targets = new WeakMap<object, FakeNode>();
function view<T extends FakeNode | null>(node: T): T {
  if (!node) return node;
  const v = new Proxy(node, {});
  targets.set(v, node);
  return v as T;
}
/** The node behind a view (or the node itself). */
export function unwrap<T extends FakeNode>(node: T): T {
  return (targets.get(node) as T | undefined) ?? node;
}

function mul(a: Transform, b: Transform): Transform {
  return [
    [a[0][0] * b[0][0] + a[0][1] * b[1][0], a[0][0] * b[0][1] + a[0][1] * b[1][1], a[0][0] * b[0][2] + a[0][1] * b[1][2] + a[0][2]],
    [a[1][0] * b[0][0] + a[1][1] * b[1][0], a[1][0] * b[0][1] + a[1][1] * b[1][1], a[1][0] * b[0][2] + a[1][1] * b[1][2] + a[1][2]],
  ];
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

/**
 * What figma.ui.postMessage carries, and no more: "objects, arrays, numbers, strings, booleans,
 * null, undefined, Date objects and Uint8Array objects" (plugin-api.d.ts, UIAPI.postMessage).
 * structuredClone alone would also carry a Map, a Float32Array or an ArrayBuffer, which Figma does not.
 */
export function messageClone<T>(value: T): T {
  const check = (v: unknown, at: string): void => {
    if (v === null || v === undefined || ['number', 'string', 'boolean'].includes(typeof v)) return;
    // By tag and prototype depth, not instanceof: the plugin's main thread runs in another realm (a vm context in plugin-build).
    const tag = Object.prototype.toString.call(v);
    if (tag === '[object Date]' || tag === '[object Uint8Array]') return;
    if (Array.isArray(v)) return v.forEach((e, i) => check(e, `${at}[${i}]`));
    const proto = typeof v === 'object' ? Object.getPrototypeOf(v) as object | null : undefined;
    if (tag === '[object Object]' && (proto === null || (proto !== undefined && Object.getPrototypeOf(proto) === null))) {
      for (const [k, e] of Object.entries(v)) check(e, `${at}.${k}`);
      return;
    }
    const kind = typeof v === 'object' ? (v as object).constructor?.name ?? 'object' : typeof v;
    throw new Error(`Cannot send ${kind} at ${at} in a plugin message: Figma sends only objects, arrays, numbers, strings, booleans, null, undefined, Date and Uint8Array.`);
  };
  check(value, 'message');
  return clone(value);
}

/**
 * Records the inverse of every document change; commitUndo seals them into one step (as in Figma,
 * changes are not undo steps of their own: "By default, plugin actions are not committed to undo
 * history"). undo() is the designer's Cmd+Z: the newest step, or what is not committed yet.
 */
export class UndoJournal {
  readonly steps: (() => void)[][] = [];
  private pending: (() => void)[] = [];
  recording = true;
  record(inverse: () => void): void {
    if (this.recording) this.pending.push(inverse);
  }
  commit(): void {
    if (this.pending.length) this.steps.push(this.pending);
    this.pending = [];
  }
  get uncommitted(): number {
    return this.pending.length;
  }
  /** Reverts the last step (what Cmd+Z does). Returns false when there is nothing to undo. */
  undo(): boolean {
    const step = this.pending.length ? this.pending : this.steps.pop();
    this.pending = [];
    if (!step) return false;
    const was = this.recording;
    this.recording = false;
    for (let i = step.length - 1; i >= 0; i--) step[i]();
    this.recording = was;
    return true;
  }
}

export class FakeNode implements Omit<SceneFields, 'absoluteBoundingBox'> {
  readonly figma: FakeFigma;
  readonly id: string;
  readonly type: NodeType;
  /** The real tree; the plugin sees it through `parent` and `children` (new objects each read). */
  _parent: FakeNode | null = null;
  _children: FakeNode[] | undefined;
  removed = false;
  private _name: string;
  private _fills: Paint[] | undefined;
  private _strokes: Paint[] = [];
  private _effects: Effect[] = [];
  private _opacity = 1;
  strokeWeight = 1;
  strokeAlign: 'INSIDE' | 'OUTSIDE' | 'CENTER' = 'INSIDE';
  private _transform: Transform = [[1, 0, 0], [0, 1, 0]];
  private _width: number;
  private _height: number;
  private _layoutPositioning: 'AUTO' | 'ABSOLUTE' = 'AUTO';
  private readonly pluginData = new Map<string, string>();
  visible = true;
  layoutMode: 'NONE' | 'HORIZONTAL' | 'VERTICAL' | undefined;
  /** Every exportAsync call, for assertions. */
  readonly exports: ExportSettingsImage[] = [];

  constructor(figma: FakeFigma, type: NodeType, name: string, width = 100, height = 100) {
    this.figma = figma;
    this.type = type;
    this.id = figma.nextId();
    this._name = name;
    this._width = width;
    this._height = height;
    if (CONTAINERS.has(type)) this._children = [];
    if (!NO_FILLS.has(type)) {
      this._fills = [{ type: 'SOLID', color: { r: 0.85, g: 0.85, b: 0.85 } }];
      this.defineFills();
    }
    if (!NO_STROKES.has(type)) this.defineTracked('strokes', () => clone(this._strokes), (v: ReadonlyArray<Paint>) => { this._strokes = clone(v) as Paint[]; });
    if (!NO_EFFECTS.has(type)) this.defineTracked('effects', () => clone(this._effects), (v: ReadonlyArray<Effect>) => { this._effects = clone(v) as Effect[]; });
    if (type !== 'PAGE') {
      this.defineTracked('opacity', () => this._opacity, (v: number) => {
        if (!(v >= 0 && v <= 1)) throw new Error('opacity must be between 0 and 1');
        this._opacity = v;
      });
    }
    if (type === 'FRAME' || type === 'COMPONENT' || type === 'INSTANCE') this.layoutMode = 'NONE';
  }

  /** Writes a value and records how to put the old one back. */
  private track<T>(read: () => T, write: (v: T) => void, value: T): void {
    this.figma.checkOpen();
    const old = read();
    this.figma.journal.record(() => write(old));
    write(value);
  }

  get name(): string { return this._name; }
  set name(v: string) { this.track(() => this._name, (x) => { this._name = x; }, v); }

  /** Only on node types that have fills (as in Figma, `'fills' in group` is false). */
  declare fills: ReadonlyArray<Paint>;
  private defineFills(): void {
    Object.defineProperty(this, 'fills', {
      enumerable: true,
      get: () => clone(this._fills!),
      set: (v: ReadonlyArray<Paint>) => {
        for (const p of v) {
          if (p.type === 'IMAGE' && p.imageHash && !this.figma.images.has(p.imageHash)) throw new Error('Image hash not found');
        }
        this.track(() => this._fills, (x) => { this._fills = x; }, clone(v) as Paint[]);
      },
    });
  }
  declare strokes: ReadonlyArray<Paint>;
  declare effects: ReadonlyArray<Effect>;
  declare opacity: number;
  /** An own property with undo, present only on node types that have it (as in the typings). */
  private defineTracked<T>(key: string, read: () => T, write: (v: T) => void): void {
    Object.defineProperty(this, key, {
      enumerable: true,
      get: read,
      set: (v: T) => this.track(read, write, v),
    });
  }

  get parent(): FakeNode | null { return view(this._parent); }
  get children(): FakeNode[] | undefined { return this._children?.map((c) => view(c)); }

  get width(): number { return this._width; }
  get height(): number { return this._height; }
  resize(width: number, height: number): void {
    this.figma.checkOpen();
    if (!(width >= 0.01 && height >= 0.01)) throw new Error('resize: width and height must be >= 0.01');
    const [w, h] = [this._width, this._height];
    this.figma.journal.record(() => { this._width = w; this._height = h; });
    this._width = width;
    this._height = height;
  }

  get relativeTransform(): Transform { return clone(this._transform); }
  set relativeTransform(t: Transform) {
    if (t.length !== 2 || t.some((row) => row.length !== 3 || row.some((v) => !Number.isFinite(v)))) throw new Error('bad transform');
    this.track(() => this._transform, (x) => { this._transform = x; }, clone(t));
  }
  get x(): number { return this._transform[0][2]; }
  set x(v: number) { const t = this.relativeTransform; t[0][2] = v; this.relativeTransform = t; }
  get y(): number { return this._transform[1][2]; }
  set y(v: number) { const t = this.relativeTransform; t[1][2] = v; this.relativeTransform = t; }
  /** Rotates by `degrees` (counter-clockwise, as Figma) around the node's origin. */
  rotate(degrees: number): void {
    const r = (degrees * Math.PI) / 180;
    const t = this.relativeTransform;
    this.relativeTransform = mul([[t[0][0], t[0][1], t[0][2]], [t[1][0], t[1][1], t[1][2]]], [[Math.cos(r), Math.sin(r), 0], [-Math.sin(r), Math.cos(r), 0]]);
  }

  get layoutPositioning(): 'AUTO' | 'ABSOLUTE' { return this._layoutPositioning; }
  set layoutPositioning(v: 'AUTO' | 'ABSOLUTE') {
    if (!this._parent || this._parent.layoutMode === undefined || this._parent.layoutMode === 'NONE') {
      throw new Error('layoutPositioning can only be set on children of auto-layout frames');
    }
    this.track(() => this._layoutPositioning, (x) => { this._layoutPositioning = x; }, v);
  }

  /** Figma: relative to the containing frame/page, skipping groups and boolean operations. */
  private container(): FakeNode | null {
    let p = this._parent;
    while (p && (p.type === 'GROUP' || p.type === 'BOOLEAN_OPERATION')) p = p._parent;
    return p;
  }
  get absoluteTransform(): Transform {
    const c = this.container();
    if (!c || c.type === 'PAGE') return this.relativeTransform;
    return mul(c.absoluteTransform, this._transform);
  }
  get absoluteBoundingBox(): { x: number; y: number; width: number; height: number } {
    if (this.type === 'GROUP' && this._children && this._children.length) {
      const boxes = this._children.map((c) => c.absoluteBoundingBox);
      const x0 = Math.min(...boxes.map((b) => b.x)), y0 = Math.min(...boxes.map((b) => b.y));
      const x1 = Math.max(...boxes.map((b) => b.x + b.width)), y1 = Math.max(...boxes.map((b) => b.y + b.height));
      return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
    }
    const t = this.absoluteTransform;
    const pts = [[0, 0], [this._width, 0], [0, this._height], [this._width, this._height]].map(([u, v]) => [
      t[0][0] * u + t[0][1] * v + t[0][2], t[1][0] * u + t[1][1] * v + t[1][2],
    ]);
    const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
    return { x: Math.min(...xs), y: Math.min(...ys), width: Math.max(...xs) - Math.min(...xs), height: Math.max(...ys) - Math.min(...ys) };
  }

  getPluginData(key: string): string { return this.pluginData.get(key) ?? ''; }
  setPluginData(key: string, value: string): void {
    this.figma.checkOpen();
    const old = this.pluginData.get(key);
    this.figma.journal.record(() => { if (old === undefined) this.pluginData.delete(key); else this.pluginData.set(key, old); });
    this.pluginData.set(key, value);
  }

  insertChild(index: number, childView: FakeNode): void {
    this.figma.checkOpen();
    const child = unwrap(childView);
    const kids = this._children;
    if (!kids) throw new Error(`${this.type} cannot have children`);
    if (this.type === 'INSTANCE') throw new Error('Cannot move node. New parent is an instance or is inside of an instance');
    if (index < 0 || index > kids.length) throw new Error(`insertChild: index ${index} out of range`);
    const oldParent = child._parent;
    const oldIndex = oldParent?._children?.indexOf(child) ?? -1;
    if (oldParent?._children) oldParent._children.splice(oldIndex, 1);
    if (oldParent === this && oldIndex < index) index--;
    kids.splice(index, 0, child);
    child._parent = this;
    this.figma.journal.record(() => {
      kids.splice(kids.indexOf(child), 1);
      child._parent = oldParent;
      if (oldParent?._children) oldParent._children.splice(oldIndex, 0, child);
    });
  }
  appendChild(childView: FakeNode): void {
    const child = unwrap(childView);
    this.insertChild(this._children ? this._children.length - (child._parent === this ? 1 : 0) : 0, child);
  }
  remove(): void {
    this.figma.checkOpen();
    const self = unwrap(this); // called on a view: find the node itself among its parent's children
    const parent = self._parent;
    if (!parent?._children) return;
    const index = parent._children.indexOf(self);
    parent._children.splice(index, 1);
    self._parent = null;
    self.removed = true;
    this.figma.journal.record(() => { parent._children!.splice(index, 0, self); self._parent = parent; self.removed = false; });
  }

  /** Strokes outside the box, shadows and blurs widen what the layer paints (null when hidden). */
  get absoluteRenderBounds(): { x: number; y: number; width: number; height: number } | null {
    if (!this.visible) return null;
    const b = this.absoluteBoundingBox;
    let grow = 0;
    if (this._strokes.some((p) => p.visible !== false) && this.strokeAlign !== 'INSIDE') {
      grow = this.strokeAlign === 'OUTSIDE' ? this.strokeWeight : this.strokeWeight / 2;
    }
    for (const e of this._effects) {
      if (e.visible === false) continue;
      if (e.type === 'DROP_SHADOW') grow = Math.max(grow, e.radius + (e.spread ?? 0) + Math.max(Math.abs(e.offset.x), Math.abs(e.offset.y)));
      if (e.type === 'LAYER_BLUR') grow = Math.max(grow, e.radius);
    }
    return { x: b.x - grow, y: b.y - grow, width: b.width + 2 * grow, height: b.height + 2 * grow };
  }

  async exportAsync(settings: ExportSettingsImage): Promise<Uint8Array> {
    this.figma.checkOpen();
    if (NOT_EXPORTABLE.has(this.type)) throw new Error('Node cannot be exported');
    if (settings.format !== 'PNG' && settings.format !== 'JPG') throw new Error('unsupported format');
    const c = settings.constraint ?? { type: 'SCALE', value: 1 };
    if (!(c.value > 0) || !Number.isFinite(c.value)) throw new Error(`Invalid export constraint value ${c.value}`);
    this.exports.push(clone(settings));
    // Figma's default is the render bounds; useAbsoluteBounds renders exactly the layer's box.
    const b = settings.useAbsoluteBounds ? this.absoluteBoundingBox : this.absoluteRenderBounds;
    if (!b || b.width <= 0 || b.height <= 0) throw new Error('Node has nothing to render');
    const scale = c.type === 'SCALE' ? c.value : c.type === 'WIDTH' ? c.value / b.width : c.value / b.height;
    const pw = Math.max(1, Math.round(b.width * scale));
    const ph = Math.max(1, Math.round(b.height * scale));
    return this.figma.renderer(this, pw, ph, { box: b, opacity: this._opacity, strokes: clone(this._strokes), effects: clone(this._effects) });
  }

  /** The node and its subtree as plain data, to compare document states. */
  describe(): unknown {
    return {
      id: this.id, type: this.type, name: this._name, fills: this._fills, strokes: this._strokes,
      effects: this._effects, opacity: this._opacity,
      transform: this._transform, width: this._width, height: this._height, layoutPositioning: this._layoutPositioning,
      pluginData: [...this.pluginData.entries()], children: this._children?.map((c) => c.describe()),
    };
  }
}

export class FakePage extends FakeNode {
  private _selection: FakeNode[] = [];
  constructor(figma: FakeFigma, name: string) {
    super(figma, 'PAGE', name, 0, 0);
  }
  get selection(): ReadonlyArray<FakeNode> { return this._selection.filter((n) => !n.removed).map((n) => view(n)); }
  set selection(nodes: ReadonlyArray<FakeNode>) { this._selection = nodes.map((n) => unwrap(n)); }
}

interface FakeImage { hash: string; getBytesAsync(): Promise<Uint8Array>; getSizeAsync(): Promise<{ width: number; height: number }> }

function pngDims(bytes: Uint8Array): { width: number; height: number } | null {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 24 || sig.some((v, i) => bytes[i] !== v)) return null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
}

function hashBytes(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  return `${h.toString(16).padStart(8, '0')}${bytes.length.toString(16)}`;
}

export class FakeFigma {
  readonly editorType: 'figma' | 'figjam';
  readonly journal = new UndoJournal();
  readonly images = new Map<string, Uint8Array>();
  readonly storage = new Map<string, unknown>();
  readonly notifications: { message: string; options?: NotificationOptions }[] = [];
  readonly shownUi: { html: string; options?: ShowUIOptions }[] = [];
  readonly pages: FakePage[] = [];
  currentPage: FakePage;
  closed = false;
  renderer: Renderer;
  /** Fails the next clientStorage call when set (to test storage errors). */
  failStorage = false;
  private idCounter = 1;
  private readonly handlers = new Map<string, (() => void)[]>();

  readonly clientStorage = {
    getAsync: async (key: string): Promise<unknown> => {
      this.checkStorage();
      return this.storage.has(key) ? clone(this.storage.get(key)) : undefined;
    },
    setAsync: async (key: string, value: unknown): Promise<void> => {
      this.checkStorage();
      this.storage.set(key, clone(value)); // throws like Figma for values that cannot be cloned
    },
    deleteAsync: async (key: string): Promise<void> => { this.checkStorage(); this.storage.delete(key); },
    keysAsync: async (): Promise<string[]> => { this.checkStorage(); return [...this.storage.keys()]; },
  };

  /** Messages the main thread posted to the UI, and a hook to deliver them somewhere. */
  readonly ui = {
    sent: [] as unknown[],
    onmessage: undefined as ((message: unknown, props: OnMessageProperties) => void) | undefined,
    deliver: undefined as ((message: unknown) => void) | undefined,
    postMessage: (message: unknown): void => {
      if (this.closed) throw new Error('The plugin is closed');
      const copy = messageClone(message);
      this.ui.sent.push(copy);
      this.ui.deliver?.(copy);
    },
    resize: (_w: number, _h: number): void => {},
    /** What the UI iframe sends: Figma calls onmessage with the pluginMessage (never once the plugin is closed). */
    receive: (message: unknown): void => { if (!this.closed) this.ui.onmessage?.(messageClone(message), { origin: 'null' }); },
  };

  constructor(options: { renderer: Renderer; editorType?: 'figma' | 'figjam' }) {
    this.renderer = options.renderer;
    this.editorType = options.editorType ?? 'figma';
    this.currentPage = this.addPage('Page 1');
  }

  /** After closePlugin, Figma's APIs are disabled: any call throws. */
  checkOpen(): void {
    if (this.closed) throw new Error('The plugin has been closed: figma APIs cannot be used after closePlugin.');
  }

  private checkStorage(): void {
    if (this.failStorage) { this.failStorage = false; throw new Error('Storage quota exceeded'); }
  }

  nextId(): string { return `${this.idCounter++}:1`; }

  addPage(name: string): FakePage {
    const page = new FakePage(this, name);
    this.pages.push(page);
    return page;
  }

  /** Runs test-setup changes without recording them as undoable plugin actions. */
  untracked(fn: () => void): void {
    const was = this.journal.recording;
    this.journal.recording = false;
    try { fn(); } finally { this.journal.recording = was; }
  }

  /** Builds a node in a parent without touching the undo journal (test setup). */
  add(parent: FakeNode, type: NodeType, name: string, box: { x?: number; y?: number; width?: number; height?: number } = {}): FakeNode {
    const was = this.journal.recording;
    this.journal.recording = false;
    const node = new FakeNode(this, type, name, box.width ?? 100, box.height ?? 100);
    parent.appendChild(node);
    node.relativeTransform = [[1, 0, box.x ?? 0], [0, 1, box.y ?? 0]];
    this.journal.recording = was;
    return node;
  }

  select(...nodes: FakeNode[]): void {
    this.currentPage.selection = nodes;
    this.emit('selectionchange');
  }

  on(type: string, callback: () => void): void {
    this.handlers.set(type, [...(this.handlers.get(type) ?? []), callback]);
  }
  off(type: string, callback: () => void): void {
    this.handlers.set(type, (this.handlers.get(type) ?? []).filter((c) => c !== callback));
  }
  emit(type: string): void {
    if (this.closed) return; // callbacks are disabled after closePlugin
    for (const callback of this.handlers.get(type) ?? []) callback();
  }

  async getNodeByIdAsync(id: string): Promise<FakeNode | null> {
    this.checkOpen();
    const visit = (n: FakeNode): FakeNode | null => {
      if (n.id === id) return n;
      for (const c of n._children ?? []) { const f = visit(c); if (f) return f; }
      return null;
    };
    for (const page of this.pages) { const f = visit(page); if (f) return view(f); }
    return null;
  }

  createImage(data: Uint8Array): FakeImage {
    this.checkOpen();
    const dims = pngDims(data);
    if (!dims) throw new Error('Image type is unsupported');
    if (dims.width > 4096 || dims.height > 4096) throw new Error('Image is too large');
    const hash = hashBytes(data);
    this.images.set(hash, new Uint8Array(data));
    return { hash, getBytesAsync: async () => new Uint8Array(data), getSizeAsync: async () => dims };
  }

  createRectangle(): FakeNode {
    this.checkOpen();
    const rect = new FakeNode(this, 'RECTANGLE', 'Rectangle');
    this.currentPage.appendChild(rect);
    return view(rect);
  }

  commitUndo(): void {
    this.checkOpen();
    this.journal.commit();
  }

  showUI(html: string, options?: ShowUIOptions): void { this.shownUi.push({ html, options }); }

  notify(message: string, options?: NotificationOptions): { cancel(): void } {
    this.notifications.push({ message, options });
    return { cancel() {} };
  }

  /**
   * "close" callbacks run (synchronously: the plugin is torn down when they return), then what the
   * plugin left uncommitted becomes one undo step, then every API is disabled.
   */
  closePlugin(): void {
    if (this.closed) return;
    this.emit('close');
    this.journal.commit();
    this.closed = true;
  }

  /** The whole document as plain data. */
  describe(): unknown { return this.pages.map((p) => p.describe()); }

  /** This fake as the plugin sees it (the typed slice of the plugin API). */
  asApi(): FigmaApi { return this as unknown as FigmaApi; }
}
