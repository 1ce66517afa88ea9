// docs/benchmarks.md documents every BENCH_* variable a benchmark reads and every suite the runner knows.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BENCH = path.join(ROOT, 'bench');
const DOC = readFileSync(path.join(ROOT, 'docs/benchmarks.md'), 'utf8');
/** Set by one benchmark process for another, not by a person. */
const INTERNAL = new Set(['BENCH_ABUSER_PLAN']);

function sources(): string[] {
  return readdirSync(BENCH)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => readFileSync(path.join(BENCH, f), 'utf8'));
}

describe('docs/benchmarks.md', () => {
  it('names every BENCH_* variable the benchmarks read', () => {
    const read = new Set<string>();
    for (const text of sources()) {
      for (const m of text.matchAll(/process\.env(?:\.|\[')(BENCH_[A-Z0-9_]+)/g)) read.add(m[1]!);
      // The --quick defaults are set through the same names.
      for (const m of text.matchAll(/^\s+(BENCH_[A-Z0-9_]+): '/gm)) read.add(m[1]!);
    }
    expect(read.size).toBeGreaterThan(20);
    const missing = [...read].filter((name) => !INTERNAL.has(name) && !DOC.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });

  it('names every suite of the runner', () => {
    const run = readFileSync(path.join(BENCH, 'run.ts'), 'utf8');
    const suites = [...run.matchAll(/name: '([a-z]+)'/g)].map((m) => m[1]!);
    expect(suites).toContain('broker');
    for (const suite of suites) expect(DOC, suite).toContain(`\`${suite}\``);
  });
});
