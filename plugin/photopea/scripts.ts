/**
 * The scripts the plugin sends to Photopea. Photopea runs scripts in its own interpreter of old
 * JavaScript (ES5 with Photoshop's document model), so everything in these strings is ES5: `var`,
 * function expressions, string concatenation; results are JSON built by hand with __q. Values from
 * the plugin enter only through jsLiteral, never by pasting text into code.
 *
 * Photopea's interpreter differs from a browser's (recorded by a plugin author inside Photopea; see
 * docs/photopea.md), so these scripts follow four rules:
 * - no `finally` (it does not run) and no `return` inside try/catch (it is lost): a try block only
 *   records what failed, and the code after it decides;
 * - every property read whose object can be undefined is guarded: such a read ends the script with
 *   no output, no "done" and no catch, which the plugin could only see as a timeout;
 * - layers are addressed by `layer.id` (stable while the document is open), never by path or name;
 * - while a selection is active, `layer.bounds` are the selection's and transforms move only the
 *   selected pixels, so the selection is stored, cleared and put back around bounds reads and
 *   transforms.
 *
 * Every body returns a string (a JSON object) that the bridge hands back; errors a designer should
 * read come back as {"error": code, "message": text}.
 */

/** A JavaScript literal for a value, safe inside ES5 source (U+2028/2029 and lone surrogates escaped). */
export function jsLiteral(value: string | number | boolean | null | readonly (string | number)[]): string {
  return JSON.stringify(value).replace(/[\u2028\u2029\ud800-\udfff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Helpers every script starts with. __num reads a UnitValue (Photopea's bounds and sizes) or a
 * number; __box gives a layer's bounds as numbers (null when Photopea gives none); __byId finds a
 * layer and the groups above it (__layer: the layer alone, or null); __selSave / __selRestore store, clear and put back the selection.
 */
export const PRELUDE = String.raw`
function __num(v) {
  if (typeof v === "number") return v;
  if (v === undefined || v === null) return NaN;
  if (typeof v.value === "number") return v.value;
  return parseFloat(String(v));
}
function __q(s) {
  s = String(s);
  var out = "\"";
  for (var i = 0; i < s.length; i++) {
    var c = s.charAt(i), k = s.charCodeAt(i);
    if (c === "\"" || c === "\\") out += "\\" + c;
    else if (k < 32 || k === 8232 || k === 8233 || (k >= 55296 && k <= 57343)) {
      var h = k.toString(16);
      out += "\\u" + "0000".substr(h.length) + h;
    } else out += c;
  }
  return out + "\"";
}
function __err(code, message) {
  return "{\"error\":" + __q(code) + ",\"message\":" + __q(message) + "}";
}
function __doc() {
  var d = null;
  try { d = app.activeDocument; } catch (e) { d = null; }
  return d ? d : null;
}
function __four(b) {
  if (!b || typeof b.length !== "number" || b.length < 4) return null;
  var r = [__num(b[0]), __num(b[1]), __num(b[2]), __num(b[3])];
  for (var i = 0; i < 4; i++) if (!(r[i] === r[i])) return null;
  return r;
}
function __box(l) {
  return l ? __four(l.bounds) : null;
}
function __kids(c) {
  var ls = c ? c.layers : null;
  return ls && typeof ls.length === "number" ? ls : null;
}
function __isGroup(l) {
  return l.typename === "LayerSet" || (__kids(l) !== null && l.typename !== "ArtLayer");
}
function __walk(container, chain, visit) {
  var ls = __kids(container);
  if (!ls) return false;
  for (var i = 0; i < ls.length; i++) {
    var l = ls[i];
    if (!l) continue;
    var c = chain.concat([l]);
    if (visit(l, c)) return true;
    if (__isGroup(l) && __walk(l, c, visit)) return true;
  }
  return false;
}
function __byId(doc, id) {
  var found = null;
  __walk(doc, [], function (l, c) {
    if (l.id === id) found = c;
    return found !== null;
  });
  return found;
}
function __layer(doc, id) {
  var chain = id === null ? null : __byId(doc, id);
  return chain ? chain[chain.length - 1] : null;
}
function __shown(chain) {
  for (var i = 0; i < chain.length; i++) if (!chain[i].visible) return false;
  return true;
}
function __selBox(doc) {
  var sel = doc.selection, b = null;
  if (!sel) return null;
  try { b = __four(sel.bounds); } catch (e) { b = null; }
  return b && b[2] - b[0] > 0 && b[3] - b[1] > 0 ? b : null;
}
function __selSave(doc) {
  var box = __selBox(doc);
  if (!box) return null;
  var sel = doc.selection, saved = { box: box, ch: null };
  try {
    var chs = doc.channels;
    if (chs && typeof chs.add === "function" && typeof sel.store === "function" && typeof sel.load === "function") {
      saved.ch = chs.add();
      sel.store(saved.ch);
    }
  } catch (e) { saved.ch = null; }
  sel.deselect();
  return saved;
}
function __selRestore(doc, saved) {
  if (!saved) return;
  var sel = doc.selection;
  if (!sel) return;
  if (saved.ch) {
    sel.load(saved.ch);
    if (typeof saved.ch.remove === "function") saved.ch.remove();
  } else if (typeof sel.select === "function") {
    var b = saved.box;
    sel.select([[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]]]);
  }
}
function __idOf(l) {
  var id = l.id;
  return typeof id === "number" || typeof id === "string" ? String(id) : null;
}
`;

/** The active document and its active layer (read only: the selection is left alone, so its bounds are not read while one is active). */
export function selectionScript(): string {
  return PRELUDE + String.raw`
var doc = __doc();
if (!doc) return "{\"doc\":null}";
var out = "{\"doc\":{\"name\":" + __q(doc.name) + ",\"width\":" + __num(doc.width) + ",\"height\":" + __num(doc.height) + "}";
var L = doc.activeLayer;
if (L) {
  var id = __idOf(L);
  var chain = id === null ? null : __byId(doc, L.id);
  var shown = chain ? __shown(chain) : !!L.visible;
  var selected = __selBox(doc) !== null;
  var b = selected ? null : __box(L);
  out += ",\"layer\":{\"id\":" + (id === null ? "null" : __q(id)) + ",\"name\":" + __q(L.name) +
    ",\"group\":" + (__isGroup(L) ? "true" : "false") + ",\"visible\":" + (shown ? "true" : "false") +
    ",\"bounds\":" + (b ? "[" + b.join(",") + "]" : "null") + ",\"selection\":" + (selected ? "true" : "false") + "}";
}
return out + "}";
`;
}

/**
 * Exports one layer: the selection is put aside, every layer beside the layer and its groups is
 * hidden, the document is saved to the plugin as PNG (doc.saveToOE("png") posts an ArrayBuffer),
 * then every visibility changed and the selection are put back, also when saving fails. Returns
 * the layer's bounds (its opaque pixels) and the document's size (the PNG is the whole canvas).
 */
export function exportScript(layerId: number): string {
  return PRELUDE + String.raw`
var doc = __doc();
if (!doc) return __err("not_found", "No document is open in Photopea. Open one and pick the layer again.");
var chain = __byId(doc, ` + jsLiteral(layerId) + String.raw`);
if (!chain) return __err("not_found", "The layer is no longer in the document (deleted, or another document is active). Pick it again.");
var L = chain[chain.length - 1];
if (!__shown(chain)) return __err("unsupported", "\u201c" + L.name + "\u201d is hidden. Show it (eye icon in the Layers panel) to stylize it.");
var saved = __selSave(doc);
var b = __box(L);
if (!b || !(b[2] - b[0] >= 1 && b[3] - b[1] >= 1)) {
  __selRestore(doc, saved);
  return __err("unsupported", "\u201c" + L.name + "\u201d has no pixels. Pick a layer with content.");
}
var keep = {};
for (var k = 0; k < chain.length; k++) keep["i" + chain[k].id] = true;
var changed = [];
var containers = [doc].concat(chain.slice(0, chain.length - 1));
for (var d = 0; d < containers.length; d++) {
  var ls = __kids(containers[d]);
  for (var i = 0; ls && i < ls.length; i++) {
    var l = ls[i];
    if (l && !keep["i" + l.id] && l.visible) { changed.push(l); l.visible = false; }
  }
}
var failed = null;
try { doc.saveToOE("png"); } catch (e) { failed = e ? e : "unknown error"; }
for (var j = changed.length - 1; j >= 0; j--) changed[j].visible = true;
__selRestore(doc, saved);
if (failed !== null) return __err("export_failed", "Photopea could not save the document as PNG: " + (failed.message ? failed.message : String(failed)));
return "{\"id\":" + __q(__idOf(L)) + ",\"name\":" + __q(L.name) + ",\"bounds\":[" + b.join(",") + "]" +
  ",\"doc\":[" + __num(doc.width) + "," + __num(doc.height) + "]}";
`;
}

export interface OpenParams {
  /** The source layer's id; null when unknown. The picture goes above it. */
  sourceId: number | null;
  dataUrl: string;
}

/**
 * Starts adding a result: makes the source layer active and opens the PNG (a data: URL) into the
 * document with app.open(url, null, true). Photopea only starts loading it there: the picture lands
 * above the active layer, centred and shrunk to fit the canvas, as the new active layer, but
 * possibly after this script and its "done" (photopea/photopea#1611, #6137, #8799). So this returns
 * the ids of the layers there before, and placedScript finds the new one once it has landed. The
 * selection is put aside meanwhile.
 */
export function openScript(p: OpenParams): string {
  if (!p.dataUrl.startsWith('data:image/png;base64,')) throw new Error('openScript takes a PNG data: URL.');
  return PRELUDE + String.raw`
var doc = __doc();
if (!doc) return __err("place_failed", "No document is open in Photopea, so the result has nowhere to go. Open the document again and run Stylize again.");
var src = __layer(doc, ` + jsLiteral(p.sourceId) + String.raw`);
if (src) doc.activeLayer = src;
var before = [];
__walk(doc, [], function (l) { var id = __idOf(l); if (id !== null) before.push(__q(id)); return false; });
var saved = __selSave(doc);
app.open(` + jsLiteral(p.dataUrl) + String.raw`, null, true);
__selRestore(doc, saved);
return "{\"before\":[" + before.join(",") + "]}";
`;
}

export interface PlacedParams {
  /** Ids of the layers there before the picture was opened (openScript's answer). */
  before: readonly string[];
  /** The source layer's id; null when unknown. "replace" hides it. */
  sourceId: number | null;
  /** Where the PNG's top-left corner goes, in document pixels. */
  x: number;
  y: number;
  /** The PNG's opaque pixels [left, top, right, bottom] in its own pixels: what Photopea's bounds will report. */
  opaque: readonly [number, number, number, number];
  newName: string;
  hide: boolean;
}

/**
 * Finishes adding a result once its picture has landed: finds the layer that was not there before
 * (the active one, else the first new one), scales it back to its size if Photopea shrank it, moves
 * its opaque pixels onto their place, names it, and for "replace" hides the source (kept, never
 * deleted). Answers {"pending":true} while the picture has not landed. The selection is put aside
 * meanwhile. Photopea records each step as its own undo step (it has no suspendHistory).
 */
export function placedScript(p: PlacedParams): string {
  const [ox0, oy0, ox1, oy1] = p.opaque;
  return PRELUDE + String.raw`
var doc = __doc();
if (!doc) return __err("place_failed", "No document is open in Photopea, so the result has nowhere to go. Open the document again and run Stylize again.");
var seen = {}, B = ` + jsLiteral(p.before) + String.raw`;
for (var i = 0; i < B.length; i++) seen["i" + B[i]] = true;
var isNew = function (l) { var id = l ? __idOf(l) : null; return id !== null && !seen["i" + id]; };
var A = doc.activeLayer;
if (!isNew(A)) {
  A = null;
  __walk(doc, [], function (l) { if (isNew(l)) A = l; return A !== null; });
}
if (!A) return "{\"pending\":true}";
var src = __layer(doc, ` + jsLiteral(p.sourceId) + String.raw`);
var saved = __selSave(doc);
var TX = ` + jsLiteral(p.x + ox0) + ', TY = ' + jsLiteral(p.y + oy0) + ', W = ' + jsLiteral(ox1 - ox0) + ', H = ' + jsLiteral(oy1 - oy0) + String.raw`;
var b = __box(A);
if (b && b[2] - b[0] >= 1 && b[3] - b[1] >= 1 && (Math.abs(b[2] - b[0] - W) > 1 || Math.abs(b[3] - b[1] - H) > 1)) {
  A.resize(W / (b[2] - b[0]) * 100, H / (b[3] - b[1]) * 100, AnchorPosition.TOPLEFT);
  b = __box(A);
}
if (b && (Math.abs(b[0] - TX) >= 0.5 || Math.abs(b[1] - TY) >= 0.5)) A.translate(TX - b[0], TY - b[1]);
A.name = ` + jsLiteral(p.newName) + String.raw`;
var hidden = false;
if (` + jsLiteral(p.hide) + String.raw` && src && src.id !== A.id) { src.visible = false; hidden = true; }
b = __box(A);
__selRestore(doc, saved);
return "{\"id\":" + __q(__idOf(A)) + ",\"found\":" + (src ? "true" : "false") + ",\"bounds\":" + (b ? "[" + b.join(",") + "]" : "null") +
  ",\"hidden\":" + (hidden ? "true" : "false") + "}";
`;
}
