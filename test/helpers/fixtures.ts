/** Real test inputs from the shared data (test/helpers/paths.ts says where it is). */
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { CONTENT_DIR, STYLE_DIR } from './paths.ts';

export function contentImage(name = 'tubingen.jpg'): Buffer {
  return readFileSync(path.join(CONTENT_DIR, name));
}

export function styleImage(name = 'starry_night.jpg'): Buffer {
  return readFileSync(path.join(STYLE_DIR, name));
}
