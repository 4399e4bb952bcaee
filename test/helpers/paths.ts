/**
 * Where the tests find things, for every test file and helper: the repository, the shared data
 * (../shared, or $STYLIZE_SHARED when it lives elsewhere) and the VGG-19 weights. Tests may run
 * from any working directory, so every path here is absolute.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { locateWeights } from '../../weights/locate.ts';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED = process.env.STYLIZE_SHARED ? path.resolve(process.env.STYLIZE_SHARED) : path.resolve(REPO, '..', 'shared');
export const CONTENT_DIR = path.join(SHARED, 'images', 'content');
export const STYLE_DIR = path.join(SHARED, 'images', 'style');

/** The weights the tests use, found the way the product finds them: STYLIZE_WEIGHTS, weights/cache, ../shared. */
export function weightsDir(): string {
  return locateWeights().dir;
}
