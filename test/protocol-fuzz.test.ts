/**
 * Property-based fuzzing of everything the companion parses from a client: binary frames
 * (decodeClientFrame), text messages (parseClientMessage) and job settings (checkJobSettings).
 * Thousands of random and mutated inputs: each either parses or throws a ProtocolError with a
 * message, nothing else escapes, and no input takes long (a hang or a pathological regex would).
 * Accepted settings always keep the daemon's limits. fast-check prints a minimal failing input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ProtocolError, isErrorCode } from '../protocol/errors.ts';
import { decodeClientFrame, encodeFrame, encodeSaveStyle, encodeSubmit } from '../protocol/frames.ts';
import { CLIENT_BINARY_TYPES, CLIENT_TEXT_TYPES, parseClientMessage, type WireSettings } from '../protocol/messages.ts';
import { checkJobSettings } from '../companion/server/job-settings.ts';
import { planScales } from '../companion/engine/plan.ts';
import { DEFAULT_SETTINGS } from '../companion/engine/settings.ts';

const RUNS = 3000;
/** Per input; real parsing takes microseconds. Generous, so a loaded machine does not trip it. */
const SLOW_MS = 250;
let slowest = 0;

/** Runs `fn`; returns normally if it parsed or threw a proper ProtocolError, else fails the property. */
function onlyProtocolErrors(fn: () => unknown): void {
  const t0 = performance.now();
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw new Error(`escaped a non-ProtocolError: ${(err as Error)?.stack ?? String(err)}`);
    if (!isErrorCode(err.code) || err.message.length < 10) throw new Error(`ProtocolError without a usable code or message: ${err.code} ${err.message}`);
  } finally {
    const ms = performance.now() - t0;
    slowest = Math.max(slowest, ms);
    if (ms > SLOW_MS) throw new Error(`one input took ${ms.toFixed(0)} ms`);
  }
}

// ---- Generators ----------------------------------------------------------------------------

const SETTING_KEYS = [...Object.keys(DEFAULT_SETTINGS), 'styleLayerWeights', 'scaleIterations'];
/** JSON values of any shape, weighted toward the edge values validators get wrong. */
const edgeValue = fc.oneof(
  fc.constantFrom(0, -1, 1, 16, 64, 4096, 4097, 1e308, -0, 0.5, 2 ** 32, 2 ** 53 + 1, '', 'auto', 'off', 'conv1_1', '1,2,3', null, true, false, [], {}, { toString: 1 }, { valueOf: 'x' }),
  fc.integer({ min: -100, max: 5000 }),
  fc.double(),
  fc.string({ maxLength: 20 }),
  fc.array(fc.integer({ min: -10, max: 5000 }), { maxLength: 12 }),
  fc.array(fc.oneof(fc.string({ maxLength: 12 }), fc.record({ layer: fc.anything(), weight: fc.anything() }, { requiredKeys: [] })), { maxLength: 6 }),
  fc.jsonValue({ maxDepth: 3 }),
);
/** Settings as JSON would deliver them (so no functions, no undefined inside). */
const wireSettings = fc.dictionary(fc.oneof(fc.constantFrom(...SETTING_KEYS), fc.string({ maxLength: 12 })), edgeValue, { maxKeys: 6 })
  .map((o) => JSON.parse(JSON.stringify(o)) as WireSettings);

const ref = fc.oneof(fc.constantFrom('r1', 'job-7'), fc.string({ maxLength: 70 }));
const styleSource = fc.oneof(
  fc.record({ source: fc.constant('upload'), bytes: fc.oneof(fc.nat({ max: 40 }), edgeValue), weight: fc.option(edgeValue, { nil: undefined }) }, { requiredKeys: ['source'] }),
  fc.record({ source: fc.constant('library'), name: fc.oneof(fc.constantFrom('Sky', '../etc/passwd', 'a'.repeat(65), ' x'), fc.string({ maxLength: 70 })) }),
  fc.anything(),
);
const header = fc.oneof(
  fc.record({
    type: fc.constantFrom(...CLIENT_BINARY_TYPES, 'hello', 'x'),
    ref,
    content: fc.oneof(fc.record({ bytes: fc.oneof(fc.nat({ max: 40 }), edgeValue) }), edgeValue),
    styles: fc.oneof(fc.array(styleSource, { maxLength: 6 }), edgeValue),
    settings: fc.oneof(wireSettings, edgeValue),
    name: fc.string({ maxLength: 70 }),
    overwrite: edgeValue,
  }, { requiredKeys: ['type'] }),
  fc.jsonValue({ maxDepth: 3 }),
);

/** A frame built the proper way from a random header and payload. */
const wellFormedFrame = fc.tuple(header, fc.uint8Array({ maxLength: 80 })).map(([h, payload]) => encodeFrame(h as object, payload));

/** Valid frames of each kind, as a client would send them. */
const validFrame = fc.oneof(
  fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 30 }), fc.array(fc.uint8Array({ minLength: 1, maxLength: 20 }), { minLength: 1, maxLength: 4 }), wireSettings)
    .map(([content, styles, settings]) => encodeSubmit({ ref: 'r', content, styles: styles.map((image) => ({ source: 'upload' as const, image })), settings })),
  fc.uint8Array({ minLength: 1, maxLength: 30 }).map((image) => encodeSaveStyle({ ref: 'r', name: 'Sky' }, image)),
);

