/**
 * Decides how a job runs: at which scales (coarse-to-fine), how many iterations each, and whether
 * a scale must be tiled to fit the backend's memory. Pure: sizes in, plan out.
 */
import { StylizeError } from '../../common/errors.ts';
import { fitLongSide } from './image.ts';
import { forwardBytes, trainingBytes } from './memory.ts';
import { SETTING_TABLE } from './setting-table.ts';
import { tileGrid } from './tiling.ts';

export interface TilePlan {
  /** Tile edge in pixels (square tiles; edge tiles are clipped to the image). */
  size: number;
  overlap: number;
  /** Passes over the image, each with the grid shifted, so no seam stays in one place. */
  passes: number;
}

export interface Stage {
  width: number;
  height: number;
  iterations: number;
  /** Long side the style images are resized to for this scale's Gram targets. */
  styleSize: number;
  tile?: TilePlan;
}

export interface JobPlan {
  stages: Stage[];
  /** Optimizer steps in all: iterations x tiles x passes summed over stages (for progress). */
  totalSteps: number;
}

export interface PlanInput {
  width: number;
  height: number;
  size: number;
  iterations: number;
  /**
   * 'auto': one scale under 362 px; from 362 px a 128 px head, half the size, the size (autoScales,
   * autoIterations: `iterations` at half the size). 'off': one scale. Or explicit long sides, ascending, the
   * last = size (then `iterations` at the coarsest, half at each finer, at least 10).
   */
  scales: 'auto' | 'off' | number[];
  scaleIterations?: number[];
  styleScale: number;
  budgetBytes: number;
}

/** Coarsest long side of the automatic schedule. */
export const AUTO_COARSEST = 128;
/**
 * The 'auto' schedule. Under 362 px: one scale of `iterations`. From 362 px: a 128 px head of half
 * as many (a first preview within about a second: a 128 px iteration costs 1/16 of a 512 px one),
 * `iterations` at half the output size, where the picture's structure is set cheaply, then
 * AUTO_REFINE x as many at the output size (512 px, 35: 128 x 18, 256 x 35, 512 x 25). Measured
 * (docs/quality.md): at 512 px this reached the seed's distances on pairs where 35 iterations at
 * 512 px alone fell short on style, in less time; more scales did not pay for their set-up.
 */
export const AUTO_MIN_SIZE = 362;
export const AUTO_REFINE = 0.7;
const MIN_HEAD_ITERATIONS = 5;
const MIN_TILE = 128;
const MIN_FINE_ITERATIONS = 10;

/**
 * Long sides from `coarsest` up to `size` in steps of sqrt(2) (each scale has half the pixels of
 * the next), computed down from the size so the last one is exact.
 */
export function pyramidScales(size: number, coarsest = 128): number[] {
  const scales = [size];
  while (Math.round(scales[0] / Math.SQRT2) >= coarsest) scales.unshift(Math.round(scales[0] / Math.SQRT2));
  return scales;
}

/** The 'auto' scales: 128 px, half the size, the size (512 px: 128, 256, 512); one scale under 362 px. */
export function autoScales(size: number): number[] {
  return size < AUTO_MIN_SIZE ? [size] : [AUTO_COARSEST, Math.round(size / 2), size];
}

/** Iterations per scale of the 'auto' schedule (see AUTO_MIN_SIZE). */
export function autoIterations(scales: number, iterations: number): number[] {
  if (scales === 1) return [iterations];
  return [Math.min(iterations, Math.max(MIN_HEAD_ITERATIONS, Math.round(iterations / 2))), iterations, Math.max(1, Math.round(iterations * AUTO_REFINE))];
}

/** Largest multiple of 16 whose training pass fits the budget, capped at `max`. */
function largestFitting(budget: number, max: number, bytes: (w: number, h: number) => number): number {
  if (bytes(max, max) <= budget) return max;
  let s = Math.floor(max / 16) * 16;
  while (s >= 16 && bytes(s, s) > budget) s -= 16;
  return s;
}

