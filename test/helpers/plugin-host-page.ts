/**
 * Browser side of the UI test's host page: plays Figma. It runs the real built main thread
 * (code.js) against the fake `figma`, and shows the real built UI (ui.html) in a sandboxed iframe
 * (origin "null", as in Figma) whose document carries Figma's Content-Security-Policy for the
 * manifest's allowedDomains, bridging Figma's postMessage convention in both directions. Every
 * securitypolicyviolation in the window is recorded for the test.
 * Layers render from real images with a canvas; the page also draws the fake document (a small
 * Figma canvas: every layer of the page at its box, with its image fill), so a screenshot shows what
 * the designer would see. Bundled by esbuild for the page; test-only.
 */
import { FakeFigma, type FakeNode } from './fake-figma.ts';

export interface LayerSpec {
  name: string;
  /** URL of the picture this layer shows. */
  image: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface StartOptions {
  /** Preloaded figma.clientStorage entries. */
  storage?: Record<string, unknown>;
  layers: LayerSpec[];
  /** Figma's policy for the window (test/helpers/figma-manifest-rules.ts figmaCsp), or none. */
  csp?: string | null;
}

export interface Violation {
  blockedURI: string;
  directive: string;
}

const bitmaps = new Map<string, Promise<ImageBitmap>>();
const imageOf = new Map<string, string>();
const byName = new Map<string, FakeNode>();
let fake: FakeFigma | null = null;
let iframe: HTMLIFrameElement | null = null;
const violations: Violation[] = [];

/**
 * Figma's window: its CSP as the first thing in <head>, so it governs every script and connection,
 * then a reporter that hands each violation to this page (inline scripts are what the policy allows).
 */
function withPolicy(html: string, csp: string): string {
  const attr = csp.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
  const reporter = '<script>document.addEventListener("securitypolicyviolation",function(e){parent.postMessage({cspViolation:{blockedURI:e.blockedURI,directive:e.violatedDirective}},"*")});</script>';
  const head = /<head[^>]*>/i.exec(html);
  if (!head) throw new Error('ui.html has no <head>');
  const at = head.index + head[0].length;
  return `${html.slice(0, at)}<meta http-equiv="Content-Security-Policy" content="${attr}">${reporter}${html.slice(at)}`;
}

function bitmap(url: string): Promise<ImageBitmap> {
  let b = bitmaps.get(url);
  if (!b) {
    b = fetch(url).then((r) => {
      if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
      return r.blob();
    }).then((blob) => createImageBitmap(blob));
    bitmaps.set(url, b);
  }
  return b;
}

async function render(node: FakeNode, width: number, height: number): Promise<Uint8Array> {
  const url = imageOf.get(node.id);
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d')!;
  if (url) ctx.drawImage(await bitmap(url), 0, 0, width, height);
  else { ctx.fillStyle = '#d9d9d9'; ctx.fillRect(0, 0, width, height); }
  const blob = await canvas.convertToBlob({ type: 'image/png' });
  return new Uint8Array(await blob.arrayBuffer());
}

const fillBitmaps = new Map<string, Promise<ImageBitmap>>();
function fillBitmap(hash: string): Promise<ImageBitmap> | null {
  const bytes = fake?.images.get(hash);
  if (!bytes) return null;
  let b = fillBitmaps.get(hash);
  if (!b) {
    b = createImageBitmap(new Blob([bytes as unknown as BlobPart], { type: 'image/png' }));
    fillBitmaps.set(hash, b);
  }
  return b;
}

/** Draws the page's layers as Figma would show them: image fills stretched to each layer's box, names above. */
async function drawDocument(canvas: HTMLCanvasElement): Promise<void> {
  const f = fake;
  if (!f) return;
  const layers = f.currentPage._children ?? [];
  const pictures = await Promise.all(layers.map((n) => {
    const paint = ('fills' in n ? n.fills : []).find((p) => p.type === 'IMAGE') as { imageHash?: string } | undefined;
    if (paint?.imageHash) return fillBitmap(paint.imageHash);
    const url = imageOf.get(n.id);
    return url ? bitmap(url) : null;
  }));
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#f5f5f5';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.font = '11px sans-serif';
  const pad = 24;
  for (const [i, n] of layers.entries()) {
    const b = n.absoluteBoundingBox;
    const x = b.x + pad, y = b.y + pad;
    if (pictures[i]) ctx.drawImage(pictures[i]!, x, y, b.width, b.height);
    else { ctx.fillStyle = '#d9d9d9'; ctx.fillRect(x, y, b.width, b.height); }
    ctx.fillStyle = '#333';
    // A result covers its source, so its name goes under the box, the source's above it.
    ctx.fillText(n.name, x, n.name.includes(' · ') ? y + b.height + 13 : y - 4);
  }
}

function node(name: string): FakeNode {
  const n = byName.get(name) ?? fake?.currentPage.children?.find((c) => c.name === name);
  if (!n) throw new Error(`No layer named ${name}`);
  return n;
}

async function startPlugin(options: StartOptions): Promise<Record<string, string>> {
  const [html, code] = await Promise.all([
    fetch('/ui.html').then((r) => r.text()),
    fetch('/code.js').then((r) => r.text()),
  ]);
  const f = new FakeFigma({ renderer: render });
  fake = f;
  // The document, as a canvas above the plugin window, redrawn a few times a second.
  const canvas = document.createElement('canvas');
  canvas.id = 'document';
  canvas.width = 760;
  canvas.height = 220;
  canvas.style.cssText = 'display:block;border-bottom:1px solid #999';
  document.body.prepend(canvas);
  setInterval(() => { void drawDocument(canvas); }, 200);
  for (const [k, v] of Object.entries(options.storage ?? {})) f.storage.set(k, v);
  const ids: Record<string, string> = {};
  for (const spec of options.layers) {
    const n = f.add(f.currentPage, 'RECTANGLE', spec.name, spec);
    imageOf.set(n.id, spec.image);
    byName.set(spec.name, n);
    ids[spec.name] = n.id;
  }
  // Figma's side of the window: showUI makes the iframe, postMessage crosses into it.
  f.showUI = (uiHtml, opts) => {
    iframe = document.createElement('iframe');
    iframe.id = 'plugin-ui';
    iframe.setAttribute('sandbox', 'allow-scripts');
    iframe.style.cssText = `width:${opts?.width ?? 360}px;height:${opts?.height ?? 640}px;border:1px solid #999;background:#fff`;
    iframe.srcdoc = options.csp ? withPolicy(uiHtml, options.csp) : uiHtml;
    document.body.append(iframe);
    f.shownUi.push({ html: uiHtml, options: opts });
  };
  f.ui.deliver = (message) => iframe?.contentWindow?.postMessage({ pluginMessage: message }, '*');
  window.addEventListener('message', (event) => {
    if (!iframe || event.source !== iframe.contentWindow) return;
    const data = event.data as { pluginMessage?: unknown; cspViolation?: Violation } | null;
    if (data && typeof data === 'object' && data.cspViolation) violations.push(data.cspViolation);
    else if (data && typeof data === 'object' && 'pluginMessage' in data) f.ui.receive(data.pluginMessage);
  });
  const close = f.closePlugin.bind(f);
  f.closePlugin = () => {
    iframe?.remove(); // what Figma does with the plugin window
    iframe = null;
    close();
  };
  const g = globalThis as unknown as { figma: unknown; __html__: string };
  g.figma = f.asApi();
  g.__html__ = html;
  (0, eval)(code); // the real, built main thread
  return ids;
}

const api = {
  startPlugin,
  select(...names: string[]): void {
    fake!.select(...names.map(node));
  },
  /** Names of the page's layers, bottom to top. */
  layerNames(): string[] {
    return fake!.currentPage.children!.map((c) => c.name);
  },
  layer(name: string): { id: string; box: unknown; fills: unknown; index: number } {
    const n = node(name);
    return { id: n.id, box: n.absoluteBoundingBox, fills: 'fills' in n ? n.fills : null, index: fake!.currentPage.children!.findIndex((c) => c.id === n.id) };
  },
  /** The bytes of the image a layer's IMAGE fill shows. */
  imageBytes(name: string): number[] {
    const paint = node(name).fills.find((p) => p.type === 'IMAGE') as { imageHash: string } | undefined;
    if (!paint) throw new Error(`${name} has no image fill`);
    return Array.from(fake!.images.get(paint.imageHash)!);
  },
  storage(key: string): unknown {
    return fake!.storage.get(key);
  },
  /** Every CSP violation in the plugin window so far. */
  violations(): Violation[] {
    return violations.slice();
  },
  undoSteps(): number {
    return fake!.journal.steps.length;
  },
  /** The whole document as plain data (to compare states). */
  document(): string {
    return JSON.stringify(fake!.describe());
  },
  /** Cmd+Z: undoes the newest step. */
  undo(): boolean {
    return fake!.journal.undo();
  },
  /** The image hash a layer's IMAGE fill shows, or null (no such layer or no image fill). */
  imageHash(name: string): string | null {
    const n = byName.get(name) ?? fake?.currentPage.children?.find((c) => c.name === name);
    const paint = n && 'fills' in n ? (n.fills.find((p) => p.type === 'IMAGE') as { imageHash?: string } | undefined) : undefined;
    return paint?.imageHash ?? null;
  },
  closePlugin(): void {
    fake!.closePlugin();
  },
};

(globalThis as unknown as { host: typeof api }).host = api;