/** Byte-level damage: flips, truncation, insertion, a forged header length. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 8 }) }),
  fc.record({ kind: fc.constant('length' as const), value: fc.oneof(fc.nat(), fc.constantFrom(0, 0xffffffff, 16384, 16385)) }),
);

function mutate(frame: Uint8Array, ms: { kind: string; at?: number; value?: number; bytes?: Uint8Array }[]): Uint8Array {
  let f = frame.slice();
  for (const m of ms) {
    const at = f.length ? (m.at ?? 0) % f.length : 0;
    if (m.kind === 'flip' && f.length) f[at] = m.value!;
    else if (m.kind === 'truncate') f = f.subarray(0, at);
    else if (m.kind === 'insert') f = new Uint8Array([...f.subarray(0, at), ...m.bytes!, ...f.subarray(at)]);
    else if (m.kind === 'length' && f.length >= 4) new DataView(f.buffer, f.byteOffset).setUint32(0, m.value! >>> 0, false);
  }
  return f;
}

const textMessage = fc.oneof(
  fc.record({
    type: fc.constantFrom(...CLIENT_TEXT_TYPES, ...CLIENT_BINARY_TYPES, 'x'),
    protocol: edgeValue,
    token: fc.oneof(fc.constantFrom('AAAAA-BBBBB-CCCCC-DDDDD-EEEEE', ' ', ''), fc.string({ maxLength: 300 })),
    client: fc.oneof(fc.string({ maxLength: 250 }), edgeValue),
    jobId: fc.oneof(fc.string({ maxLength: 80 }), edgeValue),
    thumbnails: edgeValue,
    t: edgeValue,
  }, { requiredKeys: ['type'] }).map((m) => JSON.stringify(m)),
  fc.json({ maxDepth: 3 }),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 100 }),
);

/** Character-level damage to a text message. */
const mutatedText = fc.tuple(textMessage, fc.array(fc.tuple(fc.nat(), fc.string({ maxLength: 3 }), fc.nat({ max: 3 })), { maxLength: 4 }))
  .map(([text, edits]) => edits.reduce((s, [at, insert, del]) => { const i = s.length ? at % s.length : 0; return s.slice(0, i) + insert + s.slice(i + del); }, text));

// ---- Properties ----------------------------------------------------------------------------

test('decodeClientFrame: random bytes, well-formed frames with random headers, mutated valid frames', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => onlyProtocolErrors(() => decodeClientFrame(bytes))), { numRuns: RUNS });
  fc.assert(fc.property(wellFormedFrame, (frame) => onlyProtocolErrors(() => {
    const { message, images } = decodeClientFrame(frame);
    // What parses is consistent: the images are exactly the payload the header declared.
    if (message.type === 'submit') assert.equal(images.length, 1 + message.styles.filter((s) => s.source === 'upload').length);
  })), { numRuns: RUNS });
  fc.assert(fc.property(validFrame, fc.array(mutation, { minLength: 1, maxLength: 3 }), (frame, ms) => onlyProtocolErrors(() => decodeClientFrame(mutate(frame, ms)))), { numRuns: RUNS });
  // Unmutated valid frames always parse.
  fc.assert(fc.property(validFrame, (frame) => { decodeClientFrame(frame); }), { numRuns: 300 });
});

test('parseClientMessage: random and mutated text messages', () => {
  fc.assert(fc.property(textMessage, (text) => onlyProtocolErrors(() => parseClientMessage(text))), { numRuns: RUNS });
  fc.assert(fc.property(mutatedText, (text) => onlyProtocolErrors(() => parseClientMessage(text))), { numRuns: RUNS });
});

test('job settings: random settings are refused with bad_setting or accepted within every limit', () => {
  const limits = { maxSize: 96, defaultSize: 96, previewEvery: 10 };
  let accepted = 0;
  fc.assert(fc.property(wireSettings, (raw) => onlyProtocolErrors(() => {
    const { resolved } = checkJobSettings(raw, limits);
    accepted++;
    // The invariant that --max-size protects: no stage of the plan is bigger than it.
    const plan = planScales(resolved.size, resolved.iterations, resolved.scales, resolved.scaleIterations);
    assert.ok(resolved.size <= limits.maxSize && plan.sizes.every((s) => s <= limits.maxSize), JSON.stringify(plan));
    assert.ok(plan.iterations.reduce((a, b) => a + b, 0) <= 10000);
  })), { numRuns: RUNS });
  // Settings of the wrong type altogether.
  fc.assert(fc.property(edgeValue, (raw) => onlyProtocolErrors(() => checkJobSettings(raw as WireSettings, limits))), { numRuns: 500 });
  console.log(`# ${accepted} of ${RUNS} random settings accepted; slowest input ${slowest.toFixed(1)} ms`);
  assert.ok(accepted > 0, 'the generator reaches valid settings too');
});
