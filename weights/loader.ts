/**
 * Reads VGG-19 conv weights from a TF.js layers-model folder (model.json + binary shards) and
 * dequantizes them to float32. Reads only the shards that hold the requested layers, so a folder with
 * just the conv shards (no fully connected layers) works.
 */
import { readFile, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { StylizeError } from '../common/errors.ts';
import { sha256Bytes, sha256File } from './hash.ts';
import { PINNED_FILES, pinnedFile } from './sources.ts';
import { VGG19_LAYERS, toKerasLayerName, type VggLayerName } from '../common/vgg19.ts';
import type { ConvLayerWeights, VggWeights } from './types.ts';

/** One tensor's entry in model.json's weightsManifest. */
interface ManifestWeight {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number; original_dtype?: string };
}
interface ManifestGroup {
  paths: string[];
  weights: ManifestWeight[];
}

/** Where one tensor's bytes sit: group index, byte offset in the group's concatenated shards, length. */
interface TensorSpec {
  weight: ManifestWeight;
  group: number;
  offset: number;
  bytes: number;
}

const BYTES_PER: Record<string, number> = { float32: 4, int32: 4, float16: 2, uint16: 2, uint8: 1, bool: 1 };

const DEFAULT_THROUGH: VggLayerName = 'block5_conv1';
const PINNED_MODEL_JSON = PINNED_FILES.find((f) => f.name === 'model.json')!;

function repairHint(dir: string): string {
  return (
    `Run \`npx stylize weights\` to download a checked copy into the project cache ` +
    `(or \`npx stylize weights --dest "${dir}"\` to repair this folder in place), or set STYLIZE_WEIGHTS to a complete copy.`
  );
}

function corrupt(dir: string, what: string, cause?: unknown): StylizeError {
  return new StylizeError('weights_corrupt', `${what} ${repairHint(dir)}`, { cause });
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

async function readManifest(dir: string): Promise<{ groups: ManifestGroup[]; isPinned: boolean }> {
  const file = path.join(dir, 'model.json');
  let raw: Buffer;
  try {
    raw = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new StylizeError('weights_missing', `There is no model.json in ${dir}. ${repairHint(dir)}`, { cause: err });
    }
    throw new StylizeError('weights_missing', `Cannot read ${file}: ${(err as Error).message}.`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw corrupt(dir, `${file} is not valid JSON (${(err as Error).message}); it was probably cut short.`, err);
  }
  const manifest = (json as { weightsManifest?: unknown } | null)?.weightsManifest;
  if (!Array.isArray(manifest)) {
    throw corrupt(dir, `${file} has no "weightsManifest" list, so it is not a TF.js layers-model model.json.`);
  }
  for (const [i, g] of manifest.entries()) {
    const ok =
      g && Array.isArray(g.paths) && g.paths.every((p: unknown) => typeof p === 'string') &&
      Array.isArray(g.weights) &&
      g.weights.every(
        (w: ManifestWeight) =>
          w && typeof w.name === 'string' && typeof w.dtype === 'string' && Array.isArray(w.shape) &&
          w.shape.every((d) => Number.isInteger(d) && d >= 0),
      );
    if (!ok) throw corrupt(dir, `${file}: weightsManifest group ${i} is malformed (needs "paths" and "weights" with name, shape, dtype).`);
  }
  // With the exact pinned model.json we know every shard's exact size, so a cut-short shard is named precisely.
  return { groups: manifest as ManifestGroup[], isPinned: sha256Bytes(raw) === PINNED_MODEL_JSON.sha256 };
}

/** Byte offsets of every tensor; NaN after a dtype we cannot size (those tensors are never readable). */
function indexTensors(groups: ManifestGroup[]): Map<string, TensorSpec> {
  const index = new Map<string, TensorSpec>();
  groups.forEach((g, group) => {
    let offset = 0;
    for (const weight of g.weights) {
      const stored = weight.quantization?.dtype ?? weight.dtype;
      const bytes = numel(weight.shape) * (BYTES_PER[stored] ?? Number.NaN);
      // Converters sometimes prefix a scope ("vgg19/") or add a ":0" suffix; key by the bare layer/param.
      const m = /(?:^|\/)(block\d_conv\d)\/(kernel|bias)(?::\d+)?$/.exec(weight.name);
      const key = m ? `${m[1]}/${m[2]}` : weight.name;
      if (!index.has(key)) index.set(key, { weight, group, offset, bytes });
      offset += bytes;
    }
  });
  return index;
}

/** Reads bytes [lo, hi) of a group's concatenated shards, touching only the shards needed to reach hi. */
async function readGroupRange(
  dir: string,
  group: ManifestGroup,
  groupTotal: number,
  lo: number,
  hi: number,
  isPinned: boolean,
): Promise<Buffer> {
  const out = Buffer.alloc(hi - lo);
  let offset = 0;
  let firstSize = -1;
  for (let i = 0; i < group.paths.length && offset < hi; i++) {
    const name = group.paths[i];
    const file = path.join(dir, name);
    const isLast = i === group.paths.length - 1;
    let size: number;
    try {
      const st = await stat(file);
      if (!st.isFile()) throw corrupt(dir, `${file} is not a file.`);
      size = st.size;
    } catch (err) {
      if (err instanceof StylizeError) throw err;
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new StylizeError('weights_missing', `Cannot read weights file ${file}: ${(err as Error).message}.`, { cause: err });
      }
      throw new StylizeError(
        'weights_missing',
        `Weights file ${name} is missing from ${dir} (model.json needs it for the requested layers). ${repairHint(dir)}`,
        { cause: err },
      );
    }
    const expected = isPinned ? pinnedFile(name)?.size : undefined;
    if (expected !== undefined && size !== expected) {
      throw corrupt(dir, `Weights file ${file} is ${size} bytes; it should be ${expected}. It was cut short or damaged.`);
    }
    // TF.js writes equal-sized shards except the last, so a size mismatch means one was cut short.
    if (i === 0) firstSize = size;
    else if (!isLast && size !== firstSize) {
      const short = size < firstSize ? name : group.paths[0];
      throw corrupt(dir, `Weights file ${path.join(dir, short)} is shorter than the other shards; it was cut short.`);
    }
    if (isLast && Number.isFinite(groupTotal) && offset + size !== groupTotal) {
      throw corrupt(dir, `Weights file ${file} is ${size} bytes; model.json needs ${groupTotal - offset}. It was cut short or damaged.`);
    }
    const s = Math.max(lo, offset);
    const e = Math.min(hi, offset + size);
    if (e > s) {
      const fh = await open(file, 'r');
      try {
        let done = 0;
        while (done < e - s) {
          const { bytesRead } = await fh.read(out, s - lo + done, e - s - done, s - offset + done);
          if (bytesRead === 0) throw corrupt(dir, `Weights file ${file} ended early while reading it.`);
          done += bytesRead;
        }
      } finally {
        await fh.close();
      }
    }
    offset += size;
  }
  if (offset < hi) {
    throw corrupt(dir, `The weight shards in ${dir} hold ${offset} bytes, but model.json needs at least ${hi}; a shard was cut short.`);
  }
  return out;
}

