/** Reading the selection: which layers can be stylized, their bounds, and their pixels as PNG. */
import { EditorError, THUMBNAIL_SIDE, type Bounds, type LayerPixels, type LayerSummary } from '../editor/editor.ts';
import { exportConstraint, pngSize } from '../editor/png.ts';
import { MAX_IMAGE_SIDE } from '../editor/settings.ts';
import { isUprightTransform, type BaseNode, type FigmaApi, type SceneNode, type Transform } from './api.ts';

type Exportable = SceneNode & { exportAsync(settings: { format: 'PNG'; constraint: { type: 'WIDTH' | 'HEIGHT'; value: number }; useAbsoluteBounds: boolean }): Promise<Uint8Array> };

function hasExport(node: SceneNode): node is Exportable {
  return typeof (node as { exportAsync?: unknown }).exportAsync === 'function';
}

/** Where the layer is on the page (what an export with useAbsoluteBounds renders). */
export function layerBounds(node: SceneNode): Bounds {
  const box = 'absoluteBoundingBox' in node ? node.absoluteBoundingBox : null;
  if (box) return { x: box.x, y: box.y, width: box.width, height: box.height };
  const n = node as { x?: number; y?: number; width?: number; height?: number };
  return { x: n.x ?? 0, y: n.y ?? 0, width: n.width ?? 0, height: n.height ?? 0 };
}

function absoluteTransform(node: SceneNode): Transform | null {
  return 'absoluteTransform' in node ? node.absoluteTransform : null;
}

function hasChildren(node: SceneNode): boolean {
  return 'children' in node && Array.isArray(node.children) && node.children.length > 0;
}

/** Why a layer cannot be exported for a job, or undefined when it can. */
export function layerProblem(node: SceneNode): string | undefined {
  if (!hasExport(node)) return `“${node.name}” is a ${node.type.toLowerCase()} layer, which Figma cannot export as an image. Select a shape, frame, group or image instead.`;
  if (node.visible === false) return `“${node.name}” is hidden. Show it (eye icon in the layers panel) to stylize it.`;
  const b = layerBounds(node);
  if (!(b.width >= 1) || !(b.height >= 1)) return `“${node.name}” has no area (a line or an empty layer). Select a layer at least 1×1.`;
  return undefined;
}

/** FigJam objects that draw their own colour, text or line: a picture fill would not show as stylized. */
const FIGJAM_OWN_LOOK: Partial<Record<SceneNode['type'], string>> = {
  STICKY: 'A sticky note keeps its own colour and text',
  SHAPE_WITH_TEXT: 'A FigJam shape keeps its own colour and text',
  CONNECTOR: 'A connector is a line with no fill of its own',
};

/** The layer's own strokes, effects or opacity, which its export already shows (empty when none). */
function ownAppearance(node: SceneNode): string[] {
  const visible = (list: unknown) => Array.isArray(list) && list.some((x: { visible?: boolean }) => x.visible !== false);
  const found: string[] = [];
  if ('strokes' in node && visible(node.strokes) && !('strokeWeight' in node && node.strokeWeight === 0)) found.push('a stroke');
  if ('effects' in node && visible(node.effects)) found.push('effects (such as a shadow or blur)');
  if ('opacity' in node && typeof node.opacity === 'number' && node.opacity < 1) found.push(`${Math.round(node.opacity * 100)}% opacity`);
  return found;
}

/** Whether "replace" can put the result into the layer's own fills; otherwise why not. */
export function replaceability(node: SceneNode): { canReplace: boolean; replaceNote?: string } {
  const fallback = ' The result will be added as a new layer above it instead.';
  const figjam = FIGJAM_OWN_LOOK[node.type];
  if (figjam) return { canReplace: false, replaceNote: `${figjam}.${fallback}` };
  if (!('fills' in node)) return { canReplace: false, replaceNote: `A ${node.type.toLowerCase()} has no fill of its own.${fallback}` };
  // A section has fills (its background, behind everything it holds), not a picture's place.
  if (node.type === 'SECTION') return { canReplace: false, replaceNote: `A section's fill is its background, behind what it holds, not a place for a picture.${fallback}` };
  if (node.type === 'TEXT') return { canReplace: false, replaceNote: `Filling text with the picture would not show the stylized text.${fallback}` };
  const own = ownAppearance(node);
  if (own.length) {
    // The export the job started from already shows them; in the fill they would apply twice.
    const list = own.length > 1 ? `${own.slice(0, -1).join(', ')} and ${own[own.length - 1]}` : own[0];
    return { canReplace: false, replaceNote: `“${node.name}” has ${list}, which the stylized picture already shows; in its fill they would show twice.${fallback}` };
  }
  if (hasChildren(node)) return { canReplace: false, replaceNote: `“${node.name}” contains other layers, which would cover the picture.${fallback}` };
  const t = absoluteTransform(node);
  if (t && !isUprightTransform(t)) return { canReplace: false, replaceNote: `“${node.name}” is rotated or flipped, so its fill would turn the picture again.${fallback}` };
  return { canReplace: true };
}

