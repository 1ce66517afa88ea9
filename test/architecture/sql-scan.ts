// Finds database access in source text by reading its syntax tree (TypeScript's parser), so a regular
// expression's `.exec(text)` or SQL words in a comment are not mistaken for SQL. Used by
// no-sql-outside-store.test.ts.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

const SQL_IN_TEXT: Array<[string, RegExp]> = [
  [
    'CREATE TABLE/INDEX',
    /\bCREATE\s+(?:TEMP\s+|TEMPORARY\s+|UNIQUE\s+|VIRTUAL\s+)?(?:TABLE|INDEX|VIEW|TRIGGER)\b/,
  ],
  ['SELECT … FROM', /\bSELECT\b[\s\S]*?\bFROM\b/],
  ['INSERT INTO', /\b(?:INSERT|REPLACE)\s+(?:OR\s+[A-Z]+\s+)?INTO\b/],
  ['UPDATE … SET', /\bUPDATE\s+[\w"]+\s+SET\b/],
  ['DELETE FROM', /\bDELETE\s+FROM\b/],
  ['DROP/ALTER', /\b(?:DROP\s+(?:TABLE|INDEX|VIEW|TRIGGER)|ALTER\s+TABLE)\b/],
  ['PRAGMA', /\bPRAGMA\s+\w+/],
];

/** Names of a connection as the code spells them: db, this.#db, database, cloudDb, sqlite… */
const CONNECTION_NAME = /^(?:#?db|#?database|\w*Db|\w*Database|sqlite\w*)$/;

export interface Finding {
  file: string;
  line: number;
  what: string;
}

export function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(?:[cm]?ts|[cm]?js)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

function lastName(expression: ts.Expression): string | null {
  if (ts.isIdentifier(expression) || ts.isPrivateIdentifier(expression)) return expression.text;
  if (ts.isPropertyAccessExpression(expression)) return expression.name.text;
  if (ts.isParenthesizedExpression(expression) || ts.isNonNullExpression(expression))
    return lastName(expression.expression);
  return null;
}

/** Every database access in one file's text: SQL strings, prepare/exec/pragma calls, driver imports. */
export function findSql(file: string, text: string): { sql: Finding[]; storeDb: Finding[] } {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const sql: Finding[] = [];
  const storeDb: Finding[] = [];
  const at = (node: ts.Node) => source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
  const checkText = (node: ts.Node, value: string) => {
    for (const [what, pattern] of SQL_IN_TEXT) {
      if (pattern.test(value)) {
        sql.push({ file, line: at(node), what: `SQL in a string (${what})` });
        return;
      }
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) checkText(node, node.text);
    else if (ts.isTemplateExpression(node)) {
      checkText(node, [node.head.text, ...node.templateSpans.map((span) => span.literal.text)].join(' ? '));
    } else if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      const from = node.moduleSpecifier;
      if (from && ts.isStringLiteral(from) && /^(?:better-sqlite3|node:sqlite|sqlite3)$/.test(from.text)) {
        sql.push({ file, line: at(node), what: `imports the SQLite driver (${from.text})` });
      }
    } else if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
      const method = node.expression.name.text;
      const receiver = lastName(node.expression.expression);
      if (method === 'prepare' || method === 'pragma')
        sql.push({ file, line: at(node), what: `.${method}(` });
      else if (method === 'exec' && receiver !== null && CONNECTION_NAME.test(receiver)) {
        sql.push({ file, line: at(node), what: `${receiver}.exec(` });
      }
    } else if (
      ts.isPropertyAccessExpression(node) &&
      node.name.text === 'db' &&
      /^(?:#?store|#?cloud)$/i.test(lastName(node.expression) ?? '')
    ) {
      storeDb.push({ file, line: at(node), what: 'reads Store.db' });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { sql, storeDb };
}
