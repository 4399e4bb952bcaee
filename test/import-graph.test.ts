/**
 * The layer rule (see docs/architecture.md): no file imports against the order
 * plugin -> protocol -> common; server -> protocol, engine; engine -> weights -> common.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REPO } from './helpers/fixtures.ts';
import { edgesOf, layerOf, moduleSpecifiers, projectEdges, projectFiles, violations } from './helpers/import-graph.ts';

test('the project has no import against the layer order', () => {
  const files = projectFiles(REPO);
  const edges = projectEdges(REPO);
  // The graph is really read: every layer has files and the engine imports weights and common.
  for (const layer of ['common', 'protocol', 'plugin', 'weights', 'engine', 'server', 'cli'] as const) {
    assert.ok(files.some((f) => layerOf(f) === layer), `no file found in layer ${layer}`);
  }
  assert.ok(edges.length > 200, `only ${edges.length} project edges found`);
  assert.ok(edges.some((e) => layerOf(e.from) === 'engine' && layerOf(e.to) === 'weights'));
  assert.ok(edges.some((e) => layerOf(e.from) === 'weights' && layerOf(e.to) === 'common'));
  assert.deepEqual(violations(edges), []);
});

test('every kind of import is an edge: multi-line, export-from, type-only, dynamic, typeof import, require', () => {
  const text = [
    "import {",
    "  a,",
    "  b,",
    "} from './multi.ts';",
    "export { c } from '../reexport.ts';",
    "export * from './star.ts';",
    "import type { T } from './types.ts';",
    "type O = typeof import('./type-query.ts');",
    "const m = await import(",
    "  './dynamic.ts'",
    ");",
    "const r = require('./required.cjs');",
    "import './side-effect.ts';",
    "// import { x } from './commented.ts';",
    "const s = \"import { y } from './in-a-string.ts'\";",
    "import sharp from 'sharp';",
  ].join('\n');
  assert.deepEqual(moduleSpecifiers('x.ts', text), [
    './multi.ts', '../reexport.ts', './star.ts', './types.ts', './type-query.ts', './dynamic.ts', './required.cjs', './side-effect.ts', 'sharp',
  ]);
  assert.deepEqual(edgesOf('weights/x.ts', text).map((e) => e.to), [
    'weights/multi.ts', 'reexport.ts', 'weights/star.ts', 'weights/types.ts', 'weights/type-query.ts', 'weights/dynamic.ts', 'weights/required.cjs', 'weights/side-effect.ts',
  ]);
});

test('an injected back edge fails the rule, with a sentence naming it', () => {
  const cases: [string, string, RegExp][] = [
    ['weights/loader.ts', "import { StylizeError } from '../companion/engine/errors.ts';", /weights\/loader\.ts -> companion\/engine\/errors\.ts: weights may import only weights, common/],
    ['protocol/messages.ts', "import type {\n  StylizeSettings,\n} from '../companion/engine/types.ts';", /protocol may import only protocol, common/],
    ['common/errors.ts', "export type { VggWeights } from '../weights/types.ts';", /common may import only common/],
    ['companion/engine/stylize.ts', "const d = await import('../server/daemon.ts');", /engine may import only engine, weights, common/],
    ['plugin/ui/app.ts', "type E = typeof import('../../companion/engine/errors.ts');", /plugin may import only plugin, protocol, common/],
    ['companion/server/daemon.ts', "import { main } from '../cli/main.ts';", /server may import only/],
    ['companion/engine/x.ts', "const m = await import(name);", /computed specifier/],
  ];
  for (const [file, text, expected] of cases) {
    const found = violations(edgesOf(file, text));
    assert.equal(found.length, 1, `${file}: ${text} -> ${JSON.stringify(found)}`);
    assert.match(found[0], expected);
  }
  // The same kinds of edges in the allowed direction pass.
  const fine: [string, string][] = [
    ['companion/engine/x.ts', "import { VGG19_LAYERS } from '../../common/vgg19.ts';"],
    ['companion/server/x.ts', "export * from '../../protocol/messages.ts';"],
    ['companion/cli/x.ts', "const s = await import('../server/serve-command.ts');"],
    ['test/x.test.ts', "import { x } from '../companion/server/daemon.ts';"],
  ];
  for (const [file, text] of fine) assert.deepEqual(violations(edgesOf(file, text)), [], `${file}: ${text}`);
});
