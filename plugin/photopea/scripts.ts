/**
 * The scripts the plugin sends to Photopea. Photopea runs scripts written in old JavaScript (ES3/ES5
 * with Photoshop's document model), so everything in these strings is ES5: `var`, function
 * expressions, string concatenation; no arrow functions, template literals, let/const, classes,
 * spread or JSON (results are built by hand with __q). Values from the plugin enter only through
 * jsLiteral, never by pasting text into code.
 *
 * Every body returns a string (a JSON object, built with __q) that the bridge hands back; errors a
 * designer should read come back as {"error": code, "message": text}.
 *
 * Layers are addressed by their path from the bottom of each layer list (doc.layers[0] is the top
 * layer in Photoshop's model, so bottom-based indices do not change when a layer is added above),
 * checked against the layer's name; if the name no longer matches, a layer with that name is looked
 * for (when exactly one has it).
 */

/** A JavaScript literal for a value, safe inside ES5 source (U+2028/2029 and lone surrogates escaped). */
export function jsLiteral(value: string | number | boolean | null | readonly (string | number)[]): string {
  return JSON.stringify(value).replace(/[\u2028\u2029\ud800-\udfff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Helpers every script starts with. __q quotes a string as JSON; __num reads a number that may be a
 * UnitValue (Photoshop) or a plain number (Photopea).
 */
export const PRELUDE = String.raw`
function __num(v) {
  if (typeof v === "number") return v;
  if (v && typeof v.value === "number") return v.value;
  return parseFloat(v);
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
function __box(l) {
  var b = l.bounds;
  return [__num(b[0]), __num(b[1]), __num(b[2]), __num(b[3])];
}
function __isGroup(l) {
  return l.typename === "LayerSet" || (l.layers && typeof l.layers.length === "number" && l.typename !== "ArtLayer");
}
function __at(doc, path) {
  var c = doc, chain = [];
  for (var i = 0; i < path.length; i++) {
    var ls = c.layers;
    if (!ls) return null;
    var k = ls.length - 1 - path[i];
    if (k < 0 || k >= ls.length) return null;
    c = ls[k];
    chain.push(c);
  }
  return chain.length ? chain : null;
}
function __walk(container, path, chain, visit) {
  var ls = container.layers;
  if (!ls) return false;
  for (var i = 0; i < ls.length; i++) {
    var l = ls[i];
    var p = path.concat([ls.length - 1 - i]);
    var c = chain.concat([l]);
    if (visit(l, p, c)) return true;
    if (__isGroup(l) && __walk(l, p, c, visit)) return true;
  }
  return false;
}
function __count(doc) {
  var n = 0;
  __walk(doc, [], [], function () { n++; return false; });
  return n;
}
function __find(doc, path, name) {
  var chain = __at(doc, path);
  if (chain && chain[chain.length - 1].name === name) return { chain: chain, path: path };
  var hits = [];
  __walk(doc, [], [], function (l, p, c) {
    if (l.name === name) hits.push({ chain: c, path: p });
    return false;
  });
  return hits.length === 1 ? hits[0] : null;
}
function __pathOf(doc, layer) {
  var found = null;
  __walk(doc, [], [], function (l, p) {
    if (l === layer) { found = p; return true; }
    return false;
  });
  return found;
}
function __shown(chain) {
  for (var i = 0; i < chain.length; i++) if (!chain[i].visible) return false;
  return true;
}
function __doc() {
  try { return app.activeDocument || null; } catch (e) { return null; }
}
`;

export interface ScriptParams {
  path: readonly number[];
  name: string;
}

/** The active document and its active layer (read only: nothing in the document changes). */
export function selectionScript(): string {
  return PRELUDE + String.raw`
var doc = __doc();
if (!doc) return "{\"doc\":null}";
var out = "{\"doc\":{\"name\":" + __q(doc.name) + ",\"width\":" + __num(doc.width) + ",\"height\":" + __num(doc.height) + "}";
var L = null;
try { L = doc.activeLayer; } catch (e) { L = null; }
if (L) {
  var path = __pathOf(doc, L);
  var shown = L.visible;
  if (path) shown = __shown(__at(doc, path));
  var b = __box(L);
  out += ",\"layer\":{\"name\":" + __q(L.name) + ",\"group\":" + (__isGroup(L) ? "true" : "false") +
    ",\"visible\":" + (shown ? "true" : "false") + ",\"bounds\":[" + b.join(",") + "]" +
    ",\"path\":" + (path ? "[" + path.join(",") + "]" : "null") + "}";
}
return out + "}";
`;
}

/**
 * Exports one layer: every other layer is hidden, the document is saved to the plugin as PNG
 * (doc.saveToOE("png") posts an ArrayBuffer), and every visibility changed is put back, also when
 * saving fails. Returns the layer's bounds and the document's size (the PNG is the whole canvas).
 */
export function exportScript(p: ScriptParams): string {
  return PRELUDE + String.raw`
var doc = __doc();
if (!doc) return __err("not_found", "No document is open in Photopea. Open one and pick the layer again.");
var name = ` + jsLiteral(p.name) + String.raw`;
var hit = __find(doc, ` + jsLiteral(p.path) + String.raw`, name);
if (!hit) return __err("not_found", "The layer \u201c" + name + "\u201d is no longer in the document (deleted, renamed, or another document is active). Pick it again.");
var chain = hit.chain, path = hit.path, L = chain[chain.length - 1];
if (!__shown(chain)) return __err("unsupported", "\u201c" + L.name + "\u201d is hidden. Show it (eye icon in the Layers panel) to stylize it.");
var b = __box(L);
if (!(b[2] - b[0] >= 1 && b[3] - b[1] >= 1)) return __err("unsupported", "\u201c" + L.name + "\u201d has no pixels. Pick a layer with content.");
var changed = [];
function setVisible(l, v) {
  if (l.visible !== v) { changed.push([l, l.visible]); l.visible = v; }
}
function hideOthers(container, depth) {
  var ls = container.layers;
  var keep = ls.length - 1 - path[depth];
  for (var i = 0; i < ls.length; i++) {
    if (i !== keep) setVisible(ls[i], false);
    else if (depth < path.length - 1) hideOthers(ls[i], depth + 1);
  }
}
try {
  hideOthers(doc, 0);
  doc.saveToOE("png");
} finally {
  for (var j = changed.length - 1; j >= 0; j--) changed[j][0].visible = changed[j][1];
}
return "{\"name\":" + __q(L.name) + ",\"path\":[" + path.join(",") + "],\"bounds\":[" + b.join(",") + "]" +
  ",\"doc\":[" + __num(doc.width) + "," + __num(doc.height) + "]}";
`;
}

/**
 * Before a result is opened into the document: makes the source layer active (Photopea adds the
 * opened picture above the active layer) and counts the layers, so the new one can be recognised.
 */
export function preparePlaceScript(p: ScriptParams): string {
  return PRELUDE + String.raw`
var doc = __doc();
if (!doc) return __err("not_found", "No document is open in Photopea, so the result has nowhere to go. Open the document again and run Stylize again.");
var hit = __find(doc, ` + jsLiteral(p.path) + ', ' + jsLiteral(p.name) + String.raw`);
if (hit) doc.activeLayer = hit.chain[hit.chain.length - 1];
return "{\"found\":" + (hit ? "true" : "false") + ",\"count\":" + __count(doc) + (hit ? ",\"path\":[" + hit.path.join(",") + "]" : "") + "}";
`;
}

/**
 * Opens a PNG (as a data: URL) into the active document: app.open(url, as, asSmart) with asSmart
 * true pastes the picture into the current document as a smart object layer. Alone in its script,
 * because the picture may still be loading when the script's last statement has run.
 */
export function openAsLayerScript(dataUrl: string): string {
  if (!dataUrl.startsWith('data:image/png;base64,')) throw new Error('openAsLayerScript takes a PNG data: URL.');
  return PRELUDE + 'app.open(' + jsLiteral(dataUrl) + ', null, true);\nreturn "{}";\n';
}

export interface SettleParams {
  /** The layer count before the picture was opened. */
  before: number;
  /** Where the picture goes (document pixels) and its size there. */
  x: number;
  y: number;
  width: number;
  height: number;
  newName: string;
  /** Replace: hide this layer (the source) once the result is in place. */
  hide?: ScriptParams;
}

/**
 * After app.open: the new layer is the active one. Waits (returns {"pending":true}) until it is
 * there, then scales it to the source's size if Photopea scaled it, moves it onto the source's
 * bounds, names it, and for "replace" hides the source (kept, never deleted).
 */
export function settlePlaceScript(p: SettleParams): string {
  return PRELUDE + String.raw`
var doc = __doc();
if (!doc) return __err("place_failed", "The document was closed while the result was being added.");
if (__count(doc) < ` + jsLiteral(p.before + 1) + String.raw`) return "{\"pending\":true}";
var A = doc.activeLayer;
var X = ` + jsLiteral(p.x) + ', Y = ' + jsLiteral(p.y) + ', W = ' + jsLiteral(p.width) + ', H = ' + jsLiteral(p.height) + String.raw`;
var b = __box(A);
var w = b[2] - b[0], h = b[3] - b[1];
if (w >= 1 && h >= 1 && (Math.abs(w - W) > 1 || Math.abs(h - H) > 1)) {
  A.resize(W / w * 100, H / h * 100, AnchorPosition.TOPLEFT);
  b = __box(A);
}
if (b[0] !== X || b[1] !== Y) A.translate(X - b[0], Y - b[1]);
A.name = ` + jsLiteral(p.newName) + String.raw`;
var hidden = "null";
` + (p.hide ? String.raw`var src = __find(doc, ` + jsLiteral(p.hide.path) + ', ' + jsLiteral(p.hide.name) + String.raw`);
if (src && src.chain[src.chain.length - 1] !== A) {
  src.chain[src.chain.length - 1].visible = false;
  hidden = "[" + src.path.join(",") + "]";
}
` : '') + String.raw`var path = __pathOf(doc, A);
b = __box(A);
return "{\"path\":" + (path ? "[" + path.join(",") + "]" : "null") + ",\"bounds\":[" + b.join(",") + "],\"hidden\":" + hidden + "}";
`;
}
