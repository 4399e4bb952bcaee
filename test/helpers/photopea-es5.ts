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
