/**
 * Hardening of the companion's parts against hostile or unlucky input, on real files and real
 * settings (no daemon): the settings' scale plan, style library saves under races, the token file
 * and the library folder's modes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { StylizeError } from '../common/errors.ts';
import { resolveSettings } from '../companion/engine/settings.ts';
import { autoScales } from '../companion/engine/plan.ts';
import { ProtocolError } from '../protocol/errors.ts';
import { StyleLibrary } from '../companion/server/styles.ts';
import { loadOrCreateToken } from '../companion/server/token.ts';

function badSetting(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StylizeError, `expected a StylizeError, got ${String(err)}`);
    assert.equal(err.code, 'bad_setting');
    assert.match(err.message, pattern);
    return true;
  });
}

function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

test('scales: every stage is at most the size, increasing, and bounded in count and iterations', () => {
  // The walk-around of --max-size: a stage bigger than the output size.
  badSetting(() => resolveSettings({ size: 64, scales: [1024] }), /scales.*at most the size \(64\)/);
  badSetting(() => resolveSettings({ size: 128, scales: [96, 64] }), /increasing/);
  badSetting(() => resolveSettings({ size: 128, scales: [64, 64] }), /increasing/);
  badSetting(() => resolveSettings({ size: 128, scales: '64,200' }), /at most the size/);
  badSetting(() => resolveSettings({ size: 512, scales: Array.from({ length: 20 }, (_, i) => 16 + i * 16) }), /at most 8 scales/);
  // One count per planned scale (the size itself is appended when the list does not end with it).
  badSetting(() => resolveSettings({ size: 128, scales: [64], scaleIterations: [5] }), /scaleIterations needs one count per scale \(2: 64, 128\)/);
  badSetting(() => resolveSettings({ size: 128, scales: [32, 64], scaleIterations: [10000, 10000, 10000] }), /scaleIterations add up to 30000.*at most 10000/);
  const auto1500 = autoScales(1500);
  badSetting(() => resolveSettings({ size: 1500, scaleIterations: [10] }), new RegExp(`one count per scale \\(${auto1500.length}: ${auto1500.join(', ')}\\)`));
  // What is allowed stays allowed.
  assert.deepEqual(resolveSettings({ size: 128, scales: [64] }).scales, [64]);
  assert.deepEqual(resolveSettings({ size: 128, scales: [64, 128], scaleIterations: [20, 10] }).scaleIterations, [20, 10]);
  assert.equal(resolveSettings({ size: 1500, scales: 'auto' }).scales, 'auto');
});

test('styleLayers: a layer that is not a string is a bad_setting, never an internal error', () => {
  badSetting(() => resolveSettings({ styleLayers: [{ layer: { toString: 1 } }] }), /styleLayers\[0\]\.layer must be a layer name/);
  badSetting(() => resolveSettings({ styleLayers: [{ layer: ['conv1_1'] }] }), /styleLayers\[0\]\.layer must be a layer name/);
  badSetting(() => resolveSettings({ styleLayers: [{ weight: 1 }] }), /styleLayers\[0\]\.layer must be a layer name/);
  badSetting(() => resolveSettings({ styleLayers: [null] }), /styleLayers/);
  assert.equal(resolveSettings({ styleLayers: [{ layer: 'conv1_1', weight: 2 }] }).styleLayers[0].layer, 'block1_conv1');
});

async function image(format: 'png' | 'jpeg', shade: number): Promise<Uint8Array> {
  const img = sharp({ create: { width: 40, height: 30, channels: 3, background: { r: shade, g: 100, b: 200 - shade } } });
  return new Uint8Array(await (format === 'png' ? img.png() : img.jpeg()).toBuffer());
}

function library(dir: string): StyleLibrary {
  return new StyleLibrary(dir, { maxPixels: 1e7, maxFileBytes: 1 << 24, thumbnailSide: 32 });
}

/** Every entry of the folder that is not a plain, finished style file. */
function strays(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.startsWith('.') || f.endsWith('.tmp'));
}

