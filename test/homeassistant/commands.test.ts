// Home Assistant's lock and mode commands run through the command layer as the integration account that
// sent them: same policy (lockdown, fire release), audited as device:home-assistant. Door devices may
// not use them; hostile payloads are refused with a clear error and change nothing.
import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ADMIN,
  connectHomeAssistant,
  doorTopic,
  type HaRig,
  type Heard,
  PREFIX,
  startRig,
  until,
} from './helpers.js';

let rig: HaRig;
let ha: Heard;

beforeEach(async () => {
  rig = await startRig();
  ha = await connectHomeAssistant(rig);
  await until('front state', () => ha.json(doorTopic('front', 'state'))?.lock === 'LOCKED');
});

afterEach(async () => {
  await rig.stop();
});

const frontState = () => ha.json(doorTopic('front', 'state'));
const statesSeen = () =>
  ha.all
    .filter((m) => m.topic === doorTopic('front', 'state'))
    .map((m) => (JSON.parse(m.payload) as { lock?: string }).lock);
const send = (tail: string, payload: string | Buffer) =>
  ha.client.publishAsync(doorTopic('front', tail), payload, { qos: 1 });
const events = (type: string) =>
  rig.hub.store.events.list({ limit: 50, type }).filter((e) => e.doorId === 'front');

