/**
 * UI entry for Figma (bundled and inlined into dist/plugin/ui.html). The UI only knows the Host
 * interface; here it gets Figma's, which speaks postMessage to the main thread.
 */
import { PostMessageHost, figmaWindowPort } from '../host/post-message-host.ts';
import { App } from './app.ts';
import './styles.css';

/** Set by the build from manifest.json: the host name and ports Figma's CSP lets this window reach. */
declare const __STYLIZE_FIGMA_NETWORK__: { host: string; ports: number[] };

const host = new PostMessageHost(figmaWindowPort(window), 'figma');
new App(host, document, { network: __STYLIZE_FIGMA_NETWORK__ }).start().catch((err: unknown) => {
  const box = document.getElementById('general-error');
  if (box) {
    box.textContent = `The plugin could not start: ${err instanceof Error ? err.message : String(err)}. Close it and open it again.`;
    box.hidden = false;
  }
});
