// Home Assistant discovery against a real hub: every config HA receives is valid by HA's own rules
// (./ha-schema.ts), every state and availability topic it names is published (retained) by the hub and
// reads as a value HA understands, and door changes reach HA on those topics.
import { execFile } from 'node:child_process';
import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { haProblems, renderTemplate } from './ha-schema.js';
import {
  ADMIN,
  CONFIGS_PER_DOOR,
  connectHomeAssistant,
  DOORS,
  doorTopic,
  type HaRig,
  type Heard,
  HUB_CONFIGS,
  PREFIX,
  startRig,
  until,
} from './helpers.js';

const EXPECTED_CONFIGS = HUB_CONFIGS + DOORS.length * CONFIGS_PER_DOOR;

let rig: HaRig;

beforeEach(async () => {
  rig = await startRig();
});

afterEach(async () => {
  await rig.stop();
});

/** The values HA can make sense of for an entity's state, per component. */
function allowedStates(component: string, config: Record<string, unknown>): (value: string) => boolean {
  switch (component) {
    case 'lock':
      return (v) =>
        [config.state_locked ?? 'LOCKED', config.state_unlocked ?? 'UNLOCKED', 'None'].includes(v);
    case 'binary_sensor':
      return (v) => [config.payload_on ?? 'ON', config.payload_off ?? 'OFF', 'None'].includes(v);
    case 'select':
      return (v) => (config.options as string[]).includes(v);
    case 'sensor':
      return config.state_class ? (v) => Number.isFinite(Number(v)) : (v) => v.length > 0;
    default:
      return () => false;
  }
}

/** Checks one config the way HA would use it, against what the hub really published. */
function checkAgainstHub(heard: Heard, topic: string, config: Record<string, unknown>): string[] {
  const problems = haProblems(topic, config);
  const component = topic.split('/')[1]!;
  const state = heard.last.get(config.state_topic as string);
  if (config.state_topic !== undefined) {
    if (state === undefined) problems.push(`${topic}: nothing retained on ${String(config.state_topic)}`);
    else {
      const value = renderTemplate(config.value_template as string, state);
      if (!allowedStates(component, config)(value))
        problems.push(`${topic}: state '${value}' means nothing to HA`);
    }
  }
  for (const a of (config.availability as Array<Record<string, string>>) ?? []) {
    const payload = heard.last.get(a.topic!);
    if (payload === undefined) problems.push(`${topic}: nothing retained on availability ${a.topic}`);
    else {
      const value = a.value_template ? renderTemplate(a.value_template, payload) : payload;
      if (value !== (a.payload_available ?? 'online')) problems.push(`${topic}: ${a.topic} says '${value}'`);
    }
  }
  if (config.json_attributes_topic !== undefined) {
    const attributes = heard.last.get(config.json_attributes_topic as string);
    if (!attributes || typeof JSON.parse(attributes) !== 'object') problems.push(`${topic}: no attributes`);
  }
  return problems;
}

