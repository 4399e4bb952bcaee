/**
 * The companion's plain HTTP side, on the same port as the WebSocket: GET /health, the Photopea
 * plugin page, CORS and Private Network Access preflights, and a 404 that says what is here.
 * Every request passes the Host and Origin checks first.
 */
import type http from 'node:http';
import { isLoopbackHost } from './options.ts';
import type { AccessPolicy } from './origin.ts';
import { DEFAULT_PLUGIN_DIR, PHOTOPEA_ORIGINS, isPhotopeaPath, servePhotopea } from './photopea-page.ts';

export interface HttpRouteContext {
  policy: AccessPolicy;
  /** The --host the companion listens on, and its port (known once listening). */
  listenHost: string;
  port(): number;
  pluginDir?: string;
  /** The /health body, and whether the companion is ready (200) or not (503). */
  health(): { ready: boolean; body: Record<string, unknown> };
}

export function createHttpHandler(ctx: HttpRouteContext): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  return (req, res) => {
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
      res.end(JSON.stringify(body));
    };
    const host = ctx.policy.checkHost(req.headers.host);
    if (!host.ok) return json(403, { error: 'bad_host', message: host.reason });
    const origin = req.headers.origin;
    // Plain HTTP (the pages, /health) also admits Photopea, where the plugin page is framed; the
    // WebSocket does not need to: the page opens it from its own (the companion's) origin.
    const o = ctx.policy.checkOrigin(origin, PHOTOPEA_ORIGINS);
    if (!o.ok) return json(403, { error: 'bad_origin', message: o.reason });
    // CORS only for allowed origins, so the plugin's iframe ("null") can read /health.
    const cors: Record<string, string> = origin !== undefined ? { 'access-control-allow-origin': origin, vary: 'Origin' } : {};
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'OPTIONS') {
      // Private Network Access preflight (browsers that ask before a public page reaches loopback).
      const pna: Record<string, string> = req.headers['access-control-request-private-network'] === 'true' && origin !== undefined
        ? { 'access-control-allow-private-network': 'true' } : {};
      res.writeHead(204, { ...cors, ...pna, 'access-control-allow-methods': 'GET', 'access-control-max-age': '600' });
      return void res.end();
    }
    if (isPhotopeaPath(url.pathname)) {
      // On loopback the Host header was checked above, so it is the name the browser used.
      const baseUrl = isLoopbackHost(ctx.listenHost) ? `http://${req.headers.host}` : `http://${hostForUrl(ctx.listenHost)}:${ctx.port()}`;
      servePhotopea(ctx.pluginDir ?? DEFAULT_PLUGIN_DIR, req, res, { baseUrl, allowOrigins: ctx.policy.allowedOrigins, cors })
        .catch((err: Error) => { if (!res.headersSent) json(500, { error: 'internal', message: err.message }); });
      return;
    }
    if (url.pathname === '/health' && (req.method === 'GET' || req.method === 'HEAD')) {
      const h = ctx.health();
      // A page's request (it has an Origin; any site can send "null") learns only whether the
      // companion is up, which is what the plugin asks; the version, device and activity are for
      // programs on this machine (no Origin).
      const body = origin === undefined ? h.body : pick(h.body, ['name', 'protocol', 'status', 'preparing']);
      return json(h.ready ? 200 : 503, body, cors);
    }
    json(404, { error: 'not_found', message: `Nothing at ${req.method} ${url.pathname}. This is the Stylize companion: GET /health, GET /photopea (the Photopea plugin), or open a WebSocket on /.` }, cors);
  };
}

function pick(body: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => body[k] !== undefined).map((k) => [k, body[k]]));
}

/** A listen address as it goes in a URL (IPv6 in brackets). */
export function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
