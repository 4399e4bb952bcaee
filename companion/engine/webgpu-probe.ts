/**
 * What both WebGPU paths (tfjs's webgpu backend and ONNX Runtime's WebGPU provider) need to know
 * about this machine before trusting it: is there a driver loader, and is the adapter real hardware.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

/** Dawn on Linux needs the Vulkan loader; without it, skip quietly instead of letting Dawn warn. */
export function vulkanLoaderPresent(): boolean {
  if (process.platform !== 'linux') return true;
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib', '/lib/x86_64-linux-gnu', '/lib64'];
  return dirs.some((d) => existsSync(path.join(d, 'libvulkan.so.1')));
}

/**
 * An adapter in words, and whether it is a software rasterizer (llvmpipe, SwiftShader, ...): on a
 * CPU, emulated WebGPU is slower than the CPU backends, so `auto` skips it.
 */
export function describeAdapter(adapter: GPUAdapter): { desc: string; software: boolean } {
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
  const desc = [info?.vendor, info?.architecture, info?.description || info?.device].filter(Boolean).join(' ').trim() || 'unknown adapter';
  const software = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter === true
    || /llvmpipe|swiftshader|lavapipe|softpipe|cpu/i.test(desc);
  return { desc, software };
}
