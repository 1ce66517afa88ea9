// A door controller on the LAN, end to end: real hub, real aedes on a real socket, mqtt.js and
// mosquitto's own clients, real SQLite files, and the compiled CLI in a separate process.
import { spawn } from 'node:child_process';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { cli, connectDevice, present, removeDir, startHub, tempDataDir } from '../helpers/hub.js';

const DAY = 86_400_000;

let dir: string;
let hub: Hub;
let port: number;
let reader: MqttClient;
let secret: string;
const ids: Record<string, string> = {};

beforeAll(async () => {
  dir = tempDataDir();
  hub = await startHub(dir);
  port = hub.addresses().mqtt.tcp!;
  const { store } = hub;
  store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
  store.doors.add({ id: 'back', name: 'Back', transport: 'mqtt' });
  store.doors.add({ id: 'garage', name: 'Garage', transport: 'mqtt' });
  secret = store.devices.add('front-reader', { role: 'door', doors: ['front', 'back', 'garage'] }).secret;

  for (const [id, name] of [
    ['ada', 'Ada'],
    ['bob', 'Bob'],
    ['cy', 'Cy'],
    ['dee', 'Dee'],
    ['eve', 'Eve'],
  ] as const) {
    store.people.add({ id, name, kind: 'resident' });
  }
  const now = Date.now();
  ids.ada = store.credentials.addCard('ada', '04A22B1C').id;
  ids.adaPin = store.credentials.addPin('ada', '482913').id;
  ids.lost = store.credentials.addCard('ada', '04DEAD01').id;
  store.credentials.revoke(ids.lost, 'lost');
  ids.bob = store.credentials.addCard('bob', '04B0B000').id;
  store.people.setSuspended('bob', true);
  ids.future = store.credentials.addCard('cy', '04C00001', { validFrom: now + DAY }).id;
  ids.past = store.credentials.addCard('cy', '04C00002', { validUntil: now - DAY }).id;
  ids.dee = store.credentials.addCard('dee', '04D00001').id; // in no group
  ids.eve = store.credentials.addCard('eve', '04E00001').id; // only holiday hours

  store.schedules.set('holidays-only', 'Holidays only', [{ day: 'hol', from: '00:00', to: '24:00' }]);
  store.groups.add({ id: 'residents', name: 'Residents' });
  store.groups.add({ id: 'holiday-cleaners', name: 'Holiday cleaners', scheduleId: 'holidays-only' });
  for (const door of ['front', 'back', 'garage']) {
    store.groups.addDoor('residents', door);
    store.groups.addDoor('holiday-cleaners', door);
  }
  for (const p of ['ada', 'bob', 'cy']) store.groups.addMember('residents', p);
  store.groups.addMember('holiday-cleaners', 'eve');
  await hub.commands.execute(
    'door.set_mode',
    { id: 'back', mode: 'lockdown' },
    { actor: 'test', role: 'admin' },
  );

  reader = await connectDevice(port, 'front-reader', secret);
  // Wildcards across doors are refused by the ACL: a device subscribes to each of its doors.
  await reader.subscribeAsync(
    ['front', 'back', 'garage'].flatMap((d) => [`gatehouse/door/${d}/decision`, `gatehouse/door/${d}/set`]),
    { qos: 1 },
  );
});

afterAll(async () => {
  await reader?.endAsync();
  await hub?.stop();
  removeDir(dir);
});

