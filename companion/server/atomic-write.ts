import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes to a temporary file beside the target, then renames it over: a crash or Ctrl-C never
 * leaves a half-written file where a good one was. The temp name is random and created exclusively
 * ('wx'), so two writers never share one and one's clean-up cannot delete the other's file.
 * Used by the CLI's outputs, the style library and the kept results (which pass mode 0600).
 */
export async function writeFileAtomic(file: string, data: Uint8Array | string, options: { mode?: number } = {}): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, data, { flag: 'wx', ...(options.mode !== undefined && { mode: options.mode }) });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
