/** Choosing the ONNX Runtime backend: `auto`'s order and reasons, `onnx`, forced providers, refusals. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { autoOrder, backendNames, onnxProviderOf, selectBackend } from '../companion/engine/select-backend.ts';
import { probeProvider } from '../companion/engine/onnx/runtime.ts';
import { Engine } from '../companion/engine/engine.ts';
import { StylizeError } from '../common/errors.ts';
import { weightsDir } from './helpers/paths.ts';

test('the CPU execution provider initializes and computes a test convolution correctly', async () => {
  const p = await probeProvider('cpu');
  assert.equal(p.ok, true, p.reason);
  assert.match(p.device!, /ONNX Runtime \(CPU execution provider\), \d+ threads/);
});

test('auto: ONNX Runtime on the CPU comes before wasm, GPU backends before it, and every skip says why', async () => {
  const order = autoOrder();
  for (const [a, b] of [['tfjs-node-gpu', 'onnx-cpu'], ['webgpu', 'onnx-cpu'], ['onnx-cpu', 'tfjs-node'], ['onnx-cpu', 'wasm'], ['wasm', 'cpu']]) {
    assert.ok(order.indexOf(a) < order.indexOf(b), `${a} before ${b} in ${order}`);
  }
  assert.ok(order.filter((n) => n.startsWith('onnx-') && n !== 'onnx-cpu').every((n) => order.indexOf(n) < order.indexOf('webgpu')), 'ONNX GPU providers come before tfjs webgpu');
  const choice = await selectBackend('auto');
  // ORT's CPU provider always works where onnxruntime-node loads, so auto never falls to wasm here.
  assert.ok(order.indexOf(choice.name) <= order.indexOf('onnx-cpu'), `auto chose ${choice.name}`);
  assert.deepEqual(choice.skipped.map((s) => s.name), order.slice(0, order.indexOf(choice.name)), 'every faster backend is listed as skipped, in order');
  for (const s of choice.skipped) assert.ok(s.reason.length > 10, `${s.name} has a reason: "${s.reason}"`);
  assert.match(choice.reason, /fastest available/);
});

test('--backend onnx takes the best ONNX Runtime provider and names it', async () => {
  const choice = await selectBackend('onnx');
  const provider = onnxProviderOf(choice.name);
  assert.ok(provider, `${choice.name} is an ONNX Runtime backend`);
  assert.match(choice.device, /execution provider/);
  assert.match(choice.reason, /requested with --backend onnx/);
  // Whatever was skipped was a GPU provider, tried before the CPU one.
  for (const s of choice.skipped) assert.notEqual(s.name, 'onnx-cpu');
  if (provider === 'cpu') assert.ok(choice.skipped.length >= 1, 'the GPU providers this platform can have were tried first');
});

test('a forced provider either runs or is refused with the reason (webgpu has no adapter on a machine without Vulkan)', async () => {
  try {
    const choice = await selectBackend('onnx-webgpu');
    assert.equal(choice.name, 'onnx-webgpu');
    assert.match(choice.device, /WebGPU execution provider/);
  } catch (err) {
    assert.ok(err instanceof StylizeError && err.code === 'backend_unavailable', String(err));
    assert.match(err.message, /Backend "onnx-webgpu" is not available here: .{10,}\. Run with --backend auto/);
  }
});

test('an unknown backend name is refused with the list of names', async () => {
  await assert.rejects(selectBackend('onnx-tpu'), (err: unknown) =>
    err instanceof StylizeError && err.code === 'backend_unavailable' && err.message.includes('Unknown backend "onnx-tpu"') && err.message.includes('onnx-cpu'));
  assert.ok(backendNames().includes('onnx') && backendNames().includes('wasm'));
});

test('an engine on onnx warms up, reports its backend, and holds no session between jobs', async () => {
  const engine = await Engine.create({ backend: 'onnx-cpu', weightsDir: weightsDir() });
  try {
    assert.equal(engine.backend.name, 'onnx-cpu');
    await engine.warmUp();
    // Warm-up builds the forward session that style targets reuse across jobs; that is all it keeps.
    const idle = engine.memory();
    assert.ok(idle.tensors <= 1, `after warm-up only the cached forward session is held (${idle.tensors})`);
    const flat = async (width: number, height: number, r: number, g: number, b: number) =>
      new Uint8Array(await sharp({ create: { width, height, channels: 3, background: { r, g, b } } }).png().toBuffer());
    let during = 0;
    await engine.stylize(
      { content: await flat(20, 16, 200, 40, 90), styles: [{ image: await flat(16, 16, 10, 160, 220) }], settings: { size: 20, iterations: 2 } },
      { onProgress: () => { during = engine.memory().bytes; } },
    );
    assert.ok(during > idle.bytes + 50e6, `a running job's session holds the weights (${during} bytes estimated, ${idle.bytes} idle)`);
    assert.deepEqual(engine.memory(), idle, 'the job\'s sessions are released when it ends');
  } finally {
    engine.dispose();
  }
});
