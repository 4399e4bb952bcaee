/**
 * tfjs: the library itself, and probing and activating its backends (libtensorflow, WebGPU, wasm,
 * plain JS). Which backend a job uses is chosen in ../select-backend.ts, together with ONNX Runtime's.
 */
// The union package, not tfjs-core alone: only its Node bundle registers the gradient functions.
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { errorSummary } from '../../../common/errors.ts';
import { describeAdapter, vulkanLoaderPresent } from '../webgpu-probe.ts';
import type { BackendProbe } from '../types.ts';

export type Tf = typeof tf;

export const TF_BACKENDS = ['tfjs-node-gpu', 'tfjs-node', 'webgpu', 'wasm', 'cpu'] as const;
export type TfBackendName = (typeof TF_BACKENDS)[number];

const require = createRequire(import.meta.url);

/** The native bindings register themselves under the tfjs name 'tensorflow'. */
async function tryNative(pkg: string, load: () => Promise<unknown>, wantGpu: boolean): Promise<BackendProbe> {
  if (process.arch !== 'x64' || !['linux', 'win32'].includes(process.platform)) {
    return { ok: false, reason: `${pkg} needs x86-64 Linux or Windows (this is ${process.platform}/${process.arch})` };
  }
  try {
    require.resolve(pkg);
  } catch {
    return { ok: false, reason: `${pkg} is not installed (optional; its install downloads libtensorflow)` };
  }
  try {
    await load();
  } catch (err) {
    return { ok: false, reason: `${pkg} failed to load: ${errorSummary(err)}` };
  }
  if (!(await tf.setBackend('tensorflow'))) return { ok: false, reason: `${pkg} loaded but its backend did not initialize` };
  if (wantGpu) {
    // tfjs-node-gpu silently runs on the CPU when CUDA is missing; only call it a GPU if TF sees one.
    const gpus = listTfGpus();
    if (gpus === 0) return { ok: false, reason: `${pkg} found no CUDA GPU (needs an NVIDIA driver, CUDA 11.2, cuDNN 8.1)` };
    return { ok: true, device: `CUDA GPU via libtensorflow` };
  }
  return { ok: true, device: 'CPU via libtensorflow' };
}

function listTfGpus(): number {
  try {
    const binding = (tf.backend() as unknown as { binding?: { isUsingGpuDevice?: () => boolean } }).binding;
    if (binding?.isUsingGpuDevice) return binding.isUsingGpuDevice() ? 1 : 0;
  } catch {
    /* fall through */
  }
  return 0;
}

async function tryWebgpu(allowSoftware: boolean): Promise<BackendProbe> {
  if (!allowSoftware && !vulkanLoaderPresent()) return { ok: false, reason: 'no Vulkan loader (libvulkan.so.1) installed, so no GPU driver for WebGPU' };
  let webgpu: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  try {
    webgpu = (await import('webgpu')) as unknown as typeof webgpu;
  } catch (err) {
    return { ok: false, reason: `the webgpu package is not available: ${errorSummary(err)}` };
  }
  const nav = ((globalThis as unknown as { navigator?: Record<string, unknown> }).navigator ??= {}) as Record<string, unknown>;
  if (!nav.gpu) {
    Object.assign(globalThis, webgpu.globals);
    Object.defineProperty(nav, 'gpu', { value: webgpu.create([]), configurable: true });
  }
  const gpu = nav.gpu as GPU;
  let adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  let compat = false;
  if (!adapter) {
    adapter = await gpu.requestAdapter({ featureLevel: 'compatibility' } as GPURequestAdapterOptions);
    compat = adapter !== null;
  }
  if (!adapter) return { ok: false, reason: 'no WebGPU adapter (no Vulkan, Metal or D3D12 driver found)' };
  const { desc, software } = describeAdapter(adapter);
  if (software && !allowSoftware) return { ok: false, reason: `only a software WebGPU adapter (${desc}); wasm is faster` };
  try {
    await import('@tensorflow/tfjs-backend-webgpu');
  } catch (err) {
    return { ok: false, reason: `@tensorflow/tfjs-backend-webgpu failed to load: ${errorSummary(err)}` };
  }
  if (compat) {
    // Dawn on GL only offers the compatibility feature level; tfjs asks without it by default.
    tf.env().set('WEBGPU_USE_COMPATIBILITY', true as unknown as number);
  }
  try {
    if (!(await tf.setBackend('webgpu'))) return { ok: false, reason: `WebGPU backend did not initialize on ${desc}` };
  } catch (err) {
    return { ok: false, reason: `WebGPU backend failed on ${desc}: ${errorSummary(err)}` };
  }
  return { ok: true, device: `${software ? 'software ' : ''}GPU via WebGPU: ${desc}` };
}

async function tryWasm(): Promise<BackendProbe> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    if (!(await tf.setBackend('wasm'))) return { ok: false, reason: 'wasm backend did not initialize' };
  } catch (err) {
    return { ok: false, reason: `wasm backend failed: ${errorSummary(err)}` };
  }
  return { ok: true, device: 'CPU via WebAssembly (SIMD, one thread)' };
}

async function tryCpu(): Promise<BackendProbe> {
  await import('@tensorflow/tfjs-backend-cpu');
  if (!(await tf.setBackend('cpu'))) return { ok: false, reason: 'cpu backend did not initialize' };
  return { ok: true, device: 'CPU via plain JavaScript (slow)' };
}

const TF_NAME: Record<TfBackendName, string> = {
  'tfjs-node-gpu': 'tensorflow', 'tfjs-node': 'tensorflow', webgpu: 'webgpu', wasm: 'wasm', cpu: 'cpu',
};

/**
 * Whether tfjs backend `name` works here; on success it is registered, initialized and tfjs's
 * global backend. `forced` (named by the user) accepts a software WebGPU adapter.
 */
export function probeTfBackend(name: TfBackendName, forced: boolean): Promise<BackendProbe> {
  switch (name) {
    // Literal specifiers: bundlers and the import-graph test see every module this loads.
    case 'tfjs-node-gpu': return tryNative('@tensorflow/tfjs-node-gpu', () => import('@tensorflow/tfjs-node-gpu'), true);
    case 'tfjs-node': return tryNative('@tensorflow/tfjs-node', () => import('@tensorflow/tfjs-node'), false);
    case 'webgpu': return tryWebgpu(forced);
    case 'wasm': return tryWasm();
    case 'cpu': return tryCpu();
  }
}

/**
 * Makes a probed backend tfjs's global one again: tfjs holds one per process, and another engine
 * in the same process may have switched it since.
 */
export async function useTfBackend(name: TfBackendName): Promise<void> {
  if (!(await tf.setBackend(TF_NAME[name]))) throw new Error(`tfjs backend ${name} was not probed before use`);
}

export { tf };