export function summarizeNode(node: SceneNode): LayerSummary {
  const b = layerBounds(node);
  const summary: LayerSummary = {
    id: node.id,
    name: node.name,
    type: node.type,
    width: b.width,
    height: b.height,
    ...replaceability(node),
  };
  const problem = layerProblem(node);
  if (problem) summary.problem = problem;
  return summary;
}

export function summarizeSelection(figma: FigmaApi): LayerSummary[] {
  return figma.currentPage.selection.map(summarizeNode);
}

function isSceneNode(node: BaseNode | null): node is SceneNode {
  return node !== null && node.type !== 'DOCUMENT' && node.type !== 'PAGE' && !node.removed;
}

/** Finds a layer by id (works across pages with documentAccess "dynamic-page"). */
export async function findLayer(figma: FigmaApi, id: string): Promise<SceneNode | null> {
  const node = await figma.getNodeByIdAsync(id);
  return isSceneNode(node) ? node : null;
}

/**
 * Renders a layer as PNG with its long side at most maxSide px, never over Figma's 4096 px
 * image limit (a result bigger than that could not be put back into the file).
 */
export async function exportLayer(figma: FigmaApi, id: string, maxSide: number): Promise<LayerPixels> {
  if (!Number.isFinite(maxSide) || maxSide < 1) throw new EditorError('bad_request', `The export size must be at least 1 px; got ${maxSide}.`);
  const node = await findLayer(figma, id);
  if (!node) throw new EditorError('not_found', 'The layer no longer exists (deleted, or its page was closed). Select it again.');
  const problem = layerProblem(node);
  if (problem || !hasExport(node)) throw new EditorError('unsupported', problem ?? `“${node.name}” cannot be exported.`);
  const bounds = layerBounds(node);
  const c = exportConstraint(bounds.width, bounds.height, maxSide, MAX_IMAGE_SIDE);
  let png: Uint8Array;
  try {
    // useAbsoluteBounds: the picture covers exactly the layer's box, so the result lines up with it.
    png = await node.exportAsync({ format: 'PNG', constraint: { type: c.type, value: c.value }, useAbsoluteBounds: true });
  } catch (err) {
    throw new EditorError('export_failed', `Figma could not render “${node.name}”: ${err instanceof Error ? err.message : String(err)}. Try a smaller output size.`);
  }
  const size = pngSize(png);
  if (!size) throw new EditorError('export_failed', `Figma returned something that is not a PNG for “${node.name}”.`);
  if (size.width > MAX_IMAGE_SIDE || size.height > MAX_IMAGE_SIDE) {
    throw new EditorError('too_large', `“${node.name}” rendered at ${size.width}×${size.height} px, over Figma's ${MAX_IMAGE_SIDE} px limit. Lower the output size.`);
  }
  return { id: node.id, name: node.name, png, pixelWidth: size.width, pixelHeight: size.height, bounds };
}

/** A small preview of a layer for the UI's list; null when it cannot be rendered. */
export async function exportThumbnail(node: SceneNode): Promise<Uint8Array | null> {
  if (layerProblem(node) || !hasExport(node)) return null;
  const b = layerBounds(node);
  const c = exportConstraint(b.width, b.height, THUMBNAIL_SIDE, MAX_IMAGE_SIDE);
  try {
    return await node.exportAsync({ format: 'PNG', constraint: { type: c.type, value: c.value }, useAbsoluteBounds: true });
  } catch {
    return null;
  }
}