describe('commands from Home Assistant', () => {
  it('UNLOCK opens the door for its unlock time, audited as device:home-assistant; it relocks itself', async () => {
    const sim = rig.hub.simDoors.get('front')!;
    const relayBefore = sim.relay.history.length;
    await send('set', 'UNLOCK');
    // Seen at any time, not only as the last state: on a loaded machine the 1.5 s unlock can be over
    // before the next look.
    await until('unlocked', () => statesSeen().includes('UNLOCKED'));
    expect(sim.relay.history.length).toBeGreaterThan(relayBefore);
    const [unlocked] = events('admin.door.unlocked');
    expect(unlocked?.data).toMatchObject({ actor: 'device:home-assistant', reason: 'Home Assistant' });
    await until('relocked', () => frontState()?.lock === 'LOCKED');
    // The relay is released by the same relock; under load the state can reach HA a moment before.
    await until('relay released', () => !sim.isUnlocked());
    expect(ha.errors('home-assistant')).toEqual([]);
  });

  it('the mode select keeps the door unlocked, and LOCK locks it again (door.set_mode)', async () => {
    await send('mode/set', 'unlocked');
    await until(
      'kept unlocked',
      () => frontState()?.mode === 'unlocked' && frontState()?.lock === 'UNLOCKED',
    );
    await send('set', 'LOCK');
    await until('locked', () => frontState()?.mode === 'normal' && frontState()?.lock === 'LOCKED');
    const changes = events('admin.door.mode_changed');
    expect(changes).toHaveLength(2);
    expect(changes.every((e) => e.data.actor === 'device:home-assistant')).toBe(true);
    expect(rig.hub.simDoors.get('front')!.isUnlocked()).toBe(false);
  });

  it('cannot unlock a door in lockdown nor lift the lockdown; the door stays locked in HA', async () => {
    await rig.hub.commands.execute('door.set_mode', { id: 'front', mode: 'lockdown' }, ADMIN);
    await until('lockdown seen', () => frontState()?.mode === 'lockdown');
    const sim = rig.hub.simDoors.get('front')!;
    await send('set', 'UNLOCK');
    await until('unlock refused', () => ha.errors('home-assistant').length === 1);
    expect(ha.errors('home-assistant')[0]).toMatch(/door\.unlock refused: door 'front' is in lockdown/);
    await send('mode/set', 'normal');
    await until('lift refused', () => ha.errors('home-assistant').length === 2);
    expect(ha.errors('home-assistant')[1]).toMatch(/only staff or the cloud may lift a lockdown/);
    await send('mode/set', 'unlocked');
    await until('unlocked refused', () => ha.errors('home-assistant').length === 3);
    // LOCK has nothing to do on a door in lockdown (and never lifts it).
    await send('set', 'LOCK');
    await new Promise((r) => setTimeout(r, 300));
    expect(ha.errors('home-assistant')).toHaveLength(3);
    expect(frontState()).toMatchObject({ lock: 'LOCKED', mode: 'lockdown' });
    expect(sim.isUnlocked()).toBe(false);
    expect(events('admin.door.unlocked')).toEqual([]);
    expect(rig.hub.store.doors.get('front')?.mode).toBe('lockdown');
    // HA may start a lockdown on another door, as any integration may.
    await ha.client.publishAsync(doorTopic('back.gate', 'mode/set'), 'lockdown', { qos: 1 });
    await until('back in lockdown', () => ha.json(doorTopic('back.gate', 'state'))?.mode === 'lockdown');
  });

  it('respects fire release: a remote unlock is refused while the door is held open', async () => {
    const sim = rig.hub.simDoors.get('front')!;
    sim.setFire(true);
    await until('fire seen', () => frontState()?.fire === 'ON');
    await send('set', 'UNLOCK');
    await until('refused', () => ha.errors('home-assistant').length === 1);
    expect(ha.errors('home-assistant')[0]).toMatch(/fire release/);
    expect(events('admin.door.unlocked')).toEqual([]);
    sim.setFire(false);
  });

  it('refuses hostile payloads with a clear error and changes nothing', async () => {
    const sim = rig.hub.simDoors.get('front')!;
    const hostile: Array<[string, string | Buffer, RegExp]> = [
      ['set', 'unlock', /payload must be the text LOCK or UNLOCK/],
      ['set', 'OPEN', /payload must be the text LOCK or UNLOCK/],
      ['set', '', /payload must be the text LOCK or UNLOCK/],
      ['set', '{"lock":"unlock","ms":60000}', /payload must be the text LOCK or UNLOCK/],
      ['set', Buffer.from([0xff, 0x00, 0xfe, 0x55]), /payload must be the text LOCK or UNLOCK/],
      ['set', `UNLOCK${' '.repeat(64)}`, /payload must be the text LOCK or UNLOCK/],
      ['set', 'U'.repeat(5000), /payload too large/],
      ['mode/set', 'open', /must be one of normal, unlocked, lockdown/],
      ['mode/set', 'LOCKDOWN; door.unlock', /must be one of normal, unlocked, lockdown/],
      ['other', 'UNLOCK', /not allowed/],
    ];
    for (const [tail, payload] of hostile) await send(tail, payload);
    await ha.client.publishAsync('gatehouse/ha/door/nope/set', 'UNLOCK', { qos: 1 });
    await ha.client.publishAsync(
      `${PREFIX}/lock/x/y/config`,
      '{"command_topic":"gatehouse/door/front/set"}',
      {
        qos: 1,
      },
    );
    await ha.client.publishAsync(`${PREFIX}/status`, 'reboot', { qos: 1 });
    await until('every refusal answered', () => ha.errors('home-assistant').length === hostile.length + 3);
    const errors = ha.errors('home-assistant');
    for (const [i, [tail, , why]] of hostile.entries()) expect(errors[i], tail).toMatch(why);
    expect(errors[hostile.length]).toMatch(/door\.unlock refused: .*nope/);
    expect(errors[hostile.length + 1]).toMatch(/not allowed/);
    expect(errors[hostile.length + 2]).toMatch(/'online' or 'offline'/);
    expect(sim.isUnlocked()).toBe(false);
    expect(events('admin.door.unlocked')).toEqual([]);
    expect(events('admin.door.mode_changed')).toEqual([]);
    expect(frontState()).toMatchObject({ lock: 'LOCKED', mode: 'normal' });
    // Refusals are audited like any refused device message.
    const refused = rig.hub.store.events.list({ limit: 50, type: 'device.rejected' });
    expect(refused.some((e) => e.data.device === 'home-assistant')).toBe(true);
  });

  it('a door device can neither send HA commands nor read discovery', async () => {
    const reader = await mqtt.connectAsync(`mqtt://127.0.0.1:${rig.port}`, {
      username: 'front-reader',
      password: rig.readerSecret,
      reconnectPeriod: 0,
    });
    rig.clients.push(reader);
    const errors: string[] = [];
    reader.on('message', (topic, payload) => {
      if (topic === 'gatehouse/device/front-reader/error') errors.push(JSON.parse(payload.toString()).error);
    });
    await reader.subscribeAsync('gatehouse/device/front-reader/error', { qos: 1 });
    for (const filter of [`${PREFIX}/#`, 'gatehouse/ha/#']) {
      await expect(reader.subscribeAsync(filter, { qos: 1 }), filter).rejects.toThrow(/Subscribe error/);
    }
    await reader.publishAsync(doorTopic('front', 'set'), 'UNLOCK', { qos: 1 });
    await reader.publishAsync(`${PREFIX}/status`, 'online', { qos: 1 });
    await until('refused', () => errors.filter((e) => e.includes('not allowed')).length >= 4);
    expect(rig.hub.simDoors.get('front')!.isUnlocked()).toBe(false);
    expect(events('admin.door.unlocked')).toEqual([]);
  });

  it('an integration account limited to other doors cannot command this one', async () => {
    const secret = rig.hub.store
      .as('cli:test')
      .devices.add('ha-back', { role: 'integration', doors: ['back.gate'] }).secret;
    const scoped = await connectHomeAssistant({ ...rig, haSecret: secret }, 'ha-back');
    await scoped.client.publishAsync(doorTopic('front', 'set'), 'UNLOCK', { qos: 1 });
    await until('refused', () => scoped.errors('ha-back').length === 1);
    expect(scoped.errors('ha-back')[0]).toMatch(/door\.unlock refused/);
    expect(events('admin.door.unlocked')).toEqual([]);
  });
});