/** IEEE 754 half (binary16) to a JS number. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // subnormal (and zero)
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function decodeTensor(dir: string, spec: TensorSpec, buf: Buffer, at: number): Float32Array {
  const { weight } = spec;
  const n = numel(weight.shape);
  const out = new Float32Array(n);
  // DataView: tensors are packed back to back, so a 2- or 4-byte tensor may start at an odd offset.
  const view = new DataView(buf.buffer, buf.byteOffset + at, spec.bytes);
  const q = weight.quantization;
  if (q) {
    if (q.dtype === 'float16') {
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
      return out;
    }
    const { scale, min } = q;
    if (typeof scale !== 'number' || typeof min !== 'number' || !Number.isFinite(scale) || !Number.isFinite(min)) {
      throw corrupt(dir, `model.json: "${weight.name}" is ${q.dtype}-quantized but lacks a numeric scale and min.`);
    }
    if (q.dtype === 'uint8') {
      for (let i = 0; i < n; i++) out[i] = buf[at + i] * scale + min;
    } else if (q.dtype === 'uint16') {
      for (let i = 0; i < n; i++) out[i] = view.getUint16(2 * i, true) * scale + min;
    } else {
      throw corrupt(dir, `model.json: "${weight.name}" uses quantization "${q.dtype}", which is not supported (uint8, uint16, float16 are).`);
    }
    return out;
  }
  if (weight.dtype === 'float32') {
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  } else if (weight.dtype === 'float16') {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  } else {
    throw corrupt(dir, `model.json: "${weight.name}" has dtype "${weight.dtype}"; conv weights must be float32, float16 or quantized.`);
  }
  return out;
}

export interface LoadOptions {
  /** Last conv layer to load (inclusive), in network order. Default block5_conv1 (the last one Gatys uses). */
  through?: VggLayerName;
}

