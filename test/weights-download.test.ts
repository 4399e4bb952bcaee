import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runWeightsCommand } from '../companion/cli/weights-command.ts';
import { StylizeError } from '../common/errors.ts';
import { downloadWeights, type DownloadProgress } from '../weights/download.ts';
import { loadVggWeights, verifyWeights } from '../weights/loader.ts';
import { WEIGHTS_CACHE_DIR, WEIGHTS_SHARED_DIR, locateWeights } from '../weights/locate.ts';
import { PINNED_FILES, PINNED_TOTAL_BYTES } from '../weights/sources.ts';
import { loadWeightFiles, startWeightsServer, type WeightsServer } from './helpers/weights-server.ts';

const SHARED = WEIGHTS_SHARED_DIR;
const ALL = PINNED_FILES.map((f) => f.name);

const files = new Map<string, Buffer>();

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function isCode(code: string, ...inMessage: string[]) {
  return (err: unknown) => {
    assert.ok(err instanceof StylizeError, `expected a StylizeError, got ${err}`);
    assert.equal(err.code, code, err.message);
    for (const s of inMessage) assert.ok(err.message.includes(s), `message should contain "${s}": ${err.message}`);
    return true;
  };
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

let tmp: string;
let server: WeightsServer;
let n = 0;
const freshDir = () => path.join(tmp, `dest-${n++}`);

before(async () => {
  for (const [name, bytes] of await loadWeightFiles()) files.set(name, bytes);
  tmp = await mkdtemp(path.join(os.tmpdir(), 'stylize-weights-dl-'));
  server = await startWeightsServer(files);
});
after(async () => {
  await server.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('downloadWeights', () => {
  test('downloads every pinned file, verified; a second run skips them all', async () => {
    const dest = freshDir();
    server.requests = [];
    server.behaviour = {};
    const seen: DownloadProgress[] = [];
    // The base URL comes from STYLIZE_WEIGHTS_URL when not passed.
    const before = process.env.STYLIZE_WEIGHTS_URL;
    process.env.STYLIZE_WEIGHTS_URL = server.url;
    let result;
    try {
      result = await downloadWeights({ dest, onProgress: (p) => seen.push(p) });
    } finally {
      if (before === undefined) delete process.env.STYLIZE_WEIGHTS_URL;
      else process.env.STYLIZE_WEIGHTS_URL = before;
    }
    assert.equal(result.dir, dest);
    assert.deepEqual([...result.downloaded].sort(), [...ALL].sort());
    assert.deepEqual(result.skipped, []);
    assert.equal(server.requests.length, ALL.length);
    assert.equal(result.downloaded.at(-1), 'model.json', 'model.json comes last');
    for (const name of ALL) assert.equal(sha256(await readFile(path.join(dest, name))), sha256(files.get(name)!), name);
    assert.deepEqual((await readdir(dest)).filter((f) => f.endsWith('.part')), []);
    const last = seen.at(-1)!;
    assert.equal(last.doneBytes, PINNED_TOTAL_BYTES);
    assert.equal(last.totalBytes, PINNED_TOTAL_BYTES);
    assert.ok(seen.every((p, i) => i === 0 || p.doneBytes >= seen[i - 1].doneBytes), 'progress never goes back');
    // The downloaded folder is loadable.
    const w = await loadVggWeights(dest, { through: 'block1_conv2' });
    assert.equal(w.layers.length, 2);

    server.requests = [];
    const again = await downloadWeights({ dest, baseUrl: server.url });
    assert.deepEqual(again.downloaded, []);
    assert.deepEqual([...again.skipped].sort(), [...ALL].sort());
    assert.equal(server.requests.length, 0, 'nothing fetched on the second run');
  });

  test('a corrupted file fails naming it and both hashes; no final file left, good files kept', async () => {
    const dest = freshDir();
    const bad = 'group1-shard3of138.bin';
    server.behaviour = { corrupt: bad };
    const corrupted = Buffer.from(files.get(bad)!);
    corrupted[corrupted.length >> 1] ^= 0x5a;
    const expected = PINNED_FILES.find((f) => f.name === bad)!.sha256;
    await assert.rejects(
      downloadWeights({ dest, baseUrl: server.url, retryDelayMs: 1 }),
      isCode('weights_corrupt', bad, expected, sha256(corrupted)),
    );
    assert.equal(await exists(path.join(dest, bad)), false, 'no final file');
    assert.equal(await exists(path.join(dest, `${bad}.part`)), false, 'the bad .part is deleted');
    for (const good of ['group1-shard1of138.bin', 'group1-shard2of138.bin']) {
      assert.equal(sha256(await readFile(path.join(dest, good))), sha256(files.get(good)!), good);
    }
    assert.equal(await exists(path.join(dest, 'model.json')), false, 'no model.json, so the folder is not mistaken for complete');
  });

  test('a dropped connection keeps the .part; the rerun resumes with Range and completes', async () => {
    const dest = freshDir();
    const file = 'group1-shard5of138.bin';
    server.behaviour = { drop: { file, bytes: 300_000, times: 1 } };
    await assert.rejects(
      downloadWeights({ dest, baseUrl: server.url, retries: 0 }),
      isCode('weights_missing', file, `${file}.part`, 'again to resume'),
    );
    assert.equal(await exists(path.join(dest, file)), false, 'no final file after the drop');
    const kept = (await stat(path.join(dest, `${file}.part`))).size;
    assert.ok(kept > 0 && kept < files.get(file)!.length, `partial file kept (${kept} bytes)`);

    server.requests = [];
    server.behaviour = {};
    const result = await downloadWeights({ dest, baseUrl: server.url });
    assert.deepEqual(result.skipped, ['group1-shard1of138.bin', 'group1-shard2of138.bin', 'group1-shard3of138.bin', 'group1-shard4of138.bin']);
    assert.ok(result.downloaded.includes(file));
    const resumed = server.requests.filter((r) => r.file === file);
    assert.deepEqual(resumed, [{ file, range: `bytes=${kept}-` }]);
    const check = await verifyWeights(dest);
    assert.deepEqual(check.filter((r) => !r.ok), []);
  });

  test('within one run, a dropped connection is retried by resuming', async () => {
    const dest = freshDir();
    const file = 'group1-shard2of138.bin';
    server.requests = [];
    server.behaviour = { drop: { file, bytes: 100_000, times: 2 } };
    const result = await downloadWeights({ dest, baseUrl: server.url, retryDelayMs: 5 });
    assert.ok(result.downloaded.includes(file));
    const reqs = server.requests.filter((r) => r.file === file);
    assert.equal(reqs.length, 3);
    assert.equal(reqs[0].range, undefined);
    assert.match(reqs[1].range ?? '', /^bytes=[1-9]\d*-$/);
    assert.deepEqual((await verifyWeights(dest)).filter((r) => !r.ok), []);
  });

  test('a server that ignores Range (200) restarts the file instead of appending', async () => {
    const dest = freshDir();
    await mkdir(dest, { recursive: true });
    const file = 'group1-shard1of138.bin';
    await writeFile(path.join(dest, `${file}.part`), Buffer.alloc(5000, 7));
    server.requests = [];
    server.behaviour = { ignoreRange: true };
    await downloadWeights({ dest, baseUrl: server.url });
    // One request: the 200 body replaced the .part (appending it would fail the hash and need a second fetch).
    assert.deepEqual(server.requests.filter((r) => r.file === file).map((r) => r.range), ['bytes=5000-']);
    assert.deepEqual((await verifyWeights(dest)).filter((r) => !r.ok), []);
  });

  test('a resumed .part with a bad prefix is discarded and fetched fresh once', async () => {
    const dest = freshDir();
    await mkdir(dest, { recursive: true });
    const file = 'group1-shard1of138.bin';
    await writeFile(path.join(dest, `${file}.part`), Buffer.alloc(5000, 7)); // not the real first bytes
    server.requests = [];
    server.behaviour = {};
    await downloadWeights({ dest, baseUrl: server.url });
    assert.deepEqual(
      server.requests.filter((r) => r.file === file).map((r) => r.range),
      ['bytes=5000-', undefined],
    );
    assert.deepEqual((await verifyWeights(dest)).filter((r) => !r.ok), []);
  });

  test('a wrong URL (404) fails at once with the URL and the fix', async () => {
    server.requests = [];
    await assert.rejects(
      downloadWeights({ dest: freshDir(), baseUrl: server.url.replace('/w/', '/nothing/'), retryDelayMs: 1 }),
      isCode('weights_missing', '404', '/nothing/group1-shard1of138.bin', '--url'),
    );
    assert.equal(server.requests.length, 1, '4xx is not retried');
  });

  test('an aborted download throws cancelled and keeps the .part', async () => {
    const dest = freshDir();
    const controller = new AbortController();
    server.behaviour = {};
    await assert.rejects(
      downloadWeights({
        dest,
        baseUrl: server.url,
        signal: controller.signal,
        onProgress: (p) => {
          if (p.file === 'group1-shard2of138.bin' && p.fileBytes > 0) controller.abort();
        },
      }),
      isCode('cancelled'),
    );
    assert.equal(await exists(path.join(dest, 'group1-shard2of138.bin')), false);
    assert.equal(await exists(path.join(dest, 'group1-shard1of138.bin')), true);
  });
});

describe('locateWeights', () => {
  const withModel = async (name: string) => {
    const dir = path.join(tmp, name);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'model.json'), '{}');
    return dir;
  };

  test('order: STYLIZE_WEIGHTS, then the cache, then ../shared', async () => {
    const envDir = await withModel('loc-env');
    const cacheDir = await withModel('loc-cache');
    const sharedDir = await withModel('loc-shared');
    assert.deepEqual(locateWeights({ env: { STYLIZE_WEIGHTS: envDir }, cacheDir, sharedDir }), { dir: envDir, origin: 'env' });
    assert.deepEqual(locateWeights({ env: {}, cacheDir, sharedDir }), { dir: cacheDir, origin: 'cache' });
    assert.deepEqual(locateWeights({ env: { STYLIZE_WEIGHTS: '' }, cacheDir: path.join(tmp, 'nope'), sharedDir }), {
      dir: sharedDir,
      origin: 'shared',
    });
    // A folder without model.json does not count.
    const emptyCache = path.join(tmp, 'loc-empty-cache');
    await mkdir(emptyCache, { recursive: true });
    assert.equal(locateWeights({ env: {}, cacheDir: emptyCache, sharedDir }).origin, 'shared');
  });

  test('the real defaults: STYLIZE_WEIGHTS wins, else cache or ../shared', () => {
    const saved = process.env.STYLIZE_WEIGHTS;
    try {
      process.env.STYLIZE_WEIGHTS = SHARED;
      assert.deepEqual(locateWeights(), { dir: SHARED, origin: 'env' });
      delete process.env.STYLIZE_WEIGHTS;
      const found = locateWeights();
      assert.ok(
        (found.origin === 'cache' && found.dir === WEIGHTS_CACHE_DIR) || (found.origin === 'shared' && found.dir === SHARED),
        JSON.stringify(found),
      );
    } finally {
      if (saved === undefined) delete process.env.STYLIZE_WEIGHTS;
      else process.env.STYLIZE_WEIGHTS = saved;
    }
  });

  test('a wrong STYLIZE_WEIGHTS is reported, not skipped', async () => {
    const cacheDir = await withModel('loc-cache2');
    const noModel = path.join(tmp, 'loc-no-model');
    await mkdir(noModel, { recursive: true });
    for (const bad of [path.join(tmp, 'does-not-exist'), noModel, path.join(cacheDir, 'model.json')]) {
      assert.throws(() => locateWeights({ env: { STYLIZE_WEIGHTS: bad }, cacheDir }), isCode('weights_missing', 'STYLIZE_WEIGHTS', bad));
    }
  });

  test('nothing found: the error lists the places and the fix', () => {
    const cacheDir = path.join(tmp, 'none-cache');
    const sharedDir = path.join(tmp, 'none-shared');
    assert.throws(
      () => locateWeights({ env: {}, cacheDir, sharedDir }),
      isCode('weights_missing', 'STYLIZE_WEIGHTS', cacheDir, sharedDir, 'npx stylize weights'),
    );
  });
});

describe('stylize weights (CLI)', () => {
  test('bad options exit 2', async () => {
    assert.equal(await runWeightsCommand(['--bogus']), 2);
    assert.equal(await runWeightsCommand(['--dest']), 2);
    assert.equal(await runWeightsCommand(['extra']), 2);
  });

  test('downloads with --dest/--url, then --verify passes and catches damage', async () => {
    const dest = freshDir();
    server.behaviour = {};
    assert.equal(await runWeightsCommand(['--dest', dest, '--url', server.url]), 0);
    assert.equal(await runWeightsCommand(['--verify', '--dest', dest]), 0);
    const f = path.join(dest, 'group1-shard7of138.bin');
    const bytes = await readFile(f);
    bytes[10] ^= 1;
    await writeFile(f, bytes);
    assert.equal(await runWeightsCommand(['--verify', '--dest', dest]), 1);
    // Rerunning the download repairs exactly that file.
    server.requests = [];
    assert.equal(await runWeightsCommand(['--dest', dest, '--url', server.url]), 0);
    assert.deepEqual(server.requests.map((r) => r.file), ['group1-shard7of138.bin']);
    assert.equal(await runWeightsCommand(['--verify', '--dest', dest]), 0);
  });

  test('a bad --url is a one-line error, exit 1', async () => {
    assert.equal(await runWeightsCommand(['--dest', freshDir(), '--url', 'ftp://example.invalid/']), 1);
  });
});
