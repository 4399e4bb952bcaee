/**
 * Checks a backend's loss and image gradient against a reference backend's on the same weights, the
 * same images and the same starting image: one evaluation each, compared as relative L2 error. A GPU
 * backend that is fast but wrong (a shader limit, a precision mode) shows here before any job runs.
 */
import { Engine } from '../engine/engine.ts';
import { evaluatorSpec, prepareJob } from '../engine/stylize.ts';
import { resolveSettings } from '../engine/settings.ts';
import { initialImage } from '../engine/init.ts';
import type { EvaluatorSpec, Evaluation } from '../engine/types.ts';
import type { VggWeights } from '../../weights/types.ts';

export const REFERENCE_BACKEND = 'onnx-cpu';

export interface GradientProbe {
  spec: EvaluatorSpec;
  /** The optimizer's real first image (noise blended with the content). */
  image: Float32Array;
}

export interface GradientCheckRow {
  backend: string;
  reference: string;
  size: number;
  width: number;
  height: number;
  /** ||g - g_ref|| / ||g_ref||. */
  gradRelError: number;
  /** |L - L_ref| / |L_ref| of the total loss. */
  lossRelError: number;
}

/** The default job's evaluator inputs at `size` (long side). */
export async function gradientProbe(weights: VggWeights, content: Uint8Array, style: Uint8Array, size: number): Promise<GradientProbe> {
  const settings = resolveSettings({ size });
  const job = await prepareJob({ content, styles: [{ image: style }] }, settings);
  return { spec: evaluatorSpec(settings, weights, job), image: initialImage(job.content, settings.init, settings.noiseRatio, settings.seed, job.styles) };
}

export async function evaluateOn(engine: Engine, probe: GradientProbe): Promise<Evaluation> {
  const evaluator = await engine.createEvaluator(probe.spec);
  try {
    return await evaluator.evaluate(probe.image);
  } finally {
    evaluator.dispose();
  }
}

export function relativeL2(actual: Float32Array, expected: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    num += (actual[i] - expected[i]) ** 2;
    den += expected[i] ** 2;
  }
  return den > 0 ? Math.sqrt(num / den) : Number.NaN;
}

export function compareEvaluations(backend: string, probe: GradientProbe, size: number, ours: Evaluation, ref: Evaluation): GradientCheckRow {
  return {
    backend,
    reference: REFERENCE_BACKEND,
    size,
    width: probe.spec.content.width,
    height: probe.spec.content.height,
    gradRelError: relativeL2(ours.grad, ref.grad),
    lossRelError: Math.abs(ours.terms.total - ref.terms.total) / Math.abs(ref.terms.total),
  };
}
