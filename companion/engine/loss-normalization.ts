/**
 * How each loss term is scaled, given its target (both backends apply the same factors).
 *
 * 'seed' is CS20SI's: content sum((F - P)^2) / (4 s), style E_l = sum((G - A)^2) / (4 N^2 M^2).
 * Those leave the layers' terms orders of magnitude apart: measured on guernica at 512 px, a
 * relative Gram error costs ~1e5 times more at conv4_1 than at conv5_1 and ~1e4 times more than
 * at conv1_1, so the per-layer weights say little and the optimizer all but ignores two of five
 * layers (docs/quality.md).
 *
 * 'target' divides every term by its target's energy, so each is a squared relative error
 * (||F - P||^2 / ||P||^2, ||G - A||^2 / ||A||^2), and the style term is the weighted mean of the
 * layers' errors: a layer weight is the share of the style term it gets, as the paper's w_l = 1/5
 * intended, and the content weight is a plain ratio of relative errors.
 */
import type { LossNormalization } from './types.ts';

/** Floor of a target's energy, so a blank target (all zeros) gives a large finite factor, not Infinity. */
const MIN_ENERGY = 1e-12;

/** Factor on a content layer's seed term sum((F - P)^2) / (4 s): s = elements, `energy` = sum(P^2). */
export function contentFactor(normalization: LossNormalization, energy: number, elements: number): number {
  return normalization === 'target' ? (4 * elements) / Math.max(energy, MIN_ENERGY) : 1;
}

/**
 * Factor on a style layer's seed term sum((G - A)^2) / (4 N^2) (M-normalized Grams), on top of its
 * layer weight: N = channels, `energy` = sum(A^2) of the normalized target Gram, `weightSum` = the
 * sum of all style layers' weights.
 */
export function styleFactor(normalization: LossNormalization, energy: number, channels: number, weightSum: number): number {
  return normalization === 'target' ? (4 * channels * channels) / Math.max(energy, MIN_ENERGY) / (weightSum > 0 ? weightSum : 1) : 1;
}

export function sumOfSquares(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return s;
}
