/**
 * Browser side of the Photopea tests: plays Photopea, the parent window of the plugin panel. The
 * test serves it at https://www.photopea.com (Playwright answers the request; no network) and it
 * frames the plugin page the real companion serves, like Photopea frames a plugin.
 *
 * It answers exactly what Photopea documents for Live Messaging (photopea.com/api/live) and
 * scripts (photopea.com/learn/scripts): a string from the plugin is a script, run against a small
 * Photoshop-like document model (app.activeDocument, doc.layers (top first), activeLayer, width,
 * height, layer.name / visible / bounds [left, top, right, bottom] / translate / resize, LayerSet
 * groups); while it runs, doc.saveToOE("png") posts the canvas as an ArrayBuffer and
 * app.echoToOE(s) posts the string s; then Photopea posts "done".
 *
 * It is as strict as the real Photopea's interpreter, as a plugin author recorded it inside Photopea
 * (see docs/photopea.md): scripts with `finally` or a `return` inside try/catch are refused (they
 * would run wrongly there); a read of a property of undefined ends the script silently (nothing
 * posted, no "done", no catch runs); layer.bounds are UnitValues, trimmed to the opaque pixels, and
 * are the selection's bounds while a selection is active (transforms then touch only the selection);
 * app.open(dataURL, null, true) only starts loading the picture: it lands after the script has ended
 * and posted its "done" (Photopea's maintainer: the next line runs before the opening is finished,
 * photopea/photopea#1611, #6137, #8799), above the layer active then, centred and shrunk to fit the
 * canvas, with an extra "done"; every read of app.activeDocument gives a new
 * object (documents fail ===); there is no suspendHistory; hiding the panel destroys the plugin's
 * page. The checks on the script text run in the test (Node, TypeScript's parser): see
 * photopea-es5.ts. Photopea's own "done" (when it is ready) and ping-like messages are sent as
 * noise. Faults are injected on demand: a script swallowed, answered late, answered without
 * "done", or not run at all.
 * Test-only; bundled by esbuild for the page.
 */

export interface LayerSpec {
  name: string;
  /** URL of the picture this layer shows (drawn at width x height), or a fill colour. */
  image?: string;
  color?: string;
  x: number;
  y: number;
  width: number;
  height: number;
  visible?: boolean;
  /** Children: this is a group (LayerSet) and x/y/size are ignored. */
  layers?: LayerSpec[];
}

export interface StartOptions {
  pluginUrl: string;
  doc: { name: string; width: number; height: number; layers: LayerSpec[] };
  active: string;
  /** Photopea's own "done" at start and ping-like messages every 200 ms (default true). */
  noise?: boolean;
  /** How long after its script's "done" a picture app.open loads lands in the document (default 300 ms). */
  openDelayMs?: number;
}

export interface Faults {
  /** The next N scripts get no answer at all (not run, nothing posted). */
  swallow: number;
  /** The next script is run this many ms late (its answers arrive late). */
  delayMs: number;
  /** The next N scripts are answered without the final "done". */
  dropDone: number;
  /** The next N scripts are not run: only "done" comes back (as for a script Photopea cannot parse). */
  unrunnable: number;
  /** Faults hit only scripts containing this text (e.g. "saveToOE"); "" = any script. */
  match: string;
}

type Layer = ArtLayer | LayerSet;

/** Photoshop's UnitValue, which Photopea's bounds are made of: a number only through .value / as(). */
class UnitValue {
  constructor(readonly value: number, readonly type = 'px') {}
  as(_unit: string): number { return this.value; }
  toString(): string { return `${this.value} ${this.type}`; }
}
const units = (b: number[]) => b.map((v) => new UnitValue(v));

let nextLayerId = 2; // Photoshop-style ids: unique per document, never reused

/** The box of a picture's non-transparent pixels, in its own pixels; null when it has none. */
function opaqueBox(bitmap: ImageBitmap): number[] | null {
  const c = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = c.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0);
  const d = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
  for (let y = 0; y < bitmap.height; y++) {
    for (let x = 0; x < bitmap.width; x++) {
      if (d[(y * bitmap.width + x) * 4 + 3] === 0) continue;
      x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x + 1); y1 = Math.max(y1, y + 1);
    }
  }
  return x1 < 0 ? null : [x0, y0, x1, y1];
}

