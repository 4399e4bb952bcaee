/**
 * Results that finished while the plugin window was closed (Photopea destroys a hidden panel): the
 * companion keeps them for this client (protocol `kept`), and this offers each one when the window
 * is open again: add it where the layer was, or discard it. The job's note says where it goes.
 */
import type { Host, PlaceRequest } from '../host/host.ts';
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

  constructor(private readonly host: Host, private readonly client: CompanionClient, private readonly box: HTMLElement) {
    client.onKept((jobs) => this.render(jobs));
  }

  private render(jobs: KeptJob[]): void {
    const doc = this.box.ownerDocument;
    const ready = jobs.filter((j) => j.state === 'done' && !this.busy.has(j.jobId));
    const waiting = jobs.filter((j) => j.state !== 'done').length;
    this.box.replaceChildren();
    if (!ready.length && !waiting) {
      this.box.hidden = true;
      return;
    }
    const title = doc.createElement('p');
    title.className = 'notice-title';
    title.textContent = ready.length
      ? `${ready.length === 1 ? 'A result' : `${ready.length} results`} finished while the plugin was closed.`
      : `${waiting === 1 ? 'A job' : `${waiting} jobs`} started before the plugin was closed ${waiting === 1 ? 'is' : 'are'} still running; ${waiting === 1 ? 'it is' : 'they are'} offered here when done.`;
    this.box.append(title);
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
      add.textContent = 'Add to the document';
      add.disabled = note === null;
      const drop = doc.createElement('button');
      drop.type = 'button';
      drop.className = 'link kept-discard';
      drop.textContent = 'Discard';
      add.addEventListener('click', () => { if (note) void this.add(job.jobId, note, row); });
      drop.addEventListener('click', () => { this.client.discardKept(job.jobId); row.remove(); });
      row.append(label, add, drop);
      this.box.append(row);
    }
    this.box.hidden = false;
  }

  private async add(jobId: string, note: KeptNote, row: HTMLElement): Promise<void> {
    this.busy.add(jobId);
    const status = row.ownerDocument.createElement('span');
    status.className = 'kept-status';
    row.replaceChildren(status);
    status.textContent = `Adding ${note.sourceName} · ${note.styleName}…`;
    try {
      const result = await this.client.fetchKept(jobId);
      const outcome = await this.host.placeResult({ ...note, png: result.png });
      status.textContent = `Added ${note.sourceName} · ${note.styleName}.${outcome.note ? ` ${outcome.note}` : ''}`;
    } catch (err) {
      const e = explainError(err);
      status.textContent = `${e.title}${e.detail ? ` ${e.detail}` : ''}`;
      status.classList.add('error');
    } finally {
      this.busy.delete(jobId);
    }
  }
}
