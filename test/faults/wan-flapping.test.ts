// The quick wan-flapping scenario against the compiled hub (docs/proof.md, "The fault suite").
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { wanFlapping } from '../../faults/scenarios/wan-flapping.js';

const workDir = mkdtempSync(path.join(tmpdir(), 'gh-fault-wan-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

it('WAN flapping: back-off respected, nothing lost or duplicated, memory flat', async () => {
  const result = await wanFlapping.run({ quick: true, log: () => {}, workDir });
  expect(result.checks.filter((c) => !c.ok)).toEqual([]);
  expect(result.checks.length).toBeGreaterThan(0);
}, 180_000);