/** Tiles in the first pass (passes differ by at most a row and a column). */
export function tilesPerPass(width: number, height: number, tile: TilePlan): number {
  return tileGrid(width, height, tile, 0).length;
}

/** A tiled stage spreads its iterations over its passes: each spot gets `iterations` in all. */
export function iterationsPerPass(stage: Stage): number[] {
  const passes = stage.tile?.passes ?? 1;
  return Array.from({ length: passes }, (_, p) => Math.floor(stage.iterations / passes) + (p < stage.iterations % passes ? 1 : 0));
}

function stageSteps(stage: Stage): number {
  if (!stage.tile) return stage.iterations;
  return iterationsPerPass(stage).reduce((sum, n, pass) => sum + n * tileGrid(stage.width, stage.height, stage.tile!, pass).length, 0);
}

/** Most scales one job may run: each is a full optimization at its size. */
export const MAX_SCALES = 8;
/** Iterations of all scales together, the same bound as `iterations` itself. */
export const MAX_TOTAL_ITERATIONS = 10000;

/**
 * The long side and iteration count of every scale, checked: ascending, none above `size`, a bounded
 * count and a bounded sum of iterations. Callers that accept settings (the daemon at submit, the
 * CLI) run it up front, so a plan that breaks a limit is refused before any work is queued.
 */
export function planScales(size: number, iterations: number, scalesIn: 'auto' | 'off' | number[], given?: number[]): { sizes: number[]; iterations: number[] } {
  let scales: number[];
  if (scalesIn === 'off') scales = [size];
  else if (scalesIn === 'auto') scales = autoScales(size);
  else {
    scales = [...scalesIn];
    if (!scales.length || scales.some((s, i) => !(s >= 16) || (i > 0 && s <= scales[i - 1]))) {
      throw new StylizeError('bad_setting', `scales must be increasing long sides of at least 16 px (got ${scales.join(',')}).`);
    }
    const over = scales.find((s) => s > size);
    if (over !== undefined) {
      throw new StylizeError('bad_setting', `scales must each be at most the size (${size}); got ${over}. The last scale is the output size; raise size instead.`);
    }
    if (scales.at(-1) !== size) scales.push(size);
  }
  // Only a list the caller wrote is bounded in count: 'auto' grows with the size by design.
  if (Array.isArray(scalesIn) && scales.length > MAX_SCALES) {
    throw new StylizeError('bad_setting', `scales may list at most ${MAX_SCALES} scales, the size included (got ${scales.length}: ${scales.join(', ')}).`);
  }
  const its = given ?? (scalesIn === 'auto' ? autoIterations(scales.length, iterations) : undefined);
  if (its && its.length !== scales.length) {
    throw new StylizeError('bad_setting', `scaleIterations needs one count per scale (${scales.length}: ${scales.join(', ')}).`);
  }
  // Each finer scale refines what the coarser one built: half the iterations of the one before.
  const counts = scales.map((_, k) => (its ? its[k] : k === 0 ? iterations : Math.max(MIN_FINE_ITERATIONS, Math.round(iterations / 2 ** k))));
  const sum = counts.reduce((a, b) => a + b, 0);
  if (given && sum > MAX_TOTAL_ITERATIONS) {
    throw new StylizeError('bad_setting', `scaleIterations add up to ${sum}; all scales together may run at most ${MAX_TOTAL_ITERATIONS} iterations.`);
  }
  return { sizes: scales, iterations: counts };
}

/**
 * The thinnest output side the engine runs: the same 16 px as the smallest size. Thinner, VGG-19's
 * four poolings leave nothing across at conv5_1 and the style has no texture to work with.
 */
export const MIN_SHORT_SIDE = 16;

/** Whether a `width` x `height` image at long side `size` is at least MIN_SHORT_SIDE thick. */
function thickEnough(width: number, height: number, size: number): boolean {
  const d = fitLongSide(width, height, size);
  return Math.min(d.width, d.height) >= MIN_SHORT_SIDE;
}

