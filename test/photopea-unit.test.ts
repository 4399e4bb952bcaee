/**
 * The Photopea editor's parts without a browser: every script the plugin can send (as the bridge
 * wraps it, with awkward layer names) is plain ES5 and avoids what Photopea's interpreter gets wrong
 * (finally, return inside try), while every script of the old plugin (test/fixtures) is refused;
 * a read of a property of undefined ends a script past its catch (shown on an old script, survived
 * by the new one); values enter scripts only as literals that read back exactly, the scripts' own
 * JSON quoting (__q) round-trips, layer ids are Photopea's, and the settings store copes with bad
 * stored values and with storage the browser refuses.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PhotopeaBridge } from '../plugin/photopea/bridge.ts';
import { EditorError } from '../plugin/editor/editor.ts';
import { DEFAULT_SETTINGS } from '../plugin/editor/settings.ts';
import { parseLayerId } from '../plugin/photopea/editor.ts';
import { PageSettingsStore, SETTINGS_KEY, STORAGE_BLOCKED } from '../plugin/photopea/settings-store.ts';
import { PRELUDE, exportScript, jsLiteral, openScript, placedScript, selectionScript } from '../plugin/photopea/scripts.ts';
import { READ_DEATH, READ_GUARD, es5Problems, instrumentReads, photopeaRefusals } from './helpers/photopea-es5.ts';
import * as old from './fixtures/photopea-scripts-old.ts';

const NAMES = ['Photo', 'He said "hi"', 'back\\slash', 'line\u2028sep\u2029para', 'emoji 😀', 'lone \ud800 half', '</script>', 'tab\tnew\nline', ''];

const PNG = 'data:image/png;base64,iVBORw0KGgo=';

function allScripts(name: string): string[] {
  return [
    selectionScript(),
    exportScript(12),
    openScript({ sourceId: 12, dataUrl: PNG }),
    openScript({ sourceId: null, dataUrl: PNG }),
    placedScript({ before: ['2', '12', name], sourceId: 12, x: 16, y: 12, opaque: [0, 0, 64, 48], newName: `${name} · Starry Night`, hide: false }),
    placedScript({ before: [], sourceId: null, x: 0, y: 0, opaque: [2, 3, 5, 7], newName: name, hide: true }),
  ];
}

function oldScripts(name: string): string[] {
  return [
    old.selectionScript(),
    old.exportScript({ path: [3, 0], name }),
    old.preparePlaceScript({ path: [1], name }),
    old.openAsLayerScript(PNG),
    old.settlePlaceScript({ before: 4, x: 16, y: 12, width: 64, height: 48, newName: `${name} · Starry Night` }),
  ];
}

test('every script the plugin sends is ES5 and free of what Photopea runs wrongly, as the bridge wraps it, whatever the layer names', async () => {
  const posted: string[] = [];
  const bridge = new PhotopeaBridge({ post: (m) => posted.push(m), listen: () => () => {} }, { timeoutMs: 20, session: 'test' });
  const runs: Promise<unknown>[] = [];
  for (const name of NAMES) for (const body of allScripts(name)) runs.push(bridge.run(body).catch(() => {}));
  await Promise.all(runs); // each times out (nothing answers), which posts the next
  assert.equal(posted.length, NAMES.length * allScripts("").length);
  for (const script of posted) {
    assert.deepEqual(es5Problems(script), [], script.slice(0, 400));
    assert.deepEqual(photopeaRefusals(script), [], script.slice(0, 400));
  }
  // The checkers themselves catch what Photopea cannot run.
  assert.deepEqual(es5Problems('let a = () => `x`; var { b } = c;'), ['let/const', 'arrow function', 'template literal', 'destructuring']);
  assert.deepEqual(es5Problems('var a = ;'), ['syntax error: Expression expected.']);
  assert.equal(photopeaRefusals('try { f(); } finally { g(); }').length, 1);
  assert.equal(photopeaRefusals('function f() { try { return 1; } catch (e) { return 2; } }').length, 2);
  assert.deepEqual(photopeaRefusals('function f() { try { g(function () { return 1; }); } catch (e) { h(); } return 3; }'), [], 'a return in a function called from try is its own');
});

test('the strict stand-in refuses every script of the old plugin (finally, return inside try)', () => {
  for (const name of ['Photo', 'He said "hi"']) {
    for (const [i, body] of oldScripts(name).entries()) {
      const refusals = photopeaRefusals(old.oldWrap(i, body));
      assert.ok(refusals.length > 0, `old script ${i} would have been accepted`);
      assert.ok(refusals.some((r) => /return inside try/.test(r)), refusals.join('; '));
    }
  }
  assert.ok(photopeaRefusals(old.oldWrap(1, old.exportScript({ path: [0], name: 'Photo' }))).some((r) => /finally/.test(r)), 'the old export restored visibility in a finally block');
});

/** Runs a wrapped script as the strict stand-in does (instrumented reads) against a plain object model. */
function runInstrumented(script: string, app: object): { echoes: string[]; silent: boolean } {
  const echoes: string[] = [];
  const death = {};
  const guard = (o: unknown) => { if (o === undefined || o === null) throw death; return o; };
  const withEcho = { ...app, echoToOE: (s: unknown) => echoes.push(String(s)) };
  try {
    new Function('app', 'AnchorPosition', READ_GUARD, READ_DEATH, instrumentReads(script))(withEcho, { TOPLEFT: 1 }, guard, death);
  } catch (err) {
    if (err === death) return { echoes: [], silent: true };
    throw err;
  }
  return { echoes, silent: false };
}

