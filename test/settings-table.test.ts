/**
 * One table of job settings: the docs' options table, the usage text and the option parser all come
 * from it, so a flag, default or bound said in one place is said the same everywhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { StylizeError } from '../common/errors.ts';
import { PARSE_OPTIONS, RUN_OPTIONS, RUN_USAGE, optionName, settingsFromArgs } from '../companion/cli/run-options.ts';
import { SETTING_KEYS, settingSpec } from '../companion/engine/setting-table.ts';
import { DEFAULT_SETTINGS, SETTING_BOUNDS, resolveSettings } from '../companion/engine/settings.ts';
import { TABLE_DOC, TABLE_END, TABLE_START, settingsTableMarkdown } from '../scripts/settings-table.ts';

test('docs/cli.md holds exactly the table the script prints', () => {
  const doc = readFileSync(TABLE_DOC, 'utf8');
  const start = doc.indexOf(TABLE_START);
  const end = doc.indexOf(TABLE_END);
  assert.ok(start >= 0 && end > start, `${TABLE_DOC} needs the ${TABLE_START} ... ${TABLE_END} markers`);
  assert.equal(doc.slice(start + TABLE_START.length + 1, end), settingsTableMarkdown(),
    'docs/cli.md is stale: run `npx tsx scripts/settings-table.ts --write`');
});

test('every option is in the usage text and the parser, and every setting has a default or says why not', () => {
  for (const row of RUN_OPTIONS) {
    assert.ok(RUN_USAGE.includes(optionName(row)), `usage lacks ${optionName(row)}`);
    assert.ok(PARSE_OPTIONS![row.flag], `parser lacks --${row.flag}`);
  }
  for (const key of SETTING_KEYS) {
    const spec = settingSpec(key);
    assert.ok(spec.help.length > 10, `${key} has help`);
    if (key in DEFAULT_SETTINGS) assert.deepEqual(DEFAULT_SETTINGS[key as keyof typeof DEFAULT_SETTINGS], spec.default);
    else assert.ok(spec.shownDefault !== undefined, `${key} has no default and must say what happens without it`);
  }
});

/** What the CLI hands the engine for these arguments, or the engine's refusal. */
function run(args: string[]): string {
  const { values } = parseArgs({ args, options: PARSE_OPTIONS, strict: true });
  try {
    resolveSettings(settingsFromArgs(values as Record<string, string | boolean | undefined>));
    return 'accepted';
  } catch (err) {
    assert.ok(err instanceof StylizeError && err.code === 'bad_setting', String(err));
    return err.message;
  }
}

test('the parser enforces each bound, whole-number rule and choice of the table', () => {
  for (const [key, { min, max }] of Object.entries(SETTING_BOUNDS)) {
    const flag = `--${settingSpec(key as keyof typeof SETTING_BOUNDS).flag}`;
    assert.equal(run([flag, String(max)]), 'accepted', `${flag} ${max}`);
    assert.match(run([flag, String(max * 2 + 1)]), new RegExp(`^${key} must be between ${min} and ${max}`));
    if (min > 0) assert.match(run([flag, String(min / 2)]), new RegExp(`^${key} must be`));
  }
  for (const key of SETTING_KEYS) {
    const spec = settingSpec(key);
    if (spec.type === 'integer') assert.match(run([`--${spec.flag}`, '2.5']), new RegExp(`^${key} must be a whole number`));
    if (spec.type === 'choice') {
      for (const choice of spec.choices!) assert.equal(run([`--${spec.flag}`, choice]), 'accepted');
      assert.match(run([`--${spec.flag}`, 'neither']), new RegExp(`^${key} must be one of ${spec.choices!.join(', ')}`));
    }
  }
  assert.equal(run(['--preserve-colors', '--size', '256', '--scales', '128,256', '--scale-iterations', '5,3', '--style-layer-weights', '1,1,1,1,1']), 'accepted');
});
