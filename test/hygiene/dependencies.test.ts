// package.json says what a hub needs at run time: nothing more (an unused package is attack surface and
// install time on a Pi), nothing less (`npm ci --omit=dev` must give a hub that starts), and no package
// whose `engines` excludes the Node versions package.json promises.
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importsOf, packageOf, ROOT, sourceFiles } from './source.js';

interface PackageJson {
  engines: { node: string };
  dependencies: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  devDependencies: Record<string, string>;
}
interface LockEntry {
  version?: string;
  dev?: boolean;
  engines?: { node?: string } | string[];
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, LockEntry>;
};
// npm's own range logic; semver is installed with fastify (and npm), so this test needs no package of its own.
const semver = createRequire(import.meta.url)('semver') as {
  minVersion(range: string): { version: string } | null;
  satisfies(version: string, range: string): boolean;
};

/**
 * Runtime dependencies imported by no runtime file yet, with the reason. The lead deletes an entry once the
 * branch that imports it is merged.
 */
const NOT_YET_IMPORTED: Record<string, string> = {
  '@fastify/swagger': 'the OpenAPI document at /api/docs (issue #9, surfaces helper): delete after merge',
};

/** Dev dependencies run as commands (npm scripts, CI), not imported. */
const TOOLS = new Set(['@biomejs/biome', 'typescript', 'tsx', 'vitest']);

// What a hub runs: `npm ci --omit=dev` must be enough for these. bench/ and test/ run with dev deps, and
// ui/src is bundled into ui/dist at build time (its packages are dev dependencies).
const RUNTIME = sourceFiles('hub', 'adapters', 'deploy');
const DEV_ONLY = sourceFiles('bench', 'test', 'scripts', 'ui/src');

/**
 * The Gatehouse Node-RED nodes (flows/nodes, CommonJS) run in the hub's Node-RED child: what they
 * `require` is needed at run time too.
 */
function flowNodeRequires(): { path: string; text: string }[] {
  const dir = join(ROOT, 'flows/nodes');
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.js'))
    .map((f) => {
      const text = readFileSync(join(dir, f), 'utf8');
      const requires = [...text.matchAll(/\brequire\('([^']+)'\)/g)].map((m) => `import '${m[1]}';`);
      return { path: `flows/nodes/${f}`, text: requires.join('\n') };
    });
}

function packagesImportedBy(files: { path: string; text: string }[]): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of files) {
    for (const specifier of importsOf(file.text)) {
      const name = packageOf(specifier);
      if (name !== null && !found.has(name)) found.set(name, file.path);
    }
  }
  return found;
}

describe('dependencies', () => {
  const runtimeDeps = { ...pkg.dependencies, ...pkg.optionalDependencies };
  const runtimeImports = packagesImportedBy([...RUNTIME, ...flowNodeRequires()]);

  it('every runtime dependency is imported by the hub, the adapters or the dev cloud', () => {
    const unused = Object.keys(runtimeDeps).filter(
      (name) => !runtimeImports.has(name) && !(name in NOT_YET_IMPORTED),
    );
    expect(
      unused,
      'runtime dependencies nothing at run time imports (remove, or move to devDependencies)',
    ).toEqual([]);
  });

  it('every package the hub imports is a runtime dependency, not a dev one', () => {
    const missing = [...runtimeImports]
      .filter(([name]) => !(name in runtimeDeps))
      .map(([name, file]) => `${name} (imported by ${file})`);
    expect(missing).toEqual([]);
  });

  it('every package tests and the bench import is declared', () => {
    const declared = { ...runtimeDeps, ...pkg.devDependencies };
    const undeclared = [...packagesImportedBy(DEV_ONLY)]
      .filter(([name]) => !(name in declared) && name !== 'semver')
      .map(([name, file]) => `${name} (imported by ${file})`);
    expect(undeclared).toEqual([]);
  });

  it('every dev dependency is a tool or is imported by tests, the bench or scripts', () => {
    const imported = packagesImportedBy([...DEV_ONLY, ...RUNTIME]);
    const unused = Object.keys(pkg.devDependencies).filter(
      (name) => !imported.has(name) && !TOOLS.has(name) && !name.startsWith('@types/'),
    );
    expect(unused).toEqual([]);
  });

  it('no package installed for run time needs a newer Node than package.json promises', () => {
    const oldest = semver.minVersion(pkg.engines.node)?.version;
    expect(oldest).toBeDefined();
    const tooNew: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      if (path === '' || entry.dev) continue;
      const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      if (range && !semver.satisfies(oldest!, range)) tooNew.push(`${path}@${entry.version}: node ${range}`);
    }
    expect(tooNew, `packages that refuse Node ${oldest}`).toEqual([]);
  });
});
