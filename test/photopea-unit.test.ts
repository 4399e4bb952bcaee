/**
 * The Photopea host's parts without a browser: every script the plugin can send (as the bridge
 * wraps it, with awkward layer names) is plain ES5, values enter scripts only as literals that read
 * back exactly, the scripts' own JSON quoting (__q) round-trips, layer ids round-trip, and the
 * settings store copes with bad stored values and with storage the browser refuses.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PhotopeaBridge } from '../plugin/photopea/bridge.ts';
import { HostError } from '../plugin/host/host.ts';
import { DEFAULT_SETTINGS } from '../plugin/host/settings.ts';
import { layerId, parseLayerId } from '../plugin/photopea/host.ts';
import { PageSettingsStore, SETTINGS_KEY, STORAGE_BLOCKED } from '../plugin/photopea/settings-store.ts';
import {
  PRELUDE, exportScript, jsLiteral, openAsLayerScript, preparePlaceScript, selectionScript, settlePlaceScript,
} from '../plugin/photopea/scripts.ts';
import { es5Problems } from './helpers/photopea-es5.ts';

const NAMES = ['Photo', 'He said "hi"', 'back\\slash', 'line\u2028sep\u2029para', 'emoji 😀', 'lone \ud800 half', '</script>', 'tab\tnew\nline', ''];

function allScripts(name: string): string[] {
  return [
    selectionScript(),
    exportScript({ path: [3, 0], name }),
    preparePlaceScript({ path: [1], name }),
    openAsLayerScript('data:image/png;base64,iVBORw0KGgo='),
    settlePlaceScript({ before: 4, x: 16, y: 12, width: 64, height: 48, newName: `${name} · Starry Night` }),
    settlePlaceScript({ before: 4, x: 0, y: 0, width: 1, height: 1, newName: name, hide: { path: [1], name } }),
  ];
}

test('every script the plugin sends is ES5, as the bridge wraps it, whatever the layer names', async () => {
  const posted: string[] = [];
  const bridge = new PhotopeaBridge({ post: (m) => posted.push(m), listen: () => () => {} }, { timeoutMs: 20, session: 'test' });
  const runs: Promise<unknown>[] = [];
  for (const name of NAMES) for (const body of allScripts(name)) runs.push(bridge.run(body).catch(() => {}));
  await Promise.all(runs); // each times out (nothing answers), which posts the next
  assert.equal(posted.length, NAMES.length * 6);
  for (const script of posted) assert.deepEqual(es5Problems(script), [], script.slice(0, 400));
  // The checker itself catches what Photopea cannot run.
  assert.deepEqual(es5Problems('let a = () => `x`; var { b } = c;'), ['let/const', 'arrow function', 'template literal', 'destructuring']);
  assert.deepEqual(es5Problems('var a = ;'), ['syntax error: Expression expected.']);
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
  assert.throws(() => openAsLayerScript('https://example.com/x.png'), /PNG data: URL/);
});

test('layer ids: path from the bottom and the name, parsed back; foreign ids refused', () => {
  for (const ref of [{ path: [3, 0], name: 'Bridge' }, { path: [], name: 'Only: a name' }, { path: [12], name: '' }]) {
    assert.deepEqual(parseLayerId(layerId(ref)), ref);
  }
  assert.equal(layerId({ path: [3, 0], name: 'Bridge' }), '3.0:Bridge');
  assert.deepEqual(parseLayerId('12:3:4'), { path: [12], name: '3:4' }, 'the name may hold colons');
  assert.equal(parseLayerId('no colon'), null);
  assert.equal(parseLayerId('a.b:Photo'), null);
  assert.equal(parseLayerId('1..2:Photo'), null);
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
  assert.throws(() => store.save({ iterations: 0 }), (e: unknown) => e instanceof HostError && e.code === 'bad_request' && /Iterations/.test(e.message));

  const blocked = new PageSettingsStore(null, null);
  assert.throws(() => blocked.save({ ...DEFAULT_SETTINGS, token: 'ABC' }), (e: unknown) => e instanceof HostError && e.code === 'storage_failed' && e.message === STORAGE_BLOCKED);
  assert.equal(blocked.load().token, 'ABC', 'kept for the session');
  assert.equal(blocked.save({ ...DEFAULT_SETTINGS, token: 'DEF' }).token, 'DEF', 'said once, then quiet');
  assert.equal(blocked.load().token, 'DEF');
  assert.equal(blocked.persistent, false);
});
