/**
 * The companion's built-in styles: five public-domain paintings shipped in companion/styles/builtin,
 * described by builtin.json (title, artist, year, SHA-256, source). Each file is checked against its
 * hash on load; one that does not match is left out with a warning rather than served altered.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { STYLE_NAME_PATTERN, type StyleInfo } from '../../protocol/messages.ts';
import { sha256Bytes } from '../../weights/hash.ts';
import { checkInputImage } from './images.ts';
import { PROJECT_ROOT } from './paths.ts';

export const BUILTIN_STYLES_DIR = path.join(PROJECT_ROOT, 'companion', 'styles', 'builtin');

export interface BuiltinStyle {
  info: StyleInfo;
  file: string;
  size: number;
}

interface ManifestEntry {
  name: string;
  file: string;
  title: string;
  artist: string;
  year: string;
  sha256: string;
  source: string;
}

/** Reads builtin.json and checks every file; problems go to `warn`, the rest are returned in order. */
export async function loadBuiltinStyles(dir: string, maxPixels: number, warn: (line: string) => void): Promise<BuiltinStyle[]> {
  let entries: ManifestEntry[];
  try {
    entries = (JSON.parse(await readFile(path.join(dir, 'builtin.json'), 'utf8')) as { styles: ManifestEntry[] }).styles;
  } catch (err) {
    warn(`built-in styles unavailable: cannot read ${path.join(dir, 'builtin.json')} (${(err as Error).message}). Restore it from the repository.`);
    return [];
  }
  const out: BuiltinStyle[] = [];
  for (const e of entries) {
    const file = path.join(dir, path.basename(e.file));
    try {
      if (!STYLE_NAME_PATTERN.test(e.name)) throw new Error(`"${e.name}" is not a valid style name`);
      const bytes = new Uint8Array(await readFile(file));
      const actual = sha256Bytes(bytes);
      if (actual !== e.sha256) throw new Error(`its SHA-256 is ${actual}, expected ${e.sha256}; restore it from the repository`);
      const img = await checkInputImage(bytes, maxPixels, `built-in style "${e.name}"`);
      out.push({
        file,
        size: bytes.length,
        info: { name: e.name, width: img.width, height: img.height, format: img.format, bytes: bytes.length, title: e.title, artist: e.artist, year: e.year, builtin: true },
      });
    } catch (err) {
      warn(`built-in style "${e.name}" (${file}) left out: ${(err as Error).message}`);
    }
  }
  return out;
}
