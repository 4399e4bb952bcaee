/**
 * VGG-19 kernels in the layouts the ONNX graphs use, computed once per loaded weights:
 * - forward: OIHW (ONNX Conv), the first layer's input channels put in RGB order so the graph
 *   needs no channel flip (the weights expect BGR);
 * - backward: the input-gradient kernel of a 3x3 / stride 1 / pad 1 conv, i.e. the kernel flipped
 *   in H and W with in/out swapped, so dL/dx = Conv(dL/dz, back) runs on the fast forward path.
 */
import type { VggWeights } from '../../../weights/types.ts';

export interface OnnxConvWeights {
  name: string;
  cin: number;
  cout: number;
  /** [cout, cin, 3, 3] */
  forward: Float32Array;
  /** [cin, cout, 3, 3] */
  backward: Float32Array;
  bias: Float32Array;
}

const cache = new WeakMap<VggWeights, OnnxConvWeights[]>();

export function onnxConvWeights(weights: VggWeights): OnnxConvWeights[] {
  let out = cache.get(weights);
  if (out) return out;
  out = weights.layers.map((w, index) => {
    const [kh, kw, cin, cout] = w.kernelShape;
    if (kh !== 3 || kw !== 3) throw new Error(`${w.name}: expected a 3x3 kernel, got ${kh}x${kw}`);
    if (w.bias.length !== cout) throw new Error(`${w.name}: bias has ${w.bias.length} values for ${cout} channels`);
    const forward = new Float32Array(cout * cin * 9);
    const backward = new Float32Array(cin * cout * 9);
    const k = w.kernel;
    // The first layer sees RGB pixels; its kernel reads BGR: swap input channel c with 2 - c.
    const reorder = index === 0 && cin === 3;
    for (let y = 0; y < 3; y++) {
      for (let x = 0; x < 3; x++) {
        for (let i = 0; i < cin; i++) {
          const src = ((y * 3 + x) * cin + i) * cout;
          const ii = reorder ? 2 - i : i;
          for (let o = 0; o < cout; o++) {
            const v = k[src + o];
            forward[((o * cin + ii) * 3 + y) * 3 + x] = v;
            backward[((ii * cout + o) * 3 + (2 - y)) * 3 + (2 - x)] = v;
          }
        }
      }
    }
    return { name: w.name, cin, cout, forward, backward, bias: w.bias };
  });
  cache.set(weights, out);
  return out;
}
