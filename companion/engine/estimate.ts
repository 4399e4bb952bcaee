/**
 * How long a planned job will take on this backend. The cost model is measured, not assumed: at
 * warm-up the engine times evaluator set-up and loss-and-gradient evaluations at two small sizes
 * (calibrate), and every finished job refines one correction factor (refine). Linear in pixels:
 * an evaluation costs perEval.a + perEval.b * pixels; setting up a scale (targets, graph, session)
 * costs setup.a + setup.b * pixels.
 */
import { planJob, iterationsPerPass, type JobPlan } from './plan.ts';
import { tileGrid } from './tiling.ts';
import { resolveSettings } from './settings.ts';
import type { EvaluatorSpec, LossEvaluator, OptimizerName, StylizeSettings } from './types.ts';

export interface Line {
  a: number;
  b: number;
}

export interface CostModel {
  /** ms per loss-and-gradient evaluation: a + b * pixels. */
  perEval: Line;
  /** ms to set up one scale or tile: a + b * pixels. */
  setup: Line;
  /** Evaluations per optimizer iteration (L-BFGS's line search sometimes takes more than one). */
  evalsPerIteration: Record<OptimizerName, number>;
  /** Measured over predicted time of finished jobs (moving average); 1 until a job finished. */
  correction: number;
  jobs: number;
}

/**
 * Calibration sizes: far enough apart, and large enough, that the line extrapolates to 512 px.
 * 64 and 128 px, with two timed evaluations each, overestimated a 256 px job by 45-90% (small
 * sizes carry more fixed cost per pixel, and a median of two is the slower one).
 */
const CALIBRATION_SIDES = [96, 192];
/** Timed evaluations per size after the first (which counts as set-up); their median is taken. */
const CALIBRATION_EVALS = 3;
/** Weight of the newest finished job in the correction factor. */
const REFINE_WEIGHT = 0.5;
/** Jobs shorter than this are mostly fixed costs and timer noise: they do not refine the model. */
const MIN_REFINE_MS = 2000;

function fit(xs: number[], ys: number[]): Line {
  const b = Math.max(0, (ys[1] - ys[0]) / (xs[1] - xs[0]));
  return { a: Math.max(0, ys[0] - b * xs[0]), b };
}

function median(xs: number[]): number {
  const s = [...xs].sort((p, q) => p - q);
  return s[s.length >> 1];
}

/** Times set-up and evaluations at two small sizes with the job's default layers. */
export async function calibrate(create: (spec: EvaluatorSpec) => Promise<LossEvaluator> | LossEvaluator, base: Omit<EvaluatorSpec, 'content' | 'styles'>): Promise<CostModel> {
  const pixels: number[] = [], setups: number[] = [], evals: number[] = [];
  for (const side of CALIBRATION_SIDES) {
    const data = new Float32Array(side * side * 3);
    for (let i = 0; i < data.length; i++) data[i] = (i * 37) % 255;
    const img = { width: side, height: side, channels: 3 as const, data };
    const t0 = performance.now();
    const ev = await create({ ...base, content: img, styles: [{ image: img, weight: 1 }] });
    try {
      const times: number[] = [];
      // The first evaluation pays one-off costs (kernel selection); it counts as set-up.
      for (let k = 0; k <= CALIBRATION_EVALS; k++) {
        const t = performance.now();
        await ev.evaluate(data);
        times.push(performance.now() - t);
      }
      setups.push(performance.now() - t0 - times.slice(1).reduce((p, q) => p + q, 0) - median(times.slice(1)));
      evals.push(median(times.slice(1)));
      pixels.push(side * side);
    } finally {
      ev.dispose();
    }
  }
  return { perEval: fit(pixels, evals), setup: fit(pixels, setups), evalsPerIteration: { adam: 1, lbfgs: 1.1 }, correction: 1, jobs: 0 };
}

/** Predicted milliseconds of a plan, before the correction factor. */
function planMs(model: CostModel, plan: JobPlan, optimizer: OptimizerName): number {
  const evalMs = (px: number) => model.perEval.a + model.perEval.b * px;
  const setupMs = (px: number) => model.setup.a + model.setup.b * px;
  const perIt = model.evalsPerIteration[optimizer];
  let ms = 0;
  for (const st of plan.stages) {
    if (!st.tile) {
      const px = st.width * st.height;
      ms += setupMs(px) + st.iterations * perIt * evalMs(px);
      continue;
    }
    for (const [pass, n] of iterationsPerPass(st).entries()) {
      for (const r of tileGrid(st.width, st.height, st.tile, pass)) ms += setupMs(r.w * r.h) + n * perIt * evalMs(r.w * r.h);
    }
  }
  return ms;
}

export interface Estimate {
  ms: number;
  plan: JobPlan;
}

/** The plan a job on a width x height content would run with these settings; throws the plan's refusals. */
export function planFor(width: number, height: number, partial: Partial<StylizeSettings>, budgetBytes: number): { plan: JobPlan; settings: StylizeSettings } {
  const s = resolveSettings(partial);
  const plan = planJob({ width, height, size: s.size, iterations: s.iterations, scales: s.scales, scaleIterations: s.scaleIterations, styleScale: s.styleScale, budgetBytes });
  return { plan, settings: s };
}

/** Estimated wall time of a job on a content image of width x height with these settings. */
export function estimateJob(model: CostModel, width: number, height: number, partial: Partial<StylizeSettings>, budgetBytes: number): Estimate {
  const { plan, settings } = planFor(width, height, partial, budgetBytes);
  return { ms: planMs(model, plan, settings.optimizer) * model.correction, plan };
}

/** Folds a finished job's time into the model: the correction factor and L-BFGS's evaluations per iteration. */
export function refine(model: CostModel, plan: JobPlan, optimizer: OptimizerName, elapsedMs: number, evaluations: number): CostModel {
  const iterations = plan.totalSteps;
  const evalsPerIteration = { ...model.evalsPerIteration };
  if (iterations > 0 && evaluations >= iterations) evalsPerIteration[optimizer] = evaluations / iterations;
  const next = { ...model, evalsPerIteration };
  const predicted = planMs(next, plan, optimizer);
  if (!(predicted > 0) || !(elapsedMs >= MIN_REFINE_MS)) return next;
  const ratio = elapsedMs / predicted;
  const correction = model.jobs === 0 ? ratio : (1 - REFINE_WEIGHT) * model.correction + REFINE_WEIGHT * ratio;
  return { ...next, correction, jobs: model.jobs + 1 };
}
