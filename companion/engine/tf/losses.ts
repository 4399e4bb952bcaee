/** The CS20SI / Gatys losses as tfjs ops. */
import { tf } from './runtime.ts';

/**
 * Gram matrix normalized by the number of positions M: G / M with G = F^T F, F = [M, N].
 * Normalizing makes targets from a style image of another size comparable; with equal sizes
 * sum((G/M - A/M)^2) / (4 N^2) equals the paper's sum((G - A)^2) / (4 N^2 M^2).
 */
export function gramNormalized(features: tf.Tensor4D): tf.Tensor2D {
  const [, h, w, n] = features.shape;
  const f = tf.reshape(features, [h * w, n]) as tf.Tensor2D;
  return tf.div(tf.matMul(f, f, true, false), h * w) as tf.Tensor2D;
}

/** sum((F - P)^2) / (4 s), s = number of elements of P. */
export function contentLoss(f: tf.Tensor, p: tf.Tensor): tf.Scalar {
  return tf.div(tf.sum(tf.squaredDifference(f, p)), 4 * p.size) as tf.Scalar;
}

/** E_l = sum((G - A)^2) / (4 N^2 M^2), written on M-normalized Grams (see gramNormalized). */
export function styleLayerLoss(features: tf.Tensor4D, targetGramNormalized: tf.Tensor2D): tf.Scalar {
  const n = features.shape[3];
  return tf.div(tf.sum(tf.squaredDifference(gramNormalized(features), targetGramNormalized)), 4 * n * n) as tf.Scalar;
}

/** Total variation: sum of squared differences between neighbouring pixels, in pixel units. */
export function tvLoss(x: tf.Tensor4D): tf.Scalar {
  const [, h, w] = x.shape;
  const dy = tf.sub(tf.slice(x, [0, 1, 0, 0], [-1, h - 1, -1, -1]), tf.slice(x, [0, 0, 0, 0], [-1, h - 1, -1, -1]));
  const dx = tf.sub(tf.slice(x, [0, 0, 1, 0], [-1, -1, w - 1, -1]), tf.slice(x, [0, 0, 0, 0], [-1, -1, w - 1, -1]));
  return tf.add(tf.sum(tf.square(dy)), tf.sum(tf.square(dx))) as tf.Scalar;
}