describe('the command topics have a budget', () => {
  it('disconnects an account that floods them, like any bridge request flood', async () => {
    await rig.stop();
    rig = await startRig({
      mqtt: {
        tcp: { port: 0 },
        tls: { port: 0, host: '127.0.0.1' },
        limits: { bridgeRequestBurst: 5, bridgeRequestsPerSecond: 1 },
      },
    });
    ha = await connectHomeAssistant(rig);
    const closed = new Promise<void>((resolve) => ha.client.once('close', () => resolve()));
    for (let i = 0; i < 20; i++) ha.client.publish(doorTopic('front', 'set'), 'LOCK', { qos: 0 });
    await closed;
    await until('audited', () =>
      rig.hub.store.events
        .list({ limit: 50, type: 'device.rejected' })
        .some((e) => e.data.device === 'home-assistant' && /over its budget/.test(String(e.data.error))),
    );
    expect(events('admin.door.mode_changed')).toEqual([]);
  });
});

describe('Home Assistant off (the default)', () => {
  it('gives integration accounts no discovery topics and refuses a Home Assistant last will', async () => {
    await rig.stop();
    rig = await startRig({ homeAssistant: { enabled: false } });
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rig.port}`, {
      username: 'home-assistant',
      password: rig.haSecret,
      reconnectPeriod: 0,
    });
    rig.clients.push(client);
    for (const filter of [`${PREFIX}/#`, 'gatehouse/ha/#']) {
      await expect(client.subscribeAsync(filter, { qos: 1 }), filter).rejects.toThrow(/Subscribe error/);
    }
    const refused = mqtt.connectAsync(`mqtt://127.0.0.1:${rig.port}`, {
      username: 'home-assistant',
      password: rig.haSecret,
      reconnectPeriod: 0,
      will: { topic: `${PREFIX}/status`, payload: Buffer.from('offline'), qos: 0, retain: false },
    });
    await expect(refused).rejects.toThrow(/Not authorized|Connection refused/i);
    expect(rig.hub.status().homeAssistant).toBeUndefined();
  });
});
