/**
 * The daemon's options: command-line flags over environment over config.json over defaults.
 * Every bad value is rejected with a message naming the flag (or config key) and the accepted range.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_PORT } from '../../protocol/messages.ts';
import { configFile, defaultKeptDir, defaultStyleLibrary, defaultTokenFile } from './paths.ts';
import { normalizeOrigin } from './origin.ts';
import { backendNames } from '../engine/select-backend.ts';

export interface DaemonOptions {
  host: string;
  /** 0 = any free port (tests). */
  port: number;
  backend: string;
  /** Weights folder; undefined = the engine's search (STYLIZE_WEIGHTS, cache, ../shared). */
  weightsDir?: string;
  tokenFile: string;
  styleLibrary: string;
  /** Results of kept jobs, saved until their client fetches them (survive a restart). */
  keptDir: string;
  /** Extra browser origins allowed to connect, besides "null" (Figma) and the companion's own. */
  allowOrigins: string[];
  /** Folder with the built plugin pages (photopea.html); default dist/plugin. */
  pluginDir?: string;
  maxQueue: number;
  maxQueueBytes: number;
  maxJobsPerClient: number;
  maxConnections: number;
  maxFrameBytes: number;
  maxPixels: number;
  /** Cap on the output long side (settings.size), tighter than the engine's own bound. */
  maxSize: number;
  idleTimeoutMs: number;
  authTimeoutMs: number;
  previewMaxSide: number;
  /** previewEvery for jobs whose settings do not say. */
  previewEvery: number;
  warmup: boolean;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Kind = 'int' | 'number' | 'string' | 'list' | 'bool';
interface Spec {
  key: keyof RawOptions;
  flag: string;
  kind: Kind;
  min?: number;
  max?: number;
  env?: string;
  arg?: string;
  help: string;
}

/** Options as a user writes them (units a person thinks in: MB, seconds). */
interface RawOptions {
  host: string;
  port: number;
  backend: string;
  weights?: string;
  tokenFile: string;
  styleLibrary: string;
  keptDir: string;
  allowOrigin: string[];
  pluginDir?: string;
  maxQueue: number;
  maxQueueMb: number;
  maxJobsPerClient: number;
  maxConnections: number;
  maxFrameMb: number;
  maxPixels: number;
  maxSize: number;
  idleTimeout: number;
  authTimeout: number;
  previewSize: number;
  previewEvery: number;
  warmup: boolean;
}

export const SPECS: Spec[] = [
  { key: 'port', flag: '--port', kind: 'int', min: 0, max: 65535, env: 'STYLIZE_PORT', arg: 'N', help: `TCP port for WebSocket and HTTP (default ${DEFAULT_PORT}; 0 = any free port)` },
  { key: 'host', flag: '--host', kind: 'string', env: 'STYLIZE_HOST', arg: 'ADDR', help: 'address to listen on (default localhost: both 127.0.0.1 and ::1; anything but loopback exposes the companion to the network)' },
  { key: 'backend', flag: '--backend', kind: 'string', arg: 'NAME', help: `compute backend: ${backendNames().join(', ')} (default auto)` },
  { key: 'weights', flag: '--weights', kind: 'string', arg: 'DIR', help: 'VGG-19 weights folder (default: STYLIZE_WEIGHTS, then the download cache)' },
  { key: 'tokenFile', flag: '--token-file', kind: 'string', arg: 'FILE', help: 'pairing token file (default ~/.config/stylize/token, created with mode 0600)' },
  { key: 'styleLibrary', flag: '--style-library', kind: 'string', arg: 'DIR', help: 'style library folder (default ~/.config/stylize/styles)' },
  { key: 'keptDir', flag: '--kept-dir', kind: 'string', arg: 'DIR', help: 'finished results waiting for a closed plugin panel, kept across restarts (default ~/.config/stylize/kept)' },
  { key: 'allowOrigin', flag: '--allow-origin', kind: 'list', arg: 'ORIGIN', help: 'also accept this browser origin, e.g. https://www.photopea.com (repeatable)' },
  { key: 'pluginDir', flag: '--plugin-dir', kind: 'string', env: 'STYLIZE_PLUGIN_DIR', arg: 'DIR', help: 'folder with the built plugin pages served at /photopea (default dist/plugin; `npm run build` makes them)' },
  { key: 'maxQueue', flag: '--max-queue', kind: 'int', min: 1, max: 10000, arg: 'N', help: 'jobs waiting across all clients (default 32)' },
  { key: 'maxQueueMb', flag: '--max-queue-mb', kind: 'number', min: 1, max: 65536, arg: 'MB', help: 'image bytes held by waiting jobs (default 512)' },
  { key: 'maxJobsPerClient', flag: '--max-jobs-per-client', kind: 'int', min: 1, max: 10000, arg: 'N', help: 'jobs one connection may have queued or running (default 8)' },
  { key: 'maxConnections', flag: '--max-connections', kind: 'int', min: 1, max: 100000, arg: 'N', help: 'simultaneous connections (default 64)' },
  { key: 'maxFrameMb', flag: '--max-frame-mb', kind: 'number', min: 0.001, max: 2048, arg: 'MB', help: 'largest WebSocket frame, i.e. one job\'s images together (default 64)' },
  { key: 'maxPixels', flag: '--max-pixels', kind: 'int', min: 1, max: 1e9, arg: 'N', help: 'largest input image in pixels, width x height (default 40000000)' },
  { key: 'maxSize', flag: '--max-size', kind: 'int', min: 16, max: 4096, arg: 'PX', help: 'largest output long side a job may ask for (default 2048)' },
  { key: 'idleTimeout', flag: '--idle-timeout', kind: 'number', min: 0, max: 86400 * 7, arg: 'SEC', help: 'close connections silent this long with no job (default 900; 0 = never)' },
  { key: 'authTimeout', flag: '--auth-timeout', kind: 'number', min: 0.1, max: 3600, arg: 'SEC', help: 'time a new connection has to send hello (default 10)' },
  { key: 'previewSize', flag: '--preview-size', kind: 'int', min: 16, max: 4096, arg: 'PX', help: 'long side of preview images (default 256)' },
  { key: 'previewEvery', flag: '--preview-every', kind: 'int', min: 0, max: 10000, arg: 'N', help: 'preview every N iterations when a job does not say (default 10; 0 = none)' },
  { key: 'warmup', flag: '--warmup', kind: 'bool', help: 'run the kernels once at start-up so the first job is not slow (default on; --no-warmup)' },
];

