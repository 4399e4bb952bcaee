/**
 * The plans `bench:quality` compares: the seed recipe, what Stylize does by default, and
 * alternatives. A plan is the job settings it sends, as a function of the output size (so
 * alternatives can spell out a coarse-to-fine schedule per size).
 */
import { pyramidScales } from '../engine/plan.ts';
import { CliError } from '../cli/cli-error.ts';
import type { StylizeSettings } from '../engine/types.ts';

export interface QualityPlan {
  name: string;
  about: string;
  settings(size: number): Partial<StylizeSettings>;
}

/** Coarse-to-fine from `coarsest` in sqrt(2) steps; `fine` iterations at the output size, x `growth` per coarser scale. */
function pyramid(size: number, fine: number, growth: number, coarsest = 128): Pick<StylizeSettings, 'scales' | 'scaleIterations'> {
  const scales = pyramidScales(size, coarsest);
  return { scales, scaleIterations: scales.map((_, k) => Math.round(fine * growth ** (scales.length - 1 - k))) };
}

export const PLANS: Record<string, QualityPlan> = {
  seed: { name: 'seed', about: 'the CS20SI recipe whole (recipe seed): Adam lr 2 x 300, one scale, noise init, its loss scaling', settings: () => ({ recipe: 'seed' }) },
  default: { name: 'default', about: 'what Stylize does with no optimizer settings', settings: () => ({}) },
  lbfgs50: { name: 'lbfgs50', about: 'L-BFGS lr 1, 50 iterations, one scale', settings: () => ({ optimizer: 'lbfgs', learningRate: 1, iterations: 50, scales: 'off' }) },
  'c2f-flat': {
    name: 'c2f-flat', about: 'L-BFGS coarse-to-fine from 128 px, 30 at the output size, same per scale',
    settings: (size) => ({ optimizer: 'lbfgs', learningRate: 1, ...pyramid(size, 30, 1) }),
  },
  'c2f-grow': {
    name: 'c2f-grow', about: 'L-BFGS coarse-to-fine from 128 px, 25 at the output size, x1.5 per coarser scale',
    settings: (size) => ({ optimizer: 'lbfgs', learningRate: 1, ...pyramid(size, 25, 1.5) }),
  },
  'c2f-content': {
    name: 'c2f-content', about: 'as c2f-grow, starting from the content image',
    settings: (size) => ({ optimizer: 'lbfgs', learningRate: 1, init: 'content', ...pyramid(size, 25, 1.5) }),
  },
};

/**
 * `--plans a,b,name={json}`: named plans, or ad-hoc ones as job settings in JSON. An ad-hoc plan may
 * give `"pyramid": {"fine": N, "growth": G, "coarsest": PX}` for a per-size coarse-to-fine schedule.
 */
export function parsePlans(spec: string): QualityPlan[] {
  const out: QualityPlan[] = [];
  // Split on commas outside JSON braces.
  const parts: string[] = [];
  let depth = 0, cur = '';
  for (const ch of spec) {
    if (ch === '{') depth++;
    if (ch === '}') depth--;
    if (ch === ',' && depth === 0) { parts.push(cur); cur = ''; } else cur += ch;
  }
  if (cur) parts.push(cur);
  for (const part of parts.map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      const plan = PLANS[part];
      if (!plan) throw new CliError(`Unknown plan "${part}". Known plans: ${Object.keys(PLANS).join(', ')}; or NAME={json settings}.`, 2);
      out.push(plan);
      continue;
    }
    const name = part.slice(0, eq);
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(part.slice(eq + 1));
    } catch (err) {
      throw new CliError(`Plan "${name}" is not valid JSON (${(err as Error).message}).`, 2);
    }
    const { pyramid: p, ...rest } = raw as { pyramid?: { fine: number; growth?: number; coarsest?: number } } & Record<string, unknown>;
    out.push({
      name, about: part.slice(eq + 1),
      settings: (size) => ({ ...(rest as Partial<StylizeSettings>), ...(p && pyramid(size, p.fine, p.growth ?? 1, p.coarsest)) }),
    });
  }
  if (!out.some((p) => p.name === 'seed')) out.unshift(PLANS.seed);
  return out;
}
