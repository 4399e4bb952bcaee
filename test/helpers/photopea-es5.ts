/**
 * Checks that a script is the old JavaScript Photopea runs: it parses, and uses nothing newer than
 * ES5. Uses TypeScript's parser (already a dependency) and lists every ES2015+ construct it finds.
 */
import ts from 'typescript';

const MODERN_KINDS = new Map<ts.SyntaxKind, string>([
  [ts.SyntaxKind.ArrowFunction, 'arrow function'],
  [ts.SyntaxKind.TemplateExpression, 'template literal'],
  [ts.SyntaxKind.NoSubstitutionTemplateLiteral, 'template literal'],
  [ts.SyntaxKind.TaggedTemplateExpression, 'tagged template'],
  [ts.SyntaxKind.ClassDeclaration, 'class'],
  [ts.SyntaxKind.ClassExpression, 'class'],
  [ts.SyntaxKind.SpreadElement, 'spread'],
  [ts.SyntaxKind.SpreadAssignment, 'object spread'],
  [ts.SyntaxKind.ForOfStatement, 'for...of'],
  [ts.SyntaxKind.ObjectBindingPattern, 'destructuring'],
  [ts.SyntaxKind.ArrayBindingPattern, 'destructuring'],
  [ts.SyntaxKind.ShorthandPropertyAssignment, 'shorthand property'],
  [ts.SyntaxKind.ComputedPropertyName, 'computed property name'],
  [ts.SyntaxKind.MethodDeclaration, 'method shorthand'],
  [ts.SyntaxKind.AwaitExpression, 'await'],
  [ts.SyntaxKind.YieldExpression, 'yield'],
  [ts.SyntaxKind.BigIntLiteral, 'BigInt'],
]);

