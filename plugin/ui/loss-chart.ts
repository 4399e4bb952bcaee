/** The small live chart of content / style / total loss (log scale: the terms span decades). */

export interface LossPoint {
  iteration: number;
  content: number;
  style: number;
  total: number;
}

export const SERIES = ['content', 'style', 'total'] as const;
export type Series = (typeof SERIES)[number];

/** Pixel coordinates of each series inside a w x h box (y grows downwards), log10 on y. */
export function chartPaths(points: LossPoint[], width: number, height: number, pad = 2): Record<Series, [number, number][]> {
  const out = { content: [], style: [], total: [] } as Record<Series, [number, number][]>;
  if (points.length === 0) return out;
  const logs = points.flatMap((p) => SERIES.map((s) => p[s])).filter((v) => v > 0 && Number.isFinite(v)).map(Math.log10);
  if (logs.length === 0) return out;
  let lo = Math.min(...logs);
  let hi = Math.max(...logs);
  if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
  const first = points[0].iteration;
  const last = Math.max(points[points.length - 1].iteration, first + 1);
  for (const s of SERIES) {
    for (const p of points) {
      const v = p[s];
      if (!(v > 0) || !Number.isFinite(v)) continue;
      const x = pad + ((p.iteration - first) / (last - first)) * (width - 2 * pad);
      const y = pad + (1 - (Math.log10(v) - lo) / (hi - lo)) * (height - 2 * pad);
      out[s].push([x, y]);
    }
  }
  return out;
}

/** Draws onto a canvas, in CSS pixels, with colours taken from the canvas's CSS variables. */
export function drawLossChart(canvas: HTMLCanvasElement, points: LossPoint[]): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const ratio = globalThis.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width;
  const h = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(w * ratio)) canvas.width = Math.round(w * ratio);
  if (canvas.height !== Math.round(h * ratio)) canvas.height = Math.round(h * ratio);
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const style = getComputedStyle(canvas);
  const colour = (s: Series) => style.getPropertyValue(`--chart-${s}`).trim() || '#888';
  const paths = chartPaths(points, w, h);
  // Total first and dashed: it often runs on top of the style term, which must stay visible.
  for (const s of ['total', 'content', 'style'] as const) {
    const pts = paths[s];
    if (pts.length < 2) continue;
    ctx.beginPath();
    ctx.strokeStyle = colour(s);
    ctx.lineWidth = s === 'total' ? 2 : 1.25;
    ctx.setLineDash(s === 'total' ? [4, 3] : []);
    pts.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y)));
    ctx.stroke();
  }
  ctx.setLineDash([]);
}
