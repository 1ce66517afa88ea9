// A device looping on refused messages: a real hub on a real socket. The audit log gets a few events per
// device and minute and one summary with the count, not an event per message (the SD card's budget).
import { afterEach, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { openHubStore } from '../../hub/open-store.js';
import { connectDevice, removeDir, startHub, tempDataDir } from '../helpers/hub.js';

let dir: string;
let hub: Hub | null = null;

afterEach(async () => {
  await hub?.stop();
  hub = null;
  removeDir(dir);
});

it('audits refused device messages a few times a minute, then one summary with the count', async () => {
  dir = tempDataDir();
  hub = await startHub(dir);
  hub.store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
  const { secret } = hub.store.devices.add('front-reader', { role: 'door', doors: ['front'] });
  const device = await connectDevice(hub.addresses().mqtt.tcp!, 'front-reader', secret);
  // Broken door states: refused, but fewer than the state and refused bursts, so the device stays connected.
  const SENT = 30;
  for (let i = 0; i < SENT; i++) {
    await device.publishAsync('gatehouse/door/front/state', '{"contact":"ajar"}', { qos: 1 });
  }
  await device.endAsync();
  await hub.stop(); // records the last minute's summary
  hub = null;
  const opened = openHubStore(dir);
  const rejected = opened.store.events.list({ type: 'device.rejected', limit: 1000 });
  opened.close();
  expect(rejected.length).toBeGreaterThan(1);
  expect(rejected.length).toBeLessThanOrEqual(11);
  const summary = rejected.find((e) => typeof e.data.suppressed === 'number');
  expect(summary?.data).toMatchObject({ device: 'front-reader', suppressed: SENT - (rejected.length - 1) });
});
