// The hub's own cloud link, configured the way an installer would: the hub connects to the development
// cloud, applies its changes, and shows the link on /health; a revocation from the cloud reaches the door.
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { HUB_ID, mirrorConfig, startCloud, type TestCloud, waitFor } from '../cloud/helpers.js';
import { connectDoorDevice, present, removeDir, startHub, tempDataDir } from '../helpers/hub.js';

let dir: string;
let hub: Hub;
let cloud: TestCloud;
let door: MqttClient;
let n = 0;

const cloudStatus = () => hub.status().cloud as { state: string; connected: boolean; backlog: number };

beforeAll(async () => {
  dir = tempDataDir();
  cloud = await startCloud(dir);
  hub = await startHub(dir, { cloud: mirrorConfig(cloud) });
  hub.store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
  const { secret } = hub.store.devices.add('front-reader', { role: 'door', doors: ['front'] });
  door = await connectDoorDevice(hub.addresses().mqtt.tcp!, 'front-reader', secret, ['front']);
  await waitFor(() => cloudStatus().connected, 5000, 'hub connected to the cloud');
});

afterAll(async () => {
  await door?.endAsync();
  await hub?.stop();
  await cloud?.cloud.stop();
  removeDir(dir);
});

describe('the hub linked to the cloud', () => {
  it('applies people and cards from the cloud and enforces a cloud revocation at the door', async () => {
    cloud.cloud.pushChange(HUB_ID, {
      kind: 'group',
      op: 'upsert',
      id: 'residents',
      data: { name: 'Residents', doorIds: ['front'] },
    });
    cloud.cloud.upsertPerson(HUB_ID, 'ada', { name: 'Ada', groupIds: ['residents'] });
    cloud.cloud.upsertCredential(HUB_ID, 'ada-card', { personId: 'ada', kind: 'card', value: '04ADA001' });
    await waitFor(() => hub.store.credentials.get('ada-card'), 5000, 'card from the cloud');
    expect((await present(door, 'front', { id: `c${++n}`, kind: 'card', value: '04ADA001' })).granted).toBe(
      true,
    );

    cloud.cloud.revoke(HUB_ID, 'ada-card');
    await waitFor(() => hub.store.credentials.get('ada-card')?.revokedAt, 5000, 'revocation applied');
    const d = await present(door, 'front', { id: `c${++n}`, kind: 'card', value: '04ADA001' });
    expect(d).toMatchObject({ granted: false, reason: 'revoked' });
  });

  it('sends every decision up and reports the link to staff', async () => {
    await waitFor(() => cloudStatus().backlog === 0, 5000, 'backlog drained');
    const sent = cloud.cloud.hubs().find((h) => h.id === HUB_ID)!;
    expect(sent.storedSeq).toBe(hub.store.events.lastSeq());
    await hub.store.users.add('alice', 'correct horse battery', 'staff');
    const base = `http://127.0.0.1:${hub.addresses().http.http}/api/v1`;
    const login = await fetch(`${base}/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'correct horse battery' }),
    });
    const { token } = (await login.json()) as { token: string };
    const res = await fetch(`${base}/status`, { headers: { authorization: `Bearer ${token}` } });
    const status = (await res.json()) as { cloud: { state: string; connected: boolean; backlog: number } };
    expect(status.cloud).toMatchObject({ connected: true, backlog: 0 });
  });
});