class ArtLayer {
  readonly typename = 'ArtLayer';
  readonly id = nextLayerId++;
  visible = true;
  /** Opaque part, as fractions of the layer's box (so it scales with the layer). */
  readonly opaque: number[] | null;
  constructor(
    public name: string,
    public bitmap: ImageBitmap | null,
    public color: string | null,
    public x: number,
    public y: number,
    public width: number,
    public height: number,
    public smart = false,
  ) {
    const o = bitmap ? opaqueBox(bitmap) : [0, 0, 1, 1];
    const w = bitmap ? bitmap.width : 1, h = bitmap ? bitmap.height : 1;
    this.opaque = o && [o[0] / w, o[1] / h, o[2] / w, o[3] / h];
  }

  /** The box of its opaque pixels in document pixels (what Photoshop and Photopea report), or null. */
  trimmed(): number[] | null {
    const o = this.opaque;
    if (!o || this.width <= 0 || this.height <= 0) return null;
    return [this.x + o[0] * this.width, this.y + o[1] * this.height, this.x + o[2] * this.width, this.y + o[3] * this.height].map(Math.round);
  }

  /** While a selection is active, Photopea reports the selection's bounds instead of the layer's. */
  get bounds(): UnitValue[] {
    return units(doc.selection ?? this.trimmed() ?? [0, 0, 0, 0]);
  }

  translate(dx: unknown, dy: unknown): void {
    if (doc.selection) log.errors.push(`translate of "${this.name}" with a selection active moves only the selected pixels`);
    this.x += num(dx);
    this.y += num(dy);
  }

  /** Photoshop's ArtLayer.resize(horizontal %, vertical %, anchor) about the opaque box's corner; TOPLEFT only here. */
  resize(h: unknown, v: unknown, anchor: unknown): void {
    if (anchor !== AnchorPosition.TOPLEFT) throw new Error('stand-in: resize supports AnchorPosition.TOPLEFT only');
    if (doc.selection) log.errors.push(`resize of "${this.name}" with a selection active scales only the selected pixels`);
    const box = this.trimmed();
    if (!box) return;
    const kx = num(h) / 100, ky = num(v) / 100;
    this.x = box[0] - (box[0] - this.x) * kx;
    this.y = box[1] - (box[1] - this.y) * ky;
    this.width *= kx;
    this.height *= ky;
  }
}

function num(v: unknown): number {
  return v instanceof UnitValue ? v.value : Number(v);
}

class LayerSet {
  readonly typename = 'LayerSet';
  readonly id = nextLayerId++;
  visible = true;
  constructor(public name: string, public layers: Layer[]) {}

  trimmed(): number[] | null {
    const boxes = this.layers.map((l) => l.trimmed()).filter((b): b is number[] => b !== null);
    if (!boxes.length) return null;
    return [Math.min(...boxes.map((b) => b[0])), Math.min(...boxes.map((b) => b[1])), Math.max(...boxes.map((b) => b[2])), Math.max(...boxes.map((b) => b[3]))];
  }

  get bounds(): UnitValue[] {
    return units(doc.selection ?? this.trimmed() ?? [0, 0, 0, 0]);
  }
}

const AnchorPosition = Object.freeze({ TOPLEFT: 1, MIDDLECENTER: 5 });

interface Doc {
  name: string;
  width: number;
  height: number;
  layers: Layer[];
  activeLayer: Layer;
  /** The active selection's box, or null. */
  selection: number[] | null;
}

let doc: Doc;
let iframe: HTMLIFrameElement | null = null;
let pluginUrl = '';
let noise = true;
let openDelayMs = 300;
const faults: Faults = { swallow: 0, delayMs: 0, dropDone: 0, unrunnable: 0, match: '' };
const log = {
  scripts: [] as string[],
  errors: [] as string[],
  /** Scripts refused because Photopea's interpreter would run them wrongly (finally, return in try, not ES5). */
  refused: [] as string[],
  /** Scripts that read a property of undefined: Photopea ends them silently (nothing posted, no "done"). */
  silentEnds: [] as string[],
  /** Scripts that arrived while an earlier one was still being answered. */
  overlaps: 0,
  /** ArrayBuffers the plugin sent (Photopea would open each as a new document). */
  buffersIn: 0,
  noiseSent: 0,
  /** Extra "done"s Photopea posts when a picture is opened. */
  extraDone: 0,
  /** Pictures app.open loaded that have landed in the document. */
  landed: 0,
};
let busy = false;
const inbox: string[] = [];

