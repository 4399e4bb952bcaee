/**
 * The Photopea plugin page, served by the companion on its own port: Photopea loads plugins as web
 * pages in a panel iframe, and a page from the companion's origin may open the companion's
 * WebSocket (its own origin is admitted). Routes:
 *   GET /photopea              the plugin page (dist/plugin/photopea.html from `npm run build`)
 *   GET /photopea/icon.png     its icon for Photopea's side bar (Photopea wants a .png icon URL)
 *   GET /photopea/icon.svg     the same icon as SVG
 *   GET /photopea/plugin.json  the plugin entry as Photopea's Window > Plugins takes it: a flat
 *                              {name, url, icon}
 * Only Photopea (and origins allowed with --allow-origin) may frame the page: CSP frame-ancestors.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type http from 'node:http';
import sharp from 'sharp';
import { PROJECT_ROOT } from './paths.ts';

/** Photopea's origins: the page is framed there, and may be fetched from there (CORS). */
export const PHOTOPEA_ORIGINS: readonly string[] = ['https://www.photopea.com', 'https://photopea.com'];
export const PHOTOPEA_PATH = '/photopea';
export const PHOTOPEA_PAGE_FILE = 'photopea.html';
export const DEFAULT_PLUGIN_DIR = path.join(PROJECT_ROOT, 'dist', 'plugin');
/** The panel size Photopea opens the plugin with (the UI is laid out for about this). */
export const PANEL = { width: 360, height: 640 };

const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1e1e2e"/>` +
  `<path d="M6 24c4-10 8-14 12-14s6 3 8 6" fill="none" stroke="#f2c14e" stroke-width="3" stroke-linecap="round"/>` +
  `<circle cx="22" cy="9" r="3" fill="#5fb3f9"/><path d="M6 27h20" stroke="#e8685a" stroke-width="2" stroke-linecap="round"/></svg>`;

/** What Photopea's Window > Plugins accepts from a URL: flat, and an icon whose URL ends in .png. */
export interface PhotopeaPluginEntry {
  name: string;
  url: string;
  icon: string;
}

export function photopeaPluginEntry(baseUrl: string): PhotopeaPluginEntry {
  return { name: 'Stylize', url: `${baseUrl}${PHOTOPEA_PATH}`, icon: `${baseUrl}${PHOTOPEA_PATH}/icon.png` };
}

/** 160 x 160: Photopea shows icons at multiples of 20 screen pixels. Rendered once, on first use. */
let iconPng: Promise<Buffer> | null = null;
function iconAsPng(): Promise<Buffer> {
  iconPng ??= sharp(Buffer.from(ICON), { density: 360 }).resize(160, 160).png().toBuffer();
  return iconPng;
}

export function isPhotopeaPath(pathname: string): boolean {
  return pathname === PHOTOPEA_PATH || pathname.startsWith(`${PHOTOPEA_PATH}/`);
}

export interface PhotopeaPageContext {
  /** http://127.0.0.1:PORT as the browser reached it. */
  baseUrl: string;
  /** Origins allowed with --allow-origin (they may frame the page too). */
  allowOrigins: readonly string[];
  /** CORS headers the daemon decided on for this request's Origin. */
  cors: Record<string, string>;
}

/** Serves the Photopea routes. The daemon has checked Host and Origin already. */
export async function servePhotopea(pluginDir: string, req: http.IncomingMessage, res: http.ServerResponse, ctx: PhotopeaPageContext): Promise<void> {
  const pathname = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '') || '/';
  const send = (status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}) => {
    res.writeHead(status, {
      'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...ctx.cors, ...headers,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return send(405, 'text/plain; charset=utf-8', `${req.method} is not supported here; the Photopea page answers GET.`, { allow: 'GET, HEAD' });
  }
  if (pathname === `${PHOTOPEA_PATH}/icon.svg`) return send(200, 'image/svg+xml', ICON);
  if (pathname === `${PHOTOPEA_PATH}/icon.png`) return send(200, 'image/png', await iconAsPng());
  if (pathname === `${PHOTOPEA_PATH}/plugin.json`) {
    return send(200, 'application/json; charset=utf-8', JSON.stringify(photopeaPluginEntry(ctx.baseUrl), null, 2));
  }
  if (pathname !== PHOTOPEA_PATH) {
    return send(404, 'text/plain; charset=utf-8', `Nothing at ${pathname}. The Photopea plugin is at ${PHOTOPEA_PATH}.`);
  }
  const file = path.join(pluginDir, PHOTOPEA_PAGE_FILE);
  let html: string;
  try {
    html = await readFile(file, 'utf8'); // read each time: a rebuild shows on the next reload
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    const text = missing
      ? `The Stylize plugin page for Photopea is not built (no ${file}). In the Stylize folder run “npm run build”, then reload the plugin in Photopea.`
      : `The Stylize plugin page could not be read (${(err as Error).message}).`;
    return send(503, 'text/html; charset=utf-8', `<!doctype html><meta charset="utf-8"><title>Stylize</title><p style="font:14px system-ui;margin:16px">${escapeHtml(text)}</p>`);
  }
  const ancestors = ["'self'", ...PHOTOPEA_ORIGINS, ...ctx.allowOrigins.filter((o) => o !== 'null')];
  send(200, 'text/html; charset=utf-8', html, {
    // Only Photopea may show the page in a frame (a foreign page framing it could drive it).
    'content-security-policy': `frame-ancestors ${ancestors.join(' ')}`,
    'referrer-policy': 'no-referrer',
  });
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
