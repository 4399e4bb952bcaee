/**
 * VGG-19 as the weights, both compute engines and the settings know it: the conv layers in order,
 * where the pooling goes, and the caffe preprocessing the ImageNet weights expect.
 */

/** The 16 conv layers of VGG-19 in network order (Keras names). */
export const VGG19_LAYERS = [
  'block1_conv1', 'block1_conv2',
  'block2_conv1', 'block2_conv2',
  'block3_conv1', 'block3_conv2', 'block3_conv3', 'block3_conv4',
  'block4_conv1', 'block4_conv2', 'block4_conv3', 'block4_conv4',
  'block5_conv1', 'block5_conv2', 'block5_conv3', 'block5_conv4',
] as const;
export type VggLayerName = (typeof VGG19_LAYERS)[number];

/** caffe preprocessing: the weights expect BGR with this ImageNet mean subtracted. */
export const BGR_MEAN = [103.939, 116.779, 123.68] as const;
/** The same mean in the RGB order of our images. */
export const RGB_MEAN = [BGR_MEAN[2], BGR_MEAN[1], BGR_MEAN[0]] as const;

/** Position of a layer in the conv stack. */
export function vggLayerIndex(name: VggLayerName): number {
  return VGG19_LAYERS.indexOf(name);
}

/**
 * Whether a 2x2 / stride 2 pooling follows conv layer `i`: after the last conv of each block,
 * except the network's last layer (the classifier's pooling is not part of the feature stack).
 */
export function poolsAfter(i: number): boolean {
  return VGG19_LAYERS[i + 1]?.endsWith('_conv1') ?? false;
}

/** "conv4_2" (paper naming) -> "block4_conv2" (Keras naming); Keras names pass through. */
export function toKerasLayerName(name: string): VggLayerName {
  const m = /^conv(\d)_(\d)$/.exec(name);
  const keras = m ? `block${m[1]}_conv${m[2]}` : name;
  if (!(VGG19_LAYERS as readonly string[]).includes(keras)) {
    throw new Error(`Unknown VGG-19 layer "${name}". Use conv1_1 .. conv5_4 (or block1_conv1 .. block5_conv4).`);
  }
  return keras as VggLayerName;
}
