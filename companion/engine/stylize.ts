/**
 * One style-transfer job, from encoded images to an encoded result: decode and size the images,
 * plan the scales and tiles that fit the backend's memory, optimize, report progress, honour
 * cancellation. Compute-engine agnostic: evaluators come from the context.
 */
import { StylizeError } from '../../common/errors.ts';
import { alphaPlane, decodeImage, fullyTransparent, encodePng, fitLongSide, floatRgbToRgba, resizeRgba, rgbaToFloatRgb, type DecodedImage } from './image.ts';
import { initialImage } from './init.ts';
import { Adam } from './optimize/adam.ts';
import { Lbfgs } from './optimize/lbfgs.ts';
import type { Optimizer } from './optimize/optimizer.ts';
import { resolveSettings } from './settings.ts';
import { iterationsPerPass, planJob, styleSide, tilesPerPass, type JobPlan, type Stage } from './plan.ts';
import { blendInto, crop, resizeBilinear, tileGrid } from './tiling.ts';
import { luminanceImage, luminanceStats, recombineWithContentColour } from './color.ts';
import type { LossTerms } from '../../common/losses.ts';
import type { EvaluatorSpec, FloatImage, LossEvaluator, ProgressEvent, RgbaImage, StylizeHooks, StylizeRequest, StylizeResult, StylizeSettings } from './types.ts';
import type { VggWeights } from '../../weights/types.ts';
import type { VggLayerName } from '../../common/vgg19.ts';

/** The loss a job's settings ask for, without its images (the engine's calibration uses it too). */
export function lossSpec(settings: StylizeSettings, weights: VggWeights): Omit<EvaluatorSpec, 'content' | 'styles'> {
  return {
    weights, contentLayers: settings.contentLayers, styleLayers: settings.styleLayers,
    contentWeight: settings.contentWeight, styleWeight: settings.styleWeight, tvWeight: settings.tvWeight, pooling: settings.pooling,
    normalization: settings.lossNormalization,
  };
}

/** The evaluator's view of a job's settings, for `content` and `styles` at one size. */
export function evaluatorSpec(settings: StylizeSettings, weights: VggWeights, inputs: Pick<EvaluatorSpec, 'content' | 'styles'>): EvaluatorSpec {
  return { ...lossSpec(settings, weights), content: inputs.content, styles: inputs.styles };
}

export type EvaluatorFactory = (spec: EvaluatorSpec) => Promise<LossEvaluator> | LossEvaluator;

export interface StylizeContext {
  weights: VggWeights;
  createEvaluator: EvaluatorFactory;
  /** Bytes one evaluation may use on this backend (see memory.ts). */
  memoryBudgetBytes: number;
  /** Largest decoded input accepted (pixels). */
  maxInputPixels?: number;
}

/**
 * Previews also go out by time, not only every `previewEvery` steps: a designer should see the
 * picture move at least every 2 s (this leaves room to encode and send each one).
 */
export const PREVIEW_INTERVAL_MS = 1500;

function cancelled(): StylizeError {
  return new StylizeError('cancelled', 'The job was cancelled.');
}

function makeOptimizer(s: StylizeSettings): Optimizer {
  return s.optimizer === 'lbfgs' ? new Lbfgs(s.learningRate) : new Adam(s.learningRate);
}

interface DecodedJob {
  content: DecodedImage;
  styles: { image: DecodedImage; weight: number }[];
}

/** Decodes the job's images no larger than it works: the content at the output size, styles at the largest style size. */
async function decodeJob(req: StylizeRequest, settings: StylizeSettings, maxInputPixels?: number): Promise<DecodedJob> {
  if (!req.styles?.length) throw new StylizeError('bad_setting', 'At least one style image is needed.');
  const weightsRaw = req.styles.map((s, i) => {
    const w = s.weight ?? 1;
    if (!Number.isFinite(w) || w < 0) throw new StylizeError('bad_setting', `Style ${i + 1} has weight ${w}; use a number >= 0.`);
    return w;
  });
  const sum = weightsRaw.reduce((a, b) => a + b, 0);
  if (!(sum > 0)) throw new StylizeError('bad_setting', 'The style weights add up to 0; give at least one style a positive weight.');
  const content = requireVisible(await decodeImage(req.content, { maxPixels: maxInputPixels, label: 'content image', longSide: settings.size }), 'content image');
  const styles = [];
  for (const [i, s] of req.styles.entries()) {
    const label = req.styles.length > 1 ? `style image ${i + 1}` : 'style image';
    styles.push({ image: requireVisible(await decodeImage(s.image, { maxPixels: maxInputPixels, label, longSide: styleSide(settings.size, settings.styleScale), cropToVisible: true }), label), weight: weightsRaw[i] / sum });
  }
  return { content, styles };
}

