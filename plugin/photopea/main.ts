/**
 * Photopea page entry (bundled and inlined into dist/plugin/photopea.html, served by the companion
 * at /photopea). The same UI as in Figma, with the Photopea host: scripts to window.parent.
 *   ?timeout=SECONDS   how long one Photopea script may take (default 30; large documents need more)
 */
import { App } from '../ui/app.ts';
import '../ui/styles.css';
import { PhotopeaBridge, parentWindowPort } from './bridge.ts';
import { PhotopeaHost } from './host.ts';
import { PageSettingsStore, pageStorage, photopeaClientId } from './settings-store.ts';

const params = new URLSearchParams(location.search);
const timeoutS = Math.min(600, Math.max(1, Number(params.get('timeout')) || 30));
const framed = window.parent !== window;
// Photopea's origin when the browser tells it (Chromium, Safari); '*' otherwise (see parentWindowPort).
const parentOrigin = location.ancestorOrigins?.[0] ?? '*';
const port = Number(location.port) || null;

const storage = pageStorage();
const bridge = new PhotopeaBridge(parentWindowPort(window, parentOrigin), { timeoutMs: timeoutS * 1000 });
const host = new PhotopeaHost({ bridge, settings: new PageSettingsStore(storage, port), framed });
// For diagnostics from the browser's console (and the tests): the host and its script queue.
(globalThis as unknown as { stylizePhotopea: unknown }).stylizePhotopea = { host, bridge };

// Photopea destroys a hidden panel: with a stable id, jobs outlive it and come back when it reopens.
new App(host, document, { clientId: photopeaClientId(storage) }).start().catch((err: unknown) => {
  const box = document.getElementById('general-error');
  if (box) {
    box.textContent = `The plugin could not start: ${err instanceof Error ? err.message : String(err)}. Reload the plugin panel.`;
    box.hidden = false;
  }
});
