/** Loss curves as a self-contained SVG: one panel per term, log-scaled, readable in any browser. */
import type { LossTerms } from '../../common/losses.ts';

export type LossRow = LossTerms & { iteration: number };

export function lossCsv(rows: LossRow[]): string {
  const lines = ['iteration,content,style,tv,total'];
  for (const r of rows) lines.push([r.iteration, r.content, r.style, r.tv, r.total].map((v) => (Number.isInteger(v) ? v : v.toPrecision(7))).join(','));
  return lines.join('\n') + '\n';
}

const PANELS: { key: keyof LossTerms; title: string; color: string }[] = [
  { key: 'content', title: 'content loss', color: '#1f77b4' },
  { key: 'style', title: 'style loss', color: '#d62728' },
  { key: 'total', title: 'total loss', color: '#2ca02c' },
];

function fmt(v: number): string {
  return v === 0 ? '0' : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-2 ? v.toExponential(1) : v.toPrecision(3);
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function lossSvg(rows: LossRow[], title = 'Stylize loss curves'): string {
  const W = 720, PH = 200, PAD_L = 70, PAD_R = 20, TOP = 40, GAP = 40;
  const H = TOP + PANELS.length * (PH + GAP);
  const n = rows.length;
  const maxIt = n ? rows[n - 1].iteration : 1;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="16">${esc(title)}</text>`,
  ];
  PANELS.forEach((p, i) => {
    const y0 = TOP + i * (PH + GAP);
    const values = rows.map((r) => r[p.key]);
    const positive = values.filter((v) => v > 0);
    // Log scale: the losses fall by orders of magnitude; a linear axis hides everything after the start.
    const useLog = positive.length === values.length && positive.length > 0;
    const tr = (v: number) => (useLog ? Math.log10(v) : v);
    const lo = values.length ? Math.min(...values.map(tr)) : 0;
    const hi = values.length ? Math.max(...values.map(tr)) : 1;
    const span = hi - lo || 1;
    const x = (it: number) => PAD_L + ((it - (n ? rows[0].iteration : 0)) / Math.max(1, maxIt - (n ? rows[0].iteration : 0))) * (W - PAD_L - PAD_R);
    const y = (v: number) => y0 + PH - ((tr(v) - lo) / span) * PH;
    parts.push(`<text x="${PAD_L}" y="${y0 - 8}" font-weight="bold">${p.title}${useLog ? ' (log scale)' : ''}</text>`);
    parts.push(`<rect x="${PAD_L}" y="${y0}" width="${W - PAD_L - PAD_R}" height="${PH}" fill="none" stroke="#999"/>`);
    for (let k = 0; k <= 4; k++) {
      const t = lo + (span * k) / 4;
      const yy = y0 + PH - (k / 4) * PH;
      parts.push(`<text x="${PAD_L - 6}" y="${yy + 4}" text-anchor="end" fill="#444">${fmt(useLog ? 10 ** t : t)}</text>`);
      parts.push(`<line x1="${PAD_L}" x2="${W - PAD_R}" y1="${yy}" y2="${yy}" stroke="#eee"/>`);
    }
    parts.push(`<text x="${W - PAD_R}" y="${y0 + PH + 16}" text-anchor="end" fill="#444">iteration ${maxIt}</text>`);
    if (n) {
      const pts = rows.map((r) => `${x(r.iteration).toFixed(1)},${y(r[p.key]).toFixed(1)}`).join(' ');
      parts.push(`<polyline fill="none" stroke="${p.color}" stroke-width="1.5" points="${pts}"/>`);
    }
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
