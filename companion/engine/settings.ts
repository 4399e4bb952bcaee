/**
 * Defaults, bounds, and validation of job settings from any source. The defaults are Stylize's
 * plan (docs/quality.md): L-BFGS from the content in the style's colours, each loss term a
 * relative error. `recipe: 'seed'` makes the unset settings the CS20SI seed's instead
 * (SEED_SETTINGS), so the baseline is one setting away; settings given explicitly still win.
 */
import { StylizeError } from '../../common/errors.ts';
import { toKerasLayerName } from '../../common/vgg19.ts';
import { planScales } from './plan.ts';
import { DEFAULT_LEARNING_RATE, SEED_STYLE_LAYERS, SEED_STYLE_LAYER_WEIGHTS, SETTING_KEYS, settingSpec, type BoundedKey } from './setting-table.ts';
import type { StylizeSettings } from './types.ts';

export { DEFAULT_LEARNING_RATE, SEED_STYLE_LAYER_WEIGHTS } from './setting-table.ts';

/** Every setting's default, from the table (scaleIterations has none: it follows the plan). */
export const DEFAULT_SETTINGS: StylizeSettings = Object.freeze(Object.fromEntries(
  SETTING_KEYS.filter((k) => settingSpec(k).default !== undefined).map((k) => [k, settingSpec(k).default]),
)) as unknown as StylizeSettings;

/**
 * The CS20SI seed recipe (Adam lr 2, 300 iterations, one scale, 0.6 noise + 0.4 content, its loss
 * scaling, layer weights [0.5, 1, 1.5, 3, 4], content weight 0.01): the defaults under recipe 'seed'.
 */
export const SEED_SETTINGS: StylizeSettings = Object.freeze({
  ...DEFAULT_SETTINGS,
  recipe: 'seed', optimizer: 'adam', learningRate: DEFAULT_LEARNING_RATE.adam, iterations: 300, scales: 'off', init: 'noise',
  lossNormalization: 'seed', contentWeight: 0.01,
  styleLayers: SEED_STYLE_LAYERS.map((layer, i) => ({ layer, weight: SEED_STYLE_LAYER_WEIGHTS[i] })),
}) as StylizeSettings;

/** Hard limits, from the table; the daemon may apply tighter ones. */
export const SETTING_BOUNDS = Object.freeze(Object.fromEntries(
  SETTING_KEYS.flatMap((k) => settingSpec(k).bounds ? [[k, settingSpec(k).bounds]] : []),
)) as { readonly [K in BoundedKey]: { readonly min: number; readonly max: number } };

const INTEGER_KEYS = new Set(SETTING_KEYS.filter((k) => settingSpec(k).type === 'integer'));
const ENUMS = Object.fromEntries(SETTING_KEYS.flatMap((k) => settingSpec(k).choices ? [[k, settingSpec(k).choices!]] : [])) as Record<string, readonly string[]>;

/** A value a caller gave, for a message: short, and safe for any nesting (JSON.stringify overflows the stack on 20000 nested arrays). */
function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  if (text === undefined) return Array.isArray(value) ? `an array of ${value.length}` : typeof value;
  return text.length > 80 ? `${text.slice(0, 80)}...` : text;
}

function bad(message: string): never {
  throw new StylizeError('bad_setting', message);
}

function layerList(key: string, value: unknown): string[] {
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
  if (!Array.isArray(list) || list.length === 0) bad(`${key} must be a non-empty list of VGG-19 layers such as conv4_2.`);
  const i = list.findIndex((x) => typeof x !== 'string');
  if (i >= 0) bad(`${key}[${i}] must be a layer name such as "conv4_2" (got ${shown(list[i])}).`);
  return list as string[];
}

/** A list of whole numbers within bounds, as an array or "a,b,c". */
function intList(key: string, value: unknown, bounds: { min: number; max: number }): number[] {
  const list = typeof value === 'string' ? value.split(',').map((x) => Number(x.trim())) : value;
  if (!Array.isArray(list) || list.length === 0 || list.some((x) => typeof x !== 'number' || !Number.isInteger(x) || x < bounds.min || x > bounds.max)) {
    bad(`${key} must be a list of whole numbers between ${bounds.min} and ${bounds.max} (got ${shown(value)}).`);
  }
  return list as number[];
}

