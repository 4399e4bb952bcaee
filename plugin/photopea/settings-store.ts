/**
 * Settings persisted in the page's own storage (localStorage of the companion's origin; inside
 * Photopea the browser keeps it in a partition for photopea.com). A bad stored value never locks
 * the user out: it falls back to its default.
 */
import { HostError } from '../host/host.ts';
import { SettingsError, coerceStoredSettings, validateSettings, type PluginSettings } from '../host/settings.ts';

export const SETTINGS_KEY = 'stylize.settings.v1';

/** The slice of the Web Storage API used (localStorage, or a stand-in in tests). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** localStorage, or null when the browser refuses it (blocked third-party storage throws on access). */
export function pageStorage(): StorageLike | null {
  try {
    const s = globalThis.localStorage;
    s.getItem(SETTINGS_KEY);
    return s;
  } catch {
    return null;
  }
}

const CLIENT_ID_KEY = 'stylize.clientId.v1';

/**
 * This page's id for the companion's kept results: made once and stored. Without storage (blocked
 * third-party storage) every Photopea panel of this browser shares one id, so a reopened panel
 * still finds its results.
 */
export function photopeaClientId(storage: StorageLike | null): string {
  try {
    const stored = storage?.getItem(CLIENT_ID_KEY);
    if (stored && /^[A-Za-z0-9_-]{8,64}$/.test(stored)) return stored;
    if (!storage) return 'photopea-page';
    const id = `photopea-${Math.random().toString(36).slice(2, 12)}${Date.now().toString(36)}`;
    storage.setItem(CLIENT_ID_KEY, id);
    return id;
  } catch {
    return 'photopea-page';
  }
}

/** Said once when the browser keeps no storage for the page (the settings still last the session). */
export const STORAGE_BLOCKED =
  'This browser keeps no data for pages inside Photopea (third-party storage is blocked, as in private windows or with ' +
  '“Block third-party cookies”), so the plugin keeps its settings and token only until Photopea is closed. ' +
  'To keep them, allow third-party cookies for www.photopea.com in the browser’s settings.';

export class PageSettingsStore {
  private memory: string | null = null;
  private toldBlocked = false;

  /**
   * `port`: the companion this page came from; the page can only talk to the companion that served
   * it (its origin is that companion's), so the port is always that one.
   */
  constructor(private readonly storage: StorageLike | null, private readonly port: number | null) {}

  /** Whether settings outlive the page. */
  get persistent(): boolean {
    return this.storage !== null;
  }

  load(): PluginSettings {
    let text: string | null = this.memory;
    try {
      if (this.storage) text = this.storage.getItem(SETTINGS_KEY) ?? this.memory;
    } catch {
      text = this.memory; // unreadable storage: start from what this page has, or the defaults
    }
    let stored: unknown;
    try {
      stored = text === null ? undefined : JSON.parse(text);
    } catch {
      stored = undefined;
    }
    const { settings } = coerceStoredSettings(stored);
    return this.port === null ? settings : { ...settings, port: this.port };
  }

  /**
   * Validates and stores. Without storage the settings are kept for this page's life, and the first
   * save says so (HostError storage_failed) once; later saves succeed quietly.
   */
  save(input: unknown): PluginSettings {
    let valid: PluginSettings;
    try {
      valid = validateSettings((input ?? {}) as Partial<PluginSettings>);
    } catch (err) {
      if (err instanceof SettingsError) throw new HostError('bad_request', err.message);
      throw err;
    }
    if (this.port !== null) valid = { ...valid, port: this.port };
    const text = JSON.stringify(valid);
    this.memory = text;
    if (!this.storage) {
      if (this.toldBlocked) return valid;
      this.toldBlocked = true;
      throw new HostError('storage_failed', STORAGE_BLOCKED);
    }
    try {
      this.storage.setItem(SETTINGS_KEY, text);
    } catch (err) {
      throw new HostError('storage_failed', `The browser could not save the settings: ${err instanceof Error ? err.message : String(err)}. They last until Photopea is closed.`);
    }
    return valid;
  }
}
