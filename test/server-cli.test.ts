/**
 * `serve` start-up failures and `doctor`, as a user runs them: real processes, a temp HOME,
 * real weights (and a deliberately damaged copy made of links plus one bad file).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawnCompanion } from './helpers/daemon.ts';
import { weightsDir } from './helpers/paths.ts';

function run(script: 'serve-command.ts' | 'doctor-command.ts', args: string[], home: string): Promise<{ code: number | null; out: string }> {
  const p = spawnCompanion({ command: script === 'serve-command.ts' ? 'serve' : 'doctor', args, home });
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), 60_000);
  return p.exited.then(({ code }) => {
    clearTimeout(timer);
    return { code, out: p.output() };
  });
}

async function withBusyPort<T>(fn: (port: number) => Promise<T>): Promise<T> {
  const srv = net.createServer((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi'));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  try {
    return await fn((srv.address() as net.AddressInfo).port);
  } finally {
    srv.close();
  }
}

function tempHome(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'stylize-cli-'));
}

test('serve: a port in use, bad options, missing weights and a broken token file fail with clear messages', async () => {
  const home = tempHome();
  try {
    const weights = weightsDir();
    await withBusyPort(async (port) => {
      const r = await run('serve-command.ts', ['--port', String(port), '--weights', weights], home);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, new RegExp(`Port localhost:${port} is already in use.*--port N`));
    });
    const bad = await run('serve-command.ts', ['--max-queue', 'lots'], home);
    assert.equal(bad.code, 2);
    assert.match(bad.out, /--max-queue must be a whole number between 1 and 10000 \(got "lots"\)/);
    const empty = mkdtempSync(path.join(home, 'w-'));
    const missing = await run('serve-command.ts', ['--port', '0', '--weights', empty], home);
    assert.equal(missing.code, 1);
    assert.match(missing.out, /has no model\.json.*npx stylize weights/);
    mkdirSync(path.join(home, '.config', 'stylize'), { recursive: true });
    writeFileSync(path.join(home, '.config', 'stylize', 'token'), 'x\n', { mode: 0o600 });
    const token = await run('serve-command.ts', ['--port', '0', '--weights', weights], home);
    assert.equal(token.code, 1);
    assert.match(token.out, /token file .* is unusable.*delete/);
    const help = await run('serve-command.ts', ['--help'], home);
    assert.equal(help.code, 0);
    assert.match(help.out, /--allow-origin ORIGIN/);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('doctor: a healthy set-up passes, with the backend and any fallback reported', async () => {
  const home = tempHome();
  try {
    const r = await run('doctor-command.ts', ['--port', '0', '--weights', weightsDir()], home);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /info\s+no token file yet/);
    assert.match(r.out, /ok\s+weights in .*: 21 files, checksums match/);
    assert.match(r.out, /ok\s+backend \S+ on /);
    assert.match(r.out, /ok\s+image codec/);
    assert.match(r.out, /All checks passed/);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('doctor: busy port, loose token file, corrupt weights and a broken style each get a fix', async () => {
  const home = tempHome();
  try {
    const cfg = path.join(home, '.config', 'stylize');
    mkdirSync(path.join(cfg, 'styles'), { recursive: true });
    writeFileSync(path.join(cfg, 'token'), 'ABCDE-FGHJK-MNPQR-STVWX-YZ012\n', { mode: 0o644 });
    writeFileSync(path.join(cfg, 'styles', 'broken.png'), 'not a png');
    // A weights folder of links to the real files, with one shard damaged.
    const src = weightsDir();
    const dir = path.join(home, 'weights');
    mkdirSync(dir);
    for (const f of readdirSync(src)) {
      if (f === 'group1-shard3of138.bin') writeFileSync(path.join(dir, f), Buffer.alloc(1048576, 7));
      else symlinkSync(path.join(src, f), path.join(dir, f));
    }
    await withBusyPort(async (port) => {
      const r = await run('doctor-command.ts', ['--quick', '--port', String(port), '--weights', dir], home);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /WARN\s+token file .*other users can read it \(mode 644\)\n\s+fix: chmod 600/);
      assert.match(r.out, new RegExp(`FAIL\\s+port localhost:${port} is used by another program\\n\\s+fix: .*--port N or STYLIZE_PORT`));
      assert.match(r.out, /FAIL\s+weights in .*1 of 21 files missing or corrupt: group1-shard3of138\.bin \(SHA-256 [0-9a-f]+, expected [0-9a-f]+\)\n\s+fix: re-download/);
      assert.match(r.out, /WARN\s+style broken\.png is not a readable image.*\n\s+fix: replace or remove/);
      assert.match(r.out, /2 problem\(s\) to fix, 2 warning\(s\)/);
    });
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('doctor: a kept-results folder the companion cannot use is a warning with a fix (the companion still starts, keeping results in memory)', async () => {
  const home = tempHome();
  try {
    const cfg = path.join(home, '.config', 'stylize');
    mkdirSync(cfg, { recursive: true });
    writeFileSync(path.join(cfg, 'kept'), 'a file where the folder should be');
    const r = await run('doctor-command.ts', ['--quick', '--port', '0', '--weights', weightsDir()], home);
    assert.match(r.out, /WARN\s+kept-results folder .*kept is not a folder: results of a closed panel stay in memory only and a restart loses them\n\s+fix: move that file away or use --kept-dir DIR/);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