/** The smallest long side at which a `width` x `height` image is MIN_SHORT_SIDE thick. */
function thickSize(width: number, height: number): number {
  return Math.ceil((MIN_SHORT_SIDE * Math.max(width, height)) / Math.min(width, height));
}

/** Refuses an output thinner than MIN_SHORT_SIDE, saying which size would do. */
function checkShortSide(width: number, height: number, size: number): void {
  if (thickEnough(width, height, size)) return;
  const out = fitLongSide(width, height, size);
  const need = thickSize(width, height);
  const maxSize = SETTING_TABLE.size.bounds.max;
  const fix = need <= maxSize
    ? `Set the output size to at least ${need} px, or stylize a less elongated crop.`
    : `No output size up to ${maxSize} px makes it that thick: stylize it in shorter pieces.`;
  throw new StylizeError('bad_setting', `The image is ${width} x ${height} px, so at size ${size} the result would be ${out.width} x ${out.height} px: thinner than the ${MIN_SHORT_SIDE} px the style needs. ${fix}`);
}

/** The long side the style images are sized to for a scale of long side `size` (before the memory cap). */
export function styleSide(size: number, styleScale: number): number {
  return Math.max(16, Math.round(size * styleScale));
}

export function planJob(input: PlanInput): JobPlan {
  const { width, height, size, iterations, budgetBytes } = input;
  checkShortSide(width, height, size);
  let { sizes: scales, iterations: counts } = planScales(size, iterations, input.scales, input.scaleIterations);
  if (input.scales === 'auto' && scales.length > 1) {
    // A very elongated image: coarse scales too thin to carry texture are skipped; if only the
    // output size is left, it gets the one-scale count.
    const kept = scales.map((_, k) => k).filter((k) => thickEnough(width, height, scales[k]));
    if (kept.length < scales.length) {
      counts = kept.length === 1 ? [iterations] : kept.map((k) => counts[k]);
      scales = kept.map((k) => scales[k]);
    }
  } else if (Array.isArray(input.scales)) {
    // Scales the caller listed run as listed, so one too thin is refused rather than dropped.
    const thin = scales.filter((s) => !thickEnough(width, height, s));
    if (thin.length) {
      const out = fitLongSide(width, height, thin[0]);
      throw new StylizeError('bad_setting', `The image is ${width} x ${height} px, so scale ${thin[0]} would work on ${out.width} x ${out.height} px: thinner than the ${MIN_SHORT_SIDE} px the style needs. List only scales of at least ${thickSize(width, height)} px, or set scales to 'auto'.`);
    }
  }
  const stages: Stage[] = scales.map((s, k) => {
    const dims = fitLongSide(width, height, s);
    const n = counts[k];
    // Style scale is relative to each scale's output (jcjohnson's multiscale recipe). Its Gram
    // targets come from one forward pass: cap the style so that pass fits.
    const wanted = styleSide(s, input.styleScale);
    const styleSize = Math.max(16, Math.min(wanted, largestFitting(budgetBytes, wanted, forwardBytes)));
    const stage: Stage = { ...dims, iterations: n, styleSize };
    if (trainingBytes(dims.width, dims.height) > budgetBytes) {
      const t = largestFitting(budgetBytes, Math.min(1024, Math.max(dims.width, dims.height)), trainingBytes);
      if (t < MIN_TILE) {
        throw new StylizeError('out_of_memory', `Not even a ${MIN_TILE} px tile fits the ${(budgetBytes / 2 ** 20).toFixed(0)} MB this backend can use; free memory or set STYLIZE_MEMORY_MB higher.`);
      }
      stage.tile = { size: t, overlap: Math.max(16, Math.round(t / 8 / 16) * 16), passes: Math.min(3, n) };
    }
    return stage;
  });
  const totalSteps = stages.reduce((sum, st) => sum + stageSteps(st), 0);
  return { stages, totalSteps };
}
