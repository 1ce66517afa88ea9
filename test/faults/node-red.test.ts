// The node-red fault scenario, quick variant, against the compiled hub (run `npm run build` first).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import type { Scenario } from '../../faults/scenario.js';

const COMPILED = pathToFileURL(path.resolve('dist/faults/scenarios/node-red.js')).href;

it('Node-RED killed, hung and flooding: no failed unlock, restarted by the supervisor', async () => {
  const { nodeRed } = (await import(COMPILED)) as { nodeRed: Scenario };
  const workDir = mkdtempSync(path.join(tmpdir(), 'gh-fault-node-red-'));
  try {
    const result = await nodeRed.run({ quick: true, log: () => {}, workDir });
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    expect(result.checks.length).toBeGreaterThan(5);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}, 120_000);
