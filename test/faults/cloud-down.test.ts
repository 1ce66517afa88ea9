// The quick cloud-down scenario against the compiled hub (docs/proof.md, "The fault suite").
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { cloudDown } from '../../faults/scenarios/cloud-down.js';

const workDir = mkdtempSync(path.join(tmpdir(), 'gh-fault-cloud-down-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

it('cloud down: every decision local, nothing lost, the backlog drained in order', async () => {
  const result = await cloudDown.run({ quick: true, log: () => {}, workDir });
  expect(result.checks.filter((c) => !c.ok)).toEqual([]);
  expect(result.checks.length).toBeGreaterThan(0);
}, 120_000);
