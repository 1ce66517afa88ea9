// Home Assistant with the device network on a real mosquitto 2 + dynamic security (docs/external-broker.md,
// docs/home-assistant.md): discovery reaches Home Assistant through the external broker, its commands reach
// the hub and run through the same command policy, and the broker's ACL keeps door devices off them.
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTERNAL_REASON } from '../../hub/homeassistant/index.js';
import {
  ADMIN,
  CONFIGS_PER_DOOR,
  DOORS,
  doorTopic,
  Heard,
  HUB_CONFIGS,
  PREFIX,
  until,
} from '../homeassistant/helpers.js';
import { connectAs, subscribeQos } from './cases.js';
import { type ExternalRig, mosquittoAvailable, startExternalHub } from './mosquitto.js';

/** Connects as Home Assistant does (birth and will on <prefix>/status), retrying while dynsec is set up. */
async function connectHomeAssistant(port: number, secret: string): Promise<Heard> {
  const deadline = Date.now() + 15_000;
  let client: MqttClient;
  for (;;) {
    try {
      client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
        username: 'home-assistant',
        password: secret,
        clientId: `ha-${Math.random().toString(16).slice(2, 8)}`,
        protocolVersion: 4,
        reconnectPeriod: 0,
        connectTimeout: 5000,
        will: { topic: `${PREFIX}/status`, payload: Buffer.from('offline'), qos: 0, retain: false },
      });
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const heard = new Heard(client);
  await client.subscribeAsync(
    [`${PREFIX}/#`, 'gatehouse/ha/#', 'gatehouse/bridge/state', 'gatehouse/device/home-assistant/error'],
    { qos: 1 },
  );
  await client.publishAsync(`${PREFIX}/status`, 'online', { qos: 0 });
  return heard;
}

