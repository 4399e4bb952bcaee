/** Real test inputs from ../shared, located relative to the repo (tests may run from any cwd). */
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { locateWeights } from '../../weights/locate.ts';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED = path.resolve(REPO, '..', 'shared');
export const CONTENT_DIR = path.join(SHARED, 'images', 'content');
export const STYLE_DIR = path.join(SHARED, 'images', 'style');

export function contentImage(name = 'tubingen.jpg'): Buffer {
  return readFileSync(path.join(CONTENT_DIR, name));
}

export function styleImage(name = 'starry_night.jpg'): Buffer {
  return readFileSync(path.join(STYLE_DIR, name));
}

/** The weights the tests use: STYLIZE_WEIGHTS, then weights/cache, then ../shared. */
export function weightsDir(): string {
  return locateWeights().dir;
}
