/**
 * Which companion ports manifest.json lets the Figma UI reach. Figma's CSP admits exactly the
 * listed origins, so the UI may only offer a port that has both its WebSocket (the jobs) and its
 * HTTP (the /health probe) entry on localhost.
 */

export const COMPANION_HOST = 'localhost';

/** Ports P with both ws://localhost:P and http://localhost:P in allowedDomains, ascending. */
export function companionPorts(allowedDomains: readonly string[]): number[] {
  const ports = (scheme: string) => new Set(allowedDomains.flatMap((d) => {
    const m = new RegExp(`^${scheme}://${COMPANION_HOST}:(\\d+)/?$`).exec(d);
    return m ? [Number(m[1])] : [];
  }));
  const http = ports('http');
  return [...ports('ws')].filter((p) => http.has(p) && p >= 1 && p <= 65535).sort((a, b) => a - b);
}
