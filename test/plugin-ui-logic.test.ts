/** The UI's pure parts: job settings on the wire, the loss chart's geometry, words for errors. */
import { strengthToWeights } from '../common/strength.ts';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { effectiveOutputSize, styleDisplayName, wireSettings } from '../plugin/ui/batch.ts';
import { CompanionError, type ClientErrorCode } from '../plugin/ui/companion-client.ts';
import { ERROR_CODES } from '../protocol/errors.ts';
import { explainError, formatDuration } from '../plugin/ui/format.ts';
import { chartPaths } from '../plugin/ui/loss-chart.ts';
import { ObjectUrls } from '../plugin/ui/object-urls.ts';
import { EditorError } from '../plugin/editor/editor.ts';
import { DEFAULT_SETTINGS } from '../plugin/editor/settings.ts';
import type { CapabilitiesMessage } from '../protocol/messages.ts';

const caps = (max: number) => ({ settings: { bounds: { size: { min: 16, max } } }, limits: { maxJobsPerClient: 8 } }) as unknown as CapabilitiesMessage;

test('job settings: size within the companion\'s and Figma\'s limits, strength as weights, ~30 previews', () => {
  assert.equal(effectiveOutputSize({ ...DEFAULT_SETTINGS, outputSize: 4096 }, caps(2048)), 2048);
  assert.equal(effectiveOutputSize({ ...DEFAULT_SETTINGS, outputSize: 4096 }, caps(8192)), 4096);
  assert.equal(effectiveOutputSize({ ...DEFAULT_SETTINGS, outputSize: 512 }, null), 512);
  const w = wireSettings({ ...DEFAULT_SETTINGS, strength: 75, iterations: 300, optimizer: 'lbfgs' }, caps(2048));
  assert.deepEqual(w, { size: 512, iterations: 300, contentWeight: strengthToWeights(75).contentWeight, styleWeight: 1, optimizer: 'lbfgs', learningRate: 1, preserveColors: false, styleScale: 1, previewEvery: 10 });
  const colours = wireSettings({ ...DEFAULT_SETTINGS, optimizer: 'adam', preserveColors: true, styleScale: 0.5 }, null);
  assert.deepEqual([colours.preserveColors, colours.styleScale, colours.learningRate], [true, 0.5, undefined]);
  assert.equal(wireSettings({ ...DEFAULT_SETTINGS, iterations: 7 }, null).previewEvery, 1);
  assert.equal(styleDisplayName({ kind: 'file', name: 'my painting.JPEG', bytes: new Uint8Array() }), 'my painting');
});

test('loss chart: log scale, first iteration at the left edge, larger loss higher up', () => {
  const pts = [
    { iteration: 1, content: 100, style: 1e6, total: 1e6 + 1 },
    { iteration: 11, content: 1000, style: 1e4, total: 1e4 + 10 },
  ];
  const p = chartPaths(pts, 100, 50, 0);
  assert.equal(p.style[0][0], 0);
  assert.equal(p.style[1][0], 100);
  assert.ok(Math.abs(p.total[0][1] - 0) < 1e-9, 'largest value at the top');
  assert.ok(Math.abs(p.content[0][1] - 50) < 1e-9, 'smallest value at the bottom');
  // 1e4 sits halfway between 1e2 and 1e6 on a log scale.
  assert.ok(Math.abs(p.style[1][1] - 25) < 0.01, String(p.style[1][1]));
  assert.deepEqual(chartPaths([], 100, 50).total, []);
  assert.deepEqual(chartPaths([{ iteration: 1, content: 0, style: NaN, total: -1 }], 100, 50).total, []);
});

test('errors in a designer\'s words, with the technical detail kept', () => {
  const e = explainError(new CompanionError('out_of_memory', 'tensor allocation of 2 GB failed'));
  assert.match(e.title, /ran out of memory.*smaller output size/);
  assert.equal(e.detail, 'tensor allocation of 2 GB failed');
  assert.deepEqual(explainError(new CompanionError('cancelled', 'Cancelled.')), { title: 'Cancelled.' });
  assert.match(explainError(new CompanionError('weights_missing', 'x')).title, /npm run stylize -- weights/);
  assert.equal(explainError(new EditorError('not_found', 'The layer no longer exists.')).title, 'The layer no longer exists.');
  assert.equal(explainError(new Error('boom')).detail, 'boom');
  assert.equal(formatDuration(59_400), '59 s');
  assert.equal(formatDuration(125_000), '2 min 05 s');
  assert.equal(formatDuration(3_720_000), '1 h 02 min');
});

test('every error code the companion or the client can give has its own sentence; an unknown one still gets a sentence and keeps its words', () => {
  const codes: ClientErrorCode[] = [...ERROR_CODES, 'connection_lost', 'not_connected', 'cancelled', 'bad_reply'];
  const titles = new Set<string>();
  for (const code of codes) {
    const e = explainError(new CompanionError(code, `the companion's words for ${code}`));
    assert.notEqual(e.title, `the companion's words for ${code}`, `${code} has a sentence of its own`);
    assert.match(e.title, /^[A-Z].*\.$/, code);
    titles.add(e.title);
  }
  assert.ok(titles.size >= codes.length - 2, 'sentences are not one catch-all');
  // A code from nowhere (a plugin built against another protocol) still reads as a sentence.
  const odd = explainError(new CompanionError('made_up' as ClientErrorCode, 'The companion said so.'));
  assert.deepEqual(odd, { title: 'Something went wrong.', detail: 'The companion said so.' });
});

test('blob: URLs live only while their picture is shown', async () => {
  const { resolveObjectURL } = await import('node:buffer');
  const urls = new ObjectUrls();
  const a = new Uint8Array([1]), b = new Uint8Array([2]), c = new Uint8Array([3]);
  const [ua, ub, uc] = [urls.for(a), urls.for(b), urls.for(c)];
  assert.equal(urls.for(a), ua, 'one URL per picture while kept');
  urls.keepOnly([b, undefined]);
  assert.equal(resolveObjectURL(ua), undefined, 'a hidden picture is revoked');
  assert.equal(resolveObjectURL(uc), undefined);
  assert.ok(resolveObjectURL(ub), 'a shown picture stays');
  assert.equal(urls.size, 1);
  assert.notEqual(urls.for(a), ua, 'shown again: a new URL');
});
