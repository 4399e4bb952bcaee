/** The designer's one knob, strength 0..100, and the loss weights it stands for (the plugin sends weights; benches measure them). */
/**
 * Strength -> engine weights. The seed (CS20SI) uses contentWeight 0.01 with styleWeight 1, a
 * style:content ratio of 100; that is strength 50. The ratio moves on a log scale, one decade per
 * 25 strength points: strength 0 -> ratio 1 (content dominates), 100 -> ratio 10 000 (style
 * dominates). styleWeight stays 1 so loss figures stay comparable across strengths.
 */
export function strengthToWeights(strength: number): { contentWeight: number; styleWeight: number } {
  const s = Math.min(100, Math.max(0, strength));
  const ratio = 100 * Math.pow(10, (s - 50) / 25);
  return { contentWeight: 1 / ratio, styleWeight: 1 };
}

/** The inverse of strengthToWeights (for showing a daemon's weights as a strength). */
export function weightsToStrength(contentWeight: number, styleWeight: number): number {
  const ratio = styleWeight / contentWeight;
  return Math.min(100, Math.max(0, 50 + 25 * Math.log10(ratio / 100)));
}
