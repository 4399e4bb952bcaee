/**
 * A first start on a fresh machine: empty HOME, an empty weights cache in a temp folder, ../shared
 * out of reach. The real companion listens at once, says `preparing` with a percentage while it
 * downloads the weights from a local server, survives a truncated and a corrupt download (neither
 * ever becomes the cache), retries by itself, becomes ready and runs a job.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { AcceptedMessage, CapabilitiesMessage } from '../protocol/messages.ts';
import { startDaemon, testImage, TestClient, type DaemonHandle } from './helpers/daemon.ts';
import { loadWeightFiles, startWeightsServer, type WeightsServer } from './helpers/weights-server.ts';

const SHARD = 'group1-shard5of138.bin';

let server: WeightsServer;
let daemon: DaemonHandle;
let cache: string;

interface Health {
  status: string;
  preparing?: { percent: number; error?: string; retryInMs?: number };
}

async function health(): Promise<{ code: number; body: Health }> {
  const res = await fetch(`${daemon.httpUrl}/health`);
  return { code: res.status, body: (await res.json()) as Health };
}

async function waitForHealth(pred: (h: Health) => boolean, what: string, timeoutMs = 120_000): Promise<Health> {
  const deadline = Date.now() + timeoutMs;
  let last: Health | undefined;
  while (Date.now() < deadline) {
    last = (await health()).body;
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}; last /health: ${JSON.stringify(last)}\n${daemon.output()}`);
}

/** Nothing under a final name in the cache except verified files: no model.json, no SHARD. */
function assertCacheIncomplete(): void {
  const names = existsSync(cache) ? readdirSync(cache) : [];
  assert.ok(!names.includes('model.json'), `model.json must not be in the cache yet: ${names.join(', ')}`);
  assert.ok(!names.includes(SHARD), `the bad ${SHARD} must never be under its final name: ${names.join(', ')}`);
}

before(async () => {
  server = await startWeightsServer(await loadWeightFiles());
  cache = mkdtempSync(path.join(os.tmpdir(), 'stylize-cache-'));
  // The first transfers of SHARD are cut after 20 kB; the server announces the full length.
  server.behaviour = { drop: { file: SHARD, bytes: 20_000, times: 1_000_000 } };
  daemon = await startDaemon({
    findOwnWeights: true,
    args: ['--no-warmup', '--backend', 'onnx-cpu'],
    env: {
      STYLIZE_WEIGHTS: '',
      STYLIZE_WEIGHTS_CACHE: cache,
      STYLIZE_NO_SHARED_WEIGHTS: '1',
      STYLIZE_WEIGHTS_URL: server.url,
      STYLIZE_WEIGHTS_RETRY_MS: '300',
    },
  });
});

after(async () => {
  await daemon?.stop();
  await server?.close();
  rmSync(cache, { recursive: true, force: true });
});

test('a fresh machine: preparing with a percentage, truncated and corrupt downloads never become the cache, then ready and a job runs', async () => {
  // Truncated transfers: the daemon serves, says preparing, and reports the failure with the manual way.
  const truncated = await waitForHealth((h) => h.preparing?.error !== undefined, 'the truncated download to be reported');
  assert.equal(truncated.status, 'preparing');
  assert.equal((await health()).code, 503, 'not ready yet');
  assert.ok(truncated.preparing!.percent > 0 && truncated.preparing!.percent < 100, `percent ${truncated.preparing!.percent}`);
  assert.match(truncated.preparing!.error!, /connection (closed|dropped)/);
  assert.match(truncated.preparing!.error!, /npx stylize weights/);
  assert.match(truncated.preparing!.error!, /STYLIZE_WEIGHTS/);
  assertCacheIncomplete();
  assert.ok(readdirSync(cache).includes(`${SHARD}.part`), 'the partial transfer is kept to resume');

  // The plugin can pair while preparing: capabilities say so, and a job is refused with a clear code.
  const client = await TestClient.connect(daemon.url, daemon.token);
  const caps = client.jsonMessages().find((m) => m.type === 'capabilities') as CapabilitiesMessage;
  assert.ok(caps.preparing, 'capabilities carry preparing');
  assert.equal(typeof caps.preparing.percent, 'number');
  const content = await testImage('content', 'deadpool.jpg', 48);
  const style = await testImage('style', 'guernica.jpg', 48);
  client.submit('early', content, [{ source: 'upload', image: style }], { size: 48, iterations: 3 });
  const refused = await client.error('early');
  assert.equal(refused.code, 'preparing');
  assert.match(refused.message, /preparing the style model/);

  // A corrupt file (right length, one byte flipped): the hash check deletes it; it never becomes the cache.
  server.behaviour = { corrupt: SHARD };
  const corrupt = await waitForHealth((h) => /SHA-256/.test(h.preparing?.error ?? ''), 'the corrupt download to be reported');
  assert.match(corrupt.preparing!.error!, /Retrying in \d+ s/);
  assertCacheIncomplete();

  // The server heals: the companion retries by itself, verifies, loads the engine and says ready.
  const from = client.received.length;
  server.behaviour = {};
  await waitForHealth((h) => h.status === 'ready', 'ready', 180_000);
  assert.equal((await health()).code, 200);
  assert.ok(readdirSync(cache).includes('model.json') && readdirSync(cache).includes(SHARD));
  const ready = await client.next<CapabilitiesMessage>((m) => m.type === 'capabilities' && !('preparing' in m), 60_000, from);
  assert.notEqual(ready.backend.name, 'none');
  const percents = client.received.slice(0, from)
    .flatMap((r) => (r.kind === 'json' && r.msg.type === 'capabilities' && r.msg.preparing ? [r.msg.preparing.percent] : []));
  assert.ok(percents.length >= 1, 'progress was announced while preparing');

  client.submit('job', content, [{ source: 'upload', image: style }], { size: 48, iterations: 3 });
  const accepted = await client.next<AcceptedMessage>((m) => m.type === 'accepted');
  const done = await client.finished(accepted.jobId, 180_000);
  assert.equal(done.type, 'done', client.summary());
  client.close();
  // Non-terminal output: one plain line per finished file, ending with model.json.
  assert.match(daemon.output(), /\[100%\] model\.json/);
  if (process.env.SHOW_OUTPUT) console.log(daemon.output());
});
