// The relay-restart fault scenario, quick variant, against the compiled hub (run `npm run build` first).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import type { Scenario } from '../../faults/scenario.js';

const COMPILED = pathToFileURL(path.resolve('dist/faults/scenarios/relay-restart.js')).href;

it('restarts with locks on the GPIO emulator: no relay energised during boot or shutdown', async () => {
  const { relayRestart } = (await import(COMPILED)) as { relayRestart: Scenario };
  const workDir = mkdtempSync(path.join(tmpdir(), 'gh-fault-relay-restart-'));
  try {
    const result = await relayRestart.run({ quick: true, log: () => {}, workDir });
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    expect(result.checks.length).toBeGreaterThan(5);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}, 120_000);
