/**
 * Figma main-thread entry (bundled to dist/plugin/code.js). Thin on purpose: it hands the real
 * `figma` global and the bundled UI (`__html__`) to FigmaMainThread, which tests drive with a fake.
 */
import type { FigmaApi } from './api.ts';
import { FigmaMainThread } from './controller.ts';

// Read through globalThis so this file also type-checks in the repository's DOM/Node tsconfig.
const globals = globalThis as unknown as { figma: FigmaApi; __html__: string };

new FigmaMainThread(globals.figma).start(globals.__html__);
