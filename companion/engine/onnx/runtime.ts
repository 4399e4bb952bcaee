/**
 * ONNX Runtime (onnxruntime-node): loading it, probing its execution providers, and the session
 * options every graph uses. A provider counts as available only when a small conv session on it
 * initializes and computes the right numbers, so a missing driver or library is a skip with a
 * reason, never a job that fails later.
 */
import os from 'node:os';
import path from 'node:path';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { OnnxGraph, ints } from './graph.ts';
import { errorSummary } from '../../../common/errors.ts';
import { describeAdapter, vulkanLoaderPresent } from '../webgpu-probe.ts';
import type { BackendProbe } from '../types.ts';

export type Ort = typeof import('onnxruntime-node');
export type OrtSession = import('onnxruntime-node').InferenceSession;

/** Execution providers, fastest first. CPU is always last: it is the fallback. */
export const ONNX_PROVIDERS = ['cuda', 'dml', 'coreml', 'webgpu', 'cpu'] as const;
export type OnnxProvider = (typeof ONNX_PROVIDERS)[number];
export const GPU_PROVIDERS: readonly OnnxProvider[] = ['cuda', 'dml', 'coreml', 'webgpu'];

const require = createRequire(import.meta.url);
let ortPromise: Promise<Ort> | undefined;

/** Loads onnxruntime-node once (its native binding); rejects with a message saying what is missing. */
export function loadOrt(): Promise<Ort> {
  if (!ortPromise) {
    ortPromise = (async () => {
      try {
        const mod = (await import('onnxruntime-node')) as Ort & { default?: Ort };
        return mod.default ?? mod;
      } catch (err) {
        throw new Error(`onnxruntime-node failed to load (${errorSummary(err)}); reinstall it with \`npm install\` (the project's .npmrc skips its optional CUDA download).`);
      }
    })();
    // Not cached when it fails: the next call tries again and reports the error afresh.
    ortPromise.catch(() => { ortPromise = undefined; });
  }
  return ortPromise;
}

/** Logical CPUs: on the idle 2-core development machine 2 workers ran 1.8x faster than 1. */
export function threadCount(): number {
  return Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
}

/**
 * Options for every session: all graph optimizations (ORT re-blocks convs into its NCHWc layout and
 * fuses Conv+ReLU) and one worker per logical CPU. Workers keep ORT's default of spinning between ops:
 * on an idle 2-core machine that is 10-30% faster per iteration than sleeping workers; on a
 * machine busy with other work it is ~25% slower (measured both ways, see the README's benchmark).
 */
export function sessionOptions(provider: OnnxProvider): import('onnxruntime-node').InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threadCount(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    // ORT's warnings (e.g. nodes it keeps on the CPU) are not actionable for a user.
    logSeverityLevel: 3,
  };
}

/** The folder holding onnxruntime-node's native libraries for this platform: bin/napi-vN/PLATFORM/ARCH. */
function nativeDir(): string | undefined {
  try {
    const bin = path.join(path.dirname(require.resolve('onnxruntime-node/package.json')), 'bin');
    return readdirSync(bin).map((d) => path.join(bin, d, process.platform, process.arch)).find((d) => existsSync(d));
  } catch {
    return undefined;
  }
}

/** Checks that need no session: platform, bundled providers, libraries. Returns a reason to skip, or nothing. */
function precheck(ort: Ort, provider: OnnxProvider): string | undefined {
  const listed = (() => {
    try {
      return ort.listSupportedBackends().map((b) => b.name.toLowerCase());
    } catch {
      return ['cpu'];
    }
  })();
  switch (provider) {
    case 'cpu':
      return undefined;
    case 'dml':
      if (process.platform !== 'win32') return 'DirectML is Windows only';
      break;
    case 'coreml':
      if (process.platform !== 'darwin') return 'CoreML is macOS only';
      break;
    case 'cuda': {
      if (!['linux', 'win32'].includes(process.platform) || process.arch !== 'x64') return `CUDA needs x86-64 Linux or Windows (this is ${process.platform}/${process.arch})`;
      const dir = nativeDir();
      const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
      // onnxruntime-node downloads the CUDA provider at install time only when asked; without it ORT logs an error.
      if (!dir || !existsSync(path.join(dir, lib))) {
        return 'the CUDA execution provider is not installed (reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node; needs CUDA 12 and cuDNN 9)';
      }
      break;
    }
    case 'webgpu':
      if (!vulkanLoaderPresent()) return 'no Vulkan loader (libvulkan.so.1) installed, so no GPU driver for WebGPU';
      break;
  }
  if (!listed.includes(provider)) return `this onnxruntime-node build has no ${provider} execution provider (it has: ${listed.join(', ')})`;
  return undefined;
}

