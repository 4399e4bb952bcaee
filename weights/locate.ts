/**
 * Finds the folder holding the VGG-19 weights. Order: STYLIZE_WEIGHTS, the download cache
 * (STYLIZE_WEIGHTS_CACHE, default weights/cache/vgg19-keras-uint8), then ../shared beside the repo
 * (skipped when STYLIZE_NO_SHARED_WEIGHTS=1).
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { StylizeError } from '../common/errors.ts';

/** Env var naming a weights folder (one holding model.json); it wins over every other place. */
export const WEIGHTS_DIR_ENV = 'STYLIZE_WEIGHTS';

/** The repository root, from this file's location (never from cwd: the CLI may run from anywhere). */
export const REPO_ROOT: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where `stylize weights` downloads to by default (untracked, see .gitignore). */
export const WEIGHTS_CACHE_DIR: string = path.join(REPO_ROOT, 'weights', 'cache', 'vgg19-keras-uint8');

/** Env var that moves the download cache (tests and CI point it at a temp folder). */
export const WEIGHTS_CACHE_ENV = 'STYLIZE_WEIGHTS_CACHE';

/** Env var that, set to 1, skips the ../shared copy (a fresh-machine check must not find it). */
export const NO_SHARED_WEIGHTS_ENV = 'STYLIZE_NO_SHARED_WEIGHTS';

/** The download cache: STYLIZE_WEIGHTS_CACHE when set, else weights/cache/vgg19-keras-uint8. */
export function weightsCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const v = env[WEIGHTS_CACHE_ENV];
  return v !== undefined && v.trim() !== '' ? path.resolve(v) : WEIGHTS_CACHE_DIR;
}

/** The read-only shared copy beside the repository (development machines and CI). */
export const WEIGHTS_SHARED_DIR: string = path.resolve(REPO_ROOT, '..', 'shared', 'weights', 'vgg19-keras-uint8');

export type WeightsOrigin = 'env' | 'cache' | 'shared';

export interface LocatedWeights {
  dir: string;
  origin: WeightsOrigin;
}

/** Overrides for tests; the defaults are the real places. */
export interface LocateOptions {
  env?: NodeJS.ProcessEnv;
  cacheDir?: string;
  sharedDir?: string;
}

function hasModelJson(dir: string): boolean {
  try {
    return statSync(path.join(dir, 'model.json')).isFile();
  } catch {
    return false;
  }
}

export function locateWeights(opts: LocateOptions = {}): LocatedWeights {
  const env = opts.env ?? process.env;
  const cacheDir = opts.cacheDir ?? weightsCacheDir(env);
  const sharedDir = opts.sharedDir ?? WEIGHTS_SHARED_DIR;
  const useShared = env[NO_SHARED_WEIGHTS_ENV] !== '1';

  const fromEnv = env[WEIGHTS_DIR_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    // An explicit setting that is wrong must be reported, not skipped: the user meant that folder.
    const dir = path.resolve(fromEnv);
    if (!existsSync(dir)) {
      throw new StylizeError(
        'weights_missing',
        `${WEIGHTS_DIR_ENV} is set to "${fromEnv}", but that folder does not exist. ` +
          `Point it at the folder holding model.json and the group1-shard*.bin files, or unset it to use the ` +
          `downloaded weights (\`npx stylize weights\` downloads them).`,
      );
    }
    if (!statSync(dir).isDirectory()) {
      throw new StylizeError(
        'weights_missing',
        `${WEIGHTS_DIR_ENV} is set to "${fromEnv}", which is a file, not a folder. ` +
          `Point it at the folder holding model.json (not at model.json itself).`,
      );
    }
    if (!hasModelJson(dir)) {
      throw new StylizeError(
        'weights_missing',
        `${WEIGHTS_DIR_ENV} is set to "${fromEnv}", but there is no model.json in it. ` +
          `Point it at the folder holding model.json and the group1-shard*.bin files, or run ` +
          `\`npx stylize weights --dest "${fromEnv}"\` to download them there.`,
      );
    }
    return { dir, origin: 'env' };
  }

  if (hasModelJson(cacheDir)) return { dir: cacheDir, origin: 'cache' };
  if (useShared && hasModelJson(sharedDir)) return { dir: sharedDir, origin: 'shared' };

  throw new StylizeError(
    'weights_missing',
    `The VGG-19 weights were not found. Looked for model.json in: ` +
      `${WEIGHTS_DIR_ENV} (not set); ${cacheDir}${useShared ? `; ${sharedDir}` : ` (${NO_SHARED_WEIGHTS_ENV}=1 skips ${sharedDir})`}. ` +
      `Run \`npx stylize weights\` to download them (about 21 MB), or set ${WEIGHTS_DIR_ENV} to a folder that holds them.`,
  );
}
