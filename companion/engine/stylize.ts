/**
 * One style-transfer job, from encoded images to an encoded result: decode and size the images,
 * build an evaluator, optimize, report progress, honour cancellation. Compute-engine agnostic.
 */
import { StylizeError } from './errors.ts';
import { alphaPlane, decodeImage, encodePng, fitLongSide, floatRgbToRgba, resizeRgba, rgbaToFloatRgb } from './image.ts';
import { initialImage } from './init.ts';
import { Adam } from './optimize/adam.ts';
import { Lbfgs } from './optimize/lbfgs.ts';
import type { Optimizer } from './optimize/optimizer.ts';
import { resolveSettings } from './settings.ts';
import type { EvaluatorSpec, LossEvaluator, LossTerms, RgbaImage, StylizeHooks, StylizeRequest, StylizeResult, StylizeSettings } from './types.ts';
import type { VggWeights } from '../../weights/types.ts';

export type EvaluatorFactory = (spec: EvaluatorSpec) => Promise<LossEvaluator> | LossEvaluator;

export interface StylizeContext {
  weights: VggWeights;
  createEvaluator: EvaluatorFactory;
  /** Largest decoded input accepted (pixels). */
  maxInputPixels?: number;
}

function cancelled(): StylizeError {
  return new StylizeError('cancelled', 'The job was cancelled.');
}

function makeOptimizer(s: StylizeSettings): Optimizer {
  return s.optimizer === 'lbfgs' ? new Lbfgs(s.learningRate) : new Adam(s.learningRate);
}

/** Prepares the evaluator's inputs: content at the output size, styles at the same long side. */
export async function prepareJob(req: StylizeRequest, settings: StylizeSettings, maxInputPixels?: number) {
  if (!req.styles?.length) throw new StylizeError('bad_setting', 'At least one style image is needed.');
  const content = await decodeImage(req.content, { maxPixels: maxInputPixels, label: 'content image' });
  const out = fitLongSide(content.width, content.height, settings.size);
  const contentRgba = await resizeRgba({ width: content.width, height: content.height, data: content.rgba }, out.width, out.height);
  const weightsRaw = req.styles.map((s, i) => {
    const w = s.weight ?? 1;
    if (!Number.isFinite(w) || w < 0) throw new StylizeError('bad_setting', `Style ${i + 1} has weight ${w}; use a number >= 0.`);
    return w;
  });
  const sum = weightsRaw.reduce((a, b) => a + b, 0);
  if (!(sum > 0)) throw new StylizeError('bad_setting', 'The style weights add up to 0; give at least one style a positive weight.');
  const styles = [];
  for (const [i, s] of req.styles.entries()) {
    const img = await decodeImage(s.image, { maxPixels: maxInputPixels, label: req.styles.length > 1 ? `style image ${i + 1}` : 'style image' });
    const size = fitLongSide(img.width, img.height, settings.size);
    const rgba = await resizeRgba({ width: img.width, height: img.height, data: img.rgba }, size.width, size.height);
    styles.push({ image: rgbaToFloatRgb(rgba), weight: weightsRaw[i] / sum });
  }
  return { content: rgbaToFloatRgb(contentRgba), alpha: content.hasAlpha ? alphaPlane(contentRgba) : undefined, styles };
}

export async function runStylize(ctx: StylizeContext, req: StylizeRequest, hooks: StylizeHooks = {}): Promise<StylizeResult> {
  const { signal, onProgress } = hooks;
  const started = performance.now();
  const settings = resolveSettings(req.settings ?? {});
  if (signal?.aborted) throw cancelled();
  const job = await prepareJob(req, settings, ctx.maxInputPixels);
  if (signal?.aborted) throw cancelled();

  const spec: EvaluatorSpec = {
    weights: ctx.weights,
    content: job.content,
    styles: job.styles,
    contentLayers: settings.contentLayers,
    styleLayers: settings.styleLayers,
    contentWeight: settings.contentWeight,
    styleWeight: settings.styleWeight,
    tvWeight: settings.tvWeight,
    pooling: settings.pooling,
  };
  const evaluator = await ctx.createEvaluator(spec);
  const { width, height } = job.content;
  try {
    const x = initialImage(job.content, settings.init, settings.noiseRatio, settings.seed);
    const optimizer = makeOptimizer(settings);
    const losses: (LossTerms & { iteration: number })[] = [];
    const loopStart = performance.now();
    for (let it = 1; it <= settings.iterations; it++) {
      // Yield to the event loop so an abort (a signal, a socket message) is seen between iterations.
      await new Promise((r) => setImmediate(r));
      if (signal?.aborted) throw cancelled();
      const { evaluation } = await optimizer.step(x, (img) => evaluator.evaluate(img));
      const terms = evaluation.terms;
      if (!Number.isFinite(terms.total)) {
        throw new StylizeError('bad_setting', `The loss became ${terms.total} at iteration ${it}; lower the learning rate or the weights.`);
      }
      losses.push({ iteration: it, ...terms });
      if (onProgress) {
        const elapsedMs = performance.now() - loopStart;
        const etaMs = (elapsedMs / it) * (settings.iterations - it);
        const wantPreview = settings.previewEvery > 0 && (it % settings.previewEvery === 0 || it === settings.iterations);
        const preview: RgbaImage | undefined = wantPreview ? floatRgbToRgba(x, width, height, job.alpha) : undefined;
        onProgress({ iteration: it, iterations: settings.iterations, terms, elapsedMs, etaMs, preview });
      }
    }
    const image = floatRgbToRgba(x, width, height, job.alpha);
    const png = await encodePng(image, { opaque: !job.alpha });
    return { image, png, losses, backend: evaluator.backend, elapsedMs: performance.now() - started };
  } finally {
    evaluator.dispose();
  }
}
