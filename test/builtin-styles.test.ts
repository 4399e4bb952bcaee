/**
 * The built-in styles, through the real daemon: listed first with title and artist, thumbnails,
 * usable in submit by name, never replaced by a save or shadowed by a user's file of the same name;
 * a built-in whose file does not match its pinned SHA-256 is left out.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { encodeSaveStyle } from '../protocol/frames.ts';
import type { AcceptedMessage, CapabilitiesMessage, StyleInfo, StylesMessage } from '../protocol/messages.ts';
import { BUILTIN_STYLES_DIR, loadBuiltinStyles } from '../companion/server/builtin-styles.ts';
import { startDaemon, testImage, TestClient, type DaemonHandle } from './helpers/daemon.ts';

interface Manifest { styles: { name: string; file: string; title: string; artist: string; year: string; sha256: string }[] }

let daemon: DaemonHandle;
let manifest: Manifest;
let home: string;

before(async () => {
  manifest = JSON.parse(await readFile(path.join(BUILTIN_STYLES_DIR, 'builtin.json'), 'utf8')) as Manifest;
  home = await mkdtemp(path.join(os.tmpdir(), 'stylize-builtin-'));
  const library = path.join(home, '.config', 'stylize', 'styles');
  await mkdir(library, { recursive: true });
  const png = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#884422' } }).png().toBuffer();
  await writeFile(path.join(library, 'Mine.png'), png);
  // Same name as a built-in, other case: the built-in wins; the file is skipped with a warning, never served.
  await writeFile(path.join(library, 'the scream.png'), png);
  daemon = await startDaemon({ home, args: ['--no-warmup', '--backend', 'onnx-cpu'] });
});

after(async () => {
  await daemon?.stop();
  await rm(home, { recursive: true, force: true });
});

test('the five paintings are in the repository with the checksums of their metadata', async () => {
  const files = (await readdir(BUILTIN_STYLES_DIR)).filter((f) => f !== 'builtin.json').sort();
  assert.deepEqual(files, manifest.styles.map((s) => s.file).sort());
  assert.equal(files.length, 5);
  const loaded = await loadBuiltinStyles(BUILTIN_STYLES_DIR, 40_000_000, (line) => assert.fail(line));
  assert.deepEqual(loaded.map((b) => b.info.name), manifest.styles.map((s) => s.name));
});

test('built-ins come first in capabilities and list_styles, with title, artist and a thumbnail; a user file cannot shadow one', async () => {
  const c = await TestClient.connect(daemon.url, daemon.token);
  const caps = c.jsonMessages().find((m) => m.type === 'capabilities') as CapabilitiesMessage;
  const check = (styles: StyleInfo[]) => {
    assert.deepEqual(styles.map((s) => s.name), [...manifest.styles.map((s) => s.name), 'Mine']);
    for (const [i, m] of manifest.styles.entries()) {
      assert.equal(styles[i].builtin, true);
      assert.equal(styles[i].title, m.title);
      assert.equal(styles[i].artist, m.artist);
      assert.equal(styles[i].year, m.year);
    }
    assert.equal(styles[5].builtin, undefined, 'a user style is not marked built-in');
    assert.equal(styles[5].title, undefined);
  };
  check(caps.styles);
  const from = c.received.length;
  c.send({ type: 'list_styles', ref: 'lib-1' });
  const list = await c.next<StylesMessage>((m) => m.type === 'styles', 30_000, from);
  assert.equal(list.ref, 'lib-1', 'the answer names its request');
  check(list.styles);
  for (const s of list.styles) {
    const t = await c.nextBinary((m) => m.type === 'thumbnail' && m.name === s.name, 30_000, from);
    assert.ok(t.msg.width <= 96 && t.msg.height <= 96);
  }
  assert.match(daemon.output(), /skipping the scream\.png: a built-in style has that name/);
  c.close();
});

test('a built-in cannot be replaced, even with overwrite, in any letter case; nothing is written', async () => {
  const c = await TestClient.connect(daemon.url, daemon.token);
  const png = new Uint8Array(await sharp({ create: { width: 20, height: 20, channels: 3, background: '#000' } }).png().toBuffer());
  const before = (await readdir(daemon.styleLibrary)).sort();
  for (const [ref, name, overwrite] of [['a', 'The Starry Night', true], ['b', 'the starry night', false], ['c', 'UDNIE', true]] as const) {
    c.sendBinary(encodeSaveStyle({ ref, name, overwrite }, png));
    const err = await c.error(ref);
    assert.equal(err.code, 'style_builtin');
    assert.match(err.message, /built-in style .*cannot be replaced/);
    assert.match(err.message, /another name/);
  }
  assert.deepEqual((await readdir(daemon.styleLibrary)).sort(), before);
  c.close();
});

test('a job uses a built-in by name', async () => {
  const c = await TestClient.connect(daemon.url, daemon.token);
  const content = await testImage('content', 'deadpool.jpg', 48);
  c.submit('wave', content, [{ source: 'library', name: 'the great wave off kanagawa' }], { size: 48, iterations: 3 });
  const acc = await c.next<AcceptedMessage>((m) => m.type === 'accepted' && m.ref === 'wave');
  const end = await c.finished(acc.jobId, 180_000);
  assert.equal(end.type, 'done', c.summary());
  c.close();
});

test('a built-in whose file does not match its SHA-256 is left out with a warning', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'stylize-builtin-copy-'));
  try {
    for (const f of await readdir(BUILTIN_STYLES_DIR)) await copyFile(path.join(BUILTIN_STYLES_DIR, f), path.join(dir, f));
    const victim = path.join(dir, manifest.styles[1].file);
    const bytes = await readFile(victim);
    bytes[bytes.length >> 1] ^= 0xff;
    await writeFile(victim, bytes);
    const warnings: string[] = [];
    const loaded = await loadBuiltinStyles(dir, 40_000_000, (line) => warnings.push(line));
    assert.deepEqual(loaded.map((b) => b.info.name), manifest.styles.filter((_, i) => i !== 1).map((s) => s.name));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], new RegExp(`${manifest.styles[1].name}.*SHA-256`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