function defaults(env: NodeJS.ProcessEnv): RawOptions {
  return {
    host: 'localhost',
    port: DEFAULT_PORT,
    backend: 'auto',
    tokenFile: defaultTokenFile(env),
    styleLibrary: defaultStyleLibrary(env),
    keptDir: defaultKeptDir(env),
    allowOrigin: [],
    maxQueue: 32,
    maxQueueMb: 512,
    maxJobsPerClient: 8,
    maxConnections: 64,
    maxFrameMb: 64,
    maxPixels: 40_000_000,
    maxSize: 2048,
    idleTimeout: 900,
    authTimeout: 10,
    previewSize: 256,
    previewEvery: 10,
    warmup: true,
  };
}

function convert(spec: Spec, value: unknown, where: string): unknown {
  const range = spec.min !== undefined ? ` between ${spec.min} and ${spec.max}` : '';
  switch (spec.kind) {
    case 'int':
    case 'number': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
      if (!Number.isFinite(n) || (spec.kind === 'int' && !Number.isInteger(n)) || n < spec.min! || n > spec.max!) {
        throw new UsageError(`${where} must be ${spec.kind === 'int' ? 'a whole number' : 'a number'}${range} (got ${JSON.stringify(value)}).`);
      }
      return n;
    }
    case 'string':
      if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`${where} needs a value (got ${JSON.stringify(value)}).`);
      return value;
    case 'list': {
      const list = Array.isArray(value) ? value : [value];
      if (!list.every((v) => typeof v === 'string' && v.trim() !== '')) throw new UsageError(`${where} must be a string or a list of strings (got ${JSON.stringify(value)}).`);
      return list;
    }
    case 'bool':
      if (typeof value !== 'boolean') throw new UsageError(`${where} must be true or false (got ${JSON.stringify(value)}).`);
      return value;
  }
}

