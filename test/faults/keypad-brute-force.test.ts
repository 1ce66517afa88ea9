// The keypad-brute-force fault scenario, quick variant, against the compiled hub (run `npm run build` first).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import type { Scenario } from '../../faults/scenario.js';

const COMPILED = pathToFileURL(path.resolve('dist/faults/scenarios/keypad-brute-force.js')).href;

it('random codes at one keypad: lockouts and the cap as specified, no door opened, cards and other PINs unaffected', async () => {
  const { keypadBruteForce } = (await import(COMPILED)) as { keypadBruteForce: Scenario };
  const workDir = mkdtempSync(path.join(tmpdir(), 'gh-fault-keypad-brute-force-'));
  try {
    const result = await keypadBruteForce.run({ quick: true, log: () => {}, workDir });
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    expect(result.checks.length).toBeGreaterThan(5);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}, 120_000);
