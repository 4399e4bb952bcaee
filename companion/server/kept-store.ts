/**
 * Kept results on disk, so a companion restart (a reboot, an update, a crash) does not lose a
 * finished image whose panel was closed. One folder, two files per result: JOBID.png and
 * JOBID.json (who it belongs to and its `done` message). Each is written to a temp name and
 * renamed, PNG first, so a .json names a complete result; at load, temp files and PNGs without
 * their .json are what an interrupted save left and are removed, and anything unreadable is
 * reported and left in place for the user.
 */
import { chmod, lstat, mkdir, readdir, readFile, realpath, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { CLIENT_ID_PATTERN, type DoneMessage } from '../../protocol/messages.ts';
import { writeFileAtomic } from './atomic-write.ts';
import type { KeptResult } from './kept-results.ts';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * The folder holds the user's pictures, so it is theirs alone: one that others may enter is made
 * 0700 (mkdir sets the mode only on a folder it creates), and one another user owns is refused
 * (they could read the results, or plant files that name a link). POSIX only; Windows folders
 * under the profile are private by their ACLs.
 */
async function makePrivate(dir: string, warn: (line: string) => void): Promise<void> {
  if (typeof process.getuid !== 'function') return;
  const real = await realpath(dir); // a folder given as a link: what it points to
  const st = await stat(real);
  if (!st.isDirectory()) throw new Error('it is not a folder');
  if (st.uid !== process.getuid()) throw new Error(`it belongs to another user (uid ${st.uid}), who could read or plant results`);
  if (st.mode & 0o077) {
    await chmod(real, 0o700);
    warn(`The kept-results folder ${dir} could be entered by other users (mode ${(st.mode & 0o777).toString(8)}); it is now 0700.`);
  }
}

/** Job ids the scheduler makes: a counter and 6 hex digits. Anything else is not a file of ours. */
const JOB_ID = /^[0-9]{1,15}-[0-9a-f]{6}$/;

interface KeptMeta {
  clientId: string;
  jobId: string;
  ref: string;
  note?: string;
  finishedAt: number;
  done: DoneMessage;
}

export class KeptStore {
  /** Saves and removals run one after another, so a removal never overtakes its own save. */
  private chain: Promise<void> = Promise.resolve();

  constructor(readonly dir: string, private readonly warn: (line: string) => void) {}

  /** Reads every complete result; cleans what an interrupted save left. */
  async load(): Promise<KeptResult[]> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await makePrivate(this.dir, this.warn);
    const names = await readdir(this.dir);
    const results: KeptResult[] = [];
    for (const name of names) {
      const full = path.join(this.dir, name);
      if (name.endsWith('.tmp')) {
        await rm(full, { force: true });
        continue;
      }
      const png = /^(.+)\.png$/.exec(name);
      if (png && JOB_ID.test(png[1]) && !names.includes(`${png[1]}.json`)) {
        await rm(full, { force: true });
        continue;
      }
      const json = /^(.+)\.json$/.exec(name);
      if (!json || !JOB_ID.test(json[1])) continue;
      try {
        results.push(await this.read(json[1]));
      } catch (err) {
        this.warn(`Kept result ${full} could not be read (${(err as Error).message}); it is left there and not offered to the plugin. Delete it, or move its .png out, if you no longer need it.`);
      }
    }
    return results.sort((a, b) => a.finishedAt - b.finishedAt);
  }

  save(r: KeptResult): Promise<void> {
    return this.queue(async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const meta: KeptMeta = { clientId: r.clientId, jobId: r.jobId, ref: r.ref, ...(r.note !== undefined && { note: r.note }), finishedAt: r.finishedAt, done: r.done };
      await writeFileAtomic(path.join(this.dir, `${r.jobId}.png`), r.png, { mode: 0o600 });
      await writeFileAtomic(path.join(this.dir, `${r.jobId}.json`), JSON.stringify(meta), { mode: 0o600 });
    }, `save kept result ${r.jobId}`);
  }

  remove(jobId: string): Promise<void> {
    return this.queue(async () => {
      // The .json first: without it a leftover .png is cleaned at the next load.
      await rm(path.join(this.dir, `${jobId}.json`), { force: true });
      await rm(path.join(this.dir, `${jobId}.png`), { force: true });
    }, `remove kept result ${jobId}`);
  }

  /** Resolves when every save and removal asked for so far has finished. */
  flush(): Promise<void> {
    return this.chain;
  }

  private queue(step: () => Promise<void>, what: string): Promise<void> {
    this.chain = this.chain.then(step).catch((err) => {
      this.warn(`Could not ${what} in ${this.dir}: ${(err as Error).message}. It stays in memory until the companion stops.`);
    });
    return this.chain;
  }

  /** A plain file of the folder: a link could make the companion hand out any file the user can read. */
  private async readPlain(name: string): Promise<Buffer> {
    const file = path.join(this.dir, name);
    if (!(await lstat(file)).isFile()) throw new Error(`its ${path.extname(name)} is a link or not a plain file`);
    return readFile(file);
  }

  private async read(jobId: string): Promise<KeptResult> {
    const meta = JSON.parse((await this.readPlain(`${jobId}.json`)).toString('utf8')) as Partial<KeptMeta>;
    const d = meta.done as Partial<DoneMessage> | undefined;
    if (meta.jobId !== jobId || typeof meta.clientId !== 'string' || !CLIENT_ID_PATTERN.test(meta.clientId) || typeof meta.ref !== 'string'
      || (meta.note !== undefined && typeof meta.note !== 'string') || typeof meta.finishedAt !== 'number' || !Number.isFinite(meta.finishedAt)
      || !d || d.type !== 'done' || d.jobId !== jobId || !Number.isInteger(d.width) || !Number.isInteger(d.height) || !Number.isInteger(d.bytes)) {
      throw new Error('its .json is not a kept result of this companion');
    }
    const png = new Uint8Array(await this.readPlain(`${jobId}.png`));
    if (png.length !== d.bytes) throw new Error(`its .png holds ${png.length} bytes where ${d.bytes} were saved`);
    if (PNG_SIGNATURE.some((b, i) => png[i] !== b)) throw new Error('its .png is not a PNG picture');
    return { clientId: meta.clientId, jobId, ref: meta.ref, ...(meta.note !== undefined && { note: meta.note }), png, done: d as DoneMessage, finishedAt: meta.finishedAt };
  }
}
