/**
 * Figma's rules for a plugin's manifest.json, as Figma's own importer applies them (read from its
 * manifest checker and developers.figma.com/docs/plugins/manifest), so a manifest that Figma would
 * refuse fails here first. Also the Content-Security-Policy Figma puts on the plugin window, built
 * from the same allowedDomains. No Node imports: the browser test's host page bundles it.
 */

export interface ManifestProblem {
  /** Stable name of the rule broken (tests switch on it). */
  rule:
    | 'required-field' | 'allowed-domains-empty' | 'none-alone' | 'allowed-domain-pattern' | 'duplicate-domain'
    | 'scheme-required' | 'reasoning-required' | 'reasoning-length' | 'dev-domain-pattern'
    | 'file-outside-folder' | 'document-access' | 'editor-type';
  message: string;
}

const SCHEME = '(?:(https?:|wss?:)//)?';
const DOMAIN_NAME = '(?:\\*\\.)?(?:[-a-z\\d]+\\.)+[a-z]{2,}';
const PATH = '((?:/[-a-zA-Z\\d%_.~+@]*)*)';
/** A published domain: a real host name with a top-level domain, no port (what reviewers see). */
const PUBLIC_DOMAIN = new RegExp(`^${SCHEME}(${DOMAIN_NAME})${PATH}$`);
/** What Figma accepts at all: the above, or the word localhost, each with an optional port. */
const ACCEPTED_DOMAIN = new RegExp(`^${SCHEME}(${DOMAIN_NAME}|localhost)(?::(\\d+))?${PATH}$`);
const HAS_SCHEME = /^(https?:|wss?:)\/\//;
const REASONING_MAX = 1000;
export const EDITOR_TYPES = ['figma', 'figjam', 'dev', 'slides', 'buzz'] as const;

function acceptedDomain(entry: string): boolean {
  return entry === '*' || ACCEPTED_DOMAIN.test(entry);
}

function domainProblems(allowed: unknown, dev: unknown, reasoning: unknown): ManifestProblem[] {
  const out: ManifestProblem[] = [];
  if (!Array.isArray(allowed) || allowed.some((d) => typeof d !== 'string')) {
    return [{ rule: 'required-field', message: 'networkAccess.allowedDomains must be an array of strings.' }];
  }
  const domains = allowed as string[];
  const why = typeof reasoning === 'string' ? reasoning : '';
  if (domains.includes('*') && !why) {
    out.push({ rule: 'reasoning-required', message: 'Allowing all domains ("*") needs a "reasoning" in networkAccess.' });
  }
  const local = domains.filter((d) => d !== '*' && acceptedDomain(d) && !PUBLIC_DOMAIN.test(d));
  if (local.length && !why) {
    out.push({ rule: 'reasoning-required', message: `${local.join(', ')} (localhost) needs a "reasoning" in networkAccess, or belongs in devAllowedDomains if it is for development only.` });
  }
  if (why.length > REASONING_MAX) {
    out.push({ rule: 'reasoning-length', message: `networkAccess.reasoning is ${why.length} characters; Figma takes at most ${REASONING_MAX}.` });
  }
  if (domains.length === 0) {
    out.push({ rule: 'allowed-domains-empty', message: 'networkAccess.allowedDomains is empty; to block all network access write ["none"].' });
  } else if (domains.includes('none') && domains.length > 1) {
    out.push({ rule: 'none-alone', message: '"none" must be the only entry of networkAccess.allowedDomains.' });
  }
  for (const d of domains) {
    if (d === 'none' || acceptedDomain(d)) continue;
    const ip = /^(?:[a-z]+:\/\/)?(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:]+\])/i.test(d);
    out.push({
      rule: 'allowed-domain-pattern',
      message: `'${d}' must be a valid URL${ip ? ': Figma takes no IP addresses, write localhost instead' : ''}.`,
    });
  }
  const seen = new Set<string>();
  for (const d of domains) {
    if (seen.has(d)) out.push({ rule: 'duplicate-domain', message: `'${d}' is listed twice in networkAccess.allowedDomains.` });
    seen.add(d);
  }
  for (const d of domains) {
    if (d !== '*' && d !== 'none' && !HAS_SCHEME.test(d)) {
      out.push({ rule: 'scheme-required', message: `'${d}' must include a scheme, such as https:// or ws://.` });
    }
  }
  if (dev !== undefined) {
    for (const d of Array.isArray(dev) ? dev : [dev]) {
      if (typeof d !== 'string' || !acceptedDomain(d)) out.push({ rule: 'dev-domain-pattern', message: `devAllowedDomains: '${String(d)}' must be a valid URL.` });
    }
  }
  return out;
}

