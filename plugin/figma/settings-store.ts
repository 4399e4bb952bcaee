/** Settings persisted per user in figma.clientStorage. */
import { EditorError } from '../editor/editor.ts';
import { SettingsError, coerceStoredSettings, validateSettings, type PluginSettings } from '../editor/settings.ts';
import type { FigmaApi } from './api.ts';

export const SETTINGS_KEY = 'stylize.settings.v1';

/** Stored settings, with any missing or invalid field at its default (a bad value never locks the user out). */
export async function loadSettings(figma: Pick<FigmaApi, 'clientStorage'>): Promise<PluginSettings> {
  let stored: unknown;
  try {
    stored = await figma.clientStorage.getAsync(SETTINGS_KEY);
  } catch {
    stored = undefined; // unreadable storage: start from the defaults rather than not at all
  }
  return coerceStoredSettings(stored).settings;
}

export async function saveSettings(figma: Pick<FigmaApi, 'clientStorage'>, settings: unknown): Promise<PluginSettings> {
  let valid: PluginSettings;
  try {
    valid = validateSettings((settings ?? {}) as Partial<PluginSettings>);
  } catch (err) {
    if (err instanceof SettingsError) throw new EditorError('bad_request', err.message);
    throw err;
  }
  try {
    // A plain object: clientStorage keeps structured-clonable values.
    await figma.clientStorage.setAsync(SETTINGS_KEY, { ...valid });
  } catch (err) {
    throw new EditorError('storage_failed', `Figma could not save the settings: ${err instanceof Error ? err.message : String(err)}.`);
  }
  return valid;
}
