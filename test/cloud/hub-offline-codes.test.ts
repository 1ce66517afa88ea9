// The whole hub linked to the development cloud on loopback: the cloud's clock makes the hub's time
// trusted, a doorcode issued with the shared secret opens an MQTT door, and once the cloud revokes
// its serial the next entry is refused with reason 'revoked'.
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { codeSecret, issueCode } from '../../hub/offline/index.js';
import { connectDoorDevice, present, removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { HUB_ID, mirrorConfig, startCloud, type TestCloud, waitFor } from './helpers.js';

let dir: string;
let hub: Hub;
let cloud: TestCloud;
let door: MqttClient;
let n = 0;

const clockStatus = () => hub.status().clock as { trusted: boolean; lastConfirmedBy: string | null };
const cloudStatus = () => hub.status().cloud as { connected: boolean; changeCursor: number };

/** Today's date where the hub is, as YYYY-MM-DD (what a daily code is issued for). */
function localDate(timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(new Date());
}

beforeAll(async () => {
  dir = tempDataDir();
  cloud = await startCloud(dir);
  // No NTP check: only the cloud can make the hub's clock trusted in this test.
  hub = await startHub(dir, { cloud: mirrorConfig(cloud), offline: { clock: { ntpCheck: false } } });
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

describe('offline doorcodes with the hub linked to the cloud', () => {
  it('trusts the clock on the cloud’s word, opens with a shared-secret code, and refuses it once the cloud revokes it', async () => {
    await waitFor(() => clockStatus().trusted, 5000, 'clock confirmed by the cloud');
    expect(clockStatus().lastConfirmedBy).toBe('cloud');

    // What the property manager's cloud does: issue a code from the secret it shares with the hub.
    const code = issueCode(
      codeSecret(dir).bytes(),
      { type: 'daily', date: localDate(hub.config.timeZone), index: 3, scope: 'site' },
      hub.config.timeZone,
    );
    const keypad = () => present(door, 'front', { id: `k${++n}`, kind: 'keypad', value: code.digits });
    expect(await keypad()).toMatchObject({ granted: true });

    const changeNo = cloud.cloud.revokeCode(HUB_ID, code.serial, 'tenant moved out');
    await waitFor(() => cloudStatus().changeCursor >= changeNo, 5000, 'revocation applied');
    expect(await keypad()).toMatchObject({ granted: false, reason: 'revoked' });

    // The hub audited it with the cloud as the actor, and sent that event up.
    const revoked = hub.store.events.list({ type: 'admin.code.revoked' });
    expect(revoked).toEqual([
      expect.objectContaining({
        credentialId: code.serial,
        data: { serial: code.serial, reason: 'tenant moved out', actor: 'cloud' },
      }),
    ]);
    await waitFor(
      () => cloud.cloud.events(HUB_ID, 0, 10_000, 'admin.code.revoked').length === 1,
      5000,
      'revocation event stored in the cloud',
    );
  });
});
