/**
 * Every job the plugin's companion client starts ends in done, cancelled or error, whatever a newer
 * companion sends (test/helpers/newer-companion.ts): unknown message types and binary frames are
 * ignored, unknown error codes become a generic error, a garbled message about a job ends that job,
 * and a Cancel answered with unknown_job ends the job instead of leaving it waiting forever.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocket as NodeWebSocket } from 'ws';
import { CompanionClient, CompanionError, type ConnectionState } from '../plugin/ui/companion-client.ts';
import { explainError } from '../plugin/ui/format.ts';
import { NewerCompanion } from './helpers/newer-companion.ts';

let stand: NewerCompanion;
let client: CompanionClient;
const generalErrors: CompanionError[] = [];
const request = { content: new Uint8Array([1, 2, 3]), styles: [{ source: 'library' as const, name: 'Any' }], settings: { size: 64, iterations: 5 } };

/** The job's outcome, or a failure naming the hang (generous: only a job that never ends trips it). */
function outcome<T>(p: Promise<T>): Promise<T | CompanionError> {
  return Promise.race([
    p.catch((e: CompanionError) => e),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the job never settled')), 15_000)),
  ]);
}

before(async () => {
  stand = await NewerCompanion.start();
  client = new CompanionClient({ port: stand.port, address: '127.0.0.1', token: 'T', WebSocket: NodeWebSocket as unknown as typeof WebSocket });
  client.onError((e) => generalErrors.push(e));
  client.start();
  await new Promise<void>((resolve) => {
    const off = client.onStateChange((s: ConnectionState) => { if (s.status === 'connected') { off(); resolve(); } });
  });
});

after(async () => {
  client?.stop();
  await stand?.close();
});

test('unknown message types and binary frames are ignored; the job still completes', async () => {
  const handle = client.submit(request);
  const job = await stand.nextJob();
  job.text({ type: 'accepted', ref: job.ref, jobId: job.jobId, position: 0 });
  job.text({ type: 'eta', jobId: job.jobId, seconds: 3 });
  job.binary({ type: 'heatmap', jobId: job.jobId, mime: 'image/png', width: 1, height: 1 });
  job.binary({ type: 'result', jobId: job.jobId, mime: 'image/png', width: 1, height: 1 }, new Uint8Array([9]));
  job.text({ type: 'done', jobId: job.jobId, width: 1, height: 1, elapsedMs: 1, iterations: 5, losses: {} });
  const r = await outcome(handle.result);
  assert.ok(!(r instanceof CompanionError), String(r));
  assert.deepEqual(generalErrors, [], 'nothing shown to the designer for messages meant for newer plugins');
});

test('an unknown error code ends the job with a generic error that keeps the companion\'s words', async () => {
  const handle = client.submit(request);
  const job = await stand.nextJob();
  job.text({ type: 'accepted', ref: job.ref, jobId: job.jobId, position: 0 });
  job.text({ type: 'error', jobId: job.jobId, code: 'gpu_lost', message: 'The GPU went away.' });
  const e = await outcome(handle.result);
  assert.ok(e instanceof CompanionError);
  assert.equal(e.code, 'internal');
  assert.match(e.message, /The GPU went away\. \(companion error code "gpu_lost"\)/);
  assert.match(explainError(e).title, /Something went wrong inside the companion/);
});

test('a garbled message about a job ends that job', async () => {
  const handle = client.submit(request);
  const job = await stand.nextJob();
  job.text({ type: 'accepted', ref: job.ref, jobId: job.jobId, position: 0 });
  job.text({ type: 'done', jobId: job.jobId, width: 'big' });
  const e = await outcome(handle.result);
  assert.ok(e instanceof CompanionError && e.code === 'bad_reply', String(e));
});

test('the end never arrives (a newer end message), Cancel gets unknown_job: the job ends as cancelled', async () => {
  const handle = client.submit(request);
  const job = await stand.nextJob();
  job.text({ type: 'accepted', ref: job.ref, jobId: job.jobId, position: 0 });
  job.text({ type: 'finished', jobId: job.jobId });
  await new Promise((r) => setTimeout(r, 50));
  handle.cancel();
  const e = await outcome(handle.result);
  assert.ok(e instanceof CompanionError && e.code === 'cancelled', String(e));
  assert.deepEqual(stand.cancels.slice(-1), [job.jobId]);
  assert.equal(client.activeJobs, 0);
});

test('a cancel answered by "cancelled" does not let a later unknown_job end another job', async () => {
  stand.onCancel = (jobId, socket) => socket.send(JSON.stringify({ type: 'cancelled', jobId, reason: 'user' }));
  const first = client.submit(request);
  const a = await stand.nextJob();
  a.text({ type: 'accepted', ref: a.ref, jobId: a.jobId, position: 0 });
  await new Promise((r) => setTimeout(r, 50));
  first.cancel();
  assert.ok((await outcome(first.result)) instanceof CompanionError);
  const second = client.submit(request);
  const b = await stand.nextJob();
  b.text({ type: 'accepted', ref: b.ref, jobId: b.jobId, position: 0 });
  // A stray unknown_job (no cancel of ours is waiting): the running job is not touched.
  b.text({ type: 'error', code: 'unknown_job', message: 'no such job' });
  b.binary({ type: 'result', jobId: b.jobId, mime: 'image/png', width: 1, height: 1 }, new Uint8Array([7]));
  b.text({ type: 'done', jobId: b.jobId, width: 1, height: 1, elapsedMs: 1, iterations: 5, losses: {} });
  const r = await outcome(second.result);
  assert.ok(!(r instanceof CompanionError), String(r));
});

test('style lists are answered by ref: an error for the second ends the second, in whatever order the answers come', async () => {
  stand.requests.length = 0;
  const first = client.listStyles(false);
  const second = client.listStyles(false);
  const deadline = Date.now() + 15_000;
  while (stand.requests.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const [a, b] = stand.requests;
  assert.equal(a.message.type, 'list_styles');
  assert.notEqual(a.message.ref, b.message.ref, 'each request has its own ref');
  b.answer({ type: 'error', code: 'internal', message: 'The library folder could not be read.', ref: b.message.ref });
  a.answer({ type: 'styles', styles: [], ref: a.message.ref });
  const got = await outcome(second);
  assert.ok(got instanceof CompanionError && got.code === 'internal', `second: ${String(got)}`);
  assert.deepEqual(await outcome(first), []);
  assert.equal(generalErrors.length, 0, 'not shown as a general error');
});