export async function loadVggWeights(dir: string, opts: LoadOptions = {}): Promise<VggWeights> {
  let through: VggLayerName;
  try {
    // Accepts paper names too (conv5_1), since callers often carry those from settings.
    through = toKerasLayerName(opts.through ?? DEFAULT_THROUGH);
  } catch (err) {
    throw new StylizeError('bad_setting', (err as Error).message, { cause: err });
  }
  const last = VGG19_LAYERS.indexOf(through);
  const names = VGG19_LAYERS.slice(0, last + 1);
  const { groups, isPinned } = await readManifest(dir);
  const index = indexTensors(groups);

  // Look up every needed tensor first, so a foreign model.json fails before any shard is read.
  const needed: { layer: VggLayerName; kernel: TensorSpec; bias: TensorSpec }[] = names.map((layer) => {
    const get = (param: 'kernel' | 'bias'): TensorSpec => {
      const spec = index.get(`${layer}/${param}`);
      if (!spec) {
        throw corrupt(dir, `${path.join(dir, 'model.json')} has no "${layer}/${param}" weights, so it is not a Keras VGG-19 model.`);
      }
      if (!Number.isFinite(spec.offset) || !Number.isFinite(spec.bytes)) {
        throw corrupt(dir, `${path.join(dir, 'model.json')}: cannot locate "${spec.weight.name}": it or a tensor before it has an unsupported dtype.`);
      }
      return spec;
    };
    return { layer, kernel: get('kernel'), bias: get('bias') };
  });

  // Shape checks: the engine relies on 3x3 HWIO kernels chained RGB -> 64 -> ... channels.
  let inChannels = 3;
  for (const { layer, kernel, bias } of needed) {
    const ks = kernel.weight.shape;
    const bs = bias.weight.shape;
    if (ks.length !== 4 || ks[0] !== 3 || ks[1] !== 3 || ks[2] !== inChannels || bs.length !== 1 || bs[0] !== ks[3]) {
      throw corrupt(
        dir,
        `model.json: ${layer} has kernel [${ks}] and bias [${bs}]; expected kernel [3,3,${inChannels},out] and bias [out]. It is not a VGG-19 model.`,
      );
    }
    inChannels = ks[3];
  }

  // One contiguous read per group, spanning the needed tensors.
  const buffers = new Map<number, { lo: number; buf: Buffer }>();
  const specs = needed.flatMap((n) => [n.kernel, n.bias]);
  for (const groupIndex of new Set(specs.map((s) => s.group))) {
    const inGroup = specs.filter((s) => s.group === groupIndex);
    const lo = Math.min(...inGroup.map((s) => s.offset));
    const hi = Math.max(...inGroup.map((s) => s.offset + s.bytes));
    const g = groups[groupIndex];
    const total = g.weights.reduce((sum, w) => sum + numel(w.shape) * (BYTES_PER[w.quantization?.dtype ?? w.dtype] ?? Number.NaN), 0);
    buffers.set(groupIndex, { lo, buf: await readGroupRange(dir, g, total, lo, hi, isPinned) });
  }

  const layers: ConvLayerWeights[] = needed.map(({ layer, kernel, bias }) => {
    const decode = (spec: TensorSpec): Float32Array => {
      const { lo, buf } = buffers.get(spec.group)!;
      return decodeTensor(dir, spec, buf, spec.offset - lo);
    };
    const s = kernel.weight.shape;
    return { name: layer, kernel: decode(kernel), kernelShape: [s[0], s[1], s[2], s[3]], bias: decode(bias) };
  });
  return { layers, source: dir };
}

export interface VerifyResult {
  file: string;
  ok: boolean;
  /** Why not ok: "missing", or the size/hash mismatch. */
  problem?: string;
}

/** Checks every pinned file in `dir` against its SHA-256 (for `stylize weights --verify` and `doctor`). */
export async function verifyWeights(dir: string): Promise<VerifyResult[]> {
  const results: VerifyResult[] = [];
  for (const f of PINNED_FILES) {
    const file = path.join(dir, f.name);
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch {
      results.push({ file: f.name, ok: false, problem: 'missing' });
      continue;
    }
    if (size !== f.size) {
      results.push({ file: f.name, ok: false, problem: `size ${size} bytes, expected ${f.size}` });
      continue;
    }
    const actual = await sha256File(file);
    results.push(
      actual === f.sha256 ? { file: f.name, ok: true } : { file: f.name, ok: false, problem: `SHA-256 ${actual}, expected ${f.sha256}` },
    );
  }
  return results;
}
