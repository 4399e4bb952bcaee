/**
 * Gathers one GPU run's outputs (bench-*.json from `stylize bench`, torch.json from torch_step.py)
 * into gpu-bench.json with each backend's ratio to PyTorch in the same run, and prints the table for
 * the README. Bundled into the kit (build-kit.sh) so it runs with the carried node alone.
 *
 *   node summarize.mjs RESULTS_DIR OUT.json
 * The JSON also holds every raw report and steps.txt: the device tool returns at most 8 files.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BenchRow } from '../../companion/bench/bench.ts';
import type { GradientCheckRow } from '../../companion/bench/gradient-check.ts';

interface BenchReport {
  machine: Record<string, unknown>;
  results: BenchRow[];
  gradientCheck?: GradientCheckRow[];
  skipped: { backend: string; reason: string }[];
  failed?: { backend: string; size: number; error: string }[];
}

interface TorchRow {
  mode: string;
  size: number;
  msPerIteration?: number;
  error?: string;
}

interface TorchReport {
  available: boolean;
  reason?: string;
  torch?: string;
  device?: string;
  results?: TorchRow[];
}

function readJson<T>(file: string): T | { unreadable: string } {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (err) {
    return { unreadable: `${path.basename(file)}: ${(err as Error).message.split('\n')[0]}` };
  }
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

export function summarize(resultsDir: string): { summary: Record<string, unknown>; table: string } {
  const problems: string[] = [];
  const benches: BenchReport[] = [];
  const raw: Record<string, unknown> = {};
  for (const name of readdirSync(resultsDir).filter((n) => /^bench-.*\.json$/.test(n)).sort()) {
    const r = readJson<BenchReport>(path.join(resultsDir, name));
    raw[name] = r;
    if ('unreadable' in r) problems.push(`${r.unreadable} (the run was cut short or crashed; see the log)`);
    else benches.push(r);
  }
  const torchFile = readJson<TorchReport>(path.join(resultsDir, 'torch.json'));
  const torch: TorchReport = 'unreadable' in torchFile ? { available: false, reason: torchFile.unreadable } : torchFile;

  const rows = benches.flatMap((b) => b.results);
  const torchMs = (mode: string, size: number) => torch.results?.find((t) => t.mode === mode && t.size === size)?.msPerIteration;
  const ratios = rows.map((r) => {
    const vs: Record<string, number> = {};
    for (const mode of ['fp32', 'tf32', 'bf16']) {
      const t = torchMs(mode, r.size);
      if (t) vs[`torch-${mode}`] = +(r.msPerIteration / t).toFixed(2);
    }
    return { backend: r.backend, size: r.size, msPerIteration: r.msPerIteration, vs };
  });
  const gradientCheck = benches.flatMap((b) => b.gradientCheck ?? []);
  const summary = {
    date: new Date().toISOString(),
    machine: benches[0]?.machine,
    device: [...new Set(rows.map((r) => `${r.backend}: ${r.device}`))],
    results: rows,
    ratios,
    gradientCheck,
    torch,
    skipped: benches.flatMap((b) => b.skipped),
    failed: benches.flatMap((b) => b.failed ?? []),
    problems,
    steps: readLines(path.join(resultsDir, 'steps.txt')),
    raw,
  };

  const sizes = [...new Set([...rows.map((r) => r.size), ...(torch.results ?? []).map((t) => t.size)])].sort((a, b) => a - b);
  const cell = (ms?: number) => (ms === undefined ? '-' : `${ms} ms`);
  const lines = [
    'ms per iteration (in brackets: the ratio to PyTorch fp32 and bf16 at that size, same run); gradient: relative L2 error against onnx-cpu',
    '',
    `| backend | ${sizes.map((s) => `${s} px`).join(' | ')} | gradient vs onnx-cpu |`,
    `| --- | ${sizes.map(() => '---').join(' | ')} | --- |`,
  ];
  for (const backend of [...new Set(rows.map((r) => r.backend))]) {
    const g = gradientCheck.find((c) => c.backend === backend);
    const cells = sizes.map((s) => {
      const r = ratios.find((x) => x.backend === backend && x.size === s);
      if (!r) return '-';
      const vs = r.vs['torch-fp32'] ? ` (${r.vs['torch-fp32']}x fp32, ${r.vs['torch-bf16'] ?? '-'}x bf16)` : '';
      return `${cell(r.msPerIteration)}${vs}`;
    });
    lines.push(`| ${backend} | ${cells.join(' | ')} | ${g ? g.gradRelError.toExponential(1) : '-'} |`);
  }
  for (const mode of ['fp32', 'tf32', 'bf16']) {
    if (!torch.results?.some((t) => t.mode === mode)) continue;
    lines.push(`| PyTorch ${torch.torch ?? ''} ${mode} | ${sizes.map((s) => cell(torchMs(mode, s))).join(' | ')} | |`);
  }
  if (!torch.available) lines.push(`\nPyTorch: unavailable (${torch.reason}).`);
  const notes = [
    ...summary.skipped.map((k) => `skipped ${k.backend}: ${k.reason}`),
    ...summary.failed.map((f) => `failed ${f.backend} at ${f.size} px: ${f.error}`),
    ...(torch.results ?? []).filter((t) => t.error).map((t) => `failed PyTorch ${t.mode} at ${t.size} px: ${t.error}`),
    ...problems,
  ];
  if (notes.length) lines.push('', ...[...new Set(notes)]);
  return { summary, table: lines.join('\n') };
}

if (process.argv[2] && process.argv[3]) {
  const { summary, table } = summarize(path.resolve(process.argv[2]));
  writeFileSync(process.argv[3], JSON.stringify(summary, null, 2) + '\n');
  process.stdout.write(`${table}\n\nwrote ${process.argv[3]}\n`);
}
