/**
 * The one backend choice, across the two compute libraries: tfjs (tf/runtime.ts) and ONNX Runtime
 * (onnx/runtime.ts). `auto` walks autoOrder() and records why each faster one was skipped, so the
 * CLI and the daemon can tell the user what runs and why.
 *
 * The order, fastest first, and why:
 *   tfjs-node-gpu  libtensorflow on CUDA: the long-standing GPU path;
 *   onnx-cuda, onnx-dml, onnx-coreml, onnx-webgpu  ORT on a GPU (those this platform can have);
 *   webgpu         tfjs on a hardware WebGPU adapter;
 *   onnx-cpu       ORT's CPU kernels (MLAS), ~150 GFLOP/s in conv here, many times wasm's ~17,
 *                  which is why it also goes before tfjs-node (libtensorflow's CPU kernels);
 *   tfjs-node      libtensorflow's CPU kernels;
 *   wasm, cpu      tfjs in WebAssembly with SIMD, then plain JavaScript (portable, slowest).
 * `onnx` means the best ONNX Runtime provider (a GPU one, else the CPU); `onnx-<provider>` forces one.
 */
import { StylizeError } from '../../common/errors.ts';
import { TF_BACKENDS, probeTfBackend, useTfBackend, type TfBackendName } from './tf/runtime.ts';
import { GPU_PROVIDERS, ONNX_PROVIDERS, probeProvider, type OnnxProvider } from './onnx/runtime.ts';
import type { BackendProbe } from './types.ts';

export interface BackendChoice {
  /** Our name for it, as `--backend` takes it: onnx-cpu, wasm, ... */
  name: string;
  /** What it computes on, in words. */
  device: string;
  reason: string;
  skipped: { name: string; reason: string }[];
}

/** ONNX Runtime GPU providers worth trying on this platform (the others cannot exist here). */
function platformGpuProviders(): OnnxProvider[] {
  return GPU_PROVIDERS.filter((p) =>
    p === 'cuda' ? ['linux', 'win32'].includes(process.platform) && process.arch === 'x64'
      : p === 'dml' ? process.platform === 'win32'
        : p === 'coreml' ? process.platform === 'darwin'
          : true);
}

export function autoOrder(): string[] {
  return ['tfjs-node-gpu', ...platformGpuProviders().map((p) => `onnx-${p}`), 'webgpu', 'onnx-cpu', 'tfjs-node', 'wasm', 'cpu'];
}

/** Every name `--backend` accepts. */
export function backendNames(): string[] {
  return ['auto', 'onnx', ...ONNX_PROVIDERS.map((p) => `onnx-${p}`), ...TF_BACKENDS];
}

/** The ONNX Runtime provider a backend name stands for, or undefined for a tfjs backend. */
export function onnxProviderOf(name: string): OnnxProvider | undefined {
  const p = name.startsWith('onnx-') ? name.slice(5) : undefined;
  return (ONNX_PROVIDERS as readonly string[]).includes(p ?? '') ? (p as OnnxProvider) : undefined;
}

function probe(name: string, forced: boolean): Promise<BackendProbe> {
  const provider = onnxProviderOf(name);
  if (provider) return probeProvider(provider, forced);
  return probeTfBackend(name as TfBackendName, forced);
}

const chosen = new Map<string, Promise<BackendChoice>>();

/**
 * Selects and initializes a backend by name (see backendNames). A tfjs choice also makes it
 * tfjs's global backend; an ONNX Runtime choice leaves tfjs alone.
 */
export function selectBackend(requested = 'auto'): Promise<BackendChoice> {
  let p = chosen.get(requested);
  if (!p) {
    p = choose(requested);
    chosen.set(requested, p);
    p.catch(() => chosen.delete(requested));
  }
  return p.then(async (choice) => {
    // tfjs holds one global backend: another engine in this process may have switched it.
    if (!onnxProviderOf(choice.name)) await useTfBackend(choice.name as TfBackendName);
    return choice;
  });
}

async function choose(requested: string): Promise<BackendChoice> {
  if (!backendNames().includes(requested)) {
    throw new StylizeError('backend_unavailable', `Unknown backend "${requested}". Choose one of: ${backendNames().join(', ')}.`);
  }
  const isAuto = requested === 'auto';
  const candidates = isAuto ? autoOrder()
    : requested === 'onnx' ? [...platformGpuProviders().map((p) => `onnx-${p}`), 'onnx-cpu']
      : [requested];
  const skipped: { name: string; reason: string }[] = [];
  for (const name of candidates) {
    // A named backend is used even when slow (a software WebGPU adapter); within a list it is skipped.
    const result = await probe(name, candidates.length === 1);
    if (result.ok) {
      const reason = isAuto
        ? (skipped.length ? `fastest available (${skipped.length} faster skipped)` : 'fastest available')
        : requested === 'onnx'
          ? `requested with --backend onnx${skipped.length ? `; best ONNX Runtime provider here (${skipped.length} faster skipped)` : ''}`
          : 'requested with --backend';
      return { name, device: result.device ?? name, reason, skipped };
    }
    skipped.push({ name, reason: result.reason ?? 'unavailable' });
  }
  const why = skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  throw new StylizeError('backend_unavailable', candidates.length > 1
    ? `No ${isAuto ? 'compute backend' : 'ONNX Runtime provider'} works on this machine (${why}).${isAuto ? '' : ' Run with --backend auto to use the best available one.'}`
    : `Backend "${requested}" is not available here: ${skipped[0]?.reason}. Run with --backend auto to use the best available one.`);
}
