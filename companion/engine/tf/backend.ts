/**
 * Picks the tfjs backend. `auto` walks the list from fastest to most portable and records why each
 * faster one was skipped, so the CLI and the daemon can tell the user what runs and why.
 */
// The union package, not tfjs-core alone: only its Node bundle registers the gradient functions.
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { StylizeError } from '../../../common/errors.ts';

export type Tf = typeof tf;

export interface BackendChoice {
  /** Our name for it: tfjs-node-gpu, tfjs-node, webgpu, wasm, cpu. */
  name: string;
  /** What it computes on, in words. */
  device: string;
  reason: string;
  skipped: { name: string; reason: string }[];
}

export const TF_BACKENDS = ['tfjs-node-gpu', 'tfjs-node', 'webgpu', 'wasm', 'cpu'] as const;
export type TfBackendName = (typeof TF_BACKENDS)[number];

const require = createRequire(import.meta.url);

interface Attempt {
  ok: boolean;
  /** tfjs's registered backend name. */
  tfName?: string;
  device?: string;
  reason?: string;
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].slice(0, 200);
}

/** The native bindings register themselves under the tfjs name 'tensorflow'. */
async function tryNative(pkg: string, load: () => Promise<unknown>, wantGpu: boolean): Promise<Attempt> {
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
    return { ok: false, reason: `${pkg} failed to load: ${firstLine(err)}` };
  }
  if (!(await tf.setBackend('tensorflow'))) return { ok: false, reason: `${pkg} loaded but its backend did not initialize` };
  if (wantGpu) {
    // tfjs-node-gpu silently runs on the CPU when CUDA is missing; only call it a GPU if TF sees one.
    const gpus = listTfGpus();
    if (gpus === 0) return { ok: false, reason: `${pkg} found no CUDA GPU (needs an NVIDIA driver, CUDA 11.2, cuDNN 8.1)` };
    return { ok: true, tfName: 'tensorflow', device: `CUDA GPU via libtensorflow` };
  }
  return { ok: true, tfName: 'tensorflow', device: 'CPU via libtensorflow' };
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

/** Dawn on Linux needs the Vulkan loader; without it, skip quietly instead of letting Dawn warn. */
function vulkanLoaderPresent(): boolean {
  if (process.platform !== 'linux') return true;
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib', '/lib/x86_64-linux-gnu', '/lib64'];
  return dirs.some((d) => existsSync(path.join(d, 'libvulkan.so.1')));
}

async function tryWebgpu(allowSoftware: boolean): Promise<Attempt> {
  if (!allowSoftware && !vulkanLoaderPresent()) return { ok: false, reason: 'no Vulkan loader (libvulkan.so.1) installed, so no GPU driver for WebGPU' };
  let webgpu: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
  try {
    webgpu = (await import('webgpu')) as unknown as typeof webgpu;
  } catch (err) {
    return { ok: false, reason: `the webgpu package is not available: ${firstLine(err)}` };
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
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
  const desc = [info?.vendor, info?.architecture, info?.description || info?.device].filter(Boolean).join(' ').trim() || 'unknown adapter';
  const software = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter || /llvmpipe|swiftshader|lavapipe|softpipe|cpu/i.test(desc);
  if (software && !allowSoftware) return { ok: false, reason: `only a software WebGPU adapter (${desc}); wasm is faster` };
  try {
    await import('@tensorflow/tfjs-backend-webgpu');
  } catch (err) {
    return { ok: false, reason: `@tensorflow/tfjs-backend-webgpu failed to load: ${firstLine(err)}` };
  }
  if (compat) {
    // Dawn on GL only offers the compatibility feature level; tfjs asks without it by default.
    tf.env().set('WEBGPU_USE_COMPATIBILITY', true as unknown as number);
  }
  try {
    if (!(await tf.setBackend('webgpu'))) return { ok: false, reason: `WebGPU backend did not initialize on ${desc}` };
  } catch (err) {
    return { ok: false, reason: `WebGPU backend failed on ${desc}: ${firstLine(err)}` };
  }
  return { ok: true, tfName: 'webgpu', device: `${software ? 'software ' : ''}GPU via WebGPU: ${desc}` };
}

async function tryWasm(): Promise<Attempt> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    if (!(await tf.setBackend('wasm'))) return { ok: false, reason: 'wasm backend did not initialize' };
  } catch (err) {
    return { ok: false, reason: `wasm backend failed: ${firstLine(err)}` };
  }
  return { ok: true, tfName: 'wasm', device: 'CPU via WebAssembly (SIMD, one thread)' };
}

async function tryCpu(): Promise<Attempt> {
  await import('@tensorflow/tfjs-backend-cpu');
  if (!(await tf.setBackend('cpu'))) return { ok: false, reason: 'cpu backend did not initialize' };
  return { ok: true, tfName: 'cpu', device: 'CPU via plain JavaScript (slow)' };
}

const TF_NAME: Record<TfBackendName, string> = {
  'tfjs-node-gpu': 'tensorflow', 'tfjs-node': 'tensorflow', webgpu: 'webgpu', wasm: 'wasm', cpu: 'cpu',
};

function attempt(name: TfBackendName, forced: boolean): Promise<Attempt> {
  switch (name) {
    // Literal specifiers: bundlers and the import-graph test see every module this loads.
    case 'tfjs-node-gpu': return tryNative('@tensorflow/tfjs-node-gpu', () => import('@tensorflow/tfjs-node-gpu'), true);
    case 'tfjs-node': return tryNative('@tensorflow/tfjs-node', () => import('@tensorflow/tfjs-node'), false);
    case 'webgpu': return tryWebgpu(forced);
    case 'wasm': return tryWasm();
    case 'cpu': return tryCpu();
  }
}

const chosen = new Map<string, BackendChoice>();

/**
 * Selects and initializes a backend; `auto` takes the first that works. tfjs holds one global
 * backend per process: selecting another switches it for everything in the process.
 */
export async function selectTfBackend(requested = 'auto', order: readonly TfBackendName[] = TF_BACKENDS): Promise<BackendChoice> {
  const known = chosen.get(requested);
  if (known) {
    await tf.setBackend(TF_NAME[known.name as TfBackendName]);
    return known;
  }
  if (requested !== 'auto' && !(TF_BACKENDS as readonly string[]).includes(requested)) {
    throw new StylizeError('backend_unavailable', `Unknown backend "${requested}". Choose one of: auto, ${TF_BACKENDS.join(', ')}.`);
  }
  const candidates = requested === 'auto' ? order : [requested as TfBackendName];
  const skipped: { name: string; reason: string }[] = [];
  for (const name of candidates) {
    const result = await attempt(name, requested !== 'auto');
    if (result.ok) {
      const choice: BackendChoice = {
        name,
        device: result.device ?? name,
        reason: requested === 'auto' ? (skipped.length ? `fastest available (${skipped.length} faster skipped)` : 'fastest available') : 'requested with --backend',
        skipped,
      };
      chosen.set(requested, choice);
      return choice;
    }
    skipped.push({ name, reason: result.reason ?? 'unavailable' });
  }
  const why = skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  throw new StylizeError('backend_unavailable', requested === 'auto'
    ? `No compute backend works on this machine (${why}).`
    : `Backend "${requested}" is not available here: ${skipped[0]?.reason}. Run with --backend auto to use the best available one.`);
}

export { tf };
/** For the engine-wide selection (../backends.ts), which interleaves tfjs and ONNX Runtime backends. */
export { attempt as tryTfBackend, vulkanLoaderPresent };
