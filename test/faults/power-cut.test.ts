// The quick power-cut scenario against the compiled hub (docs/proof.md, "The fault suite").
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { powerCut } from '../../faults/scenarios/power-cut.js';

const workDir = mkdtempSync(path.join(tmpdir(), 'gh-fault-power-cut-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

it('power cut: the hub starts from the copy, file sound, chain intact', async () => {
  const result = await powerCut.run({ quick: true, log: () => {}, workDir });
  expect(result.checks.filter((c) => !c.ok)).toEqual([]);
  expect(result.checks.length).toBeGreaterThan(0);
}, 240_000);
