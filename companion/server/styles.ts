/**
 * The style library: the built-in styles (listed first, read-only), then a folder of images on the
 * companion's machine. Each of those images' name is its file name without extension. Listing is cached by (size, mtime) so thumbnails are made once.
 */
import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { ProtocolError } from '../../protocol/errors.ts';
import { STYLE_NAME_PATTERN, type StyleInfo } from '../../protocol/messages.ts';
import { loadBuiltinStyles } from './builtin-styles.ts';
import { writeFileAtomic } from './atomic-write.ts';
import { checkInputImage, thumbnailPng } from './images.ts';

const EXTENSIONS: Record<string, string> = {
  '.png': 'png', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp', '.gif': 'gif', '.tif': 'tiff', '.tiff': 'tiff', '.avif': 'avif',
};
const EXTENSION_FOR: Record<string, string> = { png: '.png', jpeg: '.jpg', webp: '.webp', gif: '.gif', tiff: '.tiff', avif: '.avif', heif: '.avif' };
/** Listing stops here: a library is a hand-picked set, not a photo archive. */
const MAX_ENTRIES = 1000;

interface Entry {
  info: StyleInfo;
  file: string;
  size: number;
  mtimeMs: number;
  thumbnail?: { png: Uint8Array; width: number; height: number };
}

export interface StyleLibraryOptions {
  maxPixels: number;
  /** Files bigger than this are skipped (and refused on save). */
  maxFileBytes: number;
  thumbnailSide: number;
  log?: (line: string) => void;
  /** Folder of the built-in styles (builtin.json + images); none when absent. */
  builtinDir?: string;
}

export class StyleLibrary {
  private cache = new Map<string, Entry>();
  /** Names skipped at the last scan, with why (logged once each). */
  private warned = new Set<string>();
  private available = true;
  private unavailableReason = '';
  /** Built-in styles by lower-case name: listed first, never replaced by a user's file or a save. */
  private builtins = new Map<string, Entry>();
  /** Saves run one at a time: check, write and clean-up of one never interleave with another's. */
  private saving: Promise<unknown> = Promise.resolve();

  constructor(readonly dir: string, private readonly opts: StyleLibraryOptions) {}

  /** Creates the folder if needed. A failure leaves the daemon running without a library. */
  async init(): Promise<void> {
    if (this.opts.builtinDir) {
      const found = await loadBuiltinStyles(this.opts.builtinDir, this.opts.maxPixels, (line) => this.opts.log?.(line));
      this.builtins = new Map(found.map((b) => [b.info.name.toLowerCase(), { info: b.info, file: b.file, size: b.size, mtimeMs: 0 }]));
    }
    try {
      // Only the user: the folder holds their images, and a shared one would let others plant files.
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      this.available = true;
    } catch (err) {
      this.available = false;
      this.unavailableReason = `cannot create ${this.dir} (${(err as Error).message})`;
      this.opts.log?.(`style library unavailable: ${this.unavailableReason}. Use --style-library DIR.`);
    }
  }

  private unavailable(): never {
    throw new ProtocolError('style_library_unavailable', `The style library is unavailable: ${this.unavailableReason}. Start the companion with --style-library DIR.`);
  }

  /** Scans the folder; entries whose file did not change keep their cached info and thumbnail. */
  async list(): Promise<StyleInfo[]> {
    const builtins = [...this.builtins.values()].map((e) => e.info);
    if (!this.available) return builtins;
    let names: string[];
    try {
      names = (await readdir(this.dir)).sort();
    } catch (err) {
      this.opts.log?.(`cannot list the style library ${this.dir}: ${(err as Error).message}`);
      return builtins;
    }
    const next = new Map<string, Entry>();
    for (const fileName of names) {
      if (next.size >= MAX_ENTRIES) break;
      const ext = path.extname(fileName).toLowerCase();
      if (!(ext in EXTENSIONS) || fileName.startsWith('.')) continue;
      const name = fileName.slice(0, -ext.length);
      const key = name.toLowerCase();
      if (!STYLE_NAME_PATTERN.test(name) || next.has(key) || this.builtins.has(key)) {
        this.warnOnce(fileName, this.builtins.has(key) ? 'a built-in style has that name (rename the file)'
          : next.has(key) ? 'another file has the same name' : 'its name has characters a style name cannot have');
        continue;
      }
      const file = path.join(this.dir, fileName);
      try {
        const st = await stat(file);
        if (!st.isFile()) continue;
        if (st.size > this.opts.maxFileBytes) {
          this.warnOnce(fileName, `it is ${(st.size / 1048576).toFixed(1)} MB, over the ${(this.opts.maxFileBytes / 1048576).toFixed(0)} MB limit`);
          continue;
        }
        const old = this.cache.get(key);
        if (old && old.file === file && old.size === st.size && old.mtimeMs === st.mtimeMs) {
          next.set(key, old);
          continue;
        }
        const info = await checkInputImage(await readFile(file), this.opts.maxPixels, `style "${name}"`);
        next.set(key, { file, size: st.size, mtimeMs: st.mtimeMs, info: { name, width: info.width, height: info.height, format: info.format, bytes: st.size } });
      } catch (err) {
        this.warnOnce(fileName, (err as Error).message);
      }
    }
    this.cache = next;
    return [...builtins, ...[...next.values()].map((e) => e.info)];
  }

