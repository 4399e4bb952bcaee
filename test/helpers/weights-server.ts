/**
 * A local HTTP server for weight files: what STYLIZE_WEIGHTS_URL points at in tests and in CI's
 * first-run check. It can corrupt a file, cut a transfer short, or ignore Range requests.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { WEIGHTS_SHARED_DIR } from '../../weights/locate.ts';
import { PINNED_FILES } from '../../weights/sources.ts';

/** The pinned files from a weights folder (default ../shared), by name. */
export async function loadWeightFiles(dir = WEIGHTS_SHARED_DIR): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const f of PINNED_FILES) files.set(f.name, await readFile(path.join(dir, f.name)));
  return files;
}

/** What a test server does; changeable between runs. */
export interface Behaviour {
  /** Serve this file with one byte flipped. */
  corrupt?: string;
  /** Send this many body bytes of `file`, then drop the connection, for the next `times` requests. */
  drop?: { file: string; bytes: number; times: number };
  /** Answer Range requests with 200 and the whole file, like some proxies. */
  ignoreRange?: boolean;
}

export interface WeightsServer {
  url: string;
  behaviour: Behaviour;
  requests: { file: string; range?: string }[];
  close(): Promise<void>;
}

/** Serves `files` under /w/ (with Range support), misbehaving as `behaviour` says. */
export async function startWeightsServer(files: ReadonlyMap<string, Buffer>): Promise<WeightsServer> {
  const s: WeightsServer = { url: '', behaviour: {}, requests: [], close: async () => {} };
  const server = http.createServer((req, res) => {
    const file = decodeURIComponent(new URL(req.url!, 'http://x').pathname.replace(/^\/w\//, ''));
    const range = req.headers.range;
    s.requests.push({ file, range });
    let body = files.get(file);
    if (!req.url!.startsWith('/w/') || !body) {
      res.writeHead(404).end('not found');
      return;
    }
    if (s.behaviour.corrupt === file) {
      body = Buffer.from(body);
      body[body.length >> 1] ^= 0x5a;
    }
    let start = 0;
    const m = range && !s.behaviour.ignoreRange ? /^bytes=(\d+)-$/.exec(range) : null;
    if (m) {
      start = Number(m[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'Content-Range': `bytes */${body.length}` }).end();
        return;
      }
      res.writeHead(206, {
        'Content-Length': body.length - start,
        'Content-Range': `bytes ${start}-${body.length - 1}/${body.length}`,
      });
    } else {
      res.writeHead(200, { 'Content-Length': body.length });
    }
    const drop = s.behaviour.drop;
    if (drop && drop.file === file && drop.times > 0) {
      drop.times--;
      // Announce the full length, send part of it, then cut the connection.
      res.write(body.subarray(start, start + drop.bytes), () => res.socket?.destroy());
      return;
    }
    res.end(body.subarray(start));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  s.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/w/`;
  s.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return s;
}