/** Reads config.json (optional). Keys are the flag names in camelCase, e.g. {"allowOrigin": [...]}. */
export function readConfigFile(file: string): Partial<RawOptions> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new UsageError(`Cannot read ${file}: ${(err as Error).message}.`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file} is not valid JSON (${(err as Error).message}). Fix it or delete it.`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new UsageError(`${file} must hold a JSON object such as {"port": 7849}.`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    const spec = SPECS.find((s) => s.key === key || (key === 'allowOrigins' && s.key === 'allowOrigin'));
    if (!spec) throw new UsageError(`${file}: unknown key "${key}". Known keys: ${SPECS.map((s) => s.key).join(', ')}.`);
    out[spec.key] = convert(spec, value, `${file}: "${key}"`);
  }
  return out as Partial<RawOptions>;
}

export interface ParseResult {
  options: DaemonOptions;
  help: boolean;
  /** The config file that was read (it may not exist). */
  configFile: string;
}

/** Parses serve flags. Throws UsageError with the offending flag named. */
export function parseServeArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ParseResult {
  const flags: Partial<RawOptions> & { allowOrigin?: string[] } = {};
  let help = false;
  let configPath = configFile(env);
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    let inline: string | undefined;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      inline = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    if (arg === '--config') {
      configPath = inline ?? argv[++i];
      if (!configPath) throw new UsageError('--config needs a file path.');
      continue;
    }
    const negated = arg.startsWith('--no-') ? SPECS.find((s) => s.kind === 'bool' && s.flag === `--${arg.slice(5)}`) : undefined;
    if (negated) {
      (flags as Record<string, unknown>)[negated.key] = false;
      continue;
    }
    const spec = SPECS.find((s) => s.flag === arg);
    if (!spec) throw new UsageError(`Unknown option "${argv[i]}". Run with --help to see the options.`);
    if (spec.kind === 'bool') {
      (flags as Record<string, unknown>)[spec.key] = true;
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined || (inline === undefined && value.startsWith('--'))) throw new UsageError(`${spec.flag} needs a value (${spec.arg}).`);
    if (spec.kind === 'list') {
      flags.allowOrigin = [...(flags.allowOrigin ?? []), ...(convert(spec, value, spec.flag) as string[])];
    } else {
      (flags as Record<string, unknown>)[spec.key] = convert(spec, value, spec.flag);
    }
  }

  const fromEnv: Partial<RawOptions> = {};
  for (const spec of SPECS) {
    const v = spec.env ? env[spec.env] : undefined;
    if (v !== undefined && v !== '') (fromEnv as Record<string, unknown>)[spec.key] = convert(spec, v, `${spec.env} (environment)`);
  }
  const fromFile = readConfigFile(configPath);
  const raw: RawOptions = { ...defaults(env), ...fromFile, ...fromEnv, ...flags };
  // Origins add up: the config file's plus the command line's.
  raw.allowOrigin = [...(fromFile.allowOrigin ?? []), ...(flags.allowOrigin ?? [])];

  const allowOrigins = raw.allowOrigin.map((o) => {
    const n = normalizeOrigin(o);
    if (n === undefined) throw new UsageError(`--allow-origin "${o}" is not an origin; write it as scheme://host[:port], e.g. https://www.photopea.com, or "null".`);
    return n;
  });
  return {
    help,
    configFile: configPath,
    options: {
      host: raw.host,
      port: raw.port,
      backend: raw.backend,
      ...(raw.weights !== undefined && { weightsDir: path.resolve(raw.weights) }),
      tokenFile: path.resolve(raw.tokenFile),
      styleLibrary: path.resolve(raw.styleLibrary),
      keptDir: path.resolve(raw.keptDir),
      allowOrigins,
      ...(raw.pluginDir !== undefined && { pluginDir: path.resolve(raw.pluginDir) }),
      maxQueue: raw.maxQueue,
      maxQueueBytes: Math.round(raw.maxQueueMb * 1024 * 1024),
      maxJobsPerClient: raw.maxJobsPerClient,
      maxConnections: raw.maxConnections,
      maxFrameBytes: Math.round(raw.maxFrameMb * 1024 * 1024),
      maxPixels: raw.maxPixels,
      maxSize: raw.maxSize,
      idleTimeoutMs: Math.round(raw.idleTimeout * 1000),
      authTimeoutMs: Math.round(raw.authTimeout * 1000),
      previewMaxSide: raw.previewSize,
      previewEvery: raw.previewEvery,
      warmup: raw.warmup,
    },
  };
}

export function serveUsage(): string {
  const lines = SPECS.map((s) => {
    const name = s.kind === 'bool' ? `${s.flag}, --no-${s.flag.slice(2)}` : `${s.flag} ${s.arg}`;
    return `  ${name.padEnd(28)} ${s.help}${s.env ? ` [env ${s.env}]` : ''}`;
  });
  return [
    'Usage: stylize serve [options]',
    '',
    'Runs the companion daemon the Figma/Photopea plugin talks to (WebSocket + GET /health on one port).',
    '',
    'Options:',
    ...lines,
    `  ${'--config FILE'.padEnd(28)} options file (default ~/.config/stylize/config.json; keys = option names in camelCase)`,
    `  ${'--help'.padEnd(28)} this text`,
  ].join('\n');
}

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}
