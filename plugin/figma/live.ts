/**
 * The result live on the canvas: while a job runs, a layer just above its source shows each
 * preview (stretched to the source's size by the image fill), so the designer sees the work in
 * place. Nothing here commits an undo step: the batch's live layers, their updates and its results
 * are sealed once (commitUndo) when the batch settles, so one undo returns the document to its
 * state before Stylize. The nodes are held here, not looked up, because the plugin's close
 * callback must remove them synchronously (Figma tears the plugin down when it returns).
 */
import { EditorError, type LiveRequest } from '../editor/editor.ts';
import type { FigmaApi, RectangleNode } from './api.ts';
import { checkResult, createImage, createResultLayer, imagePaint } from './place.ts';
import { findLayer, layerBounds } from './selection.ts';

export class LiveLayerRegistry {
  private readonly nodes = new Map<string, RectangleNode>();

  constructor(private readonly figma: FigmaApi) {}

  /** Creates the live layer (first call) or shows a newer picture in it; null when the designer deleted it. */
  async show(request: LiveRequest): Promise<string | null> {
    const png = checkResult(request.png);
    if (request.liveId !== undefined) {
      const node = this.nodes.get(request.liveId);
      if (!node || node.removed) {
        this.nodes.delete(request.liveId);
        return null; // deleted by the designer: no more updates; the result still lands at the end
      }
      node.fills = [imagePaint(createImage(this.figma, png))];
      return node.id;
    }
    const image = createImage(this.figma, png);
    const source = await findLayer(this.figma, request.sourceId);
    try {
      const rect = createResultLayer(this.figma, source, request, image, source ? layerBounds(source) : request.bounds);
      this.nodes.set(rect.id, rect);
      return rect.id;
    } catch (err) {
      throw new EditorError('place_failed', `Could not show the picture on the canvas: ${err instanceof Error ? err.message : String(err)}.`);
    }
  }

  /** The live layer, handed over to become the result (null when it was deleted meanwhile). */
  take(liveId: string): RectangleNode | null {
    const node = this.nodes.get(liveId);
    this.nodes.delete(liveId);
    return node && !node.removed ? node : null;
  }

  /** Removes a live layer whose job was cancelled or failed. */
  remove(liveId: string): void {
    this.take(liveId)?.remove();
  }

  /** Removes every live layer (the plugin is closing: jobs still running leave nothing behind). Synchronous. */
  removeAll(): void {
    for (const id of [...this.nodes.keys()]) this.remove(id);
  }

  get count(): number {
    return this.nodes.size;
  }
}
