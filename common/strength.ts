/** The designer's one knob, strength 0..100, and the loss weights it stands for (the plugin sends weights; benches measure them). */

/**
 * Strength -> engine weights: contentWeight = 10^(1 - 3 s / 100), styleWeight = 1: strength 0 is
 * 10, 100 is 0.01, the engine's default (the plugin starts at 100: the full style, and the slider
 * keeps more of the layer as it goes down). With the default loss normalization ('target') both
 * terms are relative errors and the content weight is a plain ratio between them. Measured at
 * 256 px (docs/quality.md): 1 keeps most of the layer, 0.1 keeps more of it than the seed, 0.01
 * matches the seed's stylization; below 0.01 the style distance no longer falls (1e-4 gave 0.160
 * against 0.159), so the slider ends there. A decade per 33 points.
 * styleWeight stays 1 so loss figures stay comparable across strengths.
 */
const DECADES_AT_ZERO = 1;
const DECADES_SPAN = 3;

export function strengthToWeights(strength: number): { contentWeight: number; styleWeight: number } {
  const s = Math.min(100, Math.max(0, strength));
  return { contentWeight: Math.pow(10, DECADES_AT_ZERO - (DECADES_SPAN * s) / 100), styleWeight: 1 };
}

/** The inverse of strengthToWeights (for showing a daemon's weights as a strength). */
export function weightsToStrength(contentWeight: number, styleWeight: number): number {
  const decades = Math.log10(contentWeight / styleWeight);
  return Math.min(100, Math.max(0, ((DECADES_AT_ZERO - decades) * 100) / DECADES_SPAN));
}
