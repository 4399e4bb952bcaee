/**
 * The engine's thread. The engine computes synchronously for up to seconds per iteration; here that
 * blocks only this thread, so the daemon keeps answering sockets. One job at a time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { Engine } from '../engine/engine.ts';
import { StylizeError, errorSummary, type StylizeErrorCode } from '../../common/errors.ts';
import type { FromWorker, ToWorker, WorkerInit } from './worker-messages.ts';
import { testFaults } from './test-faults.ts';

const port = parentPort;
if (!port) throw new Error('engine-worker.ts runs as a worker thread of the daemon, not on its own.');

const init = workerData as WorkerInit;
let engine: Engine | undefined;
let current: { jobId: string; controller: AbortController; finisher: AbortController; seed?: number } | undefined;
const faults = testFaults();

function post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(msg, transfer);
}

function errorCode(err: unknown): { code: StylizeErrorCode; message: string } {
  if (err instanceof StylizeError) return { code: err.code, message: err.message };
  const summary = errorSummary(err);
  // wasm/tfjs report allocation failures in several wordings.
  if (/out of memory|allocation failed|Cannot allocate|memory access out of bounds/i.test(err instanceof Error ? err.message : String(err))) {
    return { code: 'out_of_memory', message: `The engine ran out of memory (${summary}). Try a smaller size.` };
  }
  return { code: 'internal', message: `The engine failed: ${summary}` };
}

/** A standalone copy whose buffer can be transferred (engine buffers may be views into bigger ones). */
function own(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer ? bytes : bytes.slice();
}

async function run(msg: Extract<ToWorker, { type: 'run' }>): Promise<void> {
  const controller = new AbortController();
  const finisher = new AbortController();
  current = { jobId: msg.jobId, controller, finisher, seed: msg.settings.seed };
  try {
    const result = await engine!.stylize(
      { content: msg.content, styles: msg.styles, settings: msg.settings },
      {
        signal: controller.signal,
        finishSignal: finisher.signal,
        onProgress: (e) => {
          if (faults.crashSeed !== undefined && msg.settings.seed === faults.crashSeed) process.exit(70);
          const preview = e.preview ? { width: e.preview.width, height: e.preview.height, data: own(e.preview.data) } : undefined;
          post(
            { type: 'progress', jobId: msg.jobId, iteration: e.iteration, iterations: e.iterations, terms: e.terms, elapsedMs: e.elapsedMs, etaMs: e.etaMs, preview },
            preview ? [preview.data.buffer as ArrayBuffer] : [],
          );
        },
      },
    );
    const png = own(result.png);
    const last = result.losses[result.losses.length - 1];
    post({
      type: 'done',
      jobId: msg.jobId,
      png,
      width: result.image.width,
      height: result.image.height,
      iterations: result.losses.length,
      losses: last ? { content: last.content, style: last.style, tv: last.tv, total: last.total } : { content: 0, style: 0, tv: 0, total: 0 },
      backend: result.backend,
      elapsedMs: result.elapsedMs,
      ...(result.stopped && { stopped: true }),
      memory: engine!.memory(),
      cost: engine!.costModel(),
    }, [png.buffer as ArrayBuffer]);
  } catch (err) {
    const { code, message } = controller.signal.aborted ? { code: 'cancelled' as const, message: 'The job was cancelled.' } : errorCode(err);
    post({ type: 'failed', jobId: msg.jobId, code, message, memory: engine!.memory() });
  } finally {
    current = undefined;
  }
}

/** A thread that never answers again (test fault): waits in short slices so terminate() still ends it. */
function hang(): never {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(cell, 0, 0, 50);
}

port.on('message', (msg: ToWorker) => {
  switch (msg.type) {
    case 'run':
      void run(msg);
      break;
    case 'cancel':
      if (current?.jobId === msg.jobId && faults.hangOnCancelSeed !== undefined && current.seed === faults.hangOnCancelSeed) hang();
      if (current?.jobId === msg.jobId) current.controller.abort();
      break;
    case 'finish':
      if (current?.jobId === msg.jobId) current.finisher.abort();
      break;
    case 'memory':
      // Always answered, even before the engine has loaded: the daemon may be waiting.
      post({ type: 'memory', memory: engine ? engine.memory() : { tensors: 0, bytes: 0 } });
      break;
    case 'close':
      current?.controller.abort();
      engine?.dispose();
      post({ type: 'closed' });
      port.close();
      break;
  }
});

try {
  const t0 = performance.now();
  engine = await Engine.create({ backend: init.backend, weightsDir: init.weightsDir, maxInputPixels: init.maxPixels });
  const t1 = performance.now();
  if (init.warmup) {
    // One real 1-iteration job: the first gradient pass costs seconds once per process; pay it
    // here rather than in the user's first job. sharp makes the tiny inputs. Then warmUp() measures
    // the costs for estimates on the warm engine.
    const tiny = await sharp({ create: { width: 24, height: 24, channels: 3, background: { r: 120, g: 90, b: 60 } } }).png().toBuffer();
    await engine.stylize({ content: tiny, styles: [{ image: tiny }], settings: { size: 24, iterations: 1, previewEvery: 0 } });
    await engine.warmUp();
  }
  post({ type: 'ready', backend: engine.backend, memory: engine.memory(), createMs: t1 - t0, warmupMs: performance.now() - t1, cost: engine.costModel() });
} catch (err) {
  const { code, message } = errorCode(err);
  post({ type: 'init_error', code, message });
}
