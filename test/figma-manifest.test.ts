/**
 * manifest.json against Figma's own import rules (test/helpers/figma-manifest-rules.ts): the
 * manifest Figma refused before (kept as test/fixtures/figma-manifest-before-issue-10.json) fails,
 * today's passes, and each rule fails on a manifest that breaks just that rule.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { checkFigmaManifest, figmaCsp, type ManifestProblem } from './helpers/figma-manifest-rules.ts';
import { companionPorts } from '../scripts/manifest-network.ts';
import { DEFAULT_PORT } from '../protocol/messages.ts';
import { REPO } from './helpers/paths.ts';

const read = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, any>;
const manifest = () => read(path.join(REPO, 'manifest.json'));
const rules = (m: unknown) => checkFigmaManifest(m).map((p) => p.rule);

test('the old manifest (raw 127.0.0.1 entries) is refused as Figma refused it', () => {
  const problems = checkFigmaManifest(read(path.join(REPO, 'test', 'fixtures', 'figma-manifest-before-issue-10.json')));
  assert.deepEqual(problems.map((p) => p.rule), ['allowed-domain-pattern', 'allowed-domain-pattern']);
  assert.match(problems[0].message, /'ws:\/\/127\.0\.0\.1:7849' must be a valid URL: Figma takes no IP addresses, write localhost/);
});

test('manifest.json passes every rule: localhost only, ws and http on the companion port, a reasoning', () => {
  const m = manifest();
  assert.deepEqual(checkFigmaManifest(m), []);
  assert.deepEqual(m.networkAccess.allowedDomains.sort(), [`http://localhost:${DEFAULT_PORT}`, `ws://localhost:${DEFAULT_PORT}`]);
  assert.deepEqual(companionPorts(m.networkAccess.allowedDomains), [DEFAULT_PORT]);
  assert.ok(m.networkAccess.reasoning.length > 100 && m.networkAccess.reasoning.length < 1000);
});

test('each rule fails on a manifest that breaks it', () => {
  const cases: [string, (m: Record<string, any>) => void, ManifestProblem['rule']][] = [
    ['no name', (m) => { delete m.name; }, 'required-field'],
    ['empty allowedDomains', (m) => { m.networkAccess.allowedDomains = []; }, 'allowed-domains-empty'],
    ['none with others', (m) => { m.networkAccess.allowedDomains.push('none'); }, 'none-alone'],
    ['raw IPv4', (m) => { m.networkAccess.allowedDomains.push('http://127.0.0.1:7849'); }, 'allowed-domain-pattern'],
    ['raw IPv6', (m) => { m.networkAccess.allowedDomains.push('http://[::1]:7849'); }, 'allowed-domain-pattern'],
    ['port on a public domain', (m) => { m.networkAccess = { allowedDomains: ['https://example.com:8443'] }; }, 'reasoning-required'],
    ['duplicate', (m) => { m.networkAccess.allowedDomains.push(m.networkAccess.allowedDomains[0]); }, 'duplicate-domain'],
    ['no scheme', (m) => { m.networkAccess.allowedDomains.push('localhost:7849'); }, 'scheme-required'],
    ['localhost without reasoning', (m) => { delete m.networkAccess.reasoning; }, 'reasoning-required'],
    ['"*" without reasoning', (m) => { m.networkAccess = { allowedDomains: ['*'] }; }, 'reasoning-required'],
    ['reasoning of 1001 characters', (m) => { m.networkAccess.reasoning = 'x'.repeat(1001); }, 'reasoning-length'],
    ['bad dev domain', (m) => { m.networkAccess.devAllowedDomains = ['http://127.0.0.1:3000']; }, 'dev-domain-pattern'],
    ['main outside the folder', (m) => { m.main = '../dist/code.js'; }, 'file-outside-folder'],
    ['absolute ui', (m) => { m.ui = '/tmp/ui.html'; }, 'file-outside-folder'],
    ['no documentAccess', (m) => { delete m.documentAccess; }, 'document-access'],
    ['unknown editor', (m) => { m.editorType = ['figma', 'sketch']; }, 'editor-type'],
    ['dev with figjam', (m) => { m.editorType = ['figjam', 'dev']; }, 'editor-type'],
    ['no editorType', (m) => { delete m.editorType; }, 'editor-type'],
  ];
  for (const [what, breakIt, rule] of cases) {
    const m = manifest();
    breakIt(m);
    assert.ok(rules(m).includes(rule), `${what}: expected ${rule}, got ${JSON.stringify(rules(m))}`);
  }
  // Boundaries Figma accepts.
  const ok = manifest();
  ok.networkAccess.reasoning = 'x'.repeat(1000);
  ok.networkAccess.allowedDomains = ['https://*.example.com/api/', 'wss://socket.example.org', 'http://localhost:3000'];
  ok.ui = { main: 'dist/ui.html', other: './dist/b.html' };
  assert.deepEqual(checkFigmaManifest(ok), []);
  assert.deepEqual(rules({ ...manifest(), networkAccess: { allowedDomains: ['none'] } }), []);
});

test('the window policy Figma builds from allowedDomains', () => {
  const csp = figmaCsp(manifest().networkAccess.allowedDomains)!;
  assert.match(csp, /^default-src data: blob: ws:\/\/localhost:7849 http:\/\/localhost:7849; script-src 'unsafe-inline' 'unsafe-eval' data: blob: ws:/);
  assert.equal(figmaCsp(['none']), "default-src data: blob:; script-src 'unsafe-inline' 'unsafe-eval' data: blob:; style-src 'unsafe-inline' 'unsafe-eval' data: blob:; font-src https://www.figma.com/webfont/ data: blob:;");
  assert.equal(figmaCsp(['*']), null);
  assert.deepEqual(companionPorts(['ws://localhost:9000', 'http://localhost:9000', 'ws://localhost:9001', 'https://example.com']), [9000]);
});
