/**
 * Everything the daemon must refuse, each with its error code, while it keeps serving everyone else.
 * A real daemon with tight limits; after all the refusals a normal job still succeeds.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { CLOSE_CODES, type ErrorCode } from '../protocol/errors.ts';
import { encodeFrame, encodeSubmit } from '../protocol/frames.ts';
import { MAX_MESSAGE_BYTES, type ServerTextMessage } from '../protocol/messages.ts';
import { startDaemon, status, testImage, TestClient, type DaemonHandle } from './helpers/daemon.ts';

type Msg<T extends ServerTextMessage['type']> = Extract<ServerTextMessage, { type: T }>;

let d: DaemonHandle;
let content: Uint8Array;
let style: Uint8Array;
/** A client paired before the refusals, used to check that the daemon keeps serving it. */
let bystander: TestClient;
let keepAlive: NodeJS.Timeout;

before(async () => {
  d = await startDaemon({
    args: [
      '--max-frame-mb', '1', '--max-pixels', '250000', '--max-size', '96', '--idle-timeout', '3', '--auth-timeout', '2',
      '--max-jobs-per-client', '2', '--max-queue', '2', '--allow-origin', 'https://www.photopea.com',
    ],
  });
  content = await testImage('content', 'golden_gate.jpg', 48);
  style = await testImage('style', 'the_scream.jpg', 48);
  bystander = await TestClient.connect(d.url, d.token);
  // The protocol's way to stay connected past --idle-timeout.
  keepAlive = setInterval(() => bystander.send({ type: 'ping' }), 1000);
});

after(async () => {
  clearInterval(keepAlive);
  bystander?.close();
  await d?.stop('SIGKILL');
});

/** The connection gets an error marked fatal, then is closed with `closeCode`. */
async function expectFatal(c: TestClient, code: ErrorCode, closeCode: number, message?: RegExp): Promise<void> {
  const closed = await c.closed;
  const err = c.jsonMessages().find((m): m is Msg<'error'> => m.type === 'error');
  assert.ok(err, `expected an error before the close; got ${c.summary()}`);
  assert.equal(err.code, code);
  assert.equal(err.fatal, true);
  if (message) assert.match(err.message, message);
  assert.deepEqual(closed, { code: closeCode, reason: code });
}

async function stillServing(): Promise<void> {
  const from = bystander.received.length;
  bystander.send({ type: 'ping', t: from });
  const pong = await bystander.next((m) => m.type === 'pong' && m.t === from, 10_000, from);
  assert.deepEqual(pong, { type: 'pong', t: from });
}

test('pairing: no token, wrong token, other first message, binary first, protocol mismatch, silence', async () => {
  const jobsBefore = (await status(bystander)).engine.jobsDone;

  const noToken = await TestClient.open(d.url);
  noToken.send({ type: 'hello', protocol: 1 });
  await expectFatal(noToken, 'auth_required', CLOSE_CODES.authFailed, /token is missing/);

  const wrong = await TestClient.open(d.url);
  wrong.send({ type: 'hello', protocol: 1, token: 'AAAAA-BBBBB-CCCCC-DDDDD-EEEEE' });
  wrong.submit('sneaky', content, [{ source: 'upload', image: style }], { size: 32, iterations: 1 });
  await expectFatal(wrong, 'bad_token', CLOSE_CODES.authFailed, /pairing token is wrong\. .*\(also in ~\/\.config\/stylize\/token\)/);
  // Anyone can send a wrong token: the answer does not spell out the home folder (and with it the user's name).
  assert.ok(!JSON.stringify(wrong.jsonMessages()).includes(d.home), 'no absolute home path');
  assert.ok(!wrong.jsonMessages().some((m) => m.type === 'accepted'), 'nothing runs for an unpaired client');

  const early = await TestClient.open(d.url);
  early.send({ type: 'status' });
  await expectFatal(early, 'auth_required', CLOSE_CODES.authFailed, /first message must be hello/);

  const binary = await TestClient.open(d.url);
  binary.submit('x', content, [{ source: 'upload', image: style }]);
  await expectFatal(binary, 'auth_required', CLOSE_CODES.authFailed);

  const future = await TestClient.open(d.url);
  future.send({ type: 'hello', protocol: 2, token: d.token });
  await expectFatal(future, 'protocol_mismatch', CLOSE_CODES.protocolMismatch, /speaks protocol 2.*speaks 1\. Update the companion/);

  const silent = await TestClient.open(d.url);
  await expectFatal(silent, 'auth_timeout', CLOSE_CODES.authFailed, /No hello within 2 s/);

  const s = await status(bystander);
  assert.equal(s.engine.jobsDone, jobsBefore);
  assert.equal(s.length, 0);
  assert.doesNotMatch(d.output(), /job \S+ from client/, 'no job was ever accepted from them');
  await stillServing();
});

