/**
 * The slice of Figma's plugin API the main thread uses, typed from @figma/plugin-typings.
 * Every function takes this object as a parameter (the real `figma` global in production, a
 * fake in tests), so the logic is testable without Figma. PluginAPI is assignable to FigmaApi.
 */
import type {
  BaseNode, ClientStorageAPI, Image, NotificationHandler, NotificationOptions, PluginAPI,
  RectangleNode, SceneNode, ShowUIOptions, Transform, UIAPI,
} from '@figma/plugin-typings/plugin-api-standalone.js';

export type {
  BaseNode, Image, ImagePaint, Paint, PluginAPI, RectangleNode, SceneNode, Transform,
} from '@figma/plugin-typings/plugin-api-standalone.js';

export interface FigmaApi {
  readonly editorType: PluginAPI['editorType'];
  readonly currentPage: { readonly id: string; readonly selection: ReadonlyArray<SceneNode> };
  getNodeByIdAsync(id: string): Promise<BaseNode | null>;
  createImage(data: Uint8Array): Image;
  createRectangle(): RectangleNode;
  commitUndo(): void;
  readonly clientStorage: ClientStorageAPI;
  on(type: 'selectionchange' | 'close', callback: () => void): void;
  readonly ui: Pick<UIAPI, 'postMessage' | 'onmessage' | 'resize'>;
  showUI(html: string, options?: ShowUIOptions): void;
  notify(message: string, options?: NotificationOptions): NotificationHandler;
  closePlugin(message?: string): void;
}

export const IDENTITY: Transform = [[1, 0, 0], [0, 1, 0]];

/** a·b for 2x3 affine transforms (Figma's [[a, c, tx], [b, d, ty]] layout). */
export function multiply(a: Transform, b: Transform): Transform {
  return [
    [a[0][0] * b[0][0] + a[0][1] * b[1][0], a[0][0] * b[0][1] + a[0][1] * b[1][1], a[0][0] * b[0][2] + a[0][1] * b[1][2] + a[0][2]],
    [a[1][0] * b[0][0] + a[1][1] * b[1][0], a[1][0] * b[0][1] + a[1][1] * b[1][1], a[1][0] * b[0][2] + a[1][1] * b[1][2] + a[1][2]],
  ];
}

export function invert(t: Transform): Transform {
  const [[a, c, tx], [b, d, ty]] = t;
  const det = a * d - b * c;
  if (Math.abs(det) < 1e-12) throw new Error('A layer has a degenerate transform (zero scale).');
  return [
    [d / det, -c / det, (c * ty - d * tx) / det],
    [-b / det, a / det, (b * tx - a * ty) / det],
  ];
}

/** True when t only translates and scales by positive factors (no rotation, skew or flip). */
export function isUprightTransform(t: Transform, eps = 1e-6): boolean {
  return Math.abs(t[0][1]) < eps && Math.abs(t[1][0]) < eps && t[0][0] > 0 && t[1][1] > 0;
}
