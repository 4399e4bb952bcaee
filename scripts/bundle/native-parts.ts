/**
 * The native files the bundle carries beside its JavaScript, for the platform it is built on, and
 * where the bundled code finds them at run time (native/… and wasm/ under the bundle's folder).
 * The source patches in source-patches.ts point each package's loader at these places.
 */
import { cp, mkdir, readdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';

export interface NativePart {
  /** What it is, for the README and messages. */
  what: string;
  /** Folder in node_modules to copy from. */
  from: string;
  /** Folder under the bundle to copy into. */
  to: string;
  /** Which files of `from` to take (file names). */
  take: (name: string) => boolean;
  /** Optional parts are skipped with a note when not installed; required ones stop the build. */
  optional: boolean;
  /** The file name in the bundle, when the bundled loader asks for another than the package's. */
  rename?: (name: string) => string;
  /** The package folder whose license and notice files go along. */
  licenseFrom?: string;
}

/** License and notice files; libvips's package has no LICENSE, its README states the LGPL terms. */
/** The name the bundled sharp loader asks for (see source-patches.ts). */
export const SHARP_MODULE_NAME = 'sharp.node';

const LICENSE_FILE = /^(LICEN[SC]E|NOTICE|THIRD[-_]PARTY|README\.md$)/i;

/** sharp's name for this platform: linux-x64, linuxmusl-x64, darwin-arm64, win32-x64, … */
function sharpPlatform(modules: string): string {
  const plain = `${process.platform}-${process.arch}`;
  const musl = `linuxmusl-${process.arch}`;
  return !existsSync(path.join(modules, '@img', `sharp-${plain}`)) && existsSync(path.join(modules, '@img', `sharp-${musl}`)) ? musl : plain;
}

export function nativeParts(modules: string): NativePart[] {
  const { platform, arch } = process;
  const sharp = sharpPlatform(modules);
  return [
    {
      what: 'ONNX Runtime: Node binding and shared library (CPU and WebGPU execution providers)',
      from: path.join(modules, 'onnxruntime-node', 'bin', 'napi-v6', platform, arch),
      to: 'native/onnxruntime',
      // The CUDA/TensorRT provider libraries are hundreds of MB and need a CUDA install anyway: left out.
      take: (n) => !/providers_(cuda|tensorrt)/.test(n),
      optional: false,
      licenseFrom: path.join(modules, 'onnxruntime-node'),
    },
    {
      what: "sharp's native module (image decode, encode, resize)",
      from: path.join(modules, '@img', `sharp-${sharp}`, 'lib'),
      to: `native/@img/sharp-${sharp}/lib`,
      take: (n) => n.endsWith('.node'),
      // The package keeps a versioned name; the bundled loader asks for one fixed name (source-patches.ts).
      rename: () => SHARP_MODULE_NAME,
      optional: false,
      licenseFrom: path.join(modules, '@img', `sharp-${sharp}`),
    },
    {
      // sharp's module finds libvips through its RPATH, $ORIGIN/../../sharp-libvips-<platform>/lib: same layout here.
      what: 'libvips (LGPL-3.0, a separate shared library as sharp ships it)',
      from: path.join(modules, '@img', `sharp-libvips-${sharp}`, 'lib'),
      to: `native/@img/sharp-libvips-${sharp}/lib`,
      take: (n) => /\.(so(\.\d+)*|dylib|dll)$/.test(n),
      optional: false,
      licenseFrom: path.join(modules, '@img', `sharp-libvips-${sharp}`),
    },
    {
      what: "Dawn's WebGPU for Node (the webgpu package): the webgpu and onnx-webgpu GPU paths",
      from: path.join(modules, 'webgpu', 'dist', `${platform}-${platform === 'darwin' ? 'universal' : arch}`),
      to: 'native/webgpu',
      take: () => true,
      optional: true,
      licenseFrom: path.join(modules, 'webgpu'),
    },
    {
      what: 'tfjs WebAssembly kernels (the wasm backend)',
      from: path.join(modules, '@tensorflow', 'tfjs-backend-wasm', 'dist'),
      to: 'wasm',
      take: (n) => n.endsWith('.wasm'),
      optional: false,
    },
  ];
}


export interface CopiedPart {
  part: NativePart;
  files: string[];
}

/** Copies every part into `outDir`; returns what was copied and which optional parts were missing. */
export async function copyNativeParts(modules: string, outDir: string): Promise<{ copied: CopiedPart[]; missing: NativePart[] }> {
  const copied: CopiedPart[] = [];
  const missing: NativePart[] = [];
  for (const part of nativeParts(modules)) {
    const names = existsSync(part.from) ? (await readdir(part.from)).filter(part.take) : [];
    if (!names.length) {
      if (part.optional) {
        missing.push(part);
        continue;
      }
      throw new Error(`The bundle needs ${part.what}, but ${part.from} has none of its files. Run \`npm install\` on this platform first.`);
    }
    const dest = path.join(outDir, part.to);
    await mkdir(dest, { recursive: true });
    const files: string[] = [];
    for (const name of names) {
      const target = part.rename?.(name) ?? name;
      await cp(path.join(part.from, name), path.join(dest, target), { recursive: true, dereference: true });
      files.push(path.join(part.to, target));
    }
    if (part.licenseFrom) {
      for (const name of (await readdir(part.licenseFrom)).filter((n) => LICENSE_FILE.test(n))) {
        if ((await stat(path.join(part.licenseFrom, name))).isFile()) await cp(path.join(part.licenseFrom, name), path.join(dest, name));
      }
    }
    copied.push({ part, files });
  }
  return { copied, missing };
}