test('at most 16 connections may wait to pair at once: a 17th pushes out the oldest, and can pair', async () => {
  const waiting = await Promise.all(Array.from({ length: 16 }, () => TestClient.open(d.url)));
  const newest = await TestClient.connect(d.url, d.token);
  assert.deepEqual(await waiting[0].closed, { code: CLOSE_CODES.tryAgainLater, reason: 'too_many_connections' });
  for (const c of waiting.slice(1)) assert.equal(c.ws.readyState, c.ws.OPEN, 'only the oldest was dropped');
  for (const c of waiting) c.close();
  await Promise.all(waiting.map((c) => c.closed));
  newest.close();
});

test('origins: a foreign page is refused at the handshake; Figma (null) and configured origins are let in', async () => {
  await assert.rejects(TestClient.open(d.url, { origin: 'https://evil.example' }), (err: Error & { status?: number }) => {
    assert.equal(err.status, 403);
    assert.match(err.message, /Origin "https:\/\/evil.example" is not allowed.*--allow-origin https:\/\/evil.example/);
    return true;
  });
  await assert.rejects(TestClient.open(d.url, { headers: { host: 'attacker.example' } }), (err: Error & { status?: number }) => err.status === 403);
  for (const origin of ['null', 'https://www.photopea.com', `http://127.0.0.1:${d.port}`]) {
    const c = await TestClient.connect(d.url, d.token, { origin });
    c.close();
  }
  assert.match(d.output(), /refused a connection .*evil\.example/);
  await stillServing();
});

test('bad messages after pairing: each answered with its code, the connection stays usable', async () => {
  const c = await TestClient.connect(d.url, d.token);
  try {
    const cases: [() => void, ErrorCode, RegExp][] = [
      [() => c.send('{"type": "status",'), 'bad_json', /not valid JSON/],
      [() => c.send({ type: 'reboot' }), 'unknown_type', /Unknown message type "reboot"/],
      [() => c.send({ type: 'cancel', jobId: 7 }), 'bad_message', /cancel\.jobId must be a string, got number 7/],
      [() => c.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(MAX_MESSAGE_BYTES) })), 'message_too_large', /over the 65536-byte limit/],
      [() => c.sendBinary(new Uint8Array([0, 0, 0, 99, 1, 2, 3])), 'bad_frame', /truncated/],
      [() => c.sendBinary(encodeFrame({ type: 'submit', ref: 'r', content: { bytes: 10 }, styles: [{ source: 'upload', bytes: 10 }] }, content.subarray(0, 15))), 'bad_frame', /declares 20 bytes .* carries 15/],
      [() => c.send({ type: 'cancel', jobId: 'nope' }), 'unknown_job', /no job "nope"/],
    ];
    for (const [send, code, text] of cases) {
      const from = c.received.length;
      send();
      const err = await c.next<Msg<'error'>>((m) => m.type === 'error', 10_000, from);
      assert.equal(err.code, code, err.message);
      assert.match(err.message, text);
      assert.equal(err.fatal, undefined);
    }
    const from = c.received.length;
    c.send({ type: 'ping' });
    await c.next((m) => m.type === 'pong', 10_000, from);
  } finally {
    c.close();
  }
});

