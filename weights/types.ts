/** One VGG-19 conv layer's parameters, dequantized to float32. */
export interface ConvLayerWeights {
  /** Keras layer name, e.g. "block1_conv1". */
  name: string;
  /** Kernel in HWIO layout: [3, 3, inChannels, outChannels]. */
  kernel: Float32Array;
  kernelShape: [number, number, number, number];
  bias: Float32Array;
}

/** The conv stack in network order (block1_conv1 .. up to the last layer requested). */
export interface VggWeights {
  layers: ConvLayerWeights[];
  /** Folder the weights were read from, for messages. */
  source: string;
}

/** The 16 conv layers of VGG-19, in order, with the pooling after each block. */
export const VGG19_LAYERS = [
  'block1_conv1', 'block1_conv2',
  'block2_conv1', 'block2_conv2',
  'block3_conv1', 'block3_conv2', 'block3_conv3', 'block3_conv4',
  'block4_conv1', 'block4_conv2', 'block4_conv3', 'block4_conv4',
  'block5_conv1', 'block5_conv2', 'block5_conv3', 'block5_conv4',
] as const;
export type VggLayerName = (typeof VGG19_LAYERS)[number];

/** "conv4_2" (paper naming) -> "block4_conv2" (Keras naming); Keras names pass through. */
export function toKerasLayerName(name: string): VggLayerName {
  const m = /^conv(\d)_(\d)$/.exec(name);
  const keras = m ? `block${m[1]}_conv${m[2]}` : name;
  if (!(VGG19_LAYERS as readonly string[]).includes(keras)) {
    throw new Error(`Unknown VGG-19 layer "${name}". Use conv1_1 .. conv5_4 (or block1_conv1 .. block5_conv4).`);
  }
  return keras as VggLayerName;
}
