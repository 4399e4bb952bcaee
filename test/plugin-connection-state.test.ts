/**
 * How every way a connection to the companion can end becomes what the designer is told: the pure
 * functions of plugin/ui/companion/connection-state.ts, over every close code the protocol names
 * (a table typed by CLOSE_CODES, so a new close code without a decision fails tsc), every error
 * code the companion can close with as the close reason, and every /health answer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLOSE_CODES, ERROR_CODES, type ErrorCode } from '../protocol/errors.ts';
import { stateAfterClose, stateAfterProbe, type CloseVerdict, type HealthProbe } from '../plugin/ui/companion/connection-state.ts';
import { backoffDelay } from '../plugin/ui/companion/transport.ts';

const bare = { reason: '', error: null, shutdownNote: null };

test('each close code, said with nothing else, leads to its own next step', () => {
  const expected: Record<keyof typeof CLOSE_CODES, CloseVerdict['next']> = {
    normal: 'probe',            // a clean close says nothing: /health tells why
    goingAway: 'retry',         // the companion stops; the plugin waits for it
    policy: 'retry',
    tooBig: 'retry',
    tryAgainLater: 'retry',
    authFailed: 'needs-token',  // retrying the same token is pointless
    protocolMismatch: 'retry',
    idle: 'reconnect-now',      // only idle: reconnect at once
  };
  for (const [name, code] of Object.entries(CLOSE_CODES) as [keyof typeof CLOSE_CODES, number][]) {
    const verdict = stateAfterClose({ ...bare, code });
    assert.equal(verdict.next, expected[name], `close code ${name} (${code})`);
    if (verdict.next === 'retry' || verdict.next === 'needs-token') assert.ok(verdict.reason.length > 20, `${name}: a sentence, not a code`);
  }
  // The browser's "abnormal closure" (nothing on the port, a CSP block) is no protocol code: ask /health.
  assert.equal(stateAfterClose({ ...bare, code: 1006 }).next, 'probe');
});

test('the close reason names the cause when the error message did not arrive: never a /health guess', () => {
  const auth: ErrorCode[] = ['auth_required', 'bad_token', 'auth_timeout'];
  for (const code of ERROR_CODES) {
    const verdict = stateAfterClose({ ...bare, code: CLOSE_CODES.policy, reason: code });
    assert.notEqual(verdict.next, 'probe', code);
    if (auth.includes(code)) assert.equal(verdict.next, 'needs-token', code);
    else if (code === 'idle_timeout') assert.equal(verdict.next, 'reconnect-now');
    else assert.equal(verdict.next, 'retry', code);
  }
  const named = stateAfterClose({ ...bare, code: CLOSE_CODES.policy, reason: 'too_many_errors' });
  assert.ok(named.next === 'retry' && named.reason.includes('too_many_errors'), JSON.stringify(named));
  // A reason that is no error code (a newer companion's, or free text) changes nothing.
  assert.equal(stateAfterClose({ ...bare, code: 1006, reason: 'something_new' }).next, 'probe');
});

test('the companion\'s own words win; a refused token gets the words that say where the token is', () => {
  for (const code of ERROR_CODES) {
    const verdict = stateAfterClose({ ...bare, code: CLOSE_CODES.policy, error: { code, message: `words for ${code}` } });
    if (verdict.next === 'probe') assert.fail(`${code}: the companion's words were dropped for a /health guess`);
    if (verdict.next === 'reconnect-now') continue;
    if (code === 'bad_token') assert.match(verdict.reason, /did not accept this token.*~\/\.config\/stylize\/token/);
    else if (code === 'shutting_down') assert.match(verdict.reason, /was stopped/);
    else assert.equal(verdict.reason, `words for ${code}`, code);
  }
  const mismatch = stateAfterClose({ ...bare, code: CLOSE_CODES.protocolMismatch, error: { code: 'protocol_mismatch', message: 'Plugin speaks 2, companion 1.' } });
  assert.deepEqual(mismatch, { next: 'retry', reason: 'Plugin speaks 2, companion 1.', advice: 'Update both to the same version.' });
});

test('a shutdown note explains any close that follows it', () => {
  for (const code of [1006, CLOSE_CODES.normal, CLOSE_CODES.goingAway]) {
    const verdict = stateAfterClose({ ...bare, code, shutdownNote: 'Stopped by the user.' });
    assert.ok(verdict.next === 'retry', String(code));
    assert.equal(verdict.reason, 'The companion was stopped (Stopped by the user).');
    assert.match(verdict.advice, /npm start/);
  }
});

test('each /health answer has its words, naming the port', () => {
  const probes: HealthProbe[] = [{ kind: 'down' }, { kind: 'starting' }, { kind: 'up' }, { kind: 'refused', message: 'origin not allowed' }];
  const seen = new Set<string>();
  for (const probe of probes) {
    const words = stateAfterProbe({ probe, code: 1006, reason: '', port: 7849, wasConnected: false });
    assert.ok(words.reason && words.advice, probe.kind);
    seen.add(words.reason);
  }
  assert.equal(seen.size, probes.length, 'four different sentences');
  assert.match(stateAfterProbe({ probe: { kind: 'down' }, code: 1006, reason: '', port: 7850, wasConnected: false }).reason, /not running on port 7850/);
  assert.match(stateAfterProbe({ probe: { kind: 'down' }, code: 1006, reason: '', port: 7850, wasConnected: true }).reason, /no longer running/);
  assert.match(stateAfterProbe({ probe: { kind: 'refused', message: 'origin not allowed' }, code: 1006, reason: '', port: 1, wasConnected: false }).reason, /origin not allowed/);
  assert.match(stateAfterProbe({ probe: { kind: 'up' }, code: 1011, reason: 'oops', port: 1, wasConnected: false }).reason, /code 1011, oops/);
});

test('backoff grows by its factor, stops at its cap, and jitters within ±15 %', () => {
  const b = { initialMs: 500, maxMs: 10_000, factor: 2 };
  assert.equal(backoffDelay(b, 1, () => 0.5), 500);
  assert.equal(backoffDelay(b, 3, () => 0.5), 2000);
  assert.equal(backoffDelay(b, 30, () => 0.5), 10_000);
  assert.equal(backoffDelay(b, 1, () => 0), 425);
  assert.equal(backoffDelay(b, 1, () => 1), 575);
  assert.equal(backoffDelay(b, 0, () => 0.5), 500, 'attempt 0 (a failed constructor before any attempt) waits the initial delay');
});