/**
 * Merges a partial settings object over the defaults, checking every value.
 * styleLayers accepts [{layer, weight}], ["conv1_1", ...] (weights then from styleLayerWeights
 * or 1 each), or "conv1_1,conv2_1"; layer names in paper (conv4_2) or Keras (block4_conv2) form.
 */
export function resolveSettings(partial: unknown = {}): StylizeSettings {
  if (partial === null || typeof partial !== 'object' || Array.isArray(partial)) bad('settings must be an object.');
  const input = partial as Record<string, unknown>;
  const base = input.recipe === 'seed' ? SEED_SETTINGS : DEFAULT_SETTINGS;
  const out: Record<string, unknown> = { ...base };
  const known = new Set<string>(SETTING_KEYS);
  for (const key of Object.keys(input)) {
    if (!known.has(key)) bad(`Unknown setting "${key}". Known settings: ${[...known].join(', ')}.`);
  }
  for (const [key, bounds] of Object.entries(SETTING_BOUNDS)) {
    const v = input[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${key} must be a number (got ${shown(v)}).`);
    if (INTEGER_KEYS.has(key as BoundedKey) && !Number.isInteger(v)) bad(`${key} must be a whole number (got ${v}).`);
    if (v < bounds.min || v > bounds.max) bad(`${key} must be between ${bounds.min} and ${bounds.max} (got ${v}).`);
    out[key] = v;
  }
  for (const [key, values] of Object.entries(ENUMS)) {
    const v = input[key];
    if (v === undefined) continue;
    if (typeof v !== 'string' || !values.includes(v)) bad(`${key} must be one of ${values.join(', ')} (got ${shown(v)}).`);
    out[key] = v;
  }
  const wrapLayer = (name: string) => {
    try {
      return toKerasLayerName(name);
    } catch (err) {
      bad((err as Error).message);
    }
  };
  if (input.contentLayers !== undefined) out.contentLayers = layerList('contentLayers', input.contentLayers).map(wrapLayer);
  if (input.styleLayers !== undefined || input.styleLayerWeights !== undefined) {
    const raw = input.styleLayers ?? base.styleLayers;
    let entries: { layer: unknown; weight?: unknown }[];
    if (Array.isArray(raw) && raw.length > 0 && raw.every((e) => e && typeof e === 'object' && !Array.isArray(e))) entries = raw as { layer: unknown; weight?: unknown }[];
    else entries = layerList('styleLayers', raw).map((layer) => ({ layer }));
    entries.forEach((e, i) => {
      if (typeof e.layer !== 'string') bad(`styleLayers[${i}].layer must be a layer name such as "conv1_1" (got ${shown(e.layer)}).`);
    });
    const weights = input.styleLayerWeights === undefined ? undefined
      : typeof input.styleLayerWeights === 'string' ? input.styleLayerWeights.split(',').map(Number) : input.styleLayerWeights;
    if (weights !== undefined && (!Array.isArray(weights) || weights.length !== entries.length)) {
      bad(`styleLayerWeights needs one weight per style layer (${entries.length}).`);
    }
    out.styleLayers = entries.map((e, i) => {
      const w = weights ? weights[i] : e.weight ?? 1;
      if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) bad(`style layer weight for ${e.layer} must be a number >= 0 (got ${shown(w)}).`);
      return { layer: wrapLayer(e.layer as string), weight: w };
    });
  }
  if (input.preserveColors !== undefined) {
    if (typeof input.preserveColors !== 'boolean') bad(`preserveColors must be true or false (got ${shown(input.preserveColors)}).`);
    out.preserveColors = input.preserveColors;
  }
  if (input.scales !== undefined) {
    const v = input.scales;
    if (v === 'auto' || v === 'off') out.scales = v;
    else out.scales = intList('scales', v, SETTING_BOUNDS.size);
  }
  if (input.scaleIterations !== undefined) out.scaleIterations = intList('scaleIterations', input.scaleIterations, SETTING_BOUNDS.iterations);
  const s = out as unknown as StylizeSettings;
  // A learning rate not given follows the optimizer: --optimizer adam alone is the seed's Adam.
  if (input.learningRate === undefined) s.learningRate = DEFAULT_LEARNING_RATE[s.optimizer];
  // The whole scale plan is checked here, so a bad one is refused before a job is queued.
  planScales(s.size, s.iterations, s.scales, s.scaleIterations);
  if (s.contentWeight === 0 && s.styleWeight === 0) bad('contentWeight and styleWeight cannot both be 0: nothing would be optimized.');
  return s;
}