/** What in `script` is not ES5 (empty when it is plain ES5). */
export function es5Problems(script: string): string[] {
  const sf = ts.createSourceFile('photopea-script.js', script, ts.ScriptTarget.ES5, true, ts.ScriptKind.JS);
  const problems: string[] = [];
  const diagnostics = (sf as unknown as { parseDiagnostics: ts.Diagnostic[] }).parseDiagnostics ?? [];
  for (const d of diagnostics) problems.push(`syntax error: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
  const visit = (node: ts.Node): void => {
    const kind = MODERN_KINDS.get(node.kind);
    if (kind) problems.push(kind);
    if (ts.isVariableDeclarationList(node) && (node.flags & (ts.NodeFlags.Let | ts.NodeFlags.Const))) problems.push('let/const');
    if (ts.isParameter(node) && (node.initializer || node.dotDotDotToken)) problems.push('default or rest parameter');
    if ((ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node) || ts.isCallExpression(node)) && node.questionDotToken) problems.push('optional chaining');
    if (ts.isBinaryExpression(node) && [ts.SyntaxKind.QuestionQuestionToken, ts.SyntaxKind.AsteriskAsteriskToken, ts.SyntaxKind.QuestionQuestionEqualsToken,
      ts.SyntaxKind.BarBarEqualsToken, ts.SyntaxKind.AmpersandAmpersandEqualsToken].includes(node.operatorToken.kind)) problems.push(`operator ${node.operatorToken.getText(sf)}`);
    if (ts.canHaveModifiers(node) && ts.getModifiers(node)?.some((m) => m.kind === ts.SyntaxKind.AsyncKeyword)) problems.push('async function');
    if ((ts.isFunctionDeclaration(node) || ts.isFunctionExpression(node)) && node.asteriskToken) problems.push('generator');
    if (ts.isRegularExpressionLiteral(node) && /\/[gimsuyd]*[suyd][gimsuyd]*$/.test(node.text)) problems.push('regex flag newer than ES5');
    if (ts.isNumericLiteral(node) && /^0[bBoO]/.test(node.getText(sf))) problems.push('binary/octal literal');
    if (ts.isStringLiteral(node) && /\\u\{/.test(node.getText(sf))) problems.push('\\u{} escape');
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return [...new Set(problems)];
}

/**
 * What Photopea's own script interpreter gets wrong, as a plugin author recorded it inside Photopea:
 * a `finally` block does not run, and a `return` inside `try` (or its `catch`) is lost. The strict
 * stand-in refuses such scripts outright. A `return` in a function that is merely *called* from a
 * try block is fine: it belongs to that function.
 */
export function photopeaRefusals(script: string): string[] {
  const sf = ts.createSourceFile('photopea-script.js', script, ts.ScriptTarget.ES5, true, ts.ScriptKind.JS);
  const out: string[] = [];
  const line = (node: ts.Node) => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
  const visit = (node: ts.Node, inTry: boolean): void => {
    if (ts.isTryStatement(node)) {
      if (node.finallyBlock) out.push(`finally (line ${line(node.finallyBlock)}): Photopea does not run finally blocks`);
      visit(node.tryBlock, true);
      if (node.catchClause) visit(node.catchClause, true);
      if (node.finallyBlock) visit(node.finallyBlock, inTry);
      return;
    }
    if (ts.isFunctionLike(node)) {
      ts.forEachChild(node, (c) => visit(c, false)); // a new function: its returns are its own
      return;
    }
    if (ts.isReturnStatement(node) && inTry) out.push(`return inside try (line ${line(node)}): Photopea loses it`);
    ts.forEachChild(node, (c) => visit(c, inTry));
  };
  visit(sf, false);
  return out;
}

/** The global a script's instrumented member accesses report through (see instrumentReads). */
export const READ_GUARD = '__photopeaRead';
/** The value thrown when a script reads a property of undefined or null: it ends the script. */
export const READ_DEATH = '__photopeaDeath';

/**
 * Rewrites a script so that every member access `a.b` / `a[b]` goes through READ_GUARD(a, "b"),
 * which throws READ_DEATH when `a` is undefined or null, and so that every catch clause passes
 * READ_DEATH on. Photopea's interpreter ends a script silently on such a read: no output, no
 * "done", and no catch runs. The stand-in runs the rewritten script and, on READ_DEATH, posts
 * nothing at all.
 */
export function instrumentReads(script: string): string {
  const sf = ts.createSourceFile('photopea-script.js', script, ts.ScriptTarget.ES5, true, ts.ScriptKind.JS);
  const f = ts.factory;
  const guard = (obj: ts.Expression, name: string) => f.createCallExpression(f.createIdentifier(READ_GUARD), undefined, [obj, f.createStringLiteral(name)]);
  const transformer: ts.TransformerFactory<ts.SourceFile> = (ctx) => {
    const visit = (node: ts.Node): ts.Node => {
      if (ts.isPropertyAccessExpression(node)) {
        const obj = ts.visitNode(node.expression, visit) as ts.Expression;
        return f.updatePropertyAccessExpression(node, guard(obj, node.name.text), node.name);
      }
      if (ts.isElementAccessExpression(node)) {
        const obj = ts.visitNode(node.expression, visit) as ts.Expression;
        const arg = ts.visitNode(node.argumentExpression, visit) as ts.Expression;
        return f.updateElementAccessExpression(node, guard(obj, '[]'), arg);
      }
      if (ts.isCatchClause(node) && node.variableDeclaration && ts.isIdentifier(node.variableDeclaration.name)) {
        const name = node.variableDeclaration.name.text;
        const block = ts.visitNode(node.block, visit) as ts.Block;
        const rethrow = f.createIfStatement(
          f.createBinaryExpression(f.createIdentifier(name), ts.SyntaxKind.EqualsEqualsEqualsToken, f.createIdentifier(READ_DEATH)),
          f.createThrowStatement(f.createIdentifier(name)));
        return f.updateCatchClause(node, node.variableDeclaration, f.updateBlock(block, [rethrow, ...block.statements]));
      }
      return ts.visitEachChild(node, visit, ctx);
    };
    return (root) => ts.visitNode(root, visit) as ts.SourceFile;
  };
  const result = ts.transform(sf, [transformer]);
  const text = ts.createPrinter({ removeComments: true }).printFile(result.transformed[0]);
  result.dispose();
  return text;
}
