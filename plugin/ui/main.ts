/**
 * UI entry for Figma (bundled and inlined into dist/plugin/ui.html). The UI only knows the Editor
 * interface; here it gets Figma's, which speaks postMessage to the main thread.
 */
import { PostMessageEditor, figmaWindowPort } from '../editor/post-message-editor.ts';
import { App } from './app.ts';
import './styles.css';

/** Set by the build from manifest.json: the editor name and ports Figma's CSP lets this window reach. */
declare const __STYLIZE_FIGMA_NETWORK__: { address: string; ports: number[] };

const editor = new PostMessageEditor(figmaWindowPort(window), 'figma');
new App(editor, document, { network: __STYLIZE_FIGMA_NETWORK__ }).start().catch((err: unknown) => {
  const box = document.getElementById('general-error');
  if (box) {
    box.textContent = `The plugin could not start: ${err instanceof Error ? err.message : String(err)}. Close it and open it again.`;
    box.hidden = false;
  }
});
