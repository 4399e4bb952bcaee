/**
 * The project's import graph and its layer rule, read with the TypeScript compiler's own parser so
 * that multi-line imports, `export ... from`, `import type`, dynamic `import()`, `typeof import()`
 * types and `require()` all count as edges.
 *
 * Layer order (an arrow means "may import"):
 *   plugin -> protocol -> common
 *   companion/server (and companion/service) -> protocol, companion/engine, weights, common
 *   companion/cli, companion/bench -> anything in companion, weights, protocol, common
 *   companion/engine -> weights -> common
 *   scripts/, test/, bin/ -> anything
 */
import path from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import ts from 'typescript';

export type Layer = 'common' | 'protocol' | 'plugin' | 'weights' | 'engine' | 'server' | 'cli' | 'free';

/** What each layer may import (itself always included). */
export const ALLOWED: Record<Layer, readonly Layer[]> = {
  common: ['common'],
  protocol: ['protocol', 'common'],
  plugin: ['plugin', 'protocol', 'common'],
  weights: ['weights', 'common'],
  engine: ['engine', 'weights', 'common'],
  server: ['server', 'protocol', 'engine', 'weights', 'common'],
  cli: ['cli', 'server', 'engine', 'weights', 'protocol', 'common'],
  free: ['common', 'protocol', 'plugin', 'weights', 'engine', 'server', 'cli', 'free'],
};

/** The layer of a repository-relative path (forward slashes), or undefined outside the layered folders. */
export function layerOf(rel: string): Layer | undefined {
  const [top, sub] = rel.split('/');
  switch (top) {
    case 'common': return 'common';
    case 'protocol': return 'protocol';
    case 'plugin': return 'plugin';
    case 'weights': return 'weights';
    case 'scripts': case 'test': case 'bin': return 'free';
    case 'companion':
      if (sub === 'engine') return 'engine';
      // The login service (service/) is the daemon's deployment: the server layer.
      if (sub === 'server' || sub === 'service') return 'server';
      if (sub === 'cli' || sub === 'bench') return 'cli';
      return undefined;
    default: return undefined;
  }
}

/** Every module specifier a source file names, in source order. */
export function moduleSpecifiers(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: string[] = [];
  const literal = (node: ts.Node | undefined) => {
    if (node && ts.isStringLiteralLike(node)) out.push(node.text);
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) literal(node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) literal(node.moduleReference.expression);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) literal(node.argument.literal);
    else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const isImport = callee.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(callee) && callee.text === 'require';
      if ((isImport || isRequire) && node.arguments.length > 0) {
        const arg = node.arguments[0];
        // A computed specifier cannot be checked: it is an edge nobody can see, so refuse it.
        if (!ts.isStringLiteralLike(arg)) out.push(`<computed ${isImport ? 'import()' : 'require()'}: ${arg.getText(source)}>`);
        else out.push(arg.text);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

export interface Edge {
  from: string;
  to: string;
}

/** Project-internal edges of one file: relative specifiers resolved to repository-relative paths. */
export function edgesOf(rel: string, text: string): Edge[] {
  const edges: Edge[] = [];
  for (const spec of moduleSpecifiers(rel, text)) {
    if (spec.startsWith('<computed')) {
      edges.push({ from: rel, to: spec });
      continue;
    }
    if (!spec.startsWith('.')) continue; // a package or node: builtin
    const to = path.posix.normalize(path.posix.join(path.posix.dirname(rel), spec));
    edges.push({ from: rel, to });
  }
  return edges;
}

/** Edges that go against the layer order, each as a sentence. */
export function violations(edges: readonly Edge[]): string[] {
  const out: string[] = [];
  for (const e of edges) {
    const from = layerOf(e.from);
    if (!from) continue;
    if (e.to.startsWith('<computed')) {
      if (from !== 'free') out.push(`${e.from} -> ${e.to}: a computed specifier hides the edge; import a literal path`);
      continue;
    }
    const to = layerOf(e.to);
    if (to === undefined) {
      if (from !== 'free') out.push(`${e.from} -> ${e.to}: imports outside the layered folders`);
      continue;
    }
    if (!ALLOWED[from].includes(to)) out.push(`${e.from} -> ${e.to}: ${from} may import only ${ALLOWED[from].join(', ')}`);
  }
  return out;
}

const SKIP = new Set(['node_modules', 'shared', 'dist', 'cache', 'artifacts']);

/** Repository-relative paths of every .ts file of the project. */
export function projectFiles(repo: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (SKIP.has(entry.name) || entry.name.startsWith('.')) continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/\.(ts|mts|cts)$/.test(entry.name)) out.push(path.relative(repo, full).split(path.sep).join('/'));
    }
  };
  walk(repo);
  return out.sort();
}

export function projectEdges(repo: string): Edge[] {
  return projectFiles(repo).flatMap((rel) => edgesOf(rel, readFileSync(path.join(repo, rel), 'utf8')));
}
