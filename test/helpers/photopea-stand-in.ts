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
 * app.echoToOE(s) posts the string s; then Photopea posts "done". app.open(url, null, true) pastes
 * the picture into the active document as a smart object above the active layer, centred on the
 * canvas (what Photoshop's Place does); "done" follows once it is loaded. Photopea's own "done"
 * (when it is ready) and ping-like messages are sent as noise. Faults are injected on demand:
 * a script swallowed, answered late, answered without "done", or not run at all.
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

class ArtLayer {
  readonly typename = 'ArtLayer';
  visible = true;
  constructor(
    public name: string,
    public bitmap: ImageBitmap | null,
    public color: string | null,
    public x: number,
    public y: number,
    public width: number,
    public height: number,
    public smart = false,
  ) {}

  get bounds(): number[] {
    return [this.x, this.y, this.x + this.width, this.y + this.height];
  }

  translate(dx: unknown, dy: unknown): void {
    this.x += Number(dx);
    this.y += Number(dy);
  }

  /** Photoshop's ArtLayer.resize(horizontal %, vertical %, anchor); TOPLEFT only here. */
  resize(h: unknown, v: unknown, anchor: unknown): void {
    if (anchor !== AnchorPosition.TOPLEFT) throw new Error('stand-in: resize supports AnchorPosition.TOPLEFT only');
    this.width = Math.round((this.width * Number(h)) / 100);
    this.height = Math.round((this.height * Number(v)) / 100);
  }
}

class LayerSet {
  readonly typename = 'LayerSet';
  visible = true;
  constructor(public name: string, public layers: Layer[]) {}

  get bounds(): number[] {
    const boxes = this.layers.map((l) => l.bounds);
    if (!boxes.length) return [0, 0, 0, 0];
    return [Math.min(...boxes.map((b) => b[0])), Math.min(...boxes.map((b) => b[1])), Math.max(...boxes.map((b) => b[2])), Math.max(...boxes.map((b) => b[3]))];
  }
}

const AnchorPosition = Object.freeze({ TOPLEFT: 1, MIDDLECENTER: 5 });

interface Doc {
  name: string;
  width: number;
  height: number;
  layers: Layer[];
  activeLayer: Layer;
  saveToOE(format: string): void;
}

let doc: Doc;
let iframe: HTMLIFrameElement;
const faults: Faults = { swallow: 0, delayMs: 0, dropDone: 0, unrunnable: 0, match: '' };
const log = {
  scripts: [] as string[],
  errors: [] as string[],
  /** Scripts that arrived while an earlier one was still being answered. */
  overlaps: 0,
  /** ArrayBuffers the plugin sent (Photopea would open each as a new document). */
  buffersIn: 0,
  noiseSent: 0,
};
let busy = false;
const inbox: string[] = [];

function post(data: unknown): void {
  iframe.contentWindow?.postMessage(data, '*');
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

async function placeSmart(url: string): Promise<void> {
  const bitmap = await bitmapFrom(url);
  const active = all().find((e) => e.layer === doc.activeLayer);
  const container = active?.container ?? doc;
  const index = active ? container.layers.indexOf(active.layer) : 0;
  // Placed centred on the canvas, like Photoshop's Place; the plugin has to move it.
  const layer = new ArtLayer('Placed Image', bitmap, null, Math.round((doc.width - bitmap.width) / 2), Math.round((doc.height - bitmap.height) / 2), bitmap.width, bitmap.height, true);
  container.layers.splice(index, 0, layer); // above the active layer
  doc.activeLayer = layer;
}

/** Photopea runs old JavaScript; the stand-in refuses the obvious modern syntax as Photopea would fail on it. */
function modernSyntax(script: string): string | null {
  const m = /=>|`|\blet\s|\bconst\s|\bclass\s|\?\.|\?\?/.exec(script.replace(/data:image\/png;base64,[A-Za-z0-9+/=]+/g, ''));
  return m ? m[0] : null;
}

async function runScript(script: string): Promise<void> {
  const outputs: (string | Promise<ArrayBuffer>)[] = [];
  const loads: Promise<void>[] = [];
  const app = {
    get activeDocument() { return doc; },
    get documents() { return [doc]; },
    echoToOE(s: unknown) { outputs.push(String(s)); },
    open(url: unknown, _as: unknown, asSmart: unknown) {
      if (asSmart !== true) throw new Error('stand-in: app.open without asSmart would open a new document');
      loads.push(placeSmart(String(url)));
    },
  };
  doc.saveToOE = (format: string) => {
    if (format !== 'png') throw new Error(`stand-in: saveToOE(${format}) not supported`);
    outputs.push(renderPng());
  };
  const bad = modernSyntax(script);
  if (bad) log.errors.push(`modern syntax in a script: ${bad}`);
  else {
    try {
      new Function('app', 'AnchorPosition', script)(app, AnchorPosition);
    } catch (err) {
      log.errors.push(`script threw: ${(err as Error).message}`); // Photopea reports it in its console
    }
  }
  try {
    await Promise.all(loads);
  } catch (err) {
    log.errors.push(`app.open failed: ${(err as Error).message}`);
  }
  for (const o of outputs) post(typeof o === 'string' ? o : await o);
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
    await runScript(script);
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
    doc = { name: options.doc.name, width: options.doc.width, height: options.doc.height, layers, activeLayer: layers[0], saveToOE: () => {} };
    doc.activeLayer = byName(options.active);
    iframe = document.createElement('iframe');
    iframe.id = 'plugin';
    iframe.style.cssText = 'width:360px;height:640px;border:0';
    iframe.src = options.pluginUrl;
    document.body.append(iframe);
    if (options.noise ?? true) {
      iframe.addEventListener('load', () => post('done'), { once: true }); // "initialized and ready"
      setInterval(() => {
        log.noiseSent++;
        post(log.noiseSent % 2 ? { type: 'ping', t: Date.now() } : 'ping');
      }, 200);
    }
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
      name: layer.name, path, typename: layer.typename, visible: layer.visible, bounds: layer.bounds,
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
    const canvas = new OffscreenCanvas(l.width, l.height);
    const ctx = canvas.getContext('2d')!;
    if (l.bitmap) ctx.drawImage(l.bitmap, 0, 0, l.width, l.height);
    else { ctx.fillStyle = l.color ?? '#808080'; ctx.fillRect(0, 0, l.width, l.height); }
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
    return { ...log, scripts: [...log.scripts], errors: [...log.errors], idle: !busy && inbox.length === 0 };
  },
  resetLog(): void {
    log.scripts.length = 0;
    log.errors.length = 0;
    log.overlaps = 0;
    log.buffersIn = 0;
  },
};

(globalThis as unknown as { photopea: typeof api }).photopea = api;
