/**
 * The job settings, each said once: its name, CLI flag, default, bounds, type and help. settings.ts
 * derives DEFAULT_SETTINGS and SETTING_BOUNDS from it (the daemon sends those in capabilities), the
 * CLI its usage and option parser (cli/run-options.ts), and scripts/settings-table.ts the docs' table.
 * The defaults are Stylize's plan; `recipe: 'seed'` swaps in the CS20SI seed's (settings.ts).
 */
import type { StylizeSettings } from './types.ts';

/** How a value is written on the command line and checked by resolveSettings. */
export type SettingType =
  | 'integer' | 'number' | 'choice' | 'switch'
  /** Comma list of VGG-19 layer names (paper or Keras form). */
  | 'layers'
  /** Comma list of whole numbers (or 'auto' / 'off' for scales). */
  | 'integers' | 'scales'
  /** Comma list of numbers. */
  | 'numbers';

/** Where an option appears in the usage text. */
export type OptionGroup = 'Output' | 'Optimization' | 'Loss' | 'Scale' | 'Compute';

/** One command-line option as the usage text and the docs show it. */
export interface OptionDoc {
  /** Long name without the dashes. */
  flag: string;
  short?: string;
  /** Placeholder of its argument (N, X, FILE, adam|lbfgs); none for a switch. */
  value?: string;
  group: OptionGroup;
  /** The default as a user reads it; '' when there is none to state. */
  shownDefault: string;
  help: string;
  bounds?: { readonly min: number; readonly max: number };
}

export interface SettingSpec<T> {
  flag: string;
  group: OptionGroup;
  type: SettingType;
  /** The engine's default; undefined: derived at run time (see help). */
  default: T;
  /** Shown instead of the default where the raw value would mislead (layer forms, derived values). */
  shownDefault?: string;
  bounds?: { readonly min: number; readonly max: number };
  choices?: readonly string[];
  /** Placeholder when the type's own (N, X, L) is not the clearest. */
  value?: string;
  help: string;
}

export const SEED_STYLE_LAYER_WEIGHTS = [0.5, 1, 1.5, 3, 4];

export const SEED_STYLE_LAYERS = ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1'] as const;

/** Adam's step is in pixel units (the seed's 2); L-BFGS's is a multiple of its curvature-scaled step (1). */
export const DEFAULT_LEARNING_RATE: Record<StylizeSettings['optimizer'], number> = { adam: 2, lbfgs: 1 };

/**
 * Every setting of StylizeSettings (the `satisfies` makes a missing or unknown one a type error),
 * plus styleLayerWeights, an input-only way to give the style layers' weights. Order = usage order.
 */
