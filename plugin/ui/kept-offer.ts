/**
 * Results that finished while the plugin window was closed (Photopea destroys a hidden panel): the
 * companion keeps them for this client (protocol `kept`), and this offers each one when the window
 * is open again: add it where the layer was, or discard it. The job's note says where it goes.
 */
import type { Editor, PlaceRequest } from '../editor/editor.ts';
import type { KeptJob } from '../../protocol/messages.ts';
import type { CompanionClient } from './companion-client.ts';
import { explainError } from './format.ts';

/** What a kept job's note holds: the placement, without the picture. */
export type KeptNote = Omit<PlaceRequest, 'png'>;

function parseNote(note: string | undefined): KeptNote | null {
  try {
    const n = JSON.parse(note ?? '') as Partial<KeptNote>;
    if (typeof n.sourceId !== 'string' || typeof n.sourceName !== 'string' || typeof n.styleName !== 'string' || !n.bounds || !n.mode) return null;
    return n as KeptNote;
  } catch {
    return null;
  }
}

export class KeptOffer {
  /** Jobs being added or discarded now: not offered twice. */
  private readonly busy = new Set<string>();
  /** Why adding a job failed, while the companion still holds it (shown on its row, which offers it again). */
  private readonly failed = new Map<string, string>();
  private jobs: KeptJob[] = [];

  constructor(private readonly editor: Editor, private readonly client: CompanionClient, private readonly box: HTMLElement) {
    client.onKept((jobs) => {
      this.jobs = jobs;
      for (const id of [...this.failed.keys()]) if (!jobs.some((j) => j.jobId === id)) this.failed.delete(id);
      this.render();
    });
  }

  private render(): void {
    const doc = this.box.ownerDocument;
    const ready = this.jobs.filter((j) => j.state === 'done' && !this.busy.has(j.jobId));
    const waiting = this.jobs.filter((j) => j.state !== 'done').length;
    // Rows being added stay as they are (their status line is live).
    for (const child of Array.from(this.box.children)) if (!(child instanceof HTMLElement && child.dataset.jobId && this.busy.has(child.dataset.jobId))) child.remove();
    if (!ready.length && !waiting && !this.busy.size) {
      this.box.hidden = true;
      return;
    }
    const title = doc.createElement('p');
    title.className = 'notice-title';
    title.textContent = ready.length || this.busy.size
      ? `${ready.length + this.busy.size === 1 ? 'A result' : `${ready.length + this.busy.size} results`} finished while the plugin was closed.`
      : `${waiting === 1 ? 'A job' : `${waiting} jobs`} started before the plugin was closed ${waiting === 1 ? 'is' : 'are'} still running; ${waiting === 1 ? 'it is' : 'they are'} offered here when done.`;
    this.box.prepend(title);
    for (const job of ready) {
      const note = parseNote(job.note);
      const row = doc.createElement('div');
      row.className = 'row kept-item';
      row.dataset.jobId = job.jobId;
      const label = doc.createElement('span');
      label.textContent = note ? `${note.sourceName} · ${note.styleName}` : `Result ${job.jobId}`;
      const add = doc.createElement('button');
      add.type = 'button';
      add.className = 'primary kept-add';
      const why = this.failed.get(job.jobId);
      add.textContent = why ? 'Try again' : 'Add to the document';
      add.disabled = note === null;
      const drop = doc.createElement('button');
      drop.type = 'button';
      drop.className = 'link kept-discard';
      drop.textContent = 'Discard';
      add.addEventListener('click', () => { if (note) void this.add(job.jobId, note, row); });
      drop.addEventListener('click', () => {
        this.client.discardKept(job.jobId);
        this.jobs = this.jobs.filter((j) => j.jobId !== job.jobId);
        this.failed.delete(job.jobId);
        this.render();
      });
      row.append(label, add, drop);
      if (why) {
        const error = doc.createElement('span');
        error.className = 'kept-status error';
        error.textContent = why;
        row.append(error);
      }
      this.box.append(row);
    }
    this.box.hidden = false;
  }

  private async add(jobId: string, note: KeptNote, row: HTMLElement): Promise<void> {
    this.busy.add(jobId);
    this.failed.delete(jobId);
    // Held: the companion keeps the result until it is placed, so a failure here loses nothing.
    const held = this.client.canHoldKept;
    const status = row.ownerDocument.createElement('span');
    status.className = 'kept-status';
    row.replaceChildren(status);
    status.textContent = `Adding ${note.sourceName} · ${note.styleName}…`;
    try {
      const result = await this.client.fetchKept(jobId, held);
      const outcome = await this.editor.placeResult({ ...note, png: result.png });
      if (held) this.client.discardKept(jobId);
      this.jobs = this.jobs.filter((j) => j.jobId !== jobId);
      status.textContent = `Added ${note.sourceName} · ${note.styleName}.${outcome.note ? ` ${outcome.note}` : ''}`;
    } catch (err) {
      const e = explainError(err);
      const message = `${e.title}${e.detail ? ` ${e.detail}` : ''}`;
      if (held && this.jobs.some((j) => j.jobId === jobId)) {
        this.failed.set(jobId, `${message} The companion still has the result: try again, or discard it.`);
        row.remove();
      } else {
        status.textContent = message;
        status.classList.add('error');
      }
    } finally {
      this.busy.delete(jobId);
    }
    if (this.failed.has(jobId)) this.render();
  }
}
