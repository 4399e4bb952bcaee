/** The designer's one knob, strength 0..100, and the loss weights it stands for (the plugin sends weights; benches measure them). */

/**
 * Strength -> engine weights: contentWeight = 10^(6 - 4 s / 100), styleWeight = 1: strength 0 is
 * 1e6, 50 is 1e4, 100 is 1e2. The span is where the content term matters:
 * with this method's normalizations the style loss outweighs the content loss by orders of
 * magnitude, and measured (docs/quality.md, 128 px, 30 L-BFGS iterations per scale) content
 * weights from 1e-4 to 1e2 all give the seed's look, while 1e4 keeps visibly more of the layer and
 * 1e6 mostly the layer in the style's colours. So strength 100 looks like the seed (its 0.01 is one
 * setting away: --content-weight), 0 keeps the layer, and a decade per 25 points makes every part
 * of the slider do something. styleWeight stays 1 so loss figures stay comparable across strengths.
 */
const DECADES_AT_ZERO = 6;
const DECADES_SPAN = 4;

export function strengthToWeights(strength: number): { contentWeight: number; styleWeight: number } {
  const s = Math.min(100, Math.max(0, strength));
  return { contentWeight: Math.pow(10, DECADES_AT_ZERO - (DECADES_SPAN * s) / 100), styleWeight: 1 };
}

/** The inverse of strengthToWeights (for showing a daemon's weights as a strength). */
export function weightsToStrength(contentWeight: number, styleWeight: number): number {
  const decades = Math.log10(contentWeight / styleWeight);
  return Math.min(100, Math.max(0, ((DECADES_AT_ZERO - decades) * 100) / DECADES_SPAN));
}
