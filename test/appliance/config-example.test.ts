// The commented config file install.sh writes to /etc/gatehouse/config.yml (deploy/config.example.yml):
// generated from the schema, in sync with it, harmless as installed (defaults only), and correct when a
// person uncomments settings: every value shown is the real default at the real path.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { renderConfigExample } from '../../hub/config/example.js';
import { ConfigSchema, configLeaves, resolveConfig } from '../../hub/config/index.js';
import { cli, ROOT, removeDir, tempDataDir } from '../helpers/hub.js';

const FILE = path.join(ROOT, 'deploy/config.example.yml');
const example = renderConfigExample();

/** What a person gets after deleting the `# ` in front of every setting and section line. */
function uncommentEverything(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/^# /, ''))
    .join('\n');
}

function at(value: unknown, keys: string[]): unknown {
  let node = value;
  for (const key of keys) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

describe('deploy/config.example.yml', () => {
  it('is what the generator makes from the schema (run `npm run config:example` after a schema change)', () => {
    expect(readFileSync(FILE, 'utf8')).toBe(example);
  });

  it('as installed, sets nothing but the format version: the hub runs on its defaults', () => {
    expect(parseYaml(example)).toEqual({ version: 1 });
    expect(resolveConfig(parseYaml(example))).toEqual(resolveConfig({}));
  });

  it('shows every setting that has a default, at its path, with that default, as valid config', () => {
    const everything = parseYaml(uncommentEverything(example)) as Record<string, unknown>;
    const missing: string[] = [];
    for (const leaf of configLeaves(ConfigSchema)) {
      if (leaf.path[0] === 'dataDir') continue; // set by the service, explained in the file
      if (leaf.schema.default === undefined) {
        // Optional settings are described, never written (an empty value would be invalid).
        expect(at(everything, leaf.path)).toBeUndefined();
        expect(example).toContain(`## ${leaf.path.at(-1)} (not set by default)`);
        continue;
      }
      const shown = at(everything, leaf.path);
      if (JSON.stringify(shown) !== JSON.stringify(leaf.schema.default)) {
        missing.push(`${leaf.path.join('.')}: shows ${JSON.stringify(shown)}`);
      }
    }
    expect(missing).toEqual([]);
    expect(() => resolveConfig(everything)).not.toThrow();
    expect(example).toMatch(/^## dataDir is set by the service/m);
  });

  it('keeps every line within 100 characters', () => {
    const long = example.split('\n').filter((line) => line.length > 100 && !/^#\s*[\w.]+: /.test(line));
    expect(long).toEqual([]);
  });

  it('is what `gatehouse config example` prints (no config file or data dir needed)', async () => {
    const dataDir = tempDataDir();
    try {
      const result = await cli(dataDir, ['config', 'example']);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(example);
    } finally {
      removeDir(dataDir);
    }
  });
});