describe('a door controller on MQTT', () => {
  it.each([
    ['granted', 'front', 'card', '04:a2:2b:1c'],
    ['granted', 'front', 'keypad', '482913'],
    ['unknown_credential', 'front', 'card', '0000BEEF'],
    ['revoked', 'front', 'card', '04DEAD01'],
    ['suspended', 'front', 'card', '04B0B000'],
    ['not_yet_valid', 'front', 'card', '04C00001'],
    ['expired', 'front', 'card', '04C00002'],
    ['no_access', 'front', 'card', '04D00001'],
    ['outside_schedule', 'front', 'card', '04E00001'],
    ['lockdown', 'back', 'card', '04A22B1C'],
    ['invalid_request', 'front', 'card', 'not-hex!'],
  ])('answers %s (%s, %s %s)', async (reason, door, kind, value) => {
    const id = `r-${reason}-${kind}`;
    const d = await present(reader, door, { id, kind, value });
    expect(d).toMatchObject({ id, granted: reason === 'granted', reason });
    if (reason === 'granted') expect(d.unlockMs).toBe(5000);
  });

  it('records every decision in the event log without the secret value', () => {
    const decisions = hub.store.events.list({ limit: 100, type: 'decision' });
    expect(decisions.length).toBeGreaterThanOrEqual(11);
    const text = JSON.stringify(decisions);
    expect(text).not.toContain('482913');
    expect(text).not.toContain('04A22B1C');
  });

  it('drives the lock with a set message on a grant', async () => {
    const set = new Promise<{ lock: string; ms?: number }>((resolve) => {
      const onMessage = (topic: string, payload: Buffer) => {
        if (topic !== 'gatehouse/door/garage/set') return;
        const set = JSON.parse(payload.toString()) as { lock: string; ms?: number };
        // A device seen for the first time on a door is first told the current state ("lock").
        if (set.lock !== 'unlock') return;
        reader.off('message', onMessage);
        resolve(set);
      };
      reader.on('message', onMessage);
    });
    await present(reader, 'garage', { id: 'set-1', kind: 'card', value: '04A22B1C' });
    // The pulse left when the message goes out: 5000 ms, a few less when the machine is slow.
    const message = (await set) as { lock: string; ms: number };
    expect(message.lock).toBe('unlock');
    expect(message.ms).toBeGreaterThan(4_500);
    expect(message.ms).toBeLessThanOrEqual(5_000);
  });

  it('locks a keypad after 5 wrong codes, while cards keep working on that door', async () => {
    for (let i = 0; i < 5; i++) {
      const d = await present(reader, 'garage', {
        id: `wrong-${i}`,
        kind: 'keypad',
        value: `11110${i}`,
        reader: 'kp1',
      });
      expect(d.reason).toBe('unknown_credential');
    }
    const right = await present(reader, 'garage', {
      id: 'right-after',
      kind: 'keypad',
      value: '482913',
      reader: 'kp1',
    });
    expect(right).toMatchObject({ granted: false, reason: 'locked_out' });
    // The device names its readers itself: a new reader id must not reset the count.
    const otherReaderId = await present(reader, 'garage', {
      id: 'kp2',
      kind: 'keypad',
      value: '482913',
      reader: 'kp2',
    });
    expect(otherReaderId.reason).toBe('locked_out');
    // The same device's keypad on another door is a different keypad.
    const otherDoor = await present(reader, 'front', {
      id: 'kp-front',
      kind: 'keypad',
      value: '482913',
      reader: 'kp1',
    });
    expect(otherDoor.granted).toBe(true);
    const card = await present(reader, 'garage', {
      id: 'card-during-lockout',
      kind: 'card',
      value: '04A22B1C',
      reader: 'kp1',
    });
    expect(card.granted).toBe(true);
    const lockouts = hub.store.events.list({ limit: 50 }).filter((e) => e.type.endsWith('keypad_locked_out'));
    expect(lockouts).toHaveLength(1);
  });

  it('enforces a revocation made with the CLI (another process) at the next presentation', async () => {
    expect(
      (await present(reader, 'front', { id: 'before-revoke', kind: 'card', value: '04A22B1C' })).granted,
    ).toBe(true);
    const res = await cli(dir, ['credential', 'revoke', ids.ada!, '--reason', 'stolen']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const after = await present(reader, 'front', { id: 'after-revoke', kind: 'card', value: '04A22B1C' });
    expect(after).toMatchObject({ granted: false, reason: 'revoked' });
  });

  it('enforces a CLI suspension at the next presentation', async () => {
    expect(
      (await present(reader, 'front', { id: 'pin-before', kind: 'keypad', value: '482913', reader: 'kp9' }))
        .granted,
    ).toBe(true);
    expect((await cli(dir, ['person', 'suspend', 'ada'])).code).toBe(0);
    const d = await present(reader, 'front', {
      id: 'pin-after',
      kind: 'keypad',
      value: '482913',
      reader: 'kp9',
    });
    expect(d.reason).toBe('suspended');
  });

  it("works with mosquitto's own clients", async () => {
    const auth = ['-h', '127.0.0.1', '-p', String(port), '-u', 'front-reader', '-P', secret, '-q', '1'];
    const sub = spawn('mosquitto_sub', [
      ...auth,
      '-i',
      'sub-mosq',
      '-t',
      'gatehouse/door/front/decision',
      '-C',
      '1',
      '-W',
      '10',
    ]);
    let out = '';
    sub.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    // 'close', not 'exit': the exit can be reported before the last stdout data is read.
    const subExit = new Promise<number | null>((resolve) => sub.on('close', resolve));
    await new Promise((r) => setTimeout(r, 500)); // let the subscription land
    const pub = spawn('mosquitto_pub', [
      ...auth,
      '-i',
      'pub-mosq',
      '-t',
      'gatehouse/door/front/credential',
      '-m',
      JSON.stringify({ id: 'mosq-1', kind: 'card', value: '0000BEEF' }),
    ]);
    expect(await new Promise((resolve) => pub.on('exit', resolve))).toBe(0);
    expect(await subExit).toBe(0);
    expect(JSON.parse(out.trim())).toEqual({ id: 'mosq-1', granted: false, reason: 'unknown_credential' });
  });
});