test('style saves of one name race: exactly one wins without overwrite, no stray or duplicate files', async () => {
  const dir = tempDir('stylize-lib-');
  try {
    const lib = library(dir);
    await lib.init();
    const bytes = await Promise.all(Array.from({ length: 8 }, (_, i) => image(i % 2 ? 'jpeg' : 'png', i * 20)));
    const names = ['Sky', 'sky', 'SKY', 'Sky', 'sky', 'Sky', 'sKy', 'Sky'];
    const results = await Promise.allSettled(bytes.map((b, i) => lib.save(names[i], b, i % 2 ? 'jpeg' : 'png', false)));
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(won.length, 1, `exactly one save wins; got ${won.length}: ${JSON.stringify(results.map((r) => r.status === 'rejected' ? (r.reason as Error).message : 'ok'))}`);
    for (const r of lost) {
      assert.ok(r.reason instanceof ProtocolError, String(r.reason));
      assert.equal(r.reason.code, 'style_exists', r.reason.message);
    }
    assert.equal(readdirSync(dir).length, 1, `one file on disk: ${readdirSync(dir).join(', ')}`);

    // With overwrite, every save succeeds in turn; one file of that name remains, whatever its case or format.
    const again = await Promise.allSettled(bytes.map((b, i) => lib.save(names[i], b, i % 2 ? 'jpeg' : 'png', true)));
    assert.deepEqual(again.map((r) => r.status === 'rejected' ? (r.reason as Error).message : 'ok'), again.map(() => 'ok'));
    assert.equal(readdirSync(dir).length, 1, `one file on disk: ${readdirSync(dir).join(', ')}`);
    assert.deepEqual(strays(dir), []);
    assert.equal((await lib.list()).length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('style saves: duplicates of a name that were hidden on disk block overwrite:false and are removed by overwrite', async () => {
  const dir = tempDir('stylize-lib-');
  try {
    writeFileSync(path.join(dir, 'wave.png'), await image('png', 10));
    writeFileSync(path.join(dir, 'WAVE.jpg'), await image('jpeg', 90));
    const lib = library(dir);
    await lib.init();
    assert.equal((await lib.list()).length, 1, 'the listing shows one of the two');
    await assert.rejects(lib.save('Wave', await image('png', 50), 'png', false), (err: ProtocolError) => err.code === 'style_exists');
    const saved = await lib.save('Wave', await image('jpeg', 50), 'jpeg', true);
    assert.equal(saved.name, 'Wave');
    assert.deepEqual(readdirSync(dir), ['Wave.jpg']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('style library folder is created 0700 even under umask 000', async () => {
  const dir = tempDir('stylize-lib-');
  const old = process.umask(0);
  try {
    const lib = library(path.join(dir, 'a', 'styles'));
    await lib.init();
    assert.equal(statSync(path.join(dir, 'a', 'styles')).mode & 0o777, 0o700);
  } finally {
    process.umask(old);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('token file: a symbolic link is refused and its target is left alone', () => {
  const dir = tempDir('stylize-token-');
  try {
    const target = path.join(dir, 'elsewhere');
    writeFileSync(target, 'ABCDE-FGHJK-MNPQR-STVWX-YZ012\n');
    chmodSync(target, 0o644);
    mkdirSync(path.join(dir, 'cfg'));
    const link = path.join(dir, 'cfg', 'token');
    symlinkSync(target, link);
    assert.throws(() => loadOrCreateToken(link), /symbolic link.*remove/i);
    assert.equal(statSync(target).mode & 0o777, 0o644, 'the link target keeps its mode');
    assert.ok(lstatSync(link).isSymbolicLink());
    // A dangling link is not followed to create a file either.
    const dangling = path.join(dir, 'cfg', 'token2');
    symlinkSync(path.join(dir, 'nowhere'), dangling);
    assert.throws(() => loadOrCreateToken(dangling), /symbolic link/i);
    assert.deepEqual(readdirSync(dir).sort(), ['cfg', 'elsewhere']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
