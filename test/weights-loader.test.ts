import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { StylizeError } from '../common/errors.ts';
import { loadVggWeights, verifyWeights } from '../weights/loader.ts';
import { locateWeights } from '../weights/locate.ts';
import { VGG19_LAYERS } from '../common/vgg19.ts';

const SHARD = 1048576; // shard size of the pinned model (README in ../shared)

/** Channel counts of VGG-19's conv stack, in order. */
const OUT = [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512];

let realDir: string;
let tmp: string;
before(async () => {
  realDir = locateWeights().dir;
  tmp = await mkdtemp(path.join(os.tmpdir(), 'stylize-weights-loader-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function isCode(code: string, ...inMessage: string[]) {
  return (err: unknown) => {
    assert.ok(err instanceof StylizeError, `expected a StylizeError, got ${err}`);
    assert.equal(err.code, code, err.message);
    for (const s of inMessage) assert.ok(err.message.includes(s), `message should name ${s}: ${err.message}`);
    return true;
  };
}

/** A folder with links to model.json and only the given shards of the real weights. */
async function partialCopy(name: string, shards: number[]): Promise<string> {
  const dir = path.join(tmp, name);
  await import('node:fs/promises').then((fs) => fs.mkdir(dir));
  await symlink(path.join(realDir, 'model.json'), path.join(dir, 'model.json'));
  for (const i of shards) {
    const f = `group1-shard${i}of138.bin`;
    await symlink(path.join(realDir, f), path.join(dir, f));
  }
  return dir;
}

describe('real VGG-19 weights', () => {
  test('loads 13 conv layers through block5_conv1 with VGG-19 shapes', async () => {
    const w = await loadVggWeights(realDir);
    assert.equal(w.source, realDir);
    assert.deepEqual(
      w.layers.map((l) => l.name),
      VGG19_LAYERS.slice(0, 13),
    );
    w.layers.forEach((l, i) => {
      const inC = i === 0 ? 3 : OUT[i - 1];
      assert.deepEqual(l.kernelShape, [3, 3, inC, OUT[i]], l.name);
      assert.equal(l.kernel.length, 9 * inC * OUT[i], l.name);
      assert.equal(l.bias.length, OUT[i], l.name);
      assert.ok(l.kernel.every(Number.isFinite) && l.bias.every(Number.isFinite), l.name);
    });
  });

  test('through: block5_conv4 loads all 16 layers', async () => {
    const w = await loadVggWeights(realDir, { through: 'block5_conv4' });
    assert.equal(w.layers.length, 16);
    assert.deepEqual(w.layers[15].kernelShape, [3, 3, 512, 512]);
  });

  test('uint8 values equal q * scale + min for bytes read straight from the shards', async () => {
    const manifest = JSON.parse(await readFile(path.join(realDir, 'model.json'), 'utf8')).weightsManifest[0];
    // Global byte offset of every tensor: uint8 = 1 byte per element, packed back to back.
    const offsets = new Map<string, number>();
    let off = 0;
    for (const w of manifest.weights) {
      offsets.set(w.name, off);
      off += w.shape.reduce((a: number, b: number) => a * b, 1);
    }
    const rawByte = async (globalOffset: number): Promise<number> => {
      const shard = Math.floor(globalOffset / SHARD) + 1;
      const bytes = await readFile(path.join(realDir, `group1-shard${shard}of138.bin`));
      return bytes[globalOffset % SHARD];
    };
    const w = await loadVggWeights(realDir);
    const layer = (n: string) => w.layers.find((l) => l.name === n)!;
    const cases: [string, 'kernel' | 'bias', number][] = [
      ['block1_conv1', 'kernel', 0],
      ['block1_conv1', 'kernel', 1727],
      ['block1_conv2', 'bias', 17],
      ['block3_conv1', 'kernel', 123456], // in a later shard
      ['block4_conv1', 'kernel', 1179647], // the last element, crosses shards
      ['block5_conv1', 'bias', 511],
    ];
    for (const [name, param, i] of cases) {
      const entry = manifest.weights.find((e: { name: string }) => e.name === `${name}/${param}`);
      const q = await rawByte(offsets.get(entry.name)! + i);
      const expected = Math.fround(q * entry.quantization.scale + entry.quantization.min);
      assert.equal(layer(name)[param][i], expected, `${name}/${param}[${i}] (q=${q})`);
    }
  });

  test('reads only the shards it needs', async () => {
    // block1..block2 live entirely in shard 1.
    const dir = await partialCopy('only-shard1', [1]);
    const w = await loadVggWeights(dir, { through: 'block2_conv2' });
    const full = await loadVggWeights(realDir, { through: 'block2_conv2' });
    assert.equal(w.layers.length, 4);
    assert.deepEqual(w.layers[3].kernel, full.layers[3].kernel);
  });

  test('a missing shard fails naming the file', async () => {
    const dir = await partialCopy('shards-1-5', [1, 2, 3, 4, 5]);
    await assert.rejects(loadVggWeights(dir), isCode('weights_missing', 'group1-shard6of138.bin', 'npx stylize weights'));
  });

  test('a cut-short shard fails naming the file', async () => {
    const dir = await partialCopy('short-shard3', [1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    const f = path.join(dir, 'group1-shard3of138.bin');
    await copyFile(path.join(realDir, 'group1-shard3of138.bin'), f);
    await truncate(f, 1000);
    await assert.rejects(loadVggWeights(dir), isCode('weights_corrupt', 'group1-shard3of138.bin'));
  });

  test('a cut-short model.json fails as corrupt, naming model.json', async () => {
    const dir = path.join(tmp, 'bad-json');
    await import('node:fs/promises').then((fs) => fs.mkdir(dir));
    const json = await readFile(path.join(realDir, 'model.json'));
    await writeFile(path.join(dir, 'model.json'), json.subarray(0, 5000));
    await assert.rejects(loadVggWeights(dir), isCode('weights_corrupt', 'model.json'));
  });

  test('no model.json fails as missing', async () => {
    const dir = await mkdtemp(path.join(tmp, 'empty-'));
    await assert.rejects(loadVggWeights(dir), isCode('weights_missing', 'model.json'));
  });
});

describe('synthetic model.json (float32, float16, uint8, uint16)', () => {
  // Half-precision bit patterns and their exact values, including subnormals and the largest half.
  const HALVES: [number, number][] = [
    [0x3c00, 1], [0xc000, -2], [0x3800, 0.5], [0x7bff, 65504], [0x0400, 2 ** -14],
    [0x0001, 2 ** -24], [0x3555, 0.333251953125], [0x8000, -0], [0xbe00, -1.5],
  ];
  const k1 = Float32Array.from({ length: 54 }, (_, i) => (i - 27) / 7); // block1_conv1 kernel [3,3,3,2]
  const b1q = [0, 255]; // uint8
  const k2q = Array.from({ length: 36 }, (_, i) => HALVES[i % HALVES.length][0]); // float16 [3,3,2,2]
  const b2 = Float32Array.from([0.125, -3.75]); // float32
  const k3q = Array.from({ length: 36 }, (_, i) => i * 1800); // uint16 [3,3,2,2]
  const b3q = [7, 65535]; // uint16

  let dir: string;
  before(async () => {
    dir = path.join(tmp, 'synthetic');
    await import('node:fs/promises').then((fs) => fs.mkdir(dir));
    const parts: Buffer[] = [];
    parts.push(Buffer.from(k1.buffer));
    parts.push(Buffer.from(b1q));
    const h = Buffer.alloc(72);
    k2q.forEach((v, i) => h.writeUInt16LE(v, 2 * i));
    parts.push(h);
    parts.push(Buffer.from(b2.buffer)); // lands at byte 290: not 4-aligned
    const u = Buffer.alloc(72);
    k3q.forEach((v, i) => u.writeUInt16LE(v, 2 * i));
    parts.push(u);
    const ub = Buffer.alloc(4);
    b3q.forEach((v, i) => ub.writeUInt16LE(v, 2 * i));
    parts.push(ub);
    const all = Buffer.concat(parts); // 374 bytes
    // 100-byte shards, so tensors straddle shard boundaries.
    const paths: string[] = [];
    for (let i = 0; i * 100 < all.length; i++) {
      const name = `s${i}.bin`;
      paths.push(name);
      await writeFile(path.join(dir, name), all.subarray(i * 100, (i + 1) * 100));
    }
    const model = {
      format: 'layers-model',
      weightsManifest: [
        {
          paths,
          weights: [
            { name: 'block1_conv1/kernel', shape: [3, 3, 3, 2], dtype: 'float32' },
            { name: 'block1_conv1/bias', shape: [2], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.5, min: -10 } },
            { name: 'vgg19/block1_conv2/kernel:0', shape: [3, 3, 2, 2], dtype: 'float32', quantization: { dtype: 'float16' } },
            { name: 'block1_conv2/bias', shape: [2], dtype: 'float32' },
            { name: 'block2_conv1/kernel', shape: [3, 3, 2, 2], dtype: 'float32', quantization: { dtype: 'uint16', scale: 1e-4, min: -3 } },
            { name: 'block2_conv1/bias', shape: [2], dtype: 'float32', quantization: { dtype: 'uint16', scale: 0.01, min: 1 } },
          ],
        },
      ],
    };
    await writeFile(path.join(dir, 'model.json'), JSON.stringify(model));
  });

  test('decodes every dtype to the exact float32 values', async () => {
    const w = await loadVggWeights(dir, { through: 'block2_conv1' });
    assert.deepEqual(w.layers.map((l) => l.name), ['block1_conv1', 'block1_conv2', 'block2_conv1']);
    assert.deepEqual(w.layers[0].kernel, k1);
    assert.deepEqual(w.layers[0].kernelShape, [3, 3, 3, 2]);
    assert.deepEqual(w.layers[0].bias, Float32Array.from([-10, 117.5]));
    assert.deepEqual(
      Array.from(w.layers[1].kernel),
      Array.from({ length: 36 }, (_, i) => HALVES[i % HALVES.length][1]),
    );
    assert.ok(Object.is(w.layers[1].kernel[7], -0), 'negative zero half');
    assert.deepEqual(w.layers[1].bias, b2);
    assert.deepEqual(w.layers[2].kernel, Float32Array.from(k3q, (q) => q * 1e-4 - 3));
    assert.deepEqual(w.layers[2].bias, Float32Array.from(b3q, (q) => q * 0.01 + 1));
  });

  test('asking past the last layer in model.json names the missing layer', async () => {
    await assert.rejects(loadVggWeights(dir, { through: 'block2_conv2' }), isCode('weights_corrupt', 'block2_conv2/kernel'));
  });

  test('a shard cut short in the middle is named', async () => {
    const bad = path.join(tmp, 'synthetic-short');
    await import('node:fs/promises').then((fs) => fs.cp(dir, bad, { recursive: true }));
    await truncate(path.join(bad, 's1.bin'), 60);
    await assert.rejects(loadVggWeights(bad, { through: 'block2_conv1' }), isCode('weights_corrupt', 's1.bin'));
  });
});

describe('verifyWeights', () => {
  test('the real weights all match their pinned SHA-256', async () => {
    const results = await verifyWeights(realDir);
    assert.equal(results.length, 21);
    assert.deepEqual(results.filter((r) => !r.ok), []);
  });

  test('reports a damaged file and missing files', async () => {
    const dir = await partialCopy('verify', [1]);
    const f = path.join(dir, 'group1-shard2of138.bin');
    const bytes = await readFile(path.join(realDir, 'group1-shard2of138.bin'));
    bytes[4242] ^= 0xff;
    await writeFile(f, bytes);
    const results = await verifyWeights(dir);
    const byFile = new Map(results.map((r) => [r.file, r]));
    assert.equal(byFile.get('model.json')!.ok, true);
    assert.equal(byFile.get('group1-shard1of138.bin')!.ok, true);
    assert.equal(byFile.get('group1-shard2of138.bin')!.ok, false);
    assert.match(byFile.get('group1-shard2of138.bin')!.problem!, /SHA-256 [0-9a-f]{64}, expected 550564f5/);
    assert.equal(byFile.get('group1-shard3of138.bin')!.problem, 'missing');
  });
});
