/**
 * The plugin's user settings: their shape, defaults, validation, and how "strength" maps onto the
 * engine's content/style weights. Pure TypeScript, no DOM and no editor API, so every editor
 * (Figma's main thread, a Photopea page) and the UI share one definition.
 */

export type OutputMode = 'new-layer' | 'replace';
export type PluginOptimizer = 'adam' | 'lbfgs';

export interface PluginSettings {
  /** Optimizer iterations of the companion's plan: at the output size, or from 362 px at half of it, with 0.7x at the output size (see docs/quality.md). */
  iterations: number;
  /** 0..100: 0 keeps the layer's content almost untouched, 100 lets the style dominate (see strengthToWeights). */
  strength: number;
  /** Long side of the stylized picture in pixels (the layer's aspect ratio is kept). */
  outputSize: number;
  optimizer: PluginOptimizer;
  /** Keep the layer's own colours: the style changes only light and texture (luminance-only transfer). */
  preserveColors: boolean;
  /** Size of the style's brush strokes: the style image's size relative to the output (0.25..2). */
  styleScale: number;
  /** Place the result as a new layer above the source, or put it into the source's fills. */
  outputMode: OutputMode;
  /** The companion's access token (printed by the companion on first start). */
  token: string;
  /** The companion's port on localhost. */
  port: number;
  /** The style last used from the companion's library (its id), so the picker opens on it. */
  lastStyleId: string;
}

/** Figma cannot hold an image over 4096 px on either side (figma.createImage rejects it). */
export const MAX_IMAGE_SIDE = 4096;
export const DEFAULT_PORT = 7849;

/** The companion's default plan (companion/engine/settings.ts): L-BFGS, coarse to fine. */
export const DEFAULT_SETTINGS: Readonly<PluginSettings> = Object.freeze({
  iterations: 35,
  strength: 100,
  outputSize: 512,
  optimizer: 'lbfgs',
  preserveColors: false,
  styleScale: 1,
  outputMode: 'new-layer',
  token: '',
  port: DEFAULT_PORT,
  lastStyleId: '',
});

export const SETTING_LIMITS = {
  iterations: { min: 1, max: 5000 },
  strength: { min: 0, max: 100 },
  outputSize: { min: 64, max: MAX_IMAGE_SIDE },
  styleScale: { min: 0.25, max: 2 },
  port: { min: 1, max: 65535 },
} as const;

export class SettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SettingsError';
  }
}

function intIn(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || !Number.isInteger(value)) {
    throw new SettingsError(`${name} must be a whole number between ${min} and ${max}; got ${JSON.stringify(value)}.`);
  }
  if (value < min || value > max) {
    throw new SettingsError(`${name} must be between ${min} and ${max}; got ${value}.`);
  }
  return value;
}

/**
 * Checks a full or partial settings object strictly (for values a user just typed):
 * returns the merged settings or throws SettingsError naming the bad field and the allowed range.
 */
export function validateSettings(input: Partial<PluginSettings>, base: PluginSettings = DEFAULT_SETTINGS): PluginSettings {
  const out: PluginSettings = { ...base };
  if (input.iterations !== undefined) out.iterations = intIn('Iterations', input.iterations, SETTING_LIMITS.iterations.min, SETTING_LIMITS.iterations.max);
  if (input.strength !== undefined) out.strength = intIn('Strength', input.strength, SETTING_LIMITS.strength.min, SETTING_LIMITS.strength.max);
  if (input.outputSize !== undefined) out.outputSize = intIn('Output size', input.outputSize, SETTING_LIMITS.outputSize.min, SETTING_LIMITS.outputSize.max);
  if (input.port !== undefined) out.port = intIn('Port', input.port, SETTING_LIMITS.port.min, SETTING_LIMITS.port.max);
  if (input.optimizer !== undefined) {
    if (input.optimizer !== 'adam' && input.optimizer !== 'lbfgs') {
      throw new SettingsError(`Optimizer must be "adam" or "lbfgs"; got ${JSON.stringify(input.optimizer)}.`);
    }
    out.optimizer = input.optimizer;
  }
  if (input.preserveColors !== undefined) {
    if (typeof input.preserveColors !== 'boolean') throw new SettingsError(`Preserve colours must be on or off; got ${JSON.stringify(input.preserveColors)}.`);
    out.preserveColors = input.preserveColors;
  }
  if (input.styleScale !== undefined) {
    const v = input.styleScale;
    const { min, max } = SETTING_LIMITS.styleScale;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      throw new SettingsError(`Style scale must be a number between ${min} and ${max}; got ${JSON.stringify(v)}.`);
    }
    out.styleScale = v;
  }
  if (input.outputMode !== undefined) {
    if (input.outputMode !== 'new-layer' && input.outputMode !== 'replace') {
      throw new SettingsError(`Output mode must be "new-layer" or "replace"; got ${JSON.stringify(input.outputMode)}.`);
    }
    out.outputMode = input.outputMode;
  }
  if (input.token !== undefined) {
    if (typeof input.token !== 'string') throw new SettingsError('The token must be text.');
    out.token = input.token.trim();
  }
  if (input.lastStyleId !== undefined) {
    if (typeof input.lastStyleId !== 'string') throw new SettingsError('The style id must be text.');
    out.lastStyleId = input.lastStyleId;
  }
  return out;
}

/**
 * Reads settings persisted by an earlier version or edited by hand: every field that is missing
 * or invalid falls back to its default instead of failing, so a bad stored value never locks
 * the user out of the plugin. Returns the settings and the names of the fields that were reset.
 */
export function coerceStoredSettings(stored: unknown): { settings: PluginSettings; reset: string[] } {
  const settings: PluginSettings = { ...DEFAULT_SETTINGS };
  const reset: string[] = [];
  if (stored === undefined || stored === null) return { settings, reset };
  if (typeof stored !== 'object' || Array.isArray(stored)) return { settings, reset: ['all'] };
  const record = stored as Record<string, unknown>;
  for (const key of Object.keys(DEFAULT_SETTINGS) as (keyof PluginSettings)[]) {
    if (!(key in record)) continue;
    try {
      Object.assign(settings, validateSettings({ [key]: record[key] } as Partial<PluginSettings>, settings));
    } catch {
      reset.push(key);
    }
  }
  return { settings, reset };
}
