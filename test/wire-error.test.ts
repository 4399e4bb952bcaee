/** The one conversion to the wire's `error` message, and the close-code table the daemon closes by. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLOSE_CODES, ERROR_CODES, ProtocolError, closeCodeFor, isErrorCode } from '../protocol/errors.ts';
import { StylizeError } from '../common/errors.ts';
import { EngineFailure } from '../companion/server/job-engine.ts';
import { isTypedError, toWireError } from '../companion/server/wire-error.ts';

test('typed errors keep their code and message; ref and jobId come from the context only', () => {
  assert.deepEqual(toWireError(new ProtocolError('queue_full', 'The queue is full.'), { ref: 'r1' }),
    { type: 'error', code: 'queue_full', message: 'The queue is full.', ref: 'r1' });
  assert.deepEqual(toWireError(new StylizeError('out_of_memory', 'Too big.'), { jobId: 'j1', ref: 'r2' }),
    { type: 'error', code: 'out_of_memory', message: 'Too big.', ref: 'r2', jobId: 'j1' });
  assert.deepEqual(toWireError(new EngineFailure('weights_corrupt', 'Bad shard.')),
    { type: 'error', code: 'weights_corrupt', message: 'Bad shard.' });
  // A ref patched onto an error object is not read: the context is the one place it comes from.
  const patched = Object.assign(new ProtocolError('bad_image', 'x'), { ref: 'stale' });
  assert.equal(toWireError(patched).ref, undefined);
});

test('every engine code becomes a wire code the protocol knows', () => {
  for (const code of ['bad_image', 'image_too_large', 'bad_setting', 'weights_missing', 'weights_corrupt', 'backend_unavailable', 'out_of_memory', 'cancelled', 'internal'] as const) {
    const m = toWireError(new StylizeError(code, 'm'));
    assert.ok(isErrorCode(m.code), `${code} -> ${m.code}`);
    assert.equal(m.code, code === 'cancelled' ? 'internal' : code);
  }
});

test("anything else is the companion's fault: internal, its first line, never a stack", () => {
  const err = new TypeError('x is undefined\n    at foo (daemon.ts:1:1)');
  assert.equal(isTypedError(err), false);
  const m = toWireError(err, { ref: 'r' });
  assert.equal(m.code, 'internal');
  assert.match(m.message, /internal error \(x is undefined\)/);
  assert.doesNotMatch(m.message, /daemon\.ts/);
  assert.equal(toWireError('plain string').code, 'internal');
});

test('close codes: pairing, version, load, idle and shutdown each close with their own; the rest with policy', () => {
  assert.equal(closeCodeFor('bad_token'), CLOSE_CODES.authFailed);
  assert.equal(closeCodeFor('auth_required'), CLOSE_CODES.authFailed);
  assert.equal(closeCodeFor('auth_timeout'), CLOSE_CODES.authFailed);
  assert.equal(closeCodeFor('protocol_mismatch'), CLOSE_CODES.protocolMismatch);
  assert.equal(closeCodeFor('too_many_connections'), CLOSE_CODES.tryAgainLater);
  assert.equal(closeCodeFor('shutting_down'), CLOSE_CODES.goingAway);
  assert.equal(closeCodeFor('idle_timeout'), CLOSE_CODES.idle);
  assert.equal(closeCodeFor('frame_too_large'), CLOSE_CODES.tooBig);
  assert.equal(closeCodeFor('bad_json'), CLOSE_CODES.policy);
  assert.equal(closeCodeFor('too_many_errors'), CLOSE_CODES.policy);
  for (const code of ERROR_CODES) assert.ok(Object.values(CLOSE_CODES).includes(closeCodeFor(code)), code);
});
