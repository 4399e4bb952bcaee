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