/** A WebGPU adapter description through the optional `webgpu` package (Dawn), when it is installed. */
async function webgpuAdapter(): Promise<{ desc: string; software: boolean } | null | undefined> {
  let webgpu: { create: (flags: string[]) => GPU };
  try {
    webgpu = (await import('webgpu')) as unknown as typeof webgpu;
  } catch {
    return undefined;
  }
  try {
    const adapter = await webgpu.create([]).requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) return null;
    return describeAdapter(adapter);
  } catch {
    return undefined;
  }
}

/** A 2 -> 3 channel 3x3 conv on a 5x4 map, and its expected output computed here in JS. */
function probeModel(): { bytes: Uint8Array; input: Float32Array; expected: Float32Array } {
  const [cin, cout, h, w] = [2, 3, 5, 4];
  const kernel = Float32Array.from({ length: cout * cin * 9 }, (_, i) => ((i * 7) % 11) / 11 - 0.4);
  const input = Float32Array.from({ length: cin * h * w }, (_, i) => ((i * 5) % 13) / 13);
  const g = new OnnxGraph('probe');
  const x = g.input('x', [1, cin, h, w]);
  const y = g.op('Relu', [g.op('Conv', [x, g.init('k', [cout, cin, 3, 3], kernel)], { pads: ints(1, 1, 1, 1) })]);
  g.output(y, 'y', [1, cout, h, w]);
  const expected = new Float32Array(cout * h * w);
  for (let o = 0; o < cout; o++) for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) {
    let s = 0;
    for (let i = 0; i < cin; i++) for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const rr = r + dy, cc = c + dx;
      if (rr >= 0 && rr < h && cc >= 0 && cc < w) s += kernel[((o * cin + i) * 3 + dy + 1) * 3 + dx + 1] * input[(i * h + rr) * w + cc];
    }
    expected[(o * h + r) * w + c] = Math.max(0, s);
  }
  return { bytes: g.toBytes(), input, expected };
}

const DEVICE: Record<OnnxProvider, string> = {
  cuda: 'NVIDIA GPU via ONNX Runtime (CUDA execution provider)',
  dml: 'GPU via ONNX Runtime (DirectML execution provider)',
  coreml: 'Apple GPU/Neural Engine via ONNX Runtime (CoreML execution provider)',
  webgpu: 'GPU via ONNX Runtime (WebGPU execution provider)',
  cpu: 'CPU via ONNX Runtime (CPU execution provider)',
};

const probes = new Map<string, Promise<BackendProbe>>();

/**
 * Whether `provider` works here, cached per process. `allowSoftware` (a forced choice) accepts a
 * software WebGPU adapter, which auto skips because the CPU provider is faster than emulation.
 */
export function probeProvider(provider: OnnxProvider, allowSoftware = false): Promise<BackendProbe> {
  const key = `${provider}:${allowSoftware}`;
  let p = probes.get(key);
  if (!p) {
    p = runProbe(provider, allowSoftware);
    probes.set(key, p);
  }
  return p;
}

async function runProbe(provider: OnnxProvider, allowSoftware: boolean): Promise<BackendProbe> {
  let ort: Ort;
  try {
    ort = await loadOrt();
  } catch (err) {
    return { ok: false, reason: errorSummary(err) };
  }
  const skip = precheck(ort, provider);
  if (skip) return { ok: false, reason: skip };
  let device = DEVICE[provider];
  if (provider === 'webgpu') {
    const adapter = await webgpuAdapter();
    if (adapter === null) return { ok: false, reason: 'no WebGPU adapter (no Vulkan, Metal or D3D12 driver found)' };
    if (adapter?.software && !allowSoftware) return { ok: false, reason: `only a software WebGPU adapter (${adapter.desc}); the CPU provider is faster` };
    if (adapter) device = `${adapter.software ? 'software ' : ''}${device.replace('GPU via', 'GPU (' + adapter.desc + ') via')}`;
  }
  if (provider === 'cpu') device = `${device}, ${threadCount()} threads`;
  const { bytes, input, expected } = probeModel();
  let session: OrtSession | undefined;
  try {
    session = await ort.InferenceSession.create(bytes, sessionOptions(provider));
    const out = await session.run({ x: new ort.Tensor('float32', input, [1, 2, 5, 4]) });
    const y = out.y.data as Float32Array;
    const worst = expected.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);
    if (!(worst < 1e-3)) return { ok: false, reason: `${provider} initialized but computed a test convolution wrongly (error ${worst})` };
  } catch (err) {
    return { ok: false, reason: `${provider} execution provider failed to start: ${errorSummary(err)}` };
  } finally {
    await session?.release().catch(() => undefined);
  }
  return { ok: true, device };
}