test('a read of a property of undefined ends the script past its catch: it breaks the old selection read, the new one survives', () => {
  // An adjustment layer (or any layer Photopea gives no bounds) is the active one.
  const unit = (v: number) => ({ value: v, type: 'px' });
  const adjustment = { id: 7, name: 'Curves', typename: 'ArtLayer', visible: true, bounds: undefined };
  const document = { name: 'Poster', width: unit(96), height: unit(72), layers: [adjustment], activeLayer: adjustment, selection: {} };
  const app = { activeDocument: document };

  assert.equal(runInstrumented('try { var x = undefined; x.y; } catch (e) { app.echoToOE("caught"); }', app).silent, true, 'no catch runs');
  const before = runInstrumented(old.oldWrap(1, old.selectionScript()), app);
  assert.equal(before.silent, true, 'the old selection script reads bounds[0] of undefined');
  const bridge = new PhotopeaBridge({ post: () => {}, listen: () => () => {} }, { session: 'x' });
  const wrapped = (bridge as unknown as { wrap(n: number, body: string): string }).wrap(1, selectionScript());
  bridge.dispose();
  const after = runInstrumented(wrapped, app);
  assert.equal(after.silent, false);
  const answer = JSON.parse(after.echoes[1].replace(/^stylize\|x\|k\|1\|/, ''));
  assert.deepEqual(answer.layer, { id: '7', name: 'Curves', group: false, visible: true, bounds: null, selection: false });
});

test('values enter scripts as literals that read back exactly; the scripts quote their answers as JSON', () => {
  for (const name of NAMES) {
    const literal = jsLiteral(name);
    assert.ok(!/[\u2028\u2029\ud800-\udfff]/.test(literal), 'no raw line separators or surrogates in the source');
    assert.equal(new Function(`return ${literal};`)(), name);
    const quoted = new Function('s', `${PRELUDE}\nreturn __q(s);`)(name) as string;
    assert.ok(/^[\x20-\x7e\u00a0-\u2027\u202a-\ud7ff\ue000-\uffff]*$/.test(quoted), `only plain characters: ${quoted}`);
    assert.equal(JSON.parse(quoted), name);
  }
  assert.equal(jsLiteral([3, 0]), '[3,0]');
  assert.throws(() => openScript({ sourceId: 1, dataUrl: 'https://example.com/x.png' }), /PNG data: URL/);
});

test('layer ids are Photopea\'s numeric layer ids; anything else is refused', () => {
  assert.equal(parseLayerId('12'), 12);
  assert.equal(parseLayerId('0'), 0);
  for (const bad of ['', '3.0:Bridge', '-1', '1e3', 'x', '9'.repeat(16)]) assert.equal(parseLayerId(bad), null, bad);
});

test('settings: stored in the page\'s storage, bad values fall back, the port is the serving companion\'s; blocked storage is said once', () => {
  const map = new Map<string, string>();
  const storage = { getItem: (k: string) => map.get(k) ?? null, setItem: (k: string, v: string) => { map.set(k, v); } };
  const store = new PageSettingsStore(storage, 7850);
  assert.deepEqual(store.load(), { ...DEFAULT_SETTINGS, port: 7850 });
  const saved = store.save({ ...DEFAULT_SETTINGS, iterations: 42, token: ' T0KEN ', port: 1234 });
  assert.equal(saved.token, 'T0KEN');
  assert.equal(saved.port, 7850, 'the page talks to the companion that served it');
  assert.equal(JSON.parse(map.get(SETTINGS_KEY)!).iterations, 42);
  assert.equal(new PageSettingsStore(storage, 7850).load().iterations, 42, 'a new page reads them back');
  map.set(SETTINGS_KEY, JSON.stringify({ iterations: -5, strength: 70, outputMode: 'sideways' }));
  const coerced = store.load();
  assert.deepEqual([coerced.iterations, coerced.strength, coerced.outputMode], [DEFAULT_SETTINGS.iterations, 70, DEFAULT_SETTINGS.outputMode]);
  map.set(SETTINGS_KEY, '{not json');
  assert.equal(store.load().iterations, DEFAULT_SETTINGS.iterations);
  assert.throws(() => store.save({ iterations: 0 }), (e: unknown) => e instanceof EditorError && e.code === 'bad_request' && /Iterations/.test(e.message));

  const blocked = new PageSettingsStore(null, null);
  assert.throws(() => blocked.save({ ...DEFAULT_SETTINGS, token: 'ABC' }), (e: unknown) => e instanceof EditorError && e.code === 'storage_failed' && e.message === STORAGE_BLOCKED);
  assert.equal(blocked.load().token, 'ABC', 'kept for the session');
  assert.equal(blocked.save({ ...DEFAULT_SETTINGS, token: 'DEF' }).token, 'DEF', 'said once, then quiet');
  assert.equal(blocked.load().token, 'DEF');
  assert.equal(blocked.persistent, false);
});