function post(data: unknown): void {
  iframe?.contentWindow?.postMessage(data, '*');
}

async function bitmapFrom(url: string): Promise<ImageBitmap> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return createImageBitmap(await res.blob());
}

async function build(spec: LayerSpec): Promise<Layer> {
  let layer: Layer;
  if (spec.layers) layer = new LayerSet(spec.name, await Promise.all(spec.layers.map(build)));
  else layer = new ArtLayer(spec.name, spec.image ? await bitmapFrom(spec.image) : null, spec.color ?? null, spec.x, spec.y, spec.width, spec.height);
  layer.visible = spec.visible ?? true;
  return layer;
}

/** Every layer, depth first, top first, with its container and a readable path. */
function all(): { layer: Layer; container: { layers: Layer[] }; path: string }[] {
  const out: { layer: Layer; container: { layers: Layer[] }; path: string }[] = [];
  const walk = (container: { layers: Layer[] }, prefix: string) => {
    for (const l of container.layers) {
      out.push({ layer: l, container, path: prefix + l.name });
      if (l instanceof LayerSet) walk(l, `${prefix}${l.name}/`);
    }
  };
  walk(doc, '');
  return out;
}

function byName(name: string): Layer {
  const hit = all().find((e) => e.layer.name === name);
  if (!hit) throw new Error(`stand-in: no layer named ${name}`);
  return hit.layer;
}

function drawLayers(ctx: OffscreenCanvasRenderingContext2D, layers: Layer[]): void {
  for (let i = layers.length - 1; i >= 0; i--) { // bottom first
    const l = layers[i];
    if (!l.visible) continue;
    if (l instanceof LayerSet) drawLayers(ctx, l.layers);
    else if (l.bitmap) ctx.drawImage(l.bitmap, l.x, l.y, l.width, l.height);
    else { ctx.fillStyle = l.color ?? '#808080'; ctx.fillRect(l.x, l.y, l.width, l.height); }
  }
}

/** The canvas as PNG, drawn now (a fresh canvas, so later changes cannot reach it). */
function renderPng(): Promise<ArrayBuffer> {
  const canvas = new OffscreenCanvas(doc.width, doc.height);
  drawLayers(canvas.getContext('2d')!, doc.layers);
  return canvas.convertToBlob({ type: 'image/png' }).then((b) => b.arrayBuffer());
}

/**
 * Where a picture app.open(dataURL, null, true) loaded lands, once it has loaded: above the layer
 * active at that moment, as the new active layer, centred on the canvas and shrunk to fit it.
 */
function placeSmart(bitmap: ImageBitmap): void {
  const active = all().find((e) => e.layer === doc.activeLayer);
  const container = active?.container ?? doc;
  const index = active ? container.layers.indexOf(active.layer) : 0;
  const k = Math.min(1, doc.width / bitmap.width, doc.height / bitmap.height);
  const w = Math.round(bitmap.width * k), h = Math.round(bitmap.height * k);
  const layer = new ArtLayer('Placed Image', bitmap, null, Math.round((doc.width - w) / 2), Math.round((doc.height - h) / 2), w, h, true);
  container.layers.splice(index, 0, layer);
  doc.activeLayer = layer;
}

const DATA_URL = /data:image\/png;base64,[A-Za-z0-9+/=]+/g;

/** What the page gets from the test (Node): the checks Photopea's interpreter imposes, and the script rewritten to die on undefined reads. */
interface Prepared { refusals: string[]; code: string }
declare function photopeaPrepare(script: string): Promise<Prepared>;
const READ_GUARD = '__photopeaRead';
const READ_DEATH = '__photopeaDeath';

