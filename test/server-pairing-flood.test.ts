/**
 * No web page can lock the designer out: a real Chromium page (a sandboxed iframe, Origin "null",
 * which the companion must admit for Figma) hammers the port with sockets that never pair, that
 * send a wrong token and then big frames, and that send garbage, while a client that behaves like
 * the plugin (Origin "null", hello at once) connects again and again. Each of its connections
 * pairs on the first try, within the bound the README promises.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Frame } from 'playwright-core';
import { PROTOCOL_VERSION } from '../protocol/messages.ts';
import { launchBrowser, until, type LaunchedBrowser } from './helpers/browser.ts';
import { startDaemon, TestClient, type DaemonHandle } from './helpers/daemon.ts';

/**
 * The property: a client that sends hello at once pairs within 2 s, whatever a page does. Typical
 * attempts must meet it; a single one may take longer only on a machine loaded by other work, so
 * the hard bound for every attempt is looser (the figures are printed).
 */
const PAIR_BOUND_MS = 2000;
const PAIR_BOUND_LOADED_MS = 5000;
const ATTEMPTS = 12;

let d: DaemonHandle;
let browser: LaunchedBrowser;
let pageServer: http.Server;

/** The hostile page: three sandboxed iframes, each hammering the companion its own way. */
function attackerPage(port: number): string {
  const script = (mode: string) => `
    const url = 'ws://127.0.0.1:${port}/';
    window.stats = { opened: 0, closed: 0, codes: {} };
    const big = new Uint8Array(1 << 20);
    function one() {
      let ws;
      try { ws = new WebSocket(url); } catch (e) { setTimeout(one, 10); return; }
      ws.binaryType = 'arraybuffer';
      ws.onopen = () => {
        window.stats.opened++;
        if (${JSON.stringify(mode)} === 'wrong-token') {
          ws.send(JSON.stringify({ type: 'hello', protocol: ${PROTOCOL_VERSION}, token: 'AAAAA-BBBBB-CCCCC-DDDDD-EEEEE' }));
          for (let i = 0; i < 8; i++) ws.send(big);
        } else if (${JSON.stringify(mode)} === 'garbage') {
          ws.send('{"type":');
        }
        // 'silent' sends nothing and waits to be pushed out.
      };
      ws.onclose = (e) => {
        window.stats.closed++;
        window.stats.codes[e.code] = (window.stats.codes[e.code] || 0) + 1;
        one();
      };
    }
    for (let i = 0; i < ${mode === 'silent' ? 24 : 4}; i++) one();
  `;
  const frame = (mode: string) => `<iframe sandbox="allow-scripts" data-mode="${mode}" srcdoc="${`<script>${script(mode)}</script>`.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}"></iframe>`;
  return `<!doctype html><title>not the plugin</title>${frame('silent')}${frame('wrong-token')}${frame('garbage')}`;
}

before(async () => {
  d = await startDaemon({ args: ['--max-size', '64'] });
  pageServer = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(attackerPage(d.port));
  });
  await new Promise<void>((res) => pageServer.listen(0, '127.0.0.1', () => res()));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  pageServer?.close();
  await d?.stop('SIGKILL');
});

async function frameStats(frames: Frame[]): Promise<{ opened: number; closed: number; codes: Record<string, number> }[]> {
  return Promise.all(frames.map((f) => f.evaluate(() => (window as unknown as { stats: { opened: number; closed: number; codes: Record<string, number> } }).stats)));
}

test('while a page hammers the port, a client that sends hello at once pairs on the first try, within 2 s', async () => {
  const page = await browser.context.newPage();
  await page.goto(`http://127.0.0.1:${(pageServer.address() as AddressInfo).port}/`);
  const frames = () => page.frames().filter((f) => f !== page.mainFrame());
  await until('the three attacking frames', async () => frames().length === 3);
  // The flood is on: the page's sockets are being pushed out (1013) or refused.
  await until('the page to fill the unpaired slots', async () => {
    const stats = await frameStats(frames()).catch(() => []);
    return stats.length === 3 && stats[0].opened >= 40 && stats.every((s) => s.closed > 0);
  }, 60_000);

  const times: number[] = [];
  for (let i = 0; i < ATTEMPTS; i++) {
    const t0 = performance.now();
    const c = await TestClient.connect(d.url, d.token, { origin: 'null' }).catch((err: Error) => err);
    if (c instanceof Error) assert.fail(`attempt ${i + 1} did not pair: ${c.message}`);
    times.push(performance.now() - t0);
    c.close();
    await new Promise((r) => setTimeout(r, 150));
  }
  const stats = await frameStats(frames());
  await page.close();
  const sorted = [...times].sort((a, b) => a - b);
  console.log(`# pairing during the flood: ${times.map((t) => t.toFixed(0)).join(', ')} ms (median ${sorted[sorted.length >> 1].toFixed(0)}, max ${sorted.at(-1)!.toFixed(0)})`);
  console.log(`# page sockets: ${stats.map((s, i) => `${['silent', 'wrong-token', 'garbage'][i]} opened ${s.opened}, closed ${s.closed} ${JSON.stringify(s.codes)}`).join('; ')}`);
  assert.ok(stats[0].codes['1013'] > 0, 'the silent sockets filled the unpaired slots and were pushed out');
  assert.ok(stats[1].codes['4001'] > 0, 'the wrong-token sockets were refused');
  assert.ok(sorted[sorted.length >> 1] < PAIR_BOUND_MS, `the median attempt paired within ${PAIR_BOUND_MS} ms`);
  assert.ok(sorted.at(-1)! < PAIR_BOUND_LOADED_MS, `every attempt paired within ${PAIR_BOUND_LOADED_MS} ms (max ${sorted.at(-1)!.toFixed(0)})`);
});
