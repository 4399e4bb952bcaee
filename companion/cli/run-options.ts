/**
 * The options of `stylize CONTENT STYLE -o OUT`: the job settings from the engine's table plus the
 * command's own (files, backend, output). The usage text, the parser and the docs' table
 * (scripts/settings-table.ts) all come from RUN_OPTIONS, so none of them can drift.
 */
import type { parseArgs } from 'node:util';
import { backendNames } from '../engine/select-backend.ts';
import { SETTING_KEYS, settingOption, settingSpec, type OptionDoc, type OptionGroup, type SettingKey } from '../engine/setting-table.ts';
import { CliError } from './cli-error.ts';

/** The command's own options, which are not job settings; `after` places one among the settings ('' = first). */
const COMMAND_OPTIONS: (OptionDoc & { after?: string })[] = [
  { flag: 'output', short: 'o', value: 'FILE', group: 'Output', shownDefault: '(required)', help: 'result image: .png, .jpg or .webp', after: '' },
  { flag: 'loss-log', value: 'FILE', group: 'Output', shownDefault: 'OUT-losses.csv', help: 'where the loss CSV goes (iteration, content, style, tv, total)' },
  { flag: 'loss-plot', value: 'FILE', group: 'Output', shownDefault: 'OUT-losses.svg', help: 'where the loss plot (SVG) goes' },
  { flag: 'style-blend-weights', value: 'L', group: 'Loss', shownDefault: 'equal', help: 'several style images: comma list of weights, one per style', after: 'tv-weight' },
  { flag: 'backend', value: 'NAME', group: 'Compute', shownDefault: 'auto', help: `the fastest that works here, or one of ${backendNames().filter((n) => n !== 'auto').join(', ')}` },
  { flag: 'weights', value: 'DIR', group: 'Compute', shownDefault: '$STYLIZE_WEIGHTS, weights/cache, ../shared', help: 'VGG-19 weights folder' },
  { flag: 'quiet', short: 'q', group: 'Compute', shownDefault: '', help: 'no progress output' },
];

const GROUPS: OptionGroup[] = ['Output', 'Optimization', 'Loss', 'Scale', 'Compute'];

/** Every option of the run command, in usage order: by group, settings in table order. */
export const RUN_OPTIONS: readonly OptionDoc[] = (() => {
  const rows: OptionDoc[] = SETTING_KEYS.map(settingOption);
  for (const { after, ...row } of COMMAND_OPTIONS) {
    const at = after === undefined ? rows.length : after === '' ? 0 : rows.findIndex((r) => r.flag === after) + 1;
    rows.splice(at, 0, row);
  }
  return GROUPS.flatMap((g) => rows.filter((r) => r.group === g));
})();

/** `-o, --output FILE` as a user types it. */
export function optionName(row: OptionDoc): string {
  return `${row.short ? `-${row.short}, ` : ''}--${row.flag}${row.value ? ` ${row.value}` : ''}`;
}

const WIDTH = 100;
const NAME_COLUMN = 29;

function wrap(text: string, indent: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && indent + line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}

function usageLine(row: OptionDoc): string {
  const name = `  ${optionName(row)}`;
  const d = row.shownDefault;
  const text = !d ? row.help : d.startsWith('(') ? `${row.help} ${d}` : `${row.help} (default ${d})`;
  const [first, ...rest] = wrap(text, NAME_COLUMN);
  const head = name.length < NAME_COLUMN ? name.padEnd(NAME_COLUMN) + first : `${name}\n${' '.repeat(NAME_COLUMN)}${first}`;
  return [head, ...rest.map((l) => ' '.repeat(NAME_COLUMN) + l)].join('\n');
}

export const RUN_USAGE = `Usage: stylize CONTENT STYLE [STYLE ...] -o OUT.png [options]

Optimizes OUT so that its VGG-19 features match CONTENT (conv4_2) and the Gram matrices of
STYLE (conv1_1..conv5_1), after Gatys et al. The default: each term relative to its target,
a start from the content in the style's colours, L-BFGS (docs/quality.md). The CS20SI seed
recipe whole: --recipe seed

${GROUPS.map((g) => [g, ...RUN_OPTIONS.filter((r) => r.group === g).map(usageLine)].join('\n')).join('\n')}
  -h, --help
`;

/** node:util parseArgs's option config, from the table. */
export const PARSE_OPTIONS = Object.fromEntries([
  ...RUN_OPTIONS.map((r) => [r.flag, { type: r.value ? 'string' : 'boolean', ...(r.short ? { short: r.short } : {}) }]),
  ['help', { type: 'boolean', short: 'h' }],
]) as NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/** CLI flag for a settings key, so error messages name what the user typed. */
export const FLAG_OF: Record<string, string> = Object.fromEntries(SETTING_KEYS.map((k) => [k, `--${settingSpec(k).flag}`]));

export function num(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v)) throw new CliError(`${flag} needs a number (got "${raw}").`);
  return v;
}

/**
 * The job settings given on the command line, as resolveSettings takes them: numbers parsed here
 * (so "many" names its flag), lists and choices passed on as typed for the engine to check.
 */
export function settingsFromArgs(values: Record<string, string | boolean | undefined>): Partial<Record<SettingKey, unknown>> {
  const settings: Partial<Record<SettingKey, unknown>> = {};
  for (const key of SETTING_KEYS) {
    const spec = settingSpec(key);
    const raw = values[spec.flag];
    if (raw === undefined) continue;
    settings[key] = spec.type === 'integer' || spec.type === 'number' ? num(`--${spec.flag}`, raw as string) : raw;
  }
  return settings;
}