/** A new object every time, as Photopea's documents fail `===`; no suspendHistory. */
function documentFacade(outputs: (string | Promise<ArrayBuffer>)[]): object {
  return {
    get name() { return doc.name; },
    get width() { return new UnitValue(doc.width); },
    get height() { return new UnitValue(doc.height); },
    get layers() { return doc.layers; },
    get activeLayer() { return doc.activeLayer; },
    set activeLayer(l: Layer) {
      if (!all().some((e) => e.layer === l)) throw new Error('stand-in: activeLayer set to something that is not a layer of this document');
      doc.activeLayer = l;
    },
    get selection() {
      return {
        get bounds() {
          if (!doc.selection) throw new Error('There is no selection'); // as in Photoshop
          return units(doc.selection);
        },
        deselect() { doc.selection = null; },
        store(channel: { box: number[] | null }) { channel.box = doc.selection ? [...doc.selection] : null; },
        load(channel: { box: number[] | null }) { doc.selection = channel.box ? [...channel.box] : null; },
        /** Photoshop's select(region): here the region's bounding box. */
        select(region: number[][]) {
          const xs = region.map((pt) => num(pt[0])), ys = region.map((pt) => num(pt[1]));
          doc.selection = [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
        },
      };
    },
    get channels() {
      return { add: () => ({ box: null as number[] | null, remove() {} }) };
    },
    saveToOE(format: unknown) {
      if (format !== 'png') throw new Error(`stand-in: saveToOE(${String(format)}) not supported`);
      outputs.push(renderPng());
    },
  };
}

/** Pictures app.open started loading during the current script; they land after its "done". */
const loading: ImageBitmap[] = [];

function landLater(bitmaps: ImageBitmap[]): void {
  setTimeout(() => {
    for (const b of bitmaps) {
      if (!doc) continue;
      placeSmart(b);
      log.landed++;
      post('done'); // Photopea's own "done" for the opened picture, in the middle of whatever runs then
      log.extraDone++;
    }
  }, openDelayMs);
}

async function runScript(script: string): Promise<'ran' | 'refused' | 'silent'> {
  const outputs: (string | Promise<ArrayBuffer>)[] = [];
  const prepared = await photopeaPrepare(script);
  if (prepared.refusals.length) {
    log.refused.push(prepared.refusals.join('; '));
    return 'refused';
  }
  // Decoded before the script runs; they land only after it (see placeSmart and pump).
  const pictures = new Map<string, ImageBitmap>();
  for (const url of new Set(script.match(DATA_URL) ?? [])) pictures.set(url, await bitmapFrom(url));
  const app = {
    get activeDocument() { return doc ? documentFacade(outputs) : undefined; },
    get documents() { return doc ? [documentFacade(outputs)] : []; },
    echoToOE(s: unknown) { outputs.push(String(s)); },
    open(url: unknown, _as: unknown, asSmart: unknown) {
      if (asSmart !== true) throw new Error('stand-in: app.open without asSmart would open a new document');
      const bitmap = pictures.get(String(url));
      if (!bitmap) throw new Error('stand-in: app.open takes a PNG data: URL here');
      loading.push(bitmap);
    },
  };
  const death = { toString: () => 'read of a property of undefined' };
  const guard = (o: unknown, name: string) => {
    if (o === undefined || o === null) {
      log.silentEnds.push(`read .${name} of ${String(o)}`);
      throw death;
    }
    return o;
  };
  try {
    new Function('app', 'AnchorPosition', READ_GUARD, READ_DEATH, prepared.code)(app, AnchorPosition, guard, death);
  } catch (err) {
    if (err === death) return 'silent'; // nothing posted, no "done"
    log.errors.push(`script threw: ${(err as Error).message}`); // Photopea reports it in its console
  }
  for (const o of outputs) post(typeof o === 'string' ? o : await o);
  return 'ran';
}

async function pump(): Promise<void> {
  if (busy) return;
  busy = true;
  while (inbox.length) {
    const script = inbox.shift()!;
    const hit = script.includes(faults.match);
    if (hit && faults.swallow > 0) { faults.swallow--; continue; }
    if (hit && faults.delayMs > 0) {
      const ms = faults.delayMs;
      faults.delayMs = 0;
      await new Promise((r) => setTimeout(r, ms));
    }
    if (hit && faults.unrunnable > 0) {
      faults.unrunnable--;
      post('done');
      continue;
    }
    const ran = await runScript(script);
    const opened = loading.splice(0);
    if (opened.length) landLater(opened); // the script and its "done" come first
    if (ran === 'silent') continue;
    if (hit && faults.dropDone > 0) faults.dropDone--;
    else post('done');
  }
  busy = false;
}

window.addEventListener('message', (event) => {
  if (!iframe || event.source !== iframe.contentWindow) return;
  if (typeof event.data === 'string') {
    log.scripts.push(event.data);
    if (busy) log.overlaps++;
    inbox.push(event.data);
    void pump();
  } else if (event.data instanceof ArrayBuffer) {
    log.buffersIn++;
  }
});

interface LayerInfo { name: string; path: string; typename: string; visible: boolean; bounds: number[]; smart: boolean; index: number }

const api = {
  async start(options: StartOptions): Promise<void> {
    const layers = await Promise.all(options.doc.layers.map(build));
    doc = { name: options.doc.name, width: options.doc.width, height: options.doc.height, layers, activeLayer: layers[0], selection: null };
    doc.activeLayer = byName(options.active);
    pluginUrl = options.pluginUrl;
    noise = options.noise ?? true;
    openDelayMs = options.openDelayMs ?? 300;
    api.showPanel();
    if (noise) {
      setInterval(() => {
        log.noiseSent++;
        post(log.noiseSent % 2 ? { type: 'ping', t: Date.now() } : 'ping');
      }, 200);
    }
  },
  /** Photopea destroys a plugin's panel (its iframe and page) when the panel is hidden. */
  hidePanel(): void {
    iframe?.remove();
    iframe = null;
    inbox.length = 0;
  },
  /** Opening the panel again loads the plugin page afresh. */
  showPanel(): void {
    if (iframe) return;
    const frame = document.createElement('iframe');
    frame.id = 'plugin';
    frame.style.cssText = 'width:360px;height:640px;border:0';
    frame.src = pluginUrl;
    if (noise) frame.addEventListener('load', () => post('done'), { once: true }); // "initialized and ready"
    document.body.append(frame);
    iframe = frame;
  },
  /** A rectangular selection [left, top, right, bottom], or null to deselect (the user's marquee). */
  setSelection(box: number[] | null): void {
    doc.selection = box && [...box];
  },
  selection(): number[] | null {
    return doc.selection && [...doc.selection];
  },
  layerId(name: string): number {
    return byName(name).id;
  },
  select(name: string): void {
    doc.activeLayer = byName(name);
  },
  setVisible(name: string, visible: boolean): void {
    byName(name).visible = visible;
  },
  /** Every layer: top first, depth first. */
  layers(): LayerInfo[] {
    return all().map(({ layer, container, path }) => ({
      name: layer.name, path, typename: layer.typename, visible: layer.visible, bounds: layer.trimmed() ?? [0, 0, 0, 0],
      smart: layer instanceof ArtLayer && layer.smart, index: container.layers.indexOf(layer),
    }));
  },
  activeName(): string {
    return doc.activeLayer.name;
  },
  /** One layer's own picture as PNG bytes (what it shows, at its size in the document). */
  async layerPng(name: string): Promise<number[]> {
    const l = byName(name);
    if (!(l instanceof ArtLayer)) throw new Error(`${name} is a group`);
    const w = Math.round(l.width), h = Math.round(l.height);
    const canvas = new OffscreenCanvas(w, h);
    const ctx = canvas.getContext('2d')!;
    if (l.bitmap) ctx.drawImage(l.bitmap, 0, 0, w, h);
    else { ctx.fillStyle = l.color ?? '#808080'; ctx.fillRect(0, 0, w, h); }
    return Array.from(new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer()));
  },
  removeLayer(name: string): void {
    const hit = all().find((e) => e.layer.name === name);
    if (!hit) throw new Error(`stand-in: no layer named ${name}`);
    hit.container.layers.splice(hit.container.layers.indexOf(hit.layer), 1);
    if (doc.activeLayer === hit.layer) doc.activeLayer = doc.layers[0];
  },
  fault(f: Partial<Faults>): void {
    Object.assign(faults, f);
  },
  log(): typeof log & { idle: boolean } {
    return { ...log, scripts: [...log.scripts], errors: [...log.errors], refused: [...log.refused], silentEnds: [...log.silentEnds], idle: !busy && inbox.length === 0 };
  },
  resetLog(): void {
    log.scripts.length = 0;
    log.errors.length = 0;
    log.refused.length = 0;
    log.silentEnds.length = 0;
    log.overlaps = 0;
    log.buffersIn = 0;
    log.landed = 0;
  },
};

(globalThis as unknown as { photopea: typeof api }).photopea = api;
