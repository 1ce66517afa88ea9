// A mobile reader on MQTT (kind 'mobile'): ask for a challenge, relay the phone's answer, get the
// decision. With no cloud anywhere: the hub verifies everything itself.
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { issueMobileKey } from '../../hub/mobile/issuer.js';
import { Phone } from '../../hub/mobile/phone.js';
import { type LanHub, startLanHub } from '../doorsync/lan-hub.js';

let hub: LanHub;
let reader: MqttClient;
let phone: Phone;
let secret: string;
let sequence = 0;

function next<T>(topic: string, id: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nothing on ${topic} for ${id}`)), 5000);
    const onMessage = (t: string, payload: Buffer) => {
      if (t !== topic) return;
      const body = JSON.parse(payload.toString()) as T & { id: string };
      if (body.id !== id) return;
      clearTimeout(timer);
      reader.off('message', onMessage);
      resolve(body);
    };
    reader.on('message', onMessage);
  });
}

async function ask(value: string): Promise<{ granted: boolean; reason: string }> {
  const id = `r${++sequence}`;
  const decision = next<{ granted: boolean; reason: string }>('gatehouse/door/front/decision', id);
  await reader.publishAsync(
    'gatehouse/door/front/credential',
    JSON.stringify({ id, kind: 'mobile', value }),
    { qos: 1 },
  );
  return decision;
}

/** The reader asks the hub for a challenge, the phone signs it, the reader relays the answer. */
async function presentPhone(
  p: Phone = phone,
): Promise<{ response: string; decision: { granted: boolean; reason: string } }> {
  const id = `c${++sequence}`;
  const challenged = next<{ challenge: string; expiresAt: number }>('gatehouse/door/front/challenge', id);
  await reader.publishAsync(
    'gatehouse/door/front/credential',
    JSON.stringify({ id, kind: 'mobile', value: 'challenge' }),
    { qos: 1 },
  );
  const { challenge } = await challenged;
  const response = p.answer(challenge, 'front');
  return { response, decision: await ask(response) };
}

beforeEach(async () => {
  phone = Phone.generate();
  hub = await startLanHub((store) => {
    store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
    store.people.add({ id: 'anna', name: 'Anna', kind: 'resident' });
    store.groups.add({ id: 'residents', name: 'Residents' });
    store.groups.addDoor('residents', 'front');
    store.groups.addMember('residents', 'anna');
    secret = store.devices.add('front-reader', { role: 'door', doors: ['front'] }).secret;
  });
  phone.install(
    issueMobileKey(hub.opened.store, hub.issuer, {
      personId: 'anna',
      phonePublicKey: phone.publicKey,
      doors: ['front'],
    }).certificate,
  );
  reader = await mqtt.connectAsync(`mqtt://127.0.0.1:${hub.port}`, {
    username: 'front-reader',
    password: secret,
    reconnectPeriod: 0,
    clientId: `front-reader-${Math.random().toString(16).slice(2, 8)}`,
  });
  await reader.subscribeAsync('gatehouse/door/front/#', { qos: 1 });
});
afterEach(async () => {
  await reader.endAsync();
  await hub.stop();
});

describe('mobile key through an MQTT reader', () => {
  it('grants with the cloud down, and refuses the same answer replayed', async () => {
    const { response, decision } = await presentPhone();
    expect(decision).toMatchObject({ granted: true, reason: 'granted' });
    expect(await ask(response)).toMatchObject({ granted: false, reason: 'invalid_request' });
  });

  it('stops working at once after "log out everywhere" from the CLI', async () => {
    expect((await presentPhone()).decision.granted).toBe(true);
    hub.cli((store) => store.people.bumpKeyEpoch('anna'));
    expect((await presentPhone()).decision).toMatchObject({ granted: false, reason: 'revoked' });
  });

  it('answers garbage with invalid_request and keeps the reader connected', async () => {
    expect(await ask('not-a-response')).toMatchObject({ granted: false, reason: 'invalid_request' });
    expect((await presentPhone()).decision.granted).toBe(true);
  });
});