describe('Home Assistant discovery', () => {
  it('announces the hub and every door with configs HA accepts, backed by retained states', async () => {
    const heard = await connectHomeAssistant(rig);
    await until(
      'all configs and states',
      () =>
        heard.configs().size === EXPECTED_CONFIGS &&
        heard.last.has('gatehouse/bridge/state') &&
        heard.last.has('gatehouse/ha/hub/state') &&
        DOORS.every((d) => heard.last.has(doorTopic(d, 'availability'))),
    );
    const configs = heard.configs();
    const problems = [...configs].flatMap(([topic, config]) => checkAgainstHub(heard, topic, config));
    expect(problems).toEqual([]);

    // Unique ids are unique; every door is one device (with the hub as via_device), the hub another.
    const uniqueIds = [...configs.values()].map((c) => c.unique_id);
    expect(new Set(uniqueIds).size).toBe(uniqueIds.length);
    const devices = new Set(
      [...configs.values()].map((c) => (c.device as { identifiers: string[] }).identifiers[0]),
    );
    expect(devices.size).toBe(1 + DOORS.length);
    const components = [...configs.keys()].map((t) => t.split('/')[1]).sort();
    expect(components.filter((c) => c === 'lock')).toHaveLength(DOORS.length);
    expect(components.filter((c) => c === 'select')).toHaveLength(DOORS.length);

    // A door id with a dot is a valid HA object id once made safe, and still its own.
    expect([...configs.keys()].some((t) => /\/door_back_gate_[0-9a-f]{6}_lock\/config$/.test(t))).toBe(true);
    expect(rig.hub.status()).toMatchObject({ homeAssistant: { entities: EXPECTED_CONFIGS } });
  });

  it('publishes everything again when Home Assistant announces itself (birth message)', async () => {
    const heard = await connectHomeAssistant(rig);
    await until('all configs', () => heard.configs().size === EXPECTED_CONFIGS);
    await new Promise((r) => setTimeout(r, 2100)); // republishing is bounded to once per 2 s
    const before = heard.all.filter((m) => m.topic.endsWith('/config')).length;
    await heard.client.publishAsync(`${PREFIX}/status`, 'online');
    await until(
      'configs again',
      () => heard.all.filter((m) => m.topic.endsWith('/config')).length >= before + EXPECTED_CONFIGS,
    );
  });

  it('sends door changes on the state topics, and only when something changed', async () => {
    const heard = await connectHomeAssistant(rig);
    await until('front state', () => heard.json(doorTopic('front', 'state')) !== null);
    await new Promise((r) => setTimeout(r, 300)); // the republish after HA's birth message
    const backMessages = () => heard.all.filter((m) => m.topic === doorTopic('back.gate', 'state')).length;
    const backBefore = backMessages();
    expect(heard.json(doorTopic('front', 'state'))).toMatchObject({
      lock: 'LOCKED',
      contact: 'OFF',
      tamper: 'OFF',
      alarm: 'OFF',
      online: 'ON',
      mode: 'normal',
    });
    const sim = rig.hub.simDoors.get('front')!;
    sim.open();
    await until('contact on', () => heard.json(doorTopic('front', 'state'))?.contact === 'ON');
    sim.setTamper(true);
    await until('tamper and alarm', () => {
      const s = heard.json(doorTopic('front', 'state'));
      return s?.tamper === 'ON' && s.alarm === 'ON';
    });
    // Opened without an unlock: forced open, and the tamper switch: both are the door's alarms.
    expect(heard.json(doorTopic('front', 'state'))?.alarms).toEqual(['alarm.forced_open', 'alarm.tamper']);
    await until('hub problem', () => heard.json('gatehouse/ha/hub/state')?.problem === 'ON');
    sim.setFire(true);
    await until('fire release', () => heard.json(doorTopic('front', 'state'))?.fire === 'ON');
    sim.setFire(false);
    sim.setTamper(false);
    sim.close();
    await until('back to normal', () => {
      const s = heard.json(doorTopic('front', 'state'));
      return s?.contact === 'OFF' && s.tamper === 'OFF' && s.alarm === 'OFF' && s.fire === 'OFF';
    });
    // The back gate never changed: no state message for it meanwhile.
    await new Promise((r) => setTimeout(r, 300));
    expect(backMessages()).toBe(backBefore);
  });

  it('clears the retained configs of a removed door and announces a new one', async () => {
    const heard = await connectHomeAssistant(rig);
    await until('all configs', () => heard.configs().size === EXPECTED_CONFIGS);
    const backTopics = [...heard.configs().keys()].filter((t) => t.includes('door_back_gate'));
    expect(backTopics).toHaveLength(CONFIGS_PER_DOOR);
    await rig.hub.commands.execute('door.remove', { id: 'back.gate' }, { actor: 'cli:root', role: 'admin' });
    await until('back configs cleared', () => backTopics.every((t) => heard.last.get(t) === ''));
    await until('back state cleared', () => heard.last.get(doorTopic('back.gate', 'state')) === '');
    // A Home Assistant that connects now finds no trace of the door.
    const late = await connectHomeAssistant(rig);
    await until('late configs', () => late.configs().size === EXPECTED_CONFIGS - CONFIGS_PER_DOOR);
    expect([...late.last.keys()].filter((t) => t.includes('back'))).toEqual([]);

    await rig.hub.commands.execute(
      'door.add',
      { id: 'side', name: 'Side door', transport: 'sim' },
      { actor: 'cli:root', role: 'admin' },
    );
    await until('side announced', () => [...late.configs().keys()].some((t) => t.includes('door_side_lock')));
    const sideLock = [...late.configs()].find(([t]) => t.includes('door_side_lock'))!;
    expect(haProblems(sideLock[0], sideLock[1])).toEqual([]);
    await until('side state', () => late.json(doorTopic('side', 'state'))?.lock === 'LOCKED');
  });

  it("follows a LAN door controller's availability, and the hub's own on stop", async () => {
    await rig.hub.commands.execute('door.add', { id: 'lobby', name: 'Lobby', transport: 'mqtt' }, ADMIN);
    const secret = rig.hub.store
      .as('cli:test')
      .devices.add('lobby-ctl', { role: 'door', doors: ['lobby'] }).secret;
    const heard = await connectHomeAssistant(rig);
    await until('lobby offline', () => heard.last.get(doorTopic('lobby', 'availability')) === 'offline');
    expect(heard.json(doorTopic('lobby', 'state'))).toMatchObject({ online: 'OFF' });
    const controller = await mqtt.connectAsync(`mqtt://127.0.0.1:${rig.port}`, {
      username: 'lobby-ctl',
      password: secret,
      reconnectPeriod: 0,
    });
    await controller.publishAsync('gatehouse/device/lobby-ctl/availability', 'online', {
      qos: 1,
      retain: true,
    });
    await until('lobby online', () => heard.last.get(doorTopic('lobby', 'availability')) === 'online');
    expect(heard.json(doorTopic('lobby', 'state'))).toMatchObject({ online: 'ON' });
    controller.end(true);
    await until(
      'lobby offline again',
      () => heard.last.get(doorTopic('lobby', 'availability')) === 'offline',
    );
    // A stopping hub says so on its retained bridge state: every entity becomes unavailable.
    const lock = heard
      .configs()
      .get([...heard.configs().keys()].find((t) => t.endsWith('/door_front_lock/config'))!)!;
    const bridge = (lock.availability as Array<{ topic: string; value_template?: string }>)[0]!;
    const hubSays = () =>
      renderTemplate(bridge.value_template!, heard.last.get(bridge.topic) ?? '{"state":"?"}');
    await until('hub online', () => hubSays() === 'online');
    await rig.hub.stop();
    await until('hub offline', () => hubSays() === 'offline');
  });

  it('reads the same discovery with mosquitto_sub, as Home Assistant would', async () => {
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        'mosquitto_sub',
        [
          ...['-h', '127.0.0.1', '-p', String(rig.port), '-u', 'home-assistant', '-P', rig.haSecret],
          ...[
            '-i',
            'ha-mosquitto',
            '-t',
            `${PREFIX}/+/+/+/config`,
            '-v',
            '-C',
            String(EXPECTED_CONFIGS),
            '-W',
            '20',
          ],
        ],
        { timeout: 30_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      );
    });
    const lines = output.trim().split('\n');
    expect(lines).toHaveLength(EXPECTED_CONFIGS);
    for (const line of lines) {
      const space = line.indexOf(' ');
      const topic = line.slice(0, space);
      expect(haProblems(topic, JSON.parse(line.slice(space + 1)))).toEqual([]);
    }
  });
});
