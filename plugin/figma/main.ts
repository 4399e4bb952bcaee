/**
 * Figma main-thread entry (bundled to dist/plugin/code.js). Thin on purpose: it hands the real
 * `figma` global and the bundled UI (`__html__`) to FigmaMainThread, which tests drive with a fake.
 * Both are read as bare names: Figma provides them in the scope it evaluates plugin code in, which
 * is not documented to be `globalThis`. Type-checked by plugin/tsconfig.json (the plugin typings
 * declare both); the repository's tsconfig leaves this file out.
 */
import type { FigmaApi } from './api.ts';
import { FigmaMainThread } from './controller.ts';

// The global typings and the standalone ones FigmaApi uses declare `figma.mixed` twice (two
// unique symbols), so the same object needs this cast to cross between them.
new FigmaMainThread(figma as unknown as FigmaApi).start(__html__);