describe.runIf(mosquittoAvailable())('Home Assistant on an external mosquitto', () => {
  let rig: ExternalRig;
  let ha: Heard;
  let reader: MqttClient;

  const frontState = () => ha.json(doorTopic('front', 'state'));
  const statesSeen = () =>
    ha.all
      .filter((m) => m.topic === doorTopic('front', 'state'))
      .map((m) => (JSON.parse(m.payload) as { lock?: string }).lock);
  const unlockEvents = () =>
    rig.hub.store.events.list({ limit: 50, type: 'admin.door.unlocked' }).filter((e) => e.doorId === 'front');

  beforeAll(async () => {
    rig = await startExternalHub({ homeAssistant: { enabled: true } });
    for (const id of DOORS) {
      await rig.hub.commands.execute(
        'door.add',
        { id, name: id === 'front' ? 'Front door' : 'Back gate', transport: 'sim', unlockMs: 1500 },
        ADMIN,
      );
    }
    const store = rig.hub.store.as('cli:test');
    const haSecret = store.devices.add('home-assistant', { role: 'integration', doors: [] }).secret;
    const readerSecret = store.devices.add('front-reader', { role: 'door', doors: ['front'] }).secret;
    await until('doors running', () => DOORS.every((d) => rig.hub.simDoors.has(d)));
    ha = await connectHomeAssistant(rig.port, haSecret);
    reader = await connectAs(rig.port, 'front-reader', readerSecret);
  }, 60_000);

  afterAll(async () => {
    ha?.client.end(true);
    reader?.end(true);
    await rig?.stop();
  }, 30_000);

  it('publishes every discovery config and state on the external broker', async () => {
    const expected = HUB_CONFIGS + CONFIGS_PER_DOOR * DOORS.length;
    await until('configs', () => ha.configs().size === expected);
    await until('front state', () => frontState()?.lock === 'LOCKED');
    expect(rig.hub.status()['homeAssistant']).toMatchObject({ entities: expected });
    // The birth reached the hub through the broker.
    await until('birth counted', () => {
      const status = rig.hub.status()['homeAssistant'] as { births?: number };
      return (status.births ?? 0) >= 1;
    });
  });

  it('UNLOCK from Home Assistant opens the door, audited as the one integration account via the external broker', async () => {
    const sim = rig.hub.simDoors.get('front')!;
    const relayBefore = sim.relay.history.length;
    await ha.client.publishAsync(doorTopic('front', 'set'), 'UNLOCK', { qos: 1 });
    await until('unlocked', () => statesSeen().includes('UNLOCKED'));
    expect(sim.relay.history.length).toBeGreaterThan(relayBefore);
    expect(unlockEvents()[0]?.data).toMatchObject({
      actor: 'device:home-assistant',
      reason: EXTERNAL_REASON,
    });
    await until('relocked', () => frontState()?.lock === 'LOCKED');
    expect(ha.errors('home-assistant')).toEqual([]);
  });

  it('is refused during a lockdown, with the reason on the account error topic', async () => {
    await rig.hub.commands.execute('door.set_mode', { id: 'front', mode: 'lockdown' }, ADMIN);
    await until('lockdown seen', () => frontState()?.mode === 'lockdown');
    const sim = rig.hub.simDoors.get('front')!;
    const unlocksBefore = unlockEvents().length;
    await ha.client.publishAsync(doorTopic('front', 'set'), 'UNLOCK', { qos: 1 });
    await until('refusal', () => ha.errors('home-assistant').length === 1);
    expect(ha.errors('home-assistant')[0]).toMatch(/door\.unlock refused: door 'front' is in lockdown/);
    // Home Assistant may not lift it either.
    await ha.client.publishAsync(doorTopic('front', 'mode/set'), 'normal', { qos: 1 });
    await until('second refusal', () => ha.errors('home-assistant').length === 2);
    expect(sim.isUnlocked()).toBe(false);
    expect(unlockEvents().length).toBe(unlocksBefore);
    expect(rig.hub.store.doors.get('front')?.mode).toBe('lockdown');
    await rig.hub.commands.execute('door.set_mode', { id: 'front', mode: 'normal' }, ADMIN);
    await until('normal again', () => frontState()?.mode === 'normal');
  });

  it('a door device can neither publish Home Assistant commands nor read discovery', async () => {
    const unlocksBefore = unlockEvents().length;
    const sim = rig.hub.simDoors.get('front')!;
    const relayBefore = sim.relay.history.length;
    // mosquitto acknowledges and drops a publish its ACL refuses (MQTT 3.1.1).
    await reader.publishAsync(doorTopic('front', 'set'), 'UNLOCK', { qos: 1 });
    await reader.publishAsync(doorTopic('front', 'mode/set'), 'unlocked', { qos: 1 });
    await reader.publishAsync(`${PREFIX}/status`, 'online', { qos: 1 });
    expect(await subscribeQos(reader, `${PREFIX}/#`)).toBe(128);
    expect(await subscribeQos(reader, 'gatehouse/ha/#')).toBe(128);
    await new Promise((r) => setTimeout(r, 1000));
    expect(unlockEvents().length).toBe(unlocksBefore);
    expect(sim.relay.history.length).toBe(relayBefore);
    expect(rig.hub.store.doors.get('front')?.mode).toBe('normal');
  });

  it('Home Assistant does not hear commands (nobody but the hub does, as on the embedded broker)', async () => {
    const before = ha.all.filter((m) => m.topic === doorTopic('back.gate', 'mode/set')).length;
    await ha.client.publishAsync(doorTopic('back.gate', 'mode/set'), 'lockdown', { qos: 1 });
    await until('lockdown', () => rig.hub.store.doors.get('back.gate')?.mode === 'lockdown');
    await new Promise((r) => setTimeout(r, 300));
    expect(ha.all.filter((m) => m.topic === doorTopic('back.gate', 'mode/set')).length).toBe(before);
  });

  it('with a second integration account, commands run with the rights both share, as device:integrations', async () => {
    const store = rig.hub.store.as('cli:test');
    store.devices.add('garage-bot', { role: 'integration', doors: ['back.gate'] });
    // HA (every door) and garage-bot (back.gate) share only back.gate: front is refused.
    const unlocksBefore = unlockEvents().length;
    await ha.client.publishAsync(doorTopic('front', 'set'), 'UNLOCK', { qos: 1 });
    await new Promise((r) => setTimeout(r, 1000));
    expect(unlockEvents().length).toBe(unlocksBefore);
    expect(rig.hub.simDoors.get('front')!.isUnlocked()).toBe(false);
    await rig.hub.commands.execute('door.set_mode', { id: 'back.gate', mode: 'normal' }, ADMIN);
    await ha.client.publishAsync(doorTopic('back.gate', 'set'), 'UNLOCK', { qos: 1 });
    await until('back.gate unlocked', () =>
      rig.hub.store.events
        .list({ limit: 50, type: 'admin.door.unlocked' })
        .some((e) => e.doorId === 'back.gate' && e.data?.['actor'] === 'device:integrations'),
    );
  });

  it('without the integration topics the hub stops listening and the broker takes the rights back', async () => {
    const allUnlocks = () => rig.hub.store.events.list({ limit: 100, type: 'admin.door.unlocked' }).length;
    rig.hub.broker.useIntegrationTopics(null);
    // A new subscription is checked against the role as the hub left it.
    const deadline = Date.now() + 10_000;
    while ((await subscribeQos(ha.client, 'gatehouse/ha/hub/state')) !== 128) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 100));
    }
    const before = allUnlocks();
    await ha.client.publishAsync(doorTopic('back.gate', 'set'), 'UNLOCK', { qos: 1 });
    await new Promise((r) => setTimeout(r, 1000));
    expect(allUnlocks()).toBe(before);
  });
});
