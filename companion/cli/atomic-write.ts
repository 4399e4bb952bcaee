import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Writes to a temporary file beside the target, then renames it over: a crash or Ctrl-C never
 * leaves a half-written file where a good one was.
 */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
