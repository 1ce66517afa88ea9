// The mqtt-abuse fault scenario, quick variant, against the compiled hub (run `npm run build` first).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import type { Scenario } from '../../faults/scenario.js';

const COMPILED = pathToFileURL(path.resolve('dist/faults/scenarios/mqtt-abuse.js')).href;

it('abuse from a device and from unauthenticated sockets: other doors keep deciding, abusers are stopped', async () => {
  const { mqttAbuse } = (await import(COMPILED)) as { mqttAbuse: Scenario };
  const workDir = mkdtempSync(path.join(tmpdir(), 'gh-fault-mqtt-abuse-'));
  try {
    const result = await mqttAbuse.run({ quick: true, log: () => {}, workDir });
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    expect(result.checks.length).toBeGreaterThan(10);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}, 120_000);
