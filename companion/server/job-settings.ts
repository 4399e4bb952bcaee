/**
 * A job's settings as a client sends them, checked against the engine's bounds and this daemon's
 * limits. Every refusal is a ProtocolError (bad_setting) naming the setting; nothing else escapes.
 */
import { ProtocolError } from '../../protocol/errors.ts';
import type { WireSettings } from '../../protocol/messages.ts';
import { SETTING_BOUNDS } from '../engine/settings.ts';
import { toEngineSettings } from './wire-settings.ts';
import type { StylizeSettings } from '../engine/types.ts';

export interface JobSettingLimits {
  /** Largest output long side; every scale of the plan is at most the size, so at most this too. */
  maxSize: number;
  /** Used when the job does not say. */
  defaultSize: number;
  previewEvery: number;
}

export function checkJobSettings(raw: WireSettings | undefined, limits: JobSettingLimits): { settings: Partial<StylizeSettings>; resolved: StylizeSettings } {
  if (raw !== undefined && (raw === null || typeof raw !== 'object' || Array.isArray(raw))) {
    throw new ProtocolError('bad_setting', 'settings must be an object such as {"size": 512, "iterations": 300}.');
  }
  const settings: Record<string, unknown> = { ...(raw ?? {}) };
  if (settings.previewEvery === undefined) settings.previewEvery = limits.previewEvery;
  if (settings.size === undefined) settings.size = limits.defaultSize;
  const resolved = toEngineSettings(settings);
  if (resolved.size > limits.maxSize) {
    throw new ProtocolError('bad_setting', `size must be between ${SETTING_BOUNDS.size.min} and ${limits.maxSize} on this companion (got ${resolved.size}); its owner can raise --max-size.`);
  }
  return { settings: settings as Partial<StylizeSettings>, resolved };
}
