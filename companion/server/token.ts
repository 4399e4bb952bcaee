/**
 * The pairing token: generated on first start, kept in a user file with mode 0600, required in
 * every `hello`. Crockford base32 in dash-separated groups so a person can read and type it.
 */
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { chmodSync, closeSync, constants, fchmodSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { normalizeToken } from '../../protocol/messages.ts';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** 25 characters x 5 bits = 125 bits. */
const TOKEN_CHARS = 25;
const MIN_TOKEN_CHARS = 16;

export function generateToken(): string {
  const bytes = randomBytes(TOKEN_CHARS);
  let s = '';
  for (let i = 0; i < TOKEN_CHARS; i++) s += ALPHABET[bytes[i] & 31];
  return s.match(/.{5}/g)!.join('-');
}

export class TokenFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenFileError';
  }
}

export interface TokenFileInfo {
  file: string;
  exists: boolean;
  token?: string;
  /** Permission bits (POSIX). */
  mode?: number;
  /** Something a user should fix; undefined if fine. */
  problem?: string;
  fix?: string;
}

const posix = process.platform !== 'win32';

/** Reads and checks the token file without changing anything (for doctor). */
export function inspectTokenFile(file: string): TokenFileInfo {
  let st;
  try {
    // lstat: a link is never followed (its target could be anyone's file).
    st = lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { file, exists: false };
    return { file, exists: false, problem: `cannot read it (${(err as Error).message})`, fix: `check the permissions of ${path.dirname(file)}` };
  }
  if (st.isSymbolicLink()) {
    return { file, exists: true, problem: 'it is a symbolic link, which the companion does not follow', fix: `remove the link ${file} (the companion creates a new token at start), or point --token-file at the real file` };
  }
  if (!st.isFile()) return { file, exists: true, problem: 'it is not a regular file', fix: `remove ${file}; the companion creates a new token at start` };
  const mode = st.mode & 0o777;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { file, exists: true, mode, problem: `cannot read it (${(err as Error).message})`, fix: `chmod 600 ${file}` };
  }
  const token = text.trim();
  const normalized = normalizeToken(token);
  if (normalized.length < MIN_TOKEN_CHARS || normalized.length > 256 || !/^[0-9A-Z_]+$/.test(normalized)) {
    return {
      file, exists: true, mode,
      problem: `it does not hold a usable token (need at least ${MIN_TOKEN_CHARS} letters/digits)`,
      fix: `delete ${file}; the companion creates a new token at start (pair the plugin again)`,
    };
  }
  if (posix && (mode & 0o077) !== 0) {
    return { file, exists: true, mode, token, problem: `other users can read it (mode ${mode.toString(8)})`, fix: `chmod 600 ${file}` };
  }
  return { file, exists: true, mode, token };
}

/**
 * Returns the token, creating the file (mode 0600, folder 0700) on first start. A readable-by-others
 * file is tightened to 0600 (reported in `warnings`); an unusable one is an error the user must fix.
 */
export function loadOrCreateToken(file: string): { token: string; created: boolean; warnings: string[] } {
  const info = inspectTokenFile(file);
  const warnings: string[] = [];
  if (info.exists) {
    if (info.token === undefined) throw new TokenFileError(`The token file ${file} is unusable: ${info.problem}. Fix: ${info.fix}.`);
    if (info.problem && posix) {
      // Through a descriptor opened without following links: the file checked is the file changed.
      const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        fchmodSync(fd, 0o600);
      } finally {
        closeSync(fd);
      }
      warnings.push(`The token file ${file} was readable by other users (mode ${info.mode!.toString(8)}); it is now 0600.`);
    }
    return { token: info.token, created: false, warnings };
  }
  if (info.problem) throw new TokenFileError(`The token file ${file}: ${info.problem}. Fix: ${info.fix}.`);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const token = generateToken();
  // Written under a temp name and renamed: a crash never leaves a half-written token file.
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, token + '\n', { mode: 0o600, flag: 'wx' });
    if (posix) chmodSync(tmp, 0o600); // the umask may have cleared bits; never widened them
    renameSync(tmp, file);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* nothing to clean */ }
    throw new TokenFileError(`Cannot create the token file ${file}: ${(err as Error).message}. Use --token-file to put it elsewhere.`);
  }
  return { token, created: true, warnings };
}

/** Constant-time comparison of normalized tokens (hashing first makes the lengths equal). */
export function tokenMatches(expected: string, given: string): boolean {
  const a = createHash('sha256').update(normalizeToken(expected)).digest();
  const b = createHash('sha256').update(normalizeToken(given)).digest();
  return timingSafeEqual(a, b);
}
