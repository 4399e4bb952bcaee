/**
 * The protocol module (shared with the plugin) and the daemon's small pure parts: frames round-trip,
 * validators reject bad input with precise text, options, origins, token file. No daemon process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync, chmodSync, rmSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  PROTOCOL_VERSION, ProtocolError, decodeClientFrame, decodeFrame, decodeServerFrame, encodeFrame, encodeSaveStyle,
  encodeSubmit, parseClientMessage, parseServerMessage, normalizeToken, MAX_FRAME_HEADER_BYTES,
} from '../protocol/index.ts';
import { encodeClientText } from '../protocol/client-text.ts';
import { parseServeArgs, UsageError } from '../companion/server/options.ts';
import { AccessPolicy, normalizeOrigin } from '../companion/server/origin.ts';
import { listenAddresses } from '../companion/server/daemon.ts';
import { generateToken, inspectTokenFile, loadOrCreateToken, tokenMatches } from '../companion/server/token.ts';
import { configDir } from '../companion/server/paths.ts';
import { JobQueue } from '../companion/server/queue.ts';
import { REPO } from './helpers/paths.ts';

function rejects(fn: () => unknown, code: string, text: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ProtocolError, `expected ProtocolError, got ${err}`);
    assert.equal(err.code, code);
    assert.match(err.message, text);
    return true;
  });
}

test('protocol module has no Node imports (the plugin bundles it for the browser)', () => {
  const dir = path.join(REPO, 'protocol');
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
    const src = readFileSync(path.join(dir, f), 'utf8');
    assert.doesNotMatch(src, /from ['"](node:|fs|path|os|crypto|ws|sharp)/, `${f} imports a Node module`);
    assert.doesNotMatch(src, /\bBuffer\b/, `${f} uses Buffer`);
  }
});

test('submit frame round-trips: header sizes split the payload into content and uploaded styles', () => {
  const content = new Uint8Array([1, 2, 3, 4, 5]);
  const style = new Uint8Array([9, 8, 7]);
  const frame = encodeSubmit({
    ref: 'r1', content,
    styles: [{ source: 'upload', image: style, weight: 2 }, { source: 'library', name: 'starry night', weight: 1 }],
    settings: { iterations: 10, size: 64 },
  });
  assert.equal(new DataView(frame.buffer).getUint32(0, false) + 4 + content.length + style.length, frame.length);
  const { message, images } = decodeClientFrame(frame);
  assert.equal(message.type, 'submit');
  assert.deepEqual(message.type === 'submit' && message.styles, [
    { source: 'upload', bytes: 3, weight: 2 }, { source: 'library', name: 'starry night', weight: 1 },
  ]);
  assert.deepEqual(message.type === 'submit' && message.settings, { iterations: 10, size: 64 });
  assert.deepEqual([...images[0]], [1, 2, 3, 4, 5]);
  assert.deepEqual([...images[1]], [9, 8, 7]);
});

test('save_style and server frames round-trip', () => {
  const { message, images } = decodeClientFrame(encodeSaveStyle({ ref: 's', name: 'my-style_2', overwrite: true }, new Uint8Array([4, 2])));
  assert.deepEqual(message, { type: 'save_style', ref: 's', name: 'my-style_2', overwrite: true });
  assert.deepEqual([...images[0]], [4, 2]);
  const png = new Uint8Array([137, 80, 78, 71]);
  const r = decodeServerFrame(encodeFrame({ type: 'preview', jobId: '1-a', iteration: 5, mime: 'image/png', width: 3, height: 2 }, png));
  assert.equal(r.message.type, 'preview');
  assert.deepEqual([...r.payload], [...png]);
});

test('broken frames are refused with bad_frame and say what is wrong', () => {
  rejects(() => decodeFrame(new Uint8Array([0, 0])), 'bad_frame', /too short/);
  rejects(() => decodeFrame(new Uint8Array([0, 0, 0, 0])), 'bad_frame', /0-byte header/);
  rejects(() => decodeFrame(new Uint8Array([0, 1, 0, 0, 1, 2])), 'bad_frame', new RegExp(`must be 1..${MAX_FRAME_HEADER_BYTES}`));
  rejects(() => decodeFrame(new Uint8Array([0, 0, 0, 50, 123])), 'bad_frame', /truncated/);
  const notJson = new Uint8Array([0, 0, 0, 3, 120, 121, 122]);
  rejects(() => decodeFrame(notJson), 'bad_frame', /not valid UTF-8 JSON/);
  // Sizes that do not add up to the payload: a truncated upload.
  const frame = encodeSubmit({ ref: 'r', content: new Uint8Array(10), styles: [{ source: 'upload', image: new Uint8Array(10) }] });
  rejects(() => decodeClientFrame(frame.subarray(0, frame.length - 4)), 'bad_frame', /declares 20 bytes .* carries 16: the frame was truncated/);
  const extra = encodeFrame({ type: 'submit', ref: 'r', content: { bytes: 2 }, styles: [{ source: 'library', name: 'x' }] }, new Uint8Array(5));
  rejects(() => decodeClientFrame(extra), 'bad_frame', /declares 2 bytes .* carries 5/);
  rejects(() => decodeClientFrame(encodeFrame({ type: 'preview' })), 'unknown_type', /"preview" in a binary frame/);
});

test('client messages: validators name the field and the expectation', () => {
  assert.deepEqual(parseClientMessage(JSON.stringify({ type: 'hello', protocol: 1, token: 'abc', client: 'x' })), { type: 'hello', protocol: 1, token: 'abc', client: 'x' });
  rejects(() => parseClientMessage('{"type":'), 'bad_json', /not valid JSON/);
  rejects(() => parseClientMessage('[1,2]'), 'bad_message', /message must be a JSON object, got an array of 2/);
  rejects(() => parseClientMessage('{"kind":"hello"}'), 'bad_message', /message\.type must be a string/);
  rejects(() => parseClientMessage('{"type":"launch"}'), 'unknown_type', /Unknown message type "launch".*hello, cancel/);
  rejects(() => parseClientMessage('{"type":"submit"}'), 'unknown_type', /send it as a binary frame/);
  rejects(() => parseClientMessage('{"type":"hello","protocol":1}'), 'auth_required', /token is missing/);
  rejects(() => parseClientMessage('{"type":"hello","protocol":"1","token":"t"}'), 'bad_message', /hello\.protocol must be a finite number, got the string "1"/);
  rejects(() => parseClientMessage('{"type":"cancel"}'), 'bad_message', /cancel\.jobId must be a string, got nothing/);
  rejects(() => parseClientMessage('{"type":"list_styles","thumbnails":"yes"}'), 'bad_message', /list_styles\.thumbnails must be true or false/);
  rejects(() => parseClientMessage('{"type":"list_styles","ref":"has space"}'), 'bad_message', /list_styles\.ref must be printable ASCII/);
  assert.deepEqual(parseClientMessage(encodeClientText({ type: 'list_styles', ref: 'r-1', thumbnails: false })), { type: 'list_styles', ref: 'r-1', thumbnails: false });
  rejects(() => encodeClientText({ type: 'estimate', ref: 'e', width: 1, height: 1, settings: { scales: new Array(40_000).fill(1) } }), 'message_too_large', /estimate message of \d+ bytes is over the 65536-byte limit/);
  const header = (h: object) => () => decodeClientFrame(encodeFrame(h, new Uint8Array(4)));
  rejects(header({ type: 'submit', ref: 'has space', content: { bytes: 4 }, styles: [] }), 'bad_message', /submit\.ref must be printable ASCII/);
  rejects(header({ type: 'submit', ref: 'r', content: { bytes: 4 }, styles: [] }), 'bad_message', /submit\.styles must be an array of 1 to 4 entries/);
  rejects(header({ type: 'submit', ref: 'r', content: { bytes: 4 }, styles: [{ source: 'url' }] }), 'bad_message', /submit\.styles\[0\]\.source must be one of "upload", "library"/);
  rejects(header({ type: 'submit', ref: 'r', content: { bytes: 4 }, styles: [{ source: 'library', name: '../etc/passwd' }] }), 'bad_message', /styles\[0\]\.name must be a name of letters/);
  rejects(header({ type: 'submit', ref: 'r', content: { bytes: 4 }, styles: [{ source: 'library', name: 'a' }], settings: [1] }), 'bad_message', /submit\.settings must be an object/);
  rejects(header({ type: 'save_style', ref: 'r', name: '.hidden' }), 'bad_message', /save_style\.name/);
});

test('server messages are validated on the plugin side', () => {
  assert.equal(parseServerMessage(JSON.stringify({ type: 'accepted', ref: 'r', jobId: 'j', position: 2 })).type, 'accepted');
  rejects(() => parseServerMessage(JSON.stringify({ type: 'accepted', ref: 'r', jobId: 'j', position: -1 })), 'bad_message', /accepted\.position must be between 0/);
  rejects(() => parseServerMessage(JSON.stringify({ type: 'error', code: 'weird', message: 'x' })), 'bad_message', /error\.code must be a known error code/);
  rejects(() => decodeServerFrame(encodeFrame({ type: 'result', jobId: 'j', mime: 'image/png', width: 0, height: 1 })), 'bad_message', /result\.width must be between 1/);
});

test('tokens: generated in readable groups, compared ignoring case and dashes', () => {
  const t = generateToken();
  assert.match(t, /^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){4}$/);
  assert.notEqual(generateToken(), t);
  assert.ok(tokenMatches(t, t.toLowerCase().replace(/-/g, ' ')));
  assert.ok(!tokenMatches(t, generateToken()));
  assert.ok(!tokenMatches(t, ''));
  assert.equal(normalizeToken('ab-cd ef'), 'ABCDEF');
});

test('token file: created 0600 on first start, reused, tightened, unusable ones refused', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stylize-token-'));
  try {
    const file = path.join(dir, 'sub', 'token');
    const first = loadOrCreateToken(file);
    assert.equal(first.created, true);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700);
    assert.equal(readFileSync(file, 'utf8').trim(), first.token);
    const again = loadOrCreateToken(file);
    assert.deepEqual([again.created, again.token], [false, first.token]);
    chmodSync(file, 0o644);
    assert.match(inspectTokenFile(file).problem ?? '', /other users can read it \(mode 644\)/);
    const fixed = loadOrCreateToken(file);
    assert.match(fixed.warnings[0], /now 0600/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    writeFileSync(file, 'short\n', { mode: 0o600 });
    assert.throws(() => loadOrCreateToken(file), /unusable: it does not hold a usable token.*delete/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('options: flags over env over config file, with clear errors', () => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'stylize-opts-'));
  try {
    const env = { HOME: home, XDG_CONFIG_HOME: path.join(home, 'cfg') } as NodeJS.ProcessEnv;
    assert.equal(configDir(env), path.join(home, 'cfg', 'stylize'));
    const d = parseServeArgs([], env).options;
    assert.equal(d.port, 7849);
    assert.equal(d.host, 'localhost', 'both loopback addresses by default');
    assert.equal(d.tokenFile, path.join(home, 'cfg', 'stylize', 'token'));
    assert.equal(d.styleLibrary, path.join(home, 'cfg', 'stylize', 'styles'));
    assert.equal(parseServeArgs([], { ...env, STYLIZE_PORT: '9000' }).options.port, 9000);
    assert.equal(parseServeArgs(['--port=9001'], { ...env, STYLIZE_PORT: '9000' }).options.port, 9001);
    const o = parseServeArgs(['--allow-origin', 'https://www.Photopea.com/', '--allow-origin', 'null', '--max-frame-mb', '2', '--no-warmup'], env).options;
    assert.deepEqual(o.allowOrigins, ['https://www.photopea.com', 'null']);
    assert.equal(o.maxFrameBytes, 2 * 1024 * 1024);
    assert.equal(o.warmup, false);
    assert.throws(() => parseServeArgs(['--port', '70000'], env), (e: Error) => e instanceof UsageError && /--port must be a whole number between 0 and 65535 \(got "70000"\)/.test(e.message));
    assert.throws(() => parseServeArgs(['--prot', '1'], env), /Unknown option "--prot"/);
    assert.throws(() => parseServeArgs(['--port'], env), /--port needs a value/);
    assert.throws(() => parseServeArgs(['--allow-origin', 'https://x.com/path'], env), /not an origin/);
    assert.throws(() => parseServeArgs([], { ...env, STYLIZE_PORT: 'abc' }), /STYLIZE_PORT \(environment\) must be a whole number/);
    writeFileSync(path.join(home, 'c.json'), JSON.stringify({ maxQueue: 5, allowOrigins: ['https://a.example'] }));
    const c = parseServeArgs(['--config', path.join(home, 'c.json'), '--allow-origin', 'https://b.example'], env).options;
    assert.equal(c.maxQueue, 5);
    assert.deepEqual(c.allowOrigins, ['https://a.example', 'https://b.example']);
    writeFileSync(path.join(home, 'bad.json'), '{"maxQueeu": 5}');
    assert.throws(() => parseServeArgs(['--config', path.join(home, 'bad.json')], env), /unknown key "maxQueeu"/);
    // The default config file is read too.
    mkdirSync(path.join(home, 'cfg', 'stylize'), { recursive: true });
    writeFileSync(path.join(home, 'cfg', 'stylize', 'config.json'), '{"port": 8000}');
    assert.equal(parseServeArgs([], env).options.port, 8000);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('origin and host policy', () => {
  assert.equal(normalizeOrigin('HTTPS://Example.COM:443'), 'https://example.com');
  assert.equal(normalizeOrigin('file:///x'), undefined);
  const p = new AccessPolicy({ host: '127.0.0.1', port: 7849, allowOrigins: ['https://www.photopea.com'], loopback: true });
  assert.ok(p.checkOrigin(undefined).ok, 'non-browser clients send no Origin');
  assert.ok(p.checkOrigin('null').ok, 'Figma plugin iframe');
  assert.ok(p.checkOrigin('http://127.0.0.1:7849').ok, 'own pages');
  assert.ok(p.checkOrigin('https://www.photopea.com').ok, 'configured');
  const bad = p.checkOrigin('https://evil.example');
  assert.ok(!bad.ok && /--allow-origin https:\/\/evil\.example/.test(bad.reason));
  assert.ok(!p.checkOrigin('http://127.0.0.1:9999').ok);
  assert.ok(p.checkHost('127.0.0.1:7849').ok);
  assert.ok(p.checkHost('localhost:7849').ok);
  assert.ok(p.checkHost('[::1]:7849').ok, 'localhost resolved to ::1');
  assert.ok(p.checkOrigin('http://localhost:7849').ok && p.checkOrigin('http://[::1]:7849').ok);
  assert.deepEqual(listenAddresses('localhost'), ['127.0.0.1', '::1']);
  assert.deepEqual(listenAddresses('127.0.0.1'), ['127.0.0.1']);
  assert.ok(!p.checkHost('evil.example:7849').ok, 'DNS rebinding');
  assert.ok(new AccessPolicy({ host: '0.0.0.0', port: 1, allowOrigins: [], loopback: false }).checkHost('box.lan:1').ok);
});

test('job queue: positions count the jobs ahead, the running one included', () => {
  const q = new JobQueue<{ id: string }>();
  const [a, b, c] = [{ id: 'a' }, { id: 'b' }, { id: 'c' }];
  assert.equal(q.push(a), 0);
  assert.equal(q.next(), a);
  assert.equal(q.push(b), 1);
  assert.equal(q.push(c), 2);
  assert.equal(q.next(), undefined, 'one job at a time');
  assert.equal(q.remove('b'), b);
  assert.equal(q.position(c), 1);
  q.finishRunning();
  assert.equal(q.position(c), 0);
  assert.equal(q.next(), c);
  assert.equal(q.total, 1);
  assert.equal(PROTOCOL_VERSION, 1);
});