/** A fully transparent image has no picture to stylize or to take a style from (an empty or hidden layer exports so). */
function requireVisible(img: DecodedImage, label: string): DecodedImage {
  if (!img.hasAlpha) return img;
  for (let i = 3; i < img.rgba.length; i += 4) if (img.rgba[i] !== 0) return img;
  throw fullyTransparent(label, img.source.width, img.source.height);
}

async function sized(img: DecodedImage, width: number, height: number): Promise<RgbaImage> {
  return resizeRgba({ width: img.width, height: img.height, data: img.rgba }, width, height);
}

/** Content and styles at one size, as the evaluator sees them (luminance only when preserving colour). */
async function stageInputs(job: DecodedJob, width: number, height: number, styleSize: number, preserveColors: boolean) {
  const rgba = await sized(job.content, width, height);
  const colour = rgbaToFloatRgb(rgba, job.content.matte);
  const lum = preserveColors ? luminanceStats(colour) : undefined;
  const content = lum ? luminanceImage(colour) : colour;
  const alpha = job.content.hasAlpha ? alphaPlane(rgba) : undefined;
  const styles: { image: FloatImage; weight: number }[] = [];
  for (const s of job.styles) {
    const dims = fitLongSide(s.image.width, s.image.height, styleSize);
    const image = rgbaToFloatRgb(await sized(s.image, dims.width, dims.height), s.image.matte);
    // The style's luminance, matched to the content's mean and spread (Gatys et al. 2017).
    styles.push({ image: lum ? luminanceImage(image, lum) : image, weight: s.weight });
  }
  return { content, colour, alpha, styles };
}

/** Prepares the evaluator's inputs for a single-scale job (tests and tools). */
export async function prepareJob(req: StylizeRequest, settings: StylizeSettings, maxInputPixels?: number) {
  const job = await decodeJob(req, settings, maxInputPixels);
  const out = fitLongSide(job.content.source.width, job.content.source.height, settings.size);
  const { content, alpha, styles } = await stageInputs(job, out.width, out.height, Math.round(settings.size * settings.styleScale), settings.preserveColors);
  return { content, alpha, styles };
}

export function describePlan(plan: JobPlan): string {
  return plan.stages
    .map((s) => `${s.width}x${s.height} x${s.iterations}${s.tile ? ` in ${s.tile.size}px tiles (${tilesPerPass(s.width, s.height, s.tile)}/pass, ${s.tile.passes} passes)` : ''}`)
    .join(' -> ');
}