test('bad images: truncated, not an image, over the pixel limit (a decompression bomb), fully transparent', async () => {
  const c = await TestClient.connect(d.url, d.token);
  try {
    const jpeg = new Uint8Array(await sharp(content).jpeg().toBuffer());
    const bomb = new Uint8Array(await sharp({ create: { width: 5000, height: 5000, channels: 3, background: '#808080' } }).png({ compressionLevel: 9 }).toBuffer());
    assert.ok(bomb.length < 1024 * 1024, 'small on the wire, 25 MP decoded');
    // An empty or hidden layer exports so: nothing to stylize, or to take a style from.
    const clear = new Uint8Array(await sharp({ create: { width: 40, height: 30, channels: 4, background: { r: 200, g: 0, b: 0, alpha: 0 } } }).png().toBuffer());
    const cases: [string, Uint8Array, Uint8Array, ErrorCode, RegExp][] = [
      ['trunc-png', content.subarray(0, content.length >> 1), style, 'bad_image', /content image could not be decoded.*truncated or damaged/],
      ['trunc-jpeg', jpeg.subarray(0, jpeg.length >> 1), style, 'bad_image', /truncated or damaged/],
      ['text', new TextEncoder().encode('<html>not an image</html>'), style, 'bad_image', /content image is not a readable image/],
      ['style-text', content, new Uint8Array(100), 'bad_image', /style image is not a readable image/],
      ['bomb', bomb, style, 'image_too_large', /5000 x 5000 = 25\.0 MP, over this companion's limit of 0\.3 MP/],
      ['clear', clear, style, 'bad_image', /^The content image is fully transparent \(40 x 30 px, every pixel see-through\), so it has no picture to stylize/],
      ['clear-style', content, clear, 'bad_image', /^The style image is fully transparent .*take a style from/],
    ];
    for (const [ref, img, sty, code, text] of cases) {
      c.submit(ref, img, [{ source: 'upload', image: sty }], { size: 32, iterations: 1 });
      const err = await c.error(ref);
      assert.equal(err.code, code, `${ref}: ${err.message}`);
      assert.match(err.message, text);
    }
    assert.equal((await status(c)).length, 0, 'none of them was queued');
    assert.ok(!c.jsonMessages().some((m) => m.type === 'accepted'), `each refused at submit; got ${c.summary()}`);
  } finally {
    c.close();
  }
});

test('oversized frame: closed with 1009, everyone else unaffected', async () => {
  const c = await TestClient.connect(d.url, d.token);
  c.sendBinary(encodeSubmit({ ref: 'huge', content: new Uint8Array(1100 * 1024), styles: [{ source: 'upload', image: style }] }));
  const closed = await c.closed;
  assert.equal(closed.code, CLOSE_CODES.tooBig);
  assert.match(d.output(), /a frame over the 1\.0 MB limit \(closed with 1009 frame_too_large\)/);
  await stillServing();
});

test('settings out of range: precise bad_setting errors', async () => {
  const c = await TestClient.connect(d.url, d.token);
  try {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ iterations: 0 }, /iterations must be between 1 and 10000 \(got 0\)/],
      [{ iterations: 2.5 }, /iterations must be a whole number/],
      [{ size: 500 }, /size must be between 16 and 96 on this companion \(got 500\).*--max-size/],
      [{ learningRate: 'fast' }, /learningRate must be a number \(got "fast"\)/],
      [{ optimizer: 'sgd' }, /optimizer must be one of adam, lbfgs/],
      [{ colour: 1 }, /Unknown setting "colour"/],
      [{ contentLayers: ['conv9_9'] }, /Unknown VGG-19 layer "conv9_9"/],
    ];
    for (const [i, [settings, text]] of cases.entries()) {
      c.submit(`s${i}`, content, [{ source: 'upload', image: style }], settings as never);
      const err = await c.error(`s${i}`);
      assert.equal(err.code, 'bad_setting');
      assert.match(err.message, text);
    }
    c.submit('w0', content, [{ source: 'upload', image: style, weight: 0 }], { size: 32 });
    assert.match((await c.error('w0')).message, /style weights are 0/);
    // The plan's refusals come at submit, before the job is queued (and with no estimate asked).
    const banner = new Uint8Array(await sharp({ create: { width: 96, height: 8, channels: 3, background: '#468' } }).png().toBuffer());
    c.submit('thin', banner, [{ source: 'upload', image: style }], { size: 96 });
    const thin = await c.error('thin');
    assert.equal(thin.code, 'bad_setting');
    assert.match(thin.message, /^The image is 96 x 8 px, so at size 96 the result would be 96 x 8 px: thinner than the 16 px the style needs\. Set the output size to at least 192 px/);
    c.submit('scales', content, [{ source: 'upload', image: style }], { size: 96, scales: [16, 96] });
    const scales = await c.error('scales');
    assert.equal(scales.code, 'bad_setting');
    assert.match(scales.message, /scale 16 would work on 16 x \d+ px: thinner than the 16 px/);
    assert.ok(!c.jsonMessages().some((m) => m.type === 'accepted'), `nothing was queued; got ${c.summary()}`);
    // 20000 nested arrays (40 KB, under the message limit): refused by name, not an internal error.
    c.send(`{"type":"estimate","ref":"deep","width":64,"height":48,"settings":{"scales":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`);
    const deep = await c.error('deep');
    assert.equal(deep.code, 'bad_setting', deep.message);
    assert.match(deep.message, /^scales must be .*an array of 1/);
  } finally {
    c.close();
  }
});

