// The hardware layer does not depend on the hub (docs/architecture.md): adapters/ may use only the hub's
// leaf building blocks, which import nothing of the project, so no import chain can lead back into
// adapters/. biome's noImportCycles sees file cycles only; this sees the folder rule.
import { describe, expect, it } from 'vitest';
import { importsOf, sourceFiles } from './source.js';

const LEAVES = ['hub/budget.ts', 'hub/logger.ts'];

function resolve(from: string, specifier: string): string {
  const parts = from.split('/').slice(0, -1);
  for (const segment of specifier.split('/')) {
    if (segment === '..') parts.pop();
    else if (segment !== '.') parts.push(segment);
  }
  return parts.join('/').replace(/\.js$/, '.ts');
}

describe('layers', () => {
  it('adapters/ imports nothing from hub/ but the leaf building blocks', () => {
    const wrong: string[] = [];
    for (const file of sourceFiles('adapters')) {
      for (const specifier of importsOf(file.text).filter((s) => s.startsWith('.'))) {
        const target = resolve(file.path, specifier);
        if (!target.startsWith('adapters/') && !LEAVES.includes(target))
          wrong.push(`${file.path} → ${target}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('the leaf building blocks import nothing of the project', () => {
    const leaves = sourceFiles('hub').filter((file) => LEAVES.includes(file.path));
    expect(leaves.map((file) => file.path).sort()).toEqual([...LEAVES].sort());
    for (const leaf of leaves) {
      expect(
        importsOf(leaf.text).filter((s) => s.startsWith('.')),
        leaf.path,
      ).toEqual([]);
    }
  });
});
