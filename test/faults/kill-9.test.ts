// The quick kill-9 scenario against the compiled hub (docs/proof.md, "The fault suite").
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { kill9 } from '../../faults/scenarios/kill-9.js';

const workDir = mkdtempSync(path.join(tmpdir(), 'gh-fault-kill9-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

it('kill -9: nothing answered or acknowledged lost, file and chain sound', async () => {
  const result = await kill9.run({ quick: true, log: () => {}, workDir });
  expect(result.checks.filter((c) => !c.ok)).toEqual([]);
  expect(result.checks.length).toBeGreaterThan(0);
}, 300_000);