test('limits: jobs per client and queue length', async () => {
  const a = await TestClient.connect(d.url, d.token);
  const b = await TestClient.connect(d.url, d.token);
  const c = await TestClient.connect(d.url, d.token);
  try {
    const long = { size: 48, iterations: 500, previewEvery: 0 };
    a.submit('a1', content, [{ source: 'upload', image: style }], long);
    a.submit('a2', content, [{ source: 'upload', image: style }], long);
    a.submit('a3', content, [{ source: 'upload', image: style }], long);
    const tooMany = await a.error('a3');
    assert.equal(tooMany.code, 'too_many_jobs');
    assert.match(tooMany.message, /already have 2 jobs/);
    b.submit('b1', content, [{ source: 'upload', image: style }], long);
    await b.next((m) => m.type === 'accepted');
    c.submit('c1', content, [{ source: 'upload', image: style }], long);
    const full = await c.error('c1');
    assert.equal(full.code, 'queue_full');
    assert.match(full.message, /2 jobs waiting/);
    const ids = [...a.jsonMessages(), ...b.jsonMessages()].flatMap((m) => (m.type === 'accepted' ? [m.jobId] : []));
    assert.equal(ids.length, 3);
  } finally {
    a.close();
    b.close();
    c.close();
  }
  // Their disconnects cancel and drop everything.
  for (let i = 0; i < 100 && (await status(bystander)).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await status(bystander)).length, 0);
});

test('idle connections are closed after --idle-timeout', async () => {
  const c = await TestClient.connect(d.url, d.token);
  await expectFatal(c, 'idle_timeout', CLOSE_CODES.idle, /No message for 3 s/);
});

test('after all the refusals a normal job still succeeds, and the engine is at its baseline', async () => {
  const c = await TestClient.connect(d.url, d.token);
  try {
    c.submit('ok', content, [{ source: 'upload', image: style }], { size: 32, iterations: 3 });
    const acc = await c.next<Msg<'accepted'>>((m) => m.type === 'accepted');
    const done = await c.finished(acc.jobId);
    assert.equal(done.type, 'done');
    const result = c.received.find((r) => r.kind === 'binary' && r.msg.type === 'result');
    assert.ok(result && result.kind === 'binary');
    const meta = await sharp(result.payload).metadata();
    assert.deepEqual([meta.width, meta.height], [(done as Msg<'done'>).width, (done as Msg<'done'>).height]);
    const s = await status(c);
    assert.equal(s.engine.memory.tensors, s.engine.baseline.tensors);
    assert.equal(s.engine.restarts, 0);
    await stillServing();
  } finally {
    c.close();
  }
});
