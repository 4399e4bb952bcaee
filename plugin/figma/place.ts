/**
 * Putting a stylized picture into the document: a new image layer just above the source, or the
 * source's fills replaced. One undo step (or part of the batch's one step, see PlaceRequest.commit),
 * and the source is never deleted. A job's live layer (live.ts) becomes the new layer.
 */
import { EditorError, type Bounds, type PlaceOutcome, type PlaceRequest } from '../editor/editor.ts';
import { pngSize } from '../editor/png.ts';
import { MAX_IMAGE_SIDE } from '../editor/settings.ts';
import {
  IDENTITY, invert, multiply,
  type BaseNode, type FigmaApi, type Image, type ImagePaint, type RectangleNode, type SceneNode, type Transform,
} from './api.ts';
import type { LiveLayerRegistry } from './live.ts';
import { findLayer, layerBounds, replaceability } from './selection.ts';

/** Plugin data key holding the layer's fills from before the first replace (JSON), so they can be restored. */
export const ORIGINAL_FILLS_KEY = 'stylize.originalFills';

export function resultLayerName(sourceName: string, styleName: string): string {
  return styleName ? `${sourceName} · ${styleName}` : `${sourceName} · stylized`;
}

export function imagePaint(image: Image): ImagePaint {
  return { type: 'IMAGE', scaleMode: 'FILL', imageHash: image.hash };
}

type ParentNode = BaseNode & { readonly children: ReadonlyArray<SceneNode>; insertChild(index: number, child: SceneNode): void };

function isParent(node: BaseNode | null): node is ParentNode {
  return node !== null && 'insertChild' in node && 'children' in node;
}

/**
 * Where a new layer can go "just above" the source. Layers inside a boolean operation, an instance
 * or a component set cannot take a sibling (it would change the shape, or Figma refuses), so the
 * result goes above the nearest ancestor that can.
 */
export function insertionPoint(source: SceneNode): { parent: ParentNode; index: number } | null {
  let above: BaseNode = source;
  let parent = source.parent;
  while (parent && parent.type !== 'PAGE' && (
    parent.type === 'BOOLEAN_OPERATION' || parent.type === 'INSTANCE' || parent.type === 'COMPONENT_SET' || parent.id.includes(';')
  )) {
    above = parent;
    parent = parent.parent;
  }
  if (!isParent(parent)) return null;
  // By id: Figma hands out a new object for the same node on each read, so === never matches.
  const index = parent.children.findIndex((child) => child.id === above.id);
  return { parent, index: index < 0 ? parent.children.length : index + 1 };
}

/** The node a child's relativeTransform is measured against: groups and boolean operations are skipped. */
function transformContainer(node: BaseNode): BaseNode | null {
  let parent = node.parent;
  while (parent && (parent.type === 'GROUP' || parent.type === 'BOOLEAN_OPERATION')) parent = parent.parent;
  return parent;
}

function absoluteTransformOf(node: BaseNode | null): Transform {
  if (!node || node.type === 'PAGE' || node.type === 'DOCUMENT') return IDENTITY;
  return 'absoluteTransform' in node ? (node as SceneNode & { absoluteTransform: Transform }).absoluteTransform : IDENTITY;
}

/** Puts `rect` upright at `bounds` (page coordinates) whatever its container's transform. */
function positionAt(rect: RectangleNode, bounds: Bounds): void {
  const parent = rect.parent as (BaseNode & { layoutMode?: string }) | null;
  // In an auto-layout frame the new layer would be moved into the flow; keep it where the source is.
  if (parent && 'layoutMode' in parent && parent.layoutMode !== undefined && parent.layoutMode !== 'NONE') {
    rect.layoutPositioning = 'ABSOLUTE';
  }
  const target: Transform = [[1, 0, bounds.x], [0, 1, bounds.y]];
  rect.relativeTransform = multiply(invert(absoluteTransformOf(transformContainer(rect))), target);
}

