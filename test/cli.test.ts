/** The `stylize` command as a user runs it: real process, real files, real weights. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { CONTENT_DIR, REPO, STYLE_DIR } from './helpers/paths.ts';
import { pngClaiming } from './helpers/png.ts';

const CONTENT = path.join(CONTENT_DIR, 'tubingen.jpg');
const STYLE = path.join(STYLE_DIR, 'starry_night.jpg');

interface Run { code: number | null; stdout: string; stderr: string }

function stylize(args: string[], opts: { onStderr?: (chunk: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'companion/cli/stylize.ts'), ...args], { cwd: REPO });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      opts.onStderr?.(String(d), child);
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function tmp(): string {
  return mkdtempSync(path.join(tmpdir(), 'stylize-cli-'));
}

/** The user-facing error line: exactly one "stylize: ..." line. */
function reason(run: Run): string {
  const lines = run.stderr.split('\n').filter((l) => l.startsWith('stylize:'));
  assert.equal(lines.length, 1, `expected one error line, got:\n${run.stderr}`);
  assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
  return lines[0];
}

test('bad inputs exit non-zero with a one-line reason and write no output', async (t) => {
  const dir = tmp();
  const out = path.join(dir, 'out.png');
  const empty = path.join(dir, 'empty.png');
  writeFileSync(empty, '');
  const text = path.join(dir, 'notes.png');
  writeFileSync(text, 'this is not a picture');
  const bomb = path.join(dir, 'bomb.png');
  writeFileSync(bomb, pngClaiming(100_000, 100_000));
  // The designer's own photo, and a link to it: no output the run writes may replace it.
  const photo = path.join(dir, 'photo.jpg');
  copyFileSync(CONTENT, photo);
  const link = path.join(dir, 'link.jpg');
  symlinkSync(photo, link);
  const quick = ['--size', '32', '--iterations', '1'];
  // A web banner: too thin at 512 px. The message names the picture's own size and the size that works.
  const banner = path.join(dir, 'banner.png');
  writeFileSync(banner, await sharp({ create: { width: 2000, height: 60, channels: 3, background: '#468' } }).png().toBuffer());
  const cases: [string, string[], RegExp][] = [
    ['missing content', [path.join(dir, 'nope.jpg'), STYLE, '-o', out], /content image .*nope\.jpg" does not exist/],
    ['missing style', [CONTENT, path.join(dir, 'nope.jpg'), '-o', out], /style image .*does not exist/],
    ['zero-size', [empty, STYLE, '-o', out], /empty \(0 bytes\)/],
    ['not an image', [CONTENT, text, '-o', out], /notes\.png" is not a readable image/],
    ['absurdly large', [bomb, STYLE, '-o', out], /100000 x 100000 .* over the limit/],
    ['bad number', [CONTENT, STYLE, '-o', out, '--iterations', 'many'], /--iterations needs a number/],
    ['out of range', [CONTENT, STYLE, '-o', out, '--size', '0'], /--size must be between 16 and 4096/],
    ['bad choice', [CONTENT, STYLE, '-o', out, '--optimizer', 'sgd'], /--optimizer must be one of adam, lbfgs/],
    ['unknown option', [CONTENT, STYLE, '-o', out, '--colour'], /Unknown option '--colour'/],
    ['no output', [CONTENT, STYLE], /Missing -o/],
    ['overwrite input', [CONTENT, STYLE, '-o', CONTENT], /would overwrite an input/],
    ['overwrite input through a link', [link, STYLE, '-o', photo, ...quick], /-o .*photo\.jpg would overwrite an input/],
    ['loss log over an input', [photo, STYLE, '-o', out, '--loss-log', photo, ...quick], /--loss-log .*photo\.jpg would overwrite an input/],
    ['loss plot over the result', [photo, STYLE, '-o', out, '--loss-plot', out, ...quick], /--loss-plot and -o both name .*out\.png/],
    ['loss log in a missing folder', [photo, STYLE, '-o', out, '--loss-log', path.join(dir, 'nope', 'l.csv'), ...quick], /Cannot write --loss-log to the folder .*nope/],
    ['bad output type', [CONTENT, STYLE, '-o', path.join(dir, 'out.gif')], /Unsupported output type ".gif"/],
    ['too thin', [banner, STYLE, '-o', out, '--size', '512', '--iterations', '1'], /The image is 2000 x 60 px, so at size 512 the result would be 512 x 15 px: .* at least 534 px/],
  ];
  for (const [name, args, expected] of cases) {
    await t.test(name, async () => {
      const run = await stylize(args);
      assert.notEqual(run.code, 0);
      assert.match(reason(run), expected);
    });
  }
  assert.deepEqual(readdirSync(dir).sort(), ['banner.png', 'bomb.png', 'empty.png', 'link.jpg', 'notes.png', 'photo.jpg']);
  assert.deepEqual(readFileSync(photo), readFileSync(CONTENT), 'the photo is untouched');
});

test('a run writes the image, the loss CSV and plot, and intermediate images', async () => {
  const dir = tmp();
  const out = path.join(dir, 'result.png');
  const run = await stylize([CONTENT, STYLE, '-o', out, '--size', '48', '--iterations', '6', '--save-every', '2', '--backend', 'wasm']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /backend: wasm/);
  const meta = await sharp(out).metadata();
  assert.deepEqual([meta.width, meta.height], [48, 36]);
  const csv = readFileSync(path.join(dir, 'result-losses.csv'), 'utf8').trim().split('\n');
  assert.equal(csv[0], 'iteration,content,style,tv,total');
  assert.equal(csv.length, 7);
  const totals = csv.slice(1).map((l) => Number(l.split(',')[4]));
  assert.ok(totals.every(Number.isFinite) && totals[5] < totals[0], `totals ${totals}`);
  const svg = readFileSync(path.join(dir, 'result-losses.svg'), 'utf8');
  assert.equal((svg.match(/<polyline/g) ?? []).length, 3, 'content, style and total curves');
  for (const it of [2, 4]) assert.ok(existsSync(path.join(dir, `result-iter${it}.png`)), `iteration ${it} image`);
  assert.ok(!readdirSync(dir).some((f) => f.endsWith('.tmp')), 'no temporary files left');
});

test('Ctrl-C stops the run, exits 130 and leaves an existing output untouched', async () => {
  const dir = tmp();
  const out = path.join(dir, 'keep.png');
  const original = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#ff0000' } }).png().toBuffer();
  writeFileSync(out, original);
  let sent = false;
  const run = await stylize([CONTENT, STYLE, '-o', out, '--size', '64', '--iterations', '2000', '--backend', 'wasm'], {
    onStderr: (chunk, child) => {
      if (!sent && /backend: wasm/.test(chunk)) {
        sent = true;
        setTimeout(() => child.kill('SIGINT'), 1500);
      }
    },
  });
  assert.ok(sent, run.stderr);
  assert.equal(run.code, 130, run.stderr);
  assert.match(run.stderr, /interrupted; no output written/);
  assert.deepEqual(readFileSync(out), original);
  assert.deepEqual(readdirSync(dir), ['keep.png']);
});
