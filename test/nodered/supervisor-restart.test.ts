// Across hub restarts: flow credentials stay readable (credentialSecret comes from the hub key, not from
// anything the restart replaces), the hub-node-red account keeps its shape and gets a new secret, and the
// config refuses Node-RED settings outside their bounds.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { resolveConfig } from '../../hub/config/index.js';
import { NODE_RED_ACCOUNT } from '../../hub/nodered/account.js';
import type { NodeRedStatus } from '../../hub/nodered/supervisor.js';
import type { NodeRedTarget } from '../../hub/nodered/target.js';
import { removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { nodeRedAdmin as admin } from './admin-api.js';

const dir = tempDataDir();
const hubs: Hub[] = [];

afterAll(async () => {
  for (const hub of hubs) await hub.stop().catch(() => undefined);
  removeDir(dir);
});

async function startWithNodeRed(): Promise<{ hub: Hub; target: NodeRedTarget }> {
  const hub = await startHub(
    dir,
    { nodeRed: { enabled: true, probeIntervalSeconds: 1 } },
    { nodeRedPackages: [] },
  );
  hubs.push(hub);
  const until = Date.now() + 60_000;
  while ((hub.status().nodeRed as NodeRedStatus).state !== 'running') {
    if (Date.now() > until)
      throw new Error(`Node-RED did not start: ${JSON.stringify(hub.status().nodeRed)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { hub, target: hub.nodeRed!.target()! };
}

describe('Node-RED across hub restarts', () => {
  it('keeps flow credentials readable and encrypted, and gives the hub-node-red account a new secret', async () => {
    const password = 'broker-password-for-a-flow-7d1e';
    const first = await startWithNodeRed();
    const flow = [
      {
        id: 'broker1',
        type: 'mqtt-broker',
        name: 'elsewhere',
        broker: '127.0.0.1',
        port: '1',
        autoConnect: false,
        credentials: { user: 'flow-user', password },
      },
    ];
    expect((await admin(first.target, 'POST', '/flows/flows', flow)).status).toBeLessThan(300);
    expect(first.hub.store.devices.get(NODE_RED_ACCOUNT)).toMatchObject({ role: 'integration' });
    const rotationsBefore = first.hub.store.events
      .list({ limit: 100, type: 'admin.device.secret_rotated' })
      .filter((e) => (e.data as { deviceId?: string }).deviceId === NODE_RED_ACCOUNT).length;
    await first.hub.stop();

    const credentialsFile = readFileSync(path.join(dir, 'node-red', 'flows_cred.json'), 'utf8');
    expect(credentialsFile).not.toContain(password);
    expect(credentialsFile).not.toContain('flow-user');

    const second = await startWithNodeRed();
    expect(second.target.token).not.toBe(first.target.token);
    const creds = await admin(second.target, 'GET', '/flows/credentials/mqtt-broker/broker1');
    expect(creds.status).toBe(200);
    expect(await creds.json()).toMatchObject({ user: 'flow-user', has_password: true });
    const rotationsAfter = second.hub.store.events
      .list({ limit: 100, type: 'admin.device.secret_rotated' })
      .filter((e) => (e.data as { deviceId?: string }).deviceId === NODE_RED_ACCOUNT).length;
    expect(rotationsAfter).toBe(rotationsBefore + 1);
    expect(second.hub.store.devices.list().filter((d) => d.id === NODE_RED_ACCOUNT)).toHaveLength(1);
  }, 120_000);
});

describe('Node-RED that cannot be started', () => {
  it('leaves the hub running and retries with back-off', async () => {
    const blocked = tempDataDir();
    try {
      // Its user dir is a file: every start fails before a process is spawned.
      writeFileSync(path.join(blocked, 'node-red'), 'not a directory');
      const hub = await startHub(blocked, {
        nodeRed: { enabled: true, backoffMinMs: 100, backoffMaxMs: 400 },
      });
      try {
        expect(hub.status().parts).toMatchObject({ 'node-red': 'running', decisions: 'running' });
        const until = Date.now() + 10_000;
        while ((hub.status().nodeRed as NodeRedStatus).restarts < 3 && Date.now() < until) {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const status = hub.status().nodeRed as NodeRedStatus;
        expect(status.restarts).toBeGreaterThanOrEqual(3);
        expect(status).toMatchObject({ pid: null, lastExit: { reason: 'spawn-failed' } });
        expect(['backoff', 'starting']).toContain(status.state);
        expect(hub.nodeRed!.target()).toBeNull();
      } finally {
        await hub.stop();
      }
      expect(hub.status().nodeRed).toMatchObject({ state: 'stopped' });
    } finally {
      removeDir(blocked);
    }
  }, 60_000);
});

describe('nodeRed config', () => {
  it.each([
    [{ maxHeapMb: 16 }],
    [{ maxHeapMb: 'lots' }],
    [{ port: 70000 }],
    [{ probeFailures: 0 }],
    [{ logLinesPerSecond: 1e9 }],
    [{ enabled: 'yes' }],
    [{ unknownKey: true }],
  ])('refuses %j', (nodeRed) => {
    expect(() => resolveConfig({ dataDir: dir, nodeRed })).toThrow(/nodeRed/);
  });

  it('runs Node-RED by default with a 160 MB heap on a free loopback port', () => {
    expect(resolveConfig({ dataDir: dir }).nodeRed).toMatchObject({
      enabled: true,
      port: 0,
      maxHeapMb: 160,
      allowPaletteInstall: false,
    });
  });
});