export const SETTING_TABLE = {
  recipe: {
    flag: 'recipe', group: 'Optimization', type: 'choice', default: 'stylize', choices: ['stylize', 'seed'],
    help: "defaults of the settings not given: Stylize's plan, or the CS20SI seed recipe (Adam lr 2 x 300, one scale, noise init, its loss scaling, layer weights and content weight 0.01)",
  },
  size: {
    flag: 'size', group: 'Output', type: 'integer', default: 333, bounds: { min: 16, max: 4096 },
    help: "long side of the output in pixels; the content's aspect ratio is kept, and the short side must come to at least 16 px (4096 is Figma's image limit)",
  },
  previewEvery: {
    flag: 'save-every', group: 'Output', type: 'integer', default: 0, bounds: { min: 0, max: 10000 }, shownDefault: '0 = off',
    help: 'a preview every N iterations; the CLI writes each as OUT-iterN.png',
  },
  iterations: {
    flag: 'iterations', group: 'Optimization', type: 'integer', default: 35, bounds: { min: 1, max: 10000 },
    help: 'optimizer iterations: at the output size; with --scales auto from 362 px, at half the size, then 0.7x at the size (a 128 px head runs half)',
  },
  optimizer: {
    flag: 'optimizer', group: 'Optimization', type: 'choice', default: 'lbfgs', choices: ['adam', 'lbfgs'],
    help: "L-BFGS is jcjohnson/neural-style's default; Adam is the seed's",
  },
  learningRate: {
    flag: 'learning-rate', group: 'Optimization', type: 'number', default: DEFAULT_LEARNING_RATE.lbfgs, bounds: { min: 1e-4, max: 1000 },
    shownDefault: Object.entries(DEFAULT_LEARNING_RATE).map(([name, rate]) => `${rate} with ${name}`).join(', '),
    help: 'Adam step size (pixel units), or L-BFGS step scale',
  },
  init: {
    flag: 'init', group: 'Optimization', type: 'choice', default: 'styled', choices: ['styled', 'noise', 'content', 'random'],
    help: "start image: the content in the style's colours, the seed's noise blend, the content, or noise alone",
  },
  noiseRatio: {
    flag: 'noise-ratio', group: 'Optimization', type: 'number', default: 0.6, bounds: { min: 0, max: 1 },
    help: 'share of U(-20, 20) noise in the noise init',
  },
  seed: {
    flag: 'seed', group: 'Optimization', type: 'integer', default: 0, bounds: { min: 0, max: 2 ** 32 - 1 },
    help: 'seed of the initial noise; same seed + same backend = same result',
  },
  contentWeight: {
    flag: 'content-weight', group: 'Loss', type: 'number', default: 0.01, bounds: { min: 0, max: 1e6 },
    help: 'weight of the content loss (the seed recipe: 0.01 on its own loss scaling)',
  },
  styleWeight: {
    flag: 'style-weight', group: 'Loss', type: 'number', default: 1, bounds: { min: 0, max: 1e6 },
    help: 'weight of the style loss',
  },
  tvWeight: {
    flag: 'tv-weight', group: 'Loss', type: 'number', default: 0, bounds: { min: 0, max: 1e6 },
    help: 'total-variation smoothing (try 1e-3 .. 1e-2)',
  },
  lossNormalization: {
    flag: 'loss-normalization', group: 'Loss', type: 'choice', default: 'target', choices: ['target', 'seed'],
    help: "target: each term is a relative error against its target, so weights mean shares; seed: CS20SI's scaling",
  },
  contentLayers: {
    flag: 'content-layers', group: 'Loss', type: 'layers', default: ['block4_conv2'], shownDefault: 'conv4_2',
    help: 'comma list of VGG-19 layers (conv4_2 or block4_conv2)',
  },
  styleLayers: {
    flag: 'style-layers', group: 'Loss', type: 'layers',
    default: SEED_STYLE_LAYERS.map((layer) => ({ layer, weight: 1 })),
    shownDefault: 'conv1_1,conv2_1,conv3_1,conv4_1,conv5_1',
    help: 'comma list of VGG-19 layers',
  },
  styleLayerWeights: {
    flag: 'style-layer-weights', group: 'Loss', type: 'numbers', default: undefined, shownDefault: '1,1,1,1,1',
    help: `one weight per style layer (the seed recipe: ${SEED_STYLE_LAYER_WEIGHTS.join(',')})`,
  },
  pooling: {
    flag: 'pooling', group: 'Loss', type: 'choice', default: 'avg', choices: ['avg', 'max'],
    help: 'pooling between blocks',
  },
  styleScale: {
    flag: 'style-scale', group: 'Loss', type: 'number', default: 1, bounds: { min: 0.05, max: 4 },
    help: 'style image size relative to the output (smaller = finer strokes)',
  },
  preserveColors: {
    flag: 'preserve-colors', group: 'Loss', type: 'switch', default: false, shownDefault: 'off',
    help: "keep the content's colours: luminance-only transfer (Gatys et al. 2017)",
  },
  scales: {
    flag: 'scales', group: 'Scale', type: 'scales', default: 'auto', value: 'auto|off|L',
    help: 'coarse-to-fine long sides, e.g. 256,512,1024; auto = 128, half the size, the size (one scale under 362 px)',
  },
  scaleIterations: {
    flag: 'scale-iterations', group: 'Scale', type: 'integers', default: undefined, shownDefault: '',
    help: 'iterations per scale; with an explicit --scales L, default --iterations at the coarsest, half at each finer scale (at least 10)',
  },
} satisfies { [K in keyof StylizeSettings]-?: SettingSpec<StylizeSettings[K]> } & { styleLayerWeights: SettingSpec<number[] | undefined> };

export type SettingKey = keyof typeof SETTING_TABLE;

export const SETTING_KEYS = Object.keys(SETTING_TABLE) as SettingKey[];

/** The settings that take a number within bounds. */
export type BoundedKey = { [K in SettingKey]: (typeof SETTING_TABLE)[K] extends { bounds: object } ? K : never }[SettingKey];

/** A setting's row by key, widened so callers can read any field. */
export function settingSpec(key: SettingKey): SettingSpec<unknown> {
  return SETTING_TABLE[key] as SettingSpec<unknown>;
}

const PLACEHOLDER: Record<SettingType, string | undefined> = {
  integer: 'N', number: 'X', choice: undefined, switch: undefined, layers: 'L', integers: 'L', scales: 'L', numbers: 'L',
};

/** A setting as a command-line option. */
export function settingOption(key: SettingKey): OptionDoc {
  const s = settingSpec(key);
  const value = s.value ?? (s.type === 'choice' ? s.choices!.join('|') : PLACEHOLDER[s.type]);
  return { flag: s.flag, value, group: s.group, shownDefault: s.shownDefault ?? String(s.default ?? ''), help: s.help, bounds: s.bounds };
}
