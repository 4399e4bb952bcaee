/**
 * Who may talk to the daemon. A daemon on localhost is reachable from every web page the user
 * opens, so the browser's Origin header is checked (defence in depth; the token is the real gate),
 * and, when bound to loopback, so is the Host header (a DNS-rebinding page sends its own host name).
 */

/** "https://Example.com:443/" -> "https://example.com"; "null" stays; anything else -> undefined. */
export function normalizeOrigin(origin: string): string | undefined {
  const o = origin.trim();
  if (o === 'null') return 'null';
  try {
    const url = new URL(o);
    if (!/^https?:$/.test(url.protocol) || url.origin === 'null') return undefined;
    // An origin has no path, query or credentials; reject "https://x.com/page" rather than guess.
    if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username) return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

export interface AccessPolicyOptions {
  host: string;
  port: number;
  allowOrigins: string[];
  /** Host-header check on: the daemon listens on loopback only. */
  loopback: boolean;
}

export type Verdict = { ok: true } | { ok: false; reason: string };

export class AccessPolicy {
  private readonly origins = new Set<string>();
  private port: number;

  constructor(private readonly opts: AccessPolicyOptions) {
    this.port = opts.port;
    for (const o of opts.allowOrigins) this.origins.add(o);
  }

  /** Called once the real port is known (port 0 in tests). */
  setPort(port: number): void {
    this.port = port;
  }

  /** The companion's own pages (e.g. a plugin UI it serves) have these origins. */
  private ownOrigins(): string[] {
    return [`http://127.0.0.1:${this.port}`, `http://localhost:${this.port}`, `http://[::1]:${this.port}`];
  }

  /** Every origin admitted besides the companion's own and `also` (for the Photopea page's frame-ancestors). */
  get allowedOrigins(): string[] {
    return [...this.origins];
  }

  /**
   * No Origin header: not a browser (a script, the CLI); it still needs the token.
   * "null": the Figma plugin iframe (and any sandboxed iframe, hence the token).
   * `also`: origins admitted for this kind of request only (Photopea's, for the HTTP pages).
   */
  checkOrigin(origin: string | undefined, also: readonly string[] = []): Verdict {
    if (origin === undefined) return { ok: true };
    const n = normalizeOrigin(origin);
    if (n !== undefined && (n === 'null' || this.origins.has(n) || this.ownOrigins().includes(n) || also.includes(n))) return { ok: true };
    return {
      ok: false,
      reason: `Origin ${JSON.stringify(origin.slice(0, 200))} is not allowed to use the Stylize companion. ` +
        `If this is your editor's plugin page, start the companion with --allow-origin ${n ?? '<origin>'}.`,
    };
  }

  checkHost(hostHeader: string | undefined): Verdict {
    if (!this.opts.loopback) return { ok: true };
    if (hostHeader === undefined) return { ok: false, reason: 'The request has no Host header.' };
    const host = hostHeader.trim().toLowerCase();
    const allowed = ['127.0.0.1', 'localhost', '[::1]'].flatMap((h) => [h, `${h}:${this.port}`]);
    if (allowed.includes(host)) return { ok: true };
    return {
      ok: false,
      reason: `Host ${JSON.stringify(hostHeader.slice(0, 200))} is not this companion (it answers to localhost:${this.port}, 127.0.0.1:${this.port} and [::1]:${this.port} only); ` +
        'this blocks DNS-rebinding pages. Connect to ws://localhost:' + this.port + '.',
    };
  }
}
