// Issue #5 on the whole hub: a phone over the LAN, a mobile reader and a door controller on MQTT,
// changes from another process (the CLI's connection). No cloud anywhere.
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { callHub } from '../../hub/cli/hub-client.js';
import { IssuerKey, issueMobileKey } from '../../hub/mobile/issuer.js';
import { httpRequester, Phone, presentOverApi } from '../../hub/mobile/phone.js';
import { openHubStore } from '../../hub/open-store.js';
import { EmulatedDoorController } from '../doorsync/door-controller.js';
import { until } from '../doorsync/helpers.js';
import { removeDir, startHub, tempDataDir } from '../helpers/hub.js';

let dataDir: string;
let hub: Hub;
let phone: Phone;
let secret: string;
const clients: MqttClient[] = [];
let door: EmulatedDoorController | null = null;

function fromCli<T>(fn: (store: ReturnType<typeof openHubStore>['store']) => T): T {
  const opened = openHubStore(dataDir);
  try {
    return fn(opened.store.as('cli'));
  } finally {
    opened.close();
  }
}

beforeEach(async () => {
  dataDir = tempDataDir();
  hub = await startHub(dataDir, { doorSync: { enabled: true } });
  const { store } = hub;
  store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
  store.people.add({ id: 'anna', name: 'Anna', kind: 'resident' });
  store.groups.add({ id: 'residents', name: 'Residents' });
  store.groups.addDoor('residents', 'front');
  store.groups.addMember('residents', 'anna');
  store.credentials.addCard('anna', '04A1B2C3', { id: 'c_card1' });
  secret = store.devices.add('front-ctl', { role: 'door', doors: ['front'] }).secret;
  phone = Phone.generate();
  phone.install(
    issueMobileKey(store, IssuerKey.loadOrCreate(dataDir), {
      personId: 'anna',
      phonePublicKey: phone.publicKey,
      doors: ['front'],
    }).certificate,
  );
});
afterEach(async () => {
  await door?.disconnect();
  door = null;
  for (const c of clients.splice(0)) await c.endAsync(true);
  await hub.stop();
  removeDir(dataDir);
});

describe('issue 5 on the whole hub', () => {
  it('a phone opens the door over the LAN and is shut out at once by "log out everywhere"', async () => {
    const lan = httpRequester(`http://127.0.0.1:${hub.addresses().http.http}`);
    expect(await presentOverApi(phone, 'front', lan)).toEqual({ granted: true, reason: 'granted' });
    fromCli((store) => store.people.bumpKeyEpoch('anna'));
    expect(await presentOverApi(phone, 'front', lan)).toMatchObject({ granted: false, reason: 'revoked' });
  });

  it('a mobile reader on MQTT gets exactly one decision per presentation', async () => {
    const reader = await mqtt.connectAsync(`mqtt://127.0.0.1:${hub.addresses().mqtt.tcp}`, {
      username: 'front-ctl',
      password: secret,
      reconnectPeriod: 0,
    });
    clients.push(reader);
    const decisions: Array<{ id: string; granted: boolean; reason: string }> = [];
    const challenges: Array<{ id: string; challenge: string }> = [];
    reader.on('message', (topic, payload) => {
      if (topic.endsWith('/decision')) decisions.push(JSON.parse(payload.toString()));
      if (topic.endsWith('/challenge')) challenges.push(JSON.parse(payload.toString()));
    });
    await reader.subscribeAsync('gatehouse/door/front/#', { qos: 1 });
    await reader.publishAsync(
      'gatehouse/door/front/credential',
      JSON.stringify({ id: 'm-1', kind: 'mobile', value: 'challenge' }),
    );
    await until(() => challenges.length === 1, 5000, 'challenge');
    const response = phone.answer(challenges[0]!.challenge, 'front');
    await reader.publishAsync(
      'gatehouse/door/front/credential',
      JSON.stringify({ id: 'm-2', kind: 'mobile', value: response }),
    );
    await until(() => decisions.length >= 1, 5000, 'decision');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(decisions).toEqual([{ id: 'm-2', granted: true, reason: 'granted', unlockMs: 5000 }]);
  });

  it('a mobile reader serves phone after phone within its default budget (no slot is held after an answer)', async () => {
    const reader = await mqtt.connectAsync(`mqtt://127.0.0.1:${hub.addresses().mqtt.tcp}`, {
      username: 'front-ctl',
      password: secret,
      reconnectPeriod: 0,
    });
    clients.push(reader);
    const answers = new Map<string, Record<string, unknown>>();
    reader.on('message', (topic, payload) => {
      if (topic.endsWith('/decision') || topic.endsWith('/challenge')) {
        const body = JSON.parse(payload.toString()) as Record<string, unknown>;
        answers.set(String(body.id), body);
      }
    });
    await reader.subscribeAsync('gatehouse/door/front/#', { qos: 1 });
    const send = async (id: string, value: string) => {
      await reader.publishAsync(
        'gatehouse/door/front/credential',
        JSON.stringify({ id, kind: 'mobile', value }),
      );
      await until(() => answers.has(id), 5000, id);
      return answers.get(id)!;
    };
    // Eight phones in a row, well within a reader's rate budget but more than its unanswered bound (4).
    for (let i = 0; i < 8; i++) {
      const asked = await send(`c-${i}`, 'challenge');
      expect(asked, `challenge ${i}`).toMatchObject({ challenge: expect.any(String) });
      await new Promise((resolve) => setTimeout(resolve, 60));
      expect(await send(`r-${i}`, phone.answer(String(asked.challenge), 'front'))).toMatchObject({
        granted: true,
      });
      await new Promise((resolve) => setTimeout(resolve, 60));
    }
  });

  it('a door controller keeps a copy, acks it, and a CLI revocation reaches it', async () => {
    door = new EmulatedDoorController('front', IssuerKey.loadOrCreate(dataDir).publicKey);
    await door.connect(hub.addresses().mqtt.tcp!, 'front-ctl', secret);
    await until(() => door!.decide('card', '04A1B2C3').granted, 5000, 'snapshot');
    const status = async () =>
      (await callHub(dataDir, 'GET', '/doorsync')).body.doors as Array<{ doorId: string; inSync: boolean }>;
    let synced = false;
    for (let i = 0; i < 100 && !synced; i++) {
      synced = (await status()).some((d) => d.doorId === 'front' && d.inSync);
      if (!synced) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(synced).toBe(true);
    fromCli((store) => store.credentials.revoke('c_card1', 'lost'));
    await until(
      () => door!.decide('card', '04A1B2C3').reason === 'unknown_credential',
      5000,
      'revocation at the door',
    );
  });
});