/** A new image rectangle just above the source (or at `bounds` when the source is gone). */
export function createResultLayer(figma: FigmaApi, source: SceneNode | null, names: { sourceName: string; styleName: string }, image: Image, bounds: Bounds): RectangleNode {
  const rect = figma.createRectangle(); // Figma parents it under the current page
  try {
    rect.name = resultLayerName(source ? source.name : names.sourceName, names.styleName);
    rect.resize(Math.max(0.01, bounds.width), Math.max(0.01, bounds.height));
    rect.fills = [imagePaint(image)];
    rect.strokes = [];
    const point = source ? insertionPoint(source) : null;
    if (point) point.parent.insertChild(point.index, rect);
    positionAt(rect, bounds);
    return rect;
  } catch (err) {
    rect.remove(); // no half-made layer left behind
    throw err;
  }
}

export function checkResult(png: unknown): Uint8Array {
  if (!(png instanceof Uint8Array)) throw new EditorError('bad_request', 'The result picture is missing.');
  const size = pngSize(png);
  if (!size) throw new EditorError('bad_request', 'The result is not a PNG picture; the companion sent something unexpected.');
  if (size.width > MAX_IMAGE_SIDE || size.height > MAX_IMAGE_SIDE) {
    throw new EditorError('too_large', `The result is ${size.width}×${size.height} px; Figma holds images up to ${MAX_IMAGE_SIDE} px. Lower the output size and run again.`);
  }
  return png;
}

export function createImage(figma: FigmaApi, png: Uint8Array): Image {
  try {
    return figma.createImage(png);
  } catch (err) {
    throw new EditorError('place_failed', `Figma refused the result picture: ${err instanceof Error ? err.message : String(err)}.`);
  }
}

export async function placeResult(figma: FigmaApi, request: PlaceRequest, live?: LiveLayerRegistry): Promise<PlaceOutcome> {
  const png = checkResult(request.png);
  const image = createImage(figma, png);
  const source = await findLayer(figma, request.sourceId);
  // The job's live layer, unless the designer deleted it meanwhile (then a new layer, as without one).
  const liveLayer = request.liveId !== undefined ? live?.take(request.liveId) ?? null : null;
  const commit = () => { if (request.commit !== false) figma.commitUndo(); };
  let note: string | undefined;
  try {
    if (request.mode === 'replace') {
      if (source) {
        const r = replaceability(source);
        if (r.canReplace && 'fills' in source) {
          // Keep the very first fills, so repeated runs can still get back to the original.
          if (!source.getPluginData(ORIGINAL_FILLS_KEY)) source.setPluginData(ORIGINAL_FILLS_KEY, JSON.stringify(source.fills));
          source.fills = [imagePaint(image)];
          liveLayer?.remove();
          commit();
          return { nodeId: source.id, mode: 'replace' };
        }
        note = r.replaceNote;
      } else {
        note = `“${request.sourceName}” was deleted while it was being stylized; the result was added as a new layer where it was.`;
      }
    } else if (!source) {
      note = `“${request.sourceName}” was deleted while it was being stylized; the result was added where it was.`;
    }
    let rect: RectangleNode;
    if (liveLayer) {
      liveLayer.fills = [imagePaint(image)]; // already in place, named, above the source
      rect = liveLayer;
    } else {
      rect = createResultLayer(figma, source, request, image, source ? layerBounds(source) : request.bounds);
    }
    commit();
    const outcome: PlaceOutcome = { nodeId: rect.id, mode: 'new-layer' };
    if (note) outcome.note = note;
    return outcome;
  } catch (err) {
    // A failed job leaves no live layer behind (the batch reports why).
    try { if (liveLayer && !liveLayer.removed) liveLayer.remove(); } catch { /* already gone */ }
    if (err instanceof EditorError) throw err;
    throw new EditorError('place_failed', `Could not add the result to the file: ${err instanceof Error ? err.message : String(err)}.`);
  }
}
