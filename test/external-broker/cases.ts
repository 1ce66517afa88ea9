// The MQTT door cases every device network must pass, run against the embedded broker and against a real
// mosquitto with the hub in external mode (same assertions, same clients): provisioning, per-door ACL
// refusals, decisions, revocation at the next presentation, last-will availability, bridge requests,
// device removal, the integration role. Each case says what a device or an integration would see.
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { present } from '../helpers/hub.js';

export interface Network {
  hub: Hub;
  /** Where devices connect: the embedded broker's port, or mosquitto's. */
  port: number;
  /** Whether refusals come back on the device's error topic (the embedded broker sees the publish). */
  errorsOnRefusedPublish: boolean;
  stop(): Promise<void>;
}

const ADMIN = { actor: 'test', role: 'admin' } as const;

/** Connects as a device, retrying while the account is being provisioned (an external broker). */
export async function connectAs(
  port: number,
  username: string,
  password: string,
  options: { will?: boolean; clientId?: string; deadlineMs?: number } = {},
): Promise<MqttClient> {
  const deadline = Date.now() + (options.deadlineMs ?? 15_000);
  for (;;) {
    try {
      return await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
        username,
        password,
        reconnectPeriod: 0,
        connectTimeout: 5000,
        clientId: options.clientId ?? `${username}-${Math.random().toString(16).slice(2, 8)}`,
        ...(options.will
          ? {
              will: {
                topic: `gatehouse/device/${username}/availability`,
                payload: Buffer.from('offline'),
                qos: 1 as const,
                retain: true,
              },
            }
          : {}),
      });
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Whether a login is refused (CONNACK ≠ 0) within the deadline. */
export async function loginRefused(port: number, username: string, password: string): Promise<boolean> {
  try {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      username,
      password,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    await client.endAsync();
    return false;
  } catch {
    return true;
  }
}

export async function until(check: () => boolean | Promise<boolean>, deadlineMs = 15_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The granted QoS of one subscription, 128 when it is refused (mqtt.js throws on 128). */
export async function subscribeQos(client: MqttClient, topic: string): Promise<number> {
  try {
    const granted = await client.subscribeAsync(topic, { qos: 1 });
    return granted[0]?.qos ?? 128;
  } catch (error) {
    if (String((error as Error).message).includes('Subscribe error')) return 128;
    throw error;
  }
}

/** Messages on `topic` within `ms`. */
export function collect(client: MqttClient, topic: string, ms: number): Promise<string[]> {
  const seen: string[] = [];
  const onMessage = (t: string, payload: Buffer) => {
    if (t === topic) seen.push(payload.toString());
  };
  client.on('message', onMessage);
  return new Promise((resolve) =>
    setTimeout(() => {
      client.off('message', onMessage);
      resolve(seen);
    }, ms),
  );
}

/** Decisions a device expects; the same hub data for every network. */
export function doorNetworkCases(name: string, startNetwork: () => Promise<Network>): void {
  describe(`door network: ${name}`, () => {
    let net: Network;
    let hub: Hub;
    let reader: MqttClient;
    let frontSecret: string;
    const clients: MqttClient[] = [];
    const ids: Record<string, string> = {};

    beforeAll(async () => {
      net = await startNetwork();
      hub = net.hub;
      const { store } = hub;
      store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
      store.doors.add({ id: 'back', name: 'Back', transport: 'mqtt' });
      store.people.add({ id: 'ada', name: 'Ada', kind: 'resident' });
      ids.ada = store.credentials.addCard('ada', '04A22B1C').id;
      ids.lost = store.credentials.addCard('ada', '04DEAD01').id;
      store.credentials.revoke(ids.lost, 'lost');
      store.groups.add({ id: 'residents', name: 'Residents' });
      store.groups.addDoor('residents', 'front');
      store.groups.addDoor('residents', 'back');
      store.groups.addMember('residents', 'ada');
      frontSecret = store.devices.add('front-reader', { role: 'door', doors: ['front'] }).secret;
      reader = await connectAs(net.port, 'front-reader', frontSecret, { will: true });
      clients.push(reader);
      await reader.subscribeAsync(['gatehouse/door/front/decision', 'gatehouse/device/front-reader/error'], {
        qos: 1,
      });
    }, 60_000);

    afterAll(async () => {
      for (const client of clients) client.end(true);
      await net?.stop();
    }, 30_000);

    it('provisions a device account: its secret logs in, a wrong one is refused', async () => {
      expect(reader.connected).toBe(true);
      expect(await loginRefused(net.port, 'front-reader', 'not-the-secret')).toBe(true);
      expect(await loginRefused(net.port, 'nobody', 'whatever')).toBe(true);
    });

    it('decides: granted, unknown, revoked, and a broken message is invalid_request', async () => {
      expect(await present(reader, 'front', { id: 'c-1', kind: 'card', value: '04:a2:2b:1c' })).toMatchObject(
        {
          id: 'c-1',
          granted: true,
          reason: 'granted',
        },
      );
      expect(await present(reader, 'front', { id: 'c-2', kind: 'card', value: '0000BEEF' })).toMatchObject({
        granted: false,
        reason: 'unknown_credential',
      });
      expect(await present(reader, 'front', { id: 'c-3', kind: 'card', value: '04DEAD01' })).toMatchObject({
        granted: false,
        reason: 'revoked',
      });
      const errors = collect(reader, 'gatehouse/device/front-reader/error', 1500);
      const answer = await present(reader, 'front', { id: 'c-4', kind: 'card', value: 'not hex' });
      expect(answer).toMatchObject({ id: 'c-4', granted: false, reason: 'invalid_request' });
      expect((await errors).join('\n')).toContain('2-128 hex digits');
    });

    it('refuses a door the device does not serve, for publish and for subscribe', async () => {
      expect(await subscribeQos(reader, 'gatehouse/door/back/decision')).toBe(128);
      const errors = collect(reader, 'gatehouse/device/front-reader/error', 1500);
      await reader.publishAsync(
        'gatehouse/door/back/credential',
        JSON.stringify({ id: 'x-1', kind: 'card', value: '04A22B1C' }),
        {
          qos: 1,
        },
      );
      const seen = await errors;
      if (net.errorsOnRefusedPublish) expect(seen.join('\n')).toContain("door 'back' is not served");
      // Never decided: the hub logs no decision for it, whoever refused it.
      await new Promise((r) => setTimeout(r, 300));
      const decided = hub.store.events
        .list({ limit: 50, type: 'decision' })
        .some((e) => e.data['request'] === 'x-1' || e.doorId === 'back');
      expect(decided).toBe(false);
    });

    it('never shows a credential to another device of the same door or to an integration', async () => {
      const second = hub.store.devices.add('front-keypad', { role: 'door', doors: ['front'] }).secret;
      const keypad = await connectAs(net.port, 'front-keypad', second);
      clients.push(keypad);
      await keypad.subscribeAsync('gatehouse/door/front/#', { qos: 1 });
      const integration = hub.store.devices.add('flows', { role: 'integration' }).secret;
      const flows = await connectAs(net.port, 'flows', integration);
      clients.push(flows);
      expect(await subscribeQos(flows, 'gatehouse/door/+/credential')).toBe(128);
      await flows.subscribeAsync('gatehouse/door/+/decision', { qos: 1 });
      const keypadSaw = collect(keypad, 'gatehouse/door/front/credential', 1500);
      const decisionsSeen = collect(flows, 'gatehouse/door/front/decision', 1500);
      await present(keypad, 'front', { id: 'k-1', kind: 'card', value: '04A22B1C' });
      expect(await keypadSaw).toEqual([]);
      expect((await decisionsSeen).map((d) => JSON.parse(d).id)).toContain('k-1');
      hub.store.devices.remove('front-keypad');
      hub.store.devices.remove('flows');
    });

    it('enforces a revocation at the next presentation', async () => {
      expect((await present(reader, 'front', { id: 'r-1', kind: 'card', value: '04A22B1C' })).granted).toBe(
        true,
      );
      await hub.commands.execute('credential.revoke', { id: ids.ada, reason: 'stolen' }, ADMIN);
      expect(await present(reader, 'front', { id: 'r-2', kind: 'card', value: '04A22B1C' })).toMatchObject({
        granted: false,
        reason: 'revoked',
      });
    });

    it('tracks availability: online when announced, offline by the last will', async () => {
      const secret = hub.store.devices.add('back-ctl', { role: 'door', doors: ['back'] }).secret;
      const device = await connectAs(net.port, 'back-ctl', secret, { will: true });
      await device.publishAsync('gatehouse/device/back-ctl/availability', 'online', { qos: 1, retain: true });
      await until(() => hub.broker.onlineDevices().includes('back-ctl'));
      await until(() => hub.doors.status().find((s) => s.doorId === 'back')?.online === true);
      // The connection dies without a DISCONNECT: the broker publishes the will.
      (device as unknown as { stream: { destroy(): void } }).stream.destroy();
      await until(() => !hub.broker.onlineDevices().includes('back-ctl'));
      await until(() => hub.doors.status().find((s) => s.doorId === 'back')?.online === false);
      device.end(true);
    });

    it('answers bridge requests of an integration account, with the command layer refusing what it may not do', async () => {
      const secret = hub.store.devices.add('node-red', { role: 'integration' }).secret;
      const flows = await connectAs(net.port, 'node-red', secret);
      clients.push(flows);
      await flows.subscribeAsync('gatehouse/bridge/response/#', { qos: 1 });
      const answers = collect(flows, 'gatehouse/bridge/response/door.list', 2000);
      const refusals = collect(flows, 'gatehouse/bridge/response/person.remove', 2000);
      await flows.publishAsync('gatehouse/bridge/request/door.list', JSON.stringify({ transaction: 't-1' }), {
        qos: 1,
      });
      await flows.publishAsync(
        'gatehouse/bridge/request/person.remove',
        JSON.stringify({ transaction: 't-2', id: 'ada' }),
        {
          qos: 1,
        },
      );
      const list = (await answers).map((a) => JSON.parse(a));
      expect(list[0]).toMatchObject({ ok: true, transaction: 't-1' });
      expect(list[0].result.doors.map((d: { id: string }) => d.id).sort()).toEqual(['back', 'front']);
      expect((await refusals).map((a) => JSON.parse(a))[0]).toMatchObject({
        ok: false,
        error: { code: 'forbidden' },
        transaction: 't-2',
      });
      // A door device may not run commands: the request is refused, never answered.
      const none = collect(reader, 'gatehouse/bridge/response/door.list', 1000);
      await reader.publishAsync(
        'gatehouse/bridge/request/door.list',
        JSON.stringify({ transaction: 'evil' }),
        { qos: 1 },
      );
      const heard = collect(flows, 'gatehouse/bridge/response/door.list', 1000);
      expect(await none).toEqual([]);
      expect((await heard).some((a) => a.includes('evil'))).toBe(false);
    });

    it('disconnects a removed device at once and refuses its login', async () => {
      const secret = hub.store.devices.add('side-ctl', { role: 'door', doors: ['back'] }).secret;
      const device = await connectAs(net.port, 'side-ctl', secret);
      const closed = new Promise<void>((resolve) => device.once('close', () => resolve()));
      await hub.commands.execute('device.remove', { id: 'side-ctl' }, ADMIN);
      await closed;
      await until(async () => await loginRefused(net.port, 'side-ctl', secret));
      device.end(true);
    });

    it('gives a rotated secret at once and refuses the old one', async () => {
      const old = hub.store.devices.add('lobby-ctl', { role: 'door', doors: ['back'] }).secret;
      const device = await connectAs(net.port, 'lobby-ctl', old);
      const closed = new Promise<void>((resolve) => device.once('close', () => resolve()));
      const rotated = (await hub.commands.execute('device.rotate_secret', { id: 'lobby-ctl' }, ADMIN)) as {
        secret: string;
      };
      await closed;
      const again = await connectAs(net.port, 'lobby-ctl', rotated.secret);
      expect(again.connected).toBe(true);
      expect(await loginRefused(net.port, 'lobby-ctl', old)).toBe(true);
      again.end(true);
      device.end(true);
    });
  });
}