export async function runStylize(ctx: StylizeContext, req: StylizeRequest, hooks: StylizeHooks = {}): Promise<StylizeResult> {
  const { signal, finishSignal, onProgress } = hooks;
  const started = performance.now();
  const settings = resolveSettings(req.settings ?? {});
  if (signal?.aborted) throw cancelled();
  const job = await decodeJob(req, settings, ctx.maxInputPixels);
  // The picture's own size, as the estimate and submit planned it (the decoded one may be shrunk).
  const plan = planJob({
    width: job.content.source.width, height: job.content.source.height, size: settings.size, iterations: settings.iterations,
    scales: settings.scales, scaleIterations: settings.scaleIterations, styleScale: settings.styleScale, budgetBytes: ctx.memoryBudgetBytes,
  });

  const losses: (LossTerms & { iteration: number; stage: number })[] = [];
  const loopStart = performance.now();
  let step = 0;
  let evaluations = 0;
  let lastPreviewAt = loopStart;
  let backend = '';
  let x: Float32Array | undefined;
  // The start image of the scale just run (for carrying its delta onto the next scale's start).
  let startPrev: Float32Array | undefined;
  // With preserveColors the network sees luminance matched to the content's: nothing to recolour.
  const init = settings.init === 'styled' && settings.preserveColors ? 'content' : settings.init;
  let prev: { width: number; height: number } | undefined;
  let last: Awaited<ReturnType<typeof stageInputs>> | undefined;

  for (const [k, stage] of plan.stages.entries()) {
    if (signal?.aborted) throw cancelled();
    if (finishSignal?.aborted && x) break; // stop and keep: the image so far is the result
    const inputs = await stageInputs(job, stage.width, stage.height, stage.styleSize, settings.preserveColors);
    last = inputs;
    // A deterministic start (the content, recoloured or not) carries what the coarser scale added
    // to it, upsampled, onto this scale's own start: the content keeps its full-resolution detail
    // instead of the coarse result's blur (measured at 256 px: content distance 0.69 against 0.82-0.88
    // with the upsampled result as the start).
    // A noise start is drawn once, at the first scale; later scales upsample the result.
    const carries = init === 'styled' || init === 'content';
    if (!x || !prev) {
      x = initialImage(inputs.content, init, settings.noiseRatio, settings.seed, inputs.styles);
      // A copy: the optimizer moves x in place, and the delta must be taken against the start.
      startPrev = Float32Array.from(x);
    } else if (carries && startPrev) {
      const start = initialImage(inputs.content, init, settings.noiseRatio, settings.seed, inputs.styles);
      const delta = new Float32Array(x.length);
      for (let i = 0; i < x.length; i++) delta[i] = x[i] - startPrev[i];
      x = resizeBilinear(delta, prev.width, prev.height, stage.width, stage.height);
      for (let i = 0; i < x.length; i++) x[i] += start[i];
      startPrev = start;
    } else {
      x = resizeBilinear(x, prev.width, prev.height, stage.width, stage.height);
    }
    const spec = evaluatorSpec(settings, ctx.weights, inputs);
    const image = x;
    const report = (terms: LossTerms, tile?: { index: number; count: number }) => {
      step++;
      if (!Number.isFinite(terms.total)) {
        throw new StylizeError('bad_setting', `The loss became ${terms.total} at step ${step}; lower the learning rate or the weights.`);
      }
      losses.push({ iteration: step, stage: k, ...terms });
      if (!onProgress) return;
      const now = performance.now();
      const elapsedMs = now - loopStart;
      // The first step's image comes at once (the coarsest scale is quick), then by count or by time.
      const wantPreview = settings.previewEvery > 0
        && (step === 1 || step % settings.previewEvery === 0 || step === plan.totalSteps || now - lastPreviewAt >= PREVIEW_INTERVAL_MS);
      if (wantPreview) lastPreviewAt = now;
      const preview = wantPreview ? finish(image, stage, inputs, settings.preserveColors) : undefined;
      const event: ProgressEvent = {
        iteration: step, iterations: plan.totalSteps, terms, elapsedMs,
        etaMs: (elapsedMs / step) * (plan.totalSteps - step), preview,
        stage: { index: k, count: plan.stages.length, width: stage.width, height: stage.height, tile },
      };
      onProgress(event);
    };
    const stops = { signal, finishSignal };
    const ran = stage.tile ? await runTiled(ctx, spec, image, stage, settings, report, stops) : await runWhole(ctx, spec, image, stage.iterations, settings, report, stops);
    backend = ran.backend;
    evaluations += ran.evaluations;
    prev = stage;
  }

  // The last scale is the output size (plan.ts). A run stopped at a coarser scale is upsampled to
  // it, with the content's colour and alpha at that size, so a kept result is always full size.
  const out = plan.stages[plan.stages.length - 1];
  let final = last!;
  if (prev!.width !== out.width || prev!.height !== out.height) {
    x = resizeBilinear(x!, prev!.width, prev!.height, out.width, out.height);
    final = await stageInputs(job, out.width, out.height, out.styleSize, settings.preserveColors);
  }
  const image = finish(x!, out, final, settings.preserveColors);
  const png = await encodePng(image, { opaque: !job.content.hasAlpha });
  const stopped = finishSignal?.aborted === true && step < plan.totalSteps;
  return { image, png, losses, backend, elapsedMs: performance.now() - started, plan, evaluations, ...(stopped && { stopped }) };
}

