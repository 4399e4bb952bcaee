/**
 * Random VGG-19 weights with the real network's shapes, for measuring speed where the real weights
 * are not (a GPU machine, a fresh bundle): the time of a convolution does not depend on its values.
 * Scaled like He initialization so activations keep their magnitude through the ReLU stack and never
 * reach float32 denormals (which would slow CPU kernels and make the figures lie).
 */
import { seededRandom } from '../common/random.ts';
import { VGG19_LAYERS, toKerasLayerName, type VggLayerName } from '../common/vgg19.ts';
import type { ConvLayerWeights, VggWeights } from './types.ts';

/** Output channels of each VGG-19 conv layer, in VGG19_LAYERS order. */
const OUT_CHANNELS = [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512];

export interface SyntheticOptions {
  /** Same seed, same weights. Default 1. */
  seed?: number;
  /** Last conv layer, inclusive (as in loadVggWeights). Default block5_conv1. */
  through?: VggLayerName | string;
}

export function syntheticVggWeights(opts: SyntheticOptions = {}): VggWeights {
  const rand = seededRandom(opts.seed ?? 1);
  const last = VGG19_LAYERS.indexOf(toKerasLayerName(opts.through ?? 'block5_conv1'));
  const layers: ConvLayerWeights[] = [];
  let inChannels = 3;
  for (let i = 0; i <= last; i++) {
    const out = OUT_CHANNELS[i];
    // Uniform(-a, a) has variance a^2/3; He: variance 2 / fan_in.
    const a = Math.sqrt(3 * 2 / (9 * inChannels));
    const kernel = new Float32Array(9 * inChannels * out);
    for (let k = 0; k < kernel.length; k++) kernel[k] = (rand() * 2 - 1) * a;
    const bias = new Float32Array(out);
    for (let k = 0; k < out; k++) bias[k] = (rand() * 2 - 1) * 0.01;
    layers.push({ name: VGG19_LAYERS[i], kernel, kernelShape: [3, 3, inChannels, out], bias });
    inChannels = out;
  }
  return { layers, source: `synthetic (random, seed ${opts.seed ?? 1})` };
}
