/** Where the companion keeps its per-user files: token, style library, kept results, config. */
import os from 'node:os';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * $XDG_CONFIG_HOME/stylize, else ~/.config/stylize; on Windows %APPDATA%\stylize.
 * os.homedir() follows $HOME on POSIX, which is what tests rely on to use a temp folder.
 */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME)) return path.join(env.XDG_CONFIG_HOME, 'stylize');
  if (process.platform === 'win32' && env.APPDATA) return path.join(env.APPDATA, 'stylize');
  const home = env.HOME && path.isAbsolute(env.HOME) ? env.HOME : os.homedir();
  return path.join(home, '.config', 'stylize');
}

export const defaultTokenFile = (env: NodeJS.ProcessEnv = process.env): string => path.join(configDir(env), 'token');
export const defaultStyleLibrary = (env: NodeJS.ProcessEnv = process.env): string => path.join(configDir(env), 'styles');
/** Finished results of kept jobs whose panel was closed, until the plugin fetches them. */
export const defaultKeptDir = (env: NodeJS.ProcessEnv = process.env): string => path.join(configDir(env), 'kept');
export const configFile = (env: NodeJS.ProcessEnv = process.env): string => path.join(configDir(env), 'config.json');

/** The repository root (this file is companion/server/paths.ts). */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

let cachedVersion: string | undefined;
export function companionVersion(): string {
  if (cachedVersion === undefined) {
    try {
      cachedVersion = String(JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')).version ?? '0.0.0');
    } catch {
      cachedVersion = '0.0.0';
    }
  }
  return cachedVersion;
}

/** ~ instead of the home folder, for shorter messages. */
export function tildify(p: string): string {
  const home = os.homedir();
  return home && p.startsWith(home + path.sep) ? `~${p.slice(home.length)}` : p;
}
