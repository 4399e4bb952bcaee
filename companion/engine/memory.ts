/**
 * Peak-memory model of one loss-and-gradient evaluation, and the budget each backend offers.
 * The model counts VGG-19 activations through conv5_1 and scales them by what the forward and
 * backward passes keep alive; calibrated on the wasm backend (see README, "Large outputs:
 * coarse-to-fine, tiling and memory").
 */
import os from 'node:os';

/** Floats of activations per input pixel through conv5_1: 2x64 + 2x128/4 + 4x256/16 + 4x512/64 + 512/256. */
const ACTIVATION_FLOATS_PER_PIXEL = 2 * 64 + (2 * 128) / 4 + (4 * 256) / 16 + (4 * 512) / 64 + 512 / 256;
/**
 * Forward outputs, ReLU masks, gradients and temporaries alive at the peak of the backward pass.
 * Measured on wasm: the heap grew by ~8.7 KB per pixel between 256 and 384 px (a one-off
 * measurement, not kept; `npm run bench:large` reports a job's peak memory to check it against),
 * i.e. ~7.5 copies of the activations; 8 leaves a margin.
 */
const LIVE_COPIES_TRAINING = 8;
/** A forward-only pass (style targets) frees as it goes inside tidy, but keeps the wanted layers. */
const LIVE_COPIES_FORWARD = 1.5;
/** Weights, kernels flipped for the backward conv, and allocator slack. */
export const FIXED_OVERHEAD_BYTES = 400 * 2 ** 20;

export function trainingBytes(width: number, height: number): number {
  return width * height * ACTIVATION_FLOATS_PER_PIXEL * 4 * LIVE_COPIES_TRAINING;
}

export function forwardBytes(width: number, height: number): number {
  return width * height * ACTIVATION_FLOATS_PER_PIXEL * 4 * LIVE_COPIES_FORWARD;
}

/** Bytes available to one job's tensors on a backend. STYLIZE_MEMORY_MB overrides. */
export function memoryBudgetBytes(backend: string, env: NodeJS.ProcessEnv = process.env): number {
  const override = Number(env.STYLIZE_MEMORY_MB);
  if (override > 0) return override * 2 ** 20;
  const half = os.totalmem() / 2;
  switch (backend) {
    // wasm32: a 4 GiB heap that never shrinks and fragments; keep well below it.
    case 'wasm': return 3 * 2 ** 30 - FIXED_OVERHEAD_BYTES;
    // GPU memory is not visible from here: a conservative default that fits 4 GB cards.
    case 'webgpu':
    case 'tfjs-node-gpu':
    case 'onnx-cuda':
    case 'onnx-dml':
    case 'onnx-coreml':
    case 'onnx-webgpu': return 3 * 2 ** 30 - FIXED_OVERHEAD_BYTES;
    default: return Math.min(half, 16 * 2 ** 30) - FIXED_OVERHEAD_BYTES;
  }
}