  private warnOnce(fileName: string, why: string): void {
    if (this.warned.has(fileName)) return;
    this.warned.add(fileName);
    this.opts.log?.(`style library: skipping ${fileName}: ${why}`);
  }

  private async entry(name: string): Promise<Entry> {
    const builtin = this.builtins.get(name.toLowerCase());
    if (builtin) return builtin;
    if (!this.available) this.unavailable();
    let e = this.cache.get(name.toLowerCase());
    if (!e) {
      await this.list();
      e = this.cache.get(name.toLowerCase());
    }
    if (!e) {
      const known = [...this.builtins.values(), ...this.cache.values()].map((x) => x.info.name);
      throw new ProtocolError('unknown_style', `There is no style named ${JSON.stringify(name)} in the library${known.length ? ` (it has: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', ...' : ''})` : ' (it is empty)'}.`);
    }
    return e;
  }

  /** The image bytes of a library style. */
  async read(name: string): Promise<Uint8Array> {
    const e = await this.entry(name);
    try {
      return new Uint8Array(await readFile(e.file));
    } catch (err) {
      this.cache.delete(name.toLowerCase());
      throw new ProtocolError('unknown_style', `The style ${JSON.stringify(name)} could not be read (${(err as Error).message}); it may have just been removed.`);
    }
  }

  async thumbnail(name: string): Promise<{ png: Uint8Array; width: number; height: number }> {
    const e = await this.entry(name);
    if (!e.thumbnail) e.thumbnail = await thumbnailPng(await readFile(e.file), this.opts.thumbnailSide, this.opts.maxPixels);
    return e.thumbnail;
  }

  /** Stores `bytes` (already checked to be an image) as `name`; written to a temp file, then renamed. */
  save(name: string, bytes: Uint8Array, format: string, overwrite: boolean): Promise<StyleInfo> {
    const run = this.saving.then(() => this.saveNow(name, bytes, format, overwrite));
    this.saving = run.catch(() => undefined);
    return run;
  }

  /** Files of the folder that hold `name` in any case and any image extension (duplicates included). */
  private async filesNamed(name: string): Promise<string[]> {
    const key = name.toLowerCase();
    return (await readdir(this.dir)).filter((f) => {
      const ext = path.extname(f).toLowerCase();
      return ext in EXTENSIONS && f.slice(0, -ext.length).toLowerCase() === key;
    });
  }

  private async saveNow(name: string, bytes: Uint8Array, format: string, overwrite: boolean): Promise<StyleInfo> {
    if (!this.available) this.unavailable();
    if (!STYLE_NAME_PATTERN.test(name)) throw new ProtocolError('bad_style_name', `${JSON.stringify(name)} cannot be a style name: use letters, digits, spaces, "_", "." or "-".`);
    const builtin = this.builtins.get(name.toLowerCase());
    if (builtin) {
      throw new ProtocolError('style_builtin', `${JSON.stringify(builtin.info.name)} is a built-in style (${builtin.info.title}, ${builtin.info.artist}); built-ins cannot be replaced or removed. Save yours under another name.`);
    }
    if (bytes.length > this.opts.maxFileBytes) throw new ProtocolError('image_too_large', `The style image is ${(bytes.length / 1048576).toFixed(1)} MB; the library takes files up to ${(this.opts.maxFileBytes / 1048576).toFixed(0)} MB.`);
    const ext = EXTENSION_FOR[format];
    if (!ext) throw new ProtocolError('bad_image', `Images in ${format} format cannot be saved to the library.`);
    const fileName = name + ext;
    const file = path.join(this.dir, fileName);
    try {
      // Read from disk, not from the listing: files the listing hides (other case, other format) count.
      const existing = await this.filesNamed(name);
      if (existing.length > 0 && !overwrite) {
        throw new ProtocolError('style_exists', `The library already has a style named ${JSON.stringify(existing[0].slice(0, -path.extname(existing[0]).length))}; choose another name or send overwrite: true.`);
      }
      await writeFileAtomic(file, bytes, { mode: 0o600 });
      // The new file replaces every other spelling of the name, so no duplicate stays hidden.
      // On a case-insensitive disk another spelling may be the new file itself: compare inodes.
      const written = await stat(file);
      for (const old of existing) {
        if (old === fileName) continue;
        const other = await stat(path.join(this.dir, old)).catch(() => undefined);
        if (other && !(other.ino === written.ino && other.dev === written.dev)) await unlink(path.join(this.dir, old)).catch(() => undefined);
      }
    } catch (err) {
      if (err instanceof ProtocolError) throw err;
      throw new ProtocolError('style_library_unavailable', `Could not save the style to ${this.dir}: ${(err as Error).message}.`);
    }
    await this.list();
    const saved = this.cache.get(name.toLowerCase());
    if (!saved) throw new ProtocolError('internal', `The style ${JSON.stringify(name)} was written but cannot be listed again.`);
    return saved.info;
  }
}
