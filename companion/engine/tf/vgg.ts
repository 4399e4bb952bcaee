/**
 * The VGG-19 conv stack as tfjs ops, for any H x W. Each conv carries its own gradient: the input
 * gradient of a 3x3 / stride 1 / 'same' conv is a forward conv of dy with the kernel flipped in H, W
 * and in/out swapped, which runs ~9x faster on wasm than tfjs's generic Conv2DBackpropInput.
 */
import { tf } from './runtime.ts';
import type { Pooling } from '../types.ts';
import type { VggWeights } from '../../../weights/types.ts';
import { BGR_MEAN, VGG19_LAYERS, poolsAfter, vggLayerIndex, type VggLayerName } from '../../../common/vgg19.ts';

type ConvFn = (x: tf.Tensor4D) => tf.Tensor4D;

interface ConvLayer {
  name: VggLayerName;
  kernel: tf.Tensor4D;
  /** Kernel flipped in H, W and transposed in/out: the input-gradient kernel. */
  kernelBack: tf.Tensor4D;
  bias: tf.Tensor1D;
  apply: ConvFn;
}

/** conv + bias + ReLU with the fast input gradient. Weights are constants: no weight gradient. */
function makeConvRelu(kernel: tf.Tensor4D, kernelBack: tf.Tensor4D, bias: tf.Tensor1D): ConvFn {
  const body = (x: tf.Tensor, save: tf.GradSaveFunc) => {
    const y = tf.fused.conv2d({ x: x as tf.Tensor4D, filter: kernel, strides: 1, pad: 'same', bias, activation: 'relu' });
    save([y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const dyMasked = tf.mul(dy, tf.step(saved[0]));
        return tf.conv2d(dyMasked as tf.Tensor4D, kernelBack, 1, 'same');
      },
    };
  };
  // customGrad's typing lumps the tensors and the save function into one rest parameter.
  const f = tf.customGrad(body as unknown as Parameters<typeof tf.customGrad>[0]);
  return (x) => f(x) as tf.Tensor4D;
}

/**
 * 2x2 / stride 2 / 'same' average pooling with an exact gradient. tfjs's AvgPoolGrad divides by 4
 * even in windows that 'same' padding truncates at an odd border, while the forward divides by the
 * valid count: on odd sizes (most real images at some depth) the image gradient is off by ~15%.
 */
export function avgPool2(x: tf.Tensor4D): tf.Tensor4D {
  const body = (input: tf.Tensor) => {
    const [, h, w, c] = input.shape as [number, number, number, number];
    const value = tf.avgPool(input as tf.Tensor4D, 2, 2, 'same');
    const gradFunc = (dy: tf.Tensor) => tf.tidy(() => {
      const [, oh, ow] = dy.shape;
      // Each output took the mean of `count` inputs; spread dy / count back over them.
      const rows = Float32Array.from({ length: oh }, (_, i) => Math.min(2, h - 2 * i));
      const cols = Float32Array.from({ length: ow }, (_, j) => Math.min(2, w - 2 * j));
      const count = tf.mul(tf.tensor4d(rows, [1, oh, 1, 1]), tf.tensor4d(cols, [1, 1, ow, 1]));
      const share = tf.div(dy, count);
      const up = tf.reshape(tf.tile(tf.reshape(share, [1, oh, 1, ow, 1, c]), [1, 1, 2, 1, 2, 1]), [1, oh * 2, ow * 2, c]);
      return tf.slice(up, [0, 0, 0, 0], [1, h, w, c]);
    });
    return { value, gradFunc };
  };
  return tf.customGrad(body as unknown as Parameters<typeof tf.customGrad>[0])(x) as tf.Tensor4D;
}

export class VggNet {
  private readonly layers: ConvLayer[];

  constructor(weights: VggWeights, private readonly pooling: Pooling) {
    this.layers = weights.layers.map((w) => {
      const [kh, kw, cin, cout] = w.kernelShape;
      if (kh !== 3 || kw !== 3) throw new Error(`${w.name}: expected a 3x3 kernel, got ${kh}x${kw}`);
      const kernel = tf.tensor4d(w.kernel, w.kernelShape);
      const kernelBack = tf.tidy(() => tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2])) as tf.Tensor4D;
      const bias = tf.tensor1d(w.bias);
      if (bias.size !== cout) throw new Error(`${w.name}: bias has ${bias.size} values for ${cout} channels`);
      void cin;
      return { name: w.name as VggLayerName, kernel, kernelBack, bias, apply: makeConvRelu(kernel, kernelBack, bias) };
    });
  }

  get layerNames(): VggLayerName[] {
    return this.layers.map((l) => l.name);
  }

  /** RGB pixels [1, H, W, 3] (0..255) -> BGR, mean-subtracted. Differentiable. */
  static preprocess(rgb: tf.Tensor4D): tf.Tensor4D {
    return tf.sub(tf.reverse(rgb, -1), tf.tensor1d([...BGR_MEAN]));
  }

  /**
   * Runs the stack on a preprocessed image until every wanted layer is computed and returns their
   * (post-ReLU) activations by name. Pools after the last conv of each block.
   */
  features(x: tf.Tensor4D, wanted: readonly VggLayerName[]): Map<VggLayerName, tf.Tensor4D> {
    const out = new Map<VggLayerName, tf.Tensor4D>();
    const last = Math.max(...wanted.map(vggLayerIndex));
    if (last >= this.layers.length) {
      throw new Error(`Layer ${VGG19_LAYERS[last]} needs weights that were not loaded (loaded through ${this.layers.at(-1)?.name}).`);
    }
    let h = x;
    for (let i = 0; i <= last; i++) {
      const layer = this.layers[i];
      h = layer.apply(h);
      if (wanted.includes(layer.name)) out.set(layer.name, h);
      if (i < last && poolsAfter(i)) {
        h = this.pooling === 'avg' ? avgPool2(h) : tf.maxPool(h, 2, 2, 'same');
      }
    }
    return out;
  }

  dispose(): void {
    for (const l of this.layers) {
      l.kernel.dispose();
      l.kernelBack.dispose();
      l.bias.dispose();
    }
  }
}