/** The image as the user gets it: content colour restored when asked, alpha reattached. */
function finish(x: Float32Array, size: { width: number; height: number }, inputs: { colour: FloatImage; alpha?: Uint8Array }, preserveColors: boolean): RgbaImage {
  const rgb = preserveColors ? recombineWithContentColour(x, inputs.colour.data) : x;
  return floatRgbToRgba(rgb, size.width, size.height, inputs.alpha);
}

type Report = (terms: LossTerms, tile?: { index: number; count: number }) => void;

/** What can stop a run between iterations: cancel (throws) and stop-and-keep (returns early). */
interface Stops {
  signal?: AbortSignal;
  finishSignal?: AbortSignal;
}

/** Runs `iterations` optimizer steps (fewer when asked to stop and keep); returns the loss evaluations they took. */
async function optimize(evaluator: LossEvaluator, x: Float32Array, iterations: number, settings: StylizeSettings, report: (t: LossTerms) => void, stops: Stops): Promise<number> {
  const optimizer = makeOptimizer(settings);
  let evaluations = 0;
  for (let it = 0; it < iterations; it++) {
    // Yield to the event loop so an abort (a signal, a socket message) is seen between iterations.
    await new Promise((r) => setImmediate(r));
    if (stops.signal?.aborted) throw cancelled();
    if (stops.finishSignal?.aborted) break;
    const step = await optimizer.step(x, (img) => evaluator.evaluate(img));
    evaluations += step.evaluations;
    report(step.evaluation.terms);
  }
  return evaluations;
}

interface Ran {
  backend: string;
  evaluations: number;
}

async function runWhole(ctx: StylizeContext, spec: EvaluatorSpec, x: Float32Array, iterations: number, settings: StylizeSettings, report: Report, stops: Stops): Promise<Ran> {
  const evaluator = await ctx.createEvaluator(spec);
  try {
    const evaluations = await optimize(evaluator, x, iterations, settings, (t) => report(t), stops);
    return { backend: evaluator.backend, evaluations };
  } finally {
    evaluator.dispose();
  }
}

/**
 * Optimizes a scale too large for one pass tile by tile: every tile matches the whole style's Gram
 * targets and its own part of the content; passes shift the grid and feathered write-back blends
 * the overlaps, so no grid shows.
 */
async function runTiled(ctx: StylizeContext, spec: EvaluatorSpec, x: Float32Array, stage: Stage, settings: StylizeSettings, report: Report, stops: Stops): Promise<Ran> {
  const tile = stage.tile!;
  const { width, height } = stage;
  let styleTargets: Map<VggLayerName, Float32Array> | undefined;
  let backend = '';
  let evaluations = 0;
  const perPass = iterationsPerPass(stage);
  for (let pass = 0; pass < tile.passes; pass++) {
    const rects = tileGrid(width, height, tile, pass);
    for (const [i, r] of rects.entries()) {
      if (stops.signal?.aborted) throw cancelled();
      if (stops.finishSignal?.aborted) return { backend, evaluations }; // the tiles so far are blended in
      const content: FloatImage = { width: r.w, height: r.h, channels: 3, data: crop(spec.content.data, width, r) };
      const evaluator = await ctx.createEvaluator({ ...spec, content, styleTargets });
      try {
        styleTargets ??= await evaluator.styleTargets?.();
        backend = evaluator.backend;
        const part = crop(x, width, r);
        evaluations += await optimize(evaluator, part, perPass[pass], settings, (t) => report(t, { index: pass * rects.length + i, count: tile.passes * rects.length }), stops);
        blendInto(x, width, height, part, r, tile.overlap);
      } finally {
        evaluator.dispose();
      }
    }
  }
  return { backend, evaluations };
}
