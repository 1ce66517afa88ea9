// A controller that does not come back after the hub restarts (both lost power; it died meanwhile) raises
// alarm.door_offline once doors.backAfterStartSeconds have passed, with a real hub restarted on the same
// data dir and real MQTT controllers; one that reconnects in time raises nothing (hub/doors/presence.ts).
import type { MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { connectDevice, removeDir, startHub, tempDataDir } from '../helpers/hub.js';

const BACK_S = 10; // the schema's minimum

describe('controllers after a hub restart', () => {
  const dir = tempDataDir();
  let hub: Hub | null = null;
  const clients: MqttClient[] = [];

  afterAll(async () => {
    for (const c of clients) await c.endAsync(true).catch(() => undefined);
    await hub?.stop();
    removeDir(dir);
  });

  it('raises door_offline for the controller that is not back, only for it, and clears it when it is', async () => {
    const config = { doors: { offlineGraceSeconds: 2, backAfterStartSeconds: BACK_S } };
    hub = await startHub(dir, config);
    const secrets: Record<string, string> = {};
    for (const door of ['gate', 'lobby']) hub.store.doors.add({ id: door, name: door, transport: 'mqtt' });
    secrets['ctl-gate'] = hub.store.devices.add('ctl-gate', { role: 'door', doors: ['gate'] }).secret;
    secrets['ctl-lobby'] = hub.store.devices.add('ctl-lobby', { role: 'door', doors: ['lobby'] }).secret;
    await hub.stop();

    const startedAt = Date.now();
    hub = await startHub(dir, config);
    const port = hub.addresses().mqtt.tcp!;
    clients.push(await connectDevice(port, 'ctl-lobby', secrets['ctl-lobby']!));
    const offline = () => hub!.store.events.list({ limit: 100, type: 'alarm.door_offline' });

    await new Promise((r) => setTimeout(r, BACK_S * 1000 - 1500));
    expect(offline()).toEqual([]);
    const deadline = Date.now() + 10_000;
    while (offline().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const raised = offline();
    expect(raised.map((e) => [e.doorId, e.data])).toEqual([
      ['gate', { device: 'ctl-gate', since: expect.any(Number), notBackAfterStart: true }],
    ]);
    expect(raised[0]!.ts - startedAt).toBeGreaterThanOrEqual(BACK_S * 1000 - 50);

    clients.push(await connectDevice(port, 'ctl-gate', secrets['ctl-gate']!));
    const cleared = () => hub!.store.events.list({ limit: 100, type: 'alarm.door_offline_cleared' });
    const until = Date.now() + 5_000;
    while (cleared().length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(cleared().map((e) => [e.doorId, e.data['device']])).toEqual([['gate', 'ctl-gate']]);
  }, 60_000);
});
