// Reads the repository's own TypeScript sources as text, for the tests that check how the code is laid out
// (imports, dependencies). Test files and generated output are left out.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface SourceFile {
  /** Repository-relative, with forward slashes: `hub/app.ts`. */
  path: string;
  text: string;
}

/** Every `.ts` file below the given top-level folders, test files excluded. */
export function sourceFiles(...folders: string[]): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules' && entry.name !== 'dist') walk(full);
      } else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith('.test.ts')) {
        out.push({ path: relative(ROOT, full).split('\\').join('/'), text: readFileSync(full, 'utf8') });
      }
    }
  };
  for (const folder of folders) walk(join(ROOT, folder));
  return out;
}

/**
 * The module specifiers a file imports: `import … from 'x'`, `export … from 'x'`, `import 'x'` and
 * `import('x')`, type-only imports included (they are dependencies of the source all the same).
 */
export function importsOf(text: string): string[] {
  // Comment lines are not code: a doc comment may quote an import.
  const code = text
    .split('\n')
    .filter((line) => !/^\s*(\/\/|\/?\*)/.test(line))
    .join('\n');
  const patterns = [
    /^\s*(?:import|export)\b[^;'"`]*?\bfrom\s*'([^']+)'/gm,
    /^\s*import\s*'([^']+)'/gm,
    /\bimport\(\s*'([^']+)'\s*\)/g,
    // createRequire(…).resolve('node-red/package.json'): a package run as a child process.
    /\.resolve\(\s*'([^']+)'\s*\)/g,
  ];
  return patterns.flatMap((pattern) => [...code.matchAll(pattern)].map((match) => match[1]!));
}

/** `@scope/name/sub` → `@scope/name`, `name/sub` → `name`; null for relative and `node:` imports. */
export function packageOf(specifier: string): string | null {
  if (specifier.startsWith('.') || specifier.startsWith('node:')) return null;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}
