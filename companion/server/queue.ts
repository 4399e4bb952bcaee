/** The shared job queue: one running job, the rest waiting in arrival order across all clients. */

export class JobQueue<J extends { id: string }> {
  private waiting: J[] = [];
  running: J | undefined;

  /** Jobs waiting (not counting the running one). */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Waiting plus running. */
  get total(): number {
    return this.waiting.length + (this.running ? 1 : 0);
  }

  waitingJobs(): readonly J[] {
    return this.waiting;
  }

  /** Adds a job at the end; returns its position. */
  push(job: J): number {
    this.waiting.push(job);
    return this.position(job);
  }

  /** Removes a waiting job; undefined if it is not waiting (running or unknown). */
  remove(id: string): J | undefined {
    const i = this.waiting.findIndex((j) => j.id === id);
    if (i < 0) return undefined;
    return this.waiting.splice(i, 1)[0];
  }

  /** Moves the first waiting job to running. Only when nothing runs. */
  next(): J | undefined {
    if (this.running) return undefined;
    this.running = this.waiting.shift();
    return this.running;
  }

  finishRunning(): void {
    this.running = undefined;
  }

  /** Jobs ahead of this one: 0 = running (or next to run when nothing runs). -1 = not queued. */
  position(job: J): number {
    if (this.running === job) return 0;
    const i = this.waiting.indexOf(job);
    return i < 0 ? -1 : i + (this.running ? 1 : 0);
  }
}