/** A manifest path must stay inside the manifest's folder (Figma: "same directory, or a subdirectory"). */
function insideFolder(file: string): boolean {
  if (file === '' || file.startsWith('/') || file.startsWith('\\') || /^[a-z]:/i.test(file)) return false;
  let depth = 0;
  for (const part of file.split(/[\\/]+/)) {
    if (part === '..') depth--;
    else if (part !== '.' && part !== '') depth++;
    if (depth < 0) return false;
  }
  return depth > 0;
}

/** Every rule the manifest breaks (empty when Figma would import it). */
export function checkFigmaManifest(manifest: unknown): ManifestProblem[] {
  if (typeof manifest !== 'object' || manifest === null) return [{ rule: 'required-field', message: 'manifest.json must hold a JSON object.' }];
  const m = manifest as Record<string, unknown>;
  const out: ManifestProblem[] = [];
  for (const key of ['name', 'api', 'main']) {
    if (typeof m[key] !== 'string' || m[key] === '') out.push({ rule: 'required-field', message: `"${key}" must be a non-empty string.` });
  }
  const files: [string, unknown][] = [['main', m.main]];
  if (typeof m.ui === 'string') files.push(['ui', m.ui]);
  else if (typeof m.ui === 'object' && m.ui !== null) for (const [k, v] of Object.entries(m.ui)) files.push([`ui.${k}`, v]);
  for (const [key, file] of files) {
    if (typeof file === 'string' && file && !insideFolder(file)) {
      out.push({ rule: 'file-outside-folder', message: `"${key}": ${file} must be in the manifest's folder or a subfolder of it.` });
    }
  }
  if (m.documentAccess !== 'dynamic-page') {
    out.push({ rule: 'document-access', message: `"documentAccess" must be "dynamic-page" (got ${JSON.stringify(m.documentAccess)}).` });
  }
  const types = m.editorType;
  if (!Array.isArray(types) || types.length === 0) {
    out.push({ rule: 'editor-type', message: '"editorType" must be a non-empty array, e.g. ["figma", "figjam"].' });
  } else {
    for (const t of types) {
      if (!(EDITOR_TYPES as readonly unknown[]).includes(t)) out.push({ rule: 'editor-type', message: `"editorType" has ${JSON.stringify(t)}; the editors are ${EDITOR_TYPES.join(', ')}.` });
    }
    if (new Set(types).size !== types.length) out.push({ rule: 'editor-type', message: '"editorType" lists an editor twice.' });
    if (types.includes('dev') && (types.includes('figjam') || types.includes('slides'))) {
      out.push({ rule: 'editor-type', message: '"editorType" cannot combine "dev" with "figjam" or "slides".' });
    }
  }
  if (m.networkAccess !== undefined) {
    const n = m.networkAccess as Record<string, unknown> | null;
    if (typeof n !== 'object' || n === null) out.push({ rule: 'required-field', message: '"networkAccess" must be an object.' });
    else out.push(...domainProblems(n.allowedDomains, n.devAllowedDomains, n.reasoning));
  }
  return out;
}

/**
 * The policy Figma adds to the plugin window (a <meta http-equiv> in its head): data: and blob:
 * plus the allowed domains for everything; null when Figma adds none ("*", or invalid domains).
 * `fontOrigin` stands for Figma's own web-font folder.
 */
export function figmaCsp(allowedDomains: readonly string[], fontOrigin = 'https://www.figma.com/webfont/'): string | null {
  if (domainProblems([...allowedDomains], undefined, 'x').some((p) => p.rule !== 'scheme-required')) return null;
  if (allowedDomains.includes('*')) return null;
  const list = allowedDomains.length === 1 && allowedDomains[0] === 'none' ? '' : ` ${allowedDomains.join(' ')}`;
  return [
    `default-src data: blob:${list}`,
    `script-src 'unsafe-inline' 'unsafe-eval' data: blob:${list}`,
    `style-src 'unsafe-inline' 'unsafe-eval' data: blob:${list}`,
    `font-src ${fontOrigin} data: blob:${list}`,
  ].join('; ') + ';';
}
