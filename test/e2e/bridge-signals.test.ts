// What an integration hears on gatehouse/bridge/event (docs/alarms.md): alarms once stored, a LAN door
// controller going offline (after its grace period, summarised when it flaps), doorbells (one per ring),
// and a flood of alarms that is summarised instead of crowding out decisions. Real hub, real broker on a
// real socket, mqtt.js clients for the door controllers and the integration account.
import type net from 'node:net';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSimDoorHardware } from '../../adapters/factory.js';
import type { Hub } from '../../hub/app.js';
import type { HubEvent } from '../../hub/domain.js';
import { connectDevice, present, removeDir, startHub, tempDataDir } from '../helpers/hub.js';

type Message = Record<string, unknown>;

/** An integration account subscribed to bridge/event, keeping every message. */
async function listen(hub: Hub, id = 'node-red'): Promise<{ client: MqttClient; messages: Message[] }> {
  const { secret } = hub.store.devices.add(id, { role: 'integration' });
  const client = await connectDevice(hub.addresses().mqtt.tcp!, id, secret);
  const messages: Message[] = [];
  client.on('message', (topic, body) => {
    if (topic === 'gatehouse/bridge/event') messages.push(JSON.parse(body.toString()) as Message);
  });
  await client.subscribeAsync('gatehouse/bridge/event', { qos: 1 });
  return { client, messages };
}

async function waitFor<T>(find: () => T | undefined | null | false, what: string, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const found = find();
    if (found) return found;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Ends the TCP connection without DISCONNECT: a controller unplugged or killed. */
function kill(client: MqttClient): void {
  (client as unknown as { stream: net.Socket }).stream.destroy();
}

function stored(hub: Hub, type: string, doorId?: string): HubEvent[] {
  return hub.store.events
    .list({ limit: 1000, type })
    .filter((e) => e.type === type && (doorId === undefined || e.doorId === doorId));
}

const GRACE_S = 2;

describe('bridge/event: alarms, door controllers offline, doorbells', () => {
  let dir: string;
  let hub: Hub;
  let port: number;
  let bridge: { client: MqttClient; messages: Message[] };
  const secrets: Record<string, string> = {};
  const clients: MqttClient[] = [];

  async function controller(id: string): Promise<MqttClient> {
    const client = await connectDevice(port, id, secrets[id]!);
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    dir = tempDataDir();
    hub = await startHub(dir, { simulation: { door: 'lobby' }, doors: { offlineGraceSeconds: GRACE_S } });
    port = hub.addresses().mqtt.tcp!;
    for (const door of ['front', 'side', 'back', 'bell']) {
      hub.store.doors.add({ id: door, name: door, transport: 'mqtt' });
    }
    for (const [device, door] of [
      ['ctl-front', 'front'],
      ['ctl-side', 'side'],
      ['ctl-back', 'back'],
      ['ctl-bell', 'bell'],
    ] as const) {
      secrets[device] = hub.store.devices.add(device, { role: 'door', doors: [door] }).secret;
    }
    bridge = await listen(hub);
  });

  afterAll(async () => {
    for (const c of clients) await c.endAsync(true).catch(() => undefined);
    await bridge?.client.endAsync();
    await hub?.stop();
    removeDir(dir);
  });

  it('a forced-open door arrives as an alarm once stored, and its clear after it', async () => {
    const sim = hub.simDoors.get('lobby')!;
    sim.open(); // locked: nobody was let in
    const raised = await waitFor(
      () => bridge.messages.find((m) => m.type === 'alarm' && m.alarm === 'alarm.forced_open'),
      'alarm.forced_open on bridge/event',
    );
    const event = stored(hub, 'alarm.forced_open', 'lobby')[0]!;
    expect(raised).toEqual({
      type: 'alarm',
      alarm: 'alarm.forced_open',
      cleared: false,
      door: 'lobby',
      data: { mode: 'normal' },
      seq: event.seq,
      ts: event.ts,
    });
    sim.close();
    const cleared = await waitFor(
      () => bridge.messages.find((m) => m.alarm === 'alarm.forced_open_cleared'),
      'alarm.forced_open_cleared',
    );
    expect(cleared).toMatchObject({ type: 'alarm', cleared: true, door: 'lobby' });
    expect(cleared.seq as number).toBeGreaterThan(event.seq);
    expect((cleared.data as Message).openMs).toEqual(expect.any(Number));
  });

  it('a door controller killed raises alarm.door_offline after the grace period, cleared when it is back', async () => {
    const device = await controller('ctl-front');
    const killedAt = Date.now();
    kill(device);
    const raised = await waitFor(
      () => bridge.messages.find((m) => m.alarm === 'alarm.door_offline' && m.door === 'front'),
      'alarm.door_offline',
    );
    expect(raised).toMatchObject({ type: 'alarm', cleared: false, data: { device: 'ctl-front' } });
    // Not before the grace period (allowing for timer and clock granularity).
    expect((raised.ts as number) - killedAt).toBeGreaterThanOrEqual(GRACE_S * 1000 - 50);
    expect(stored(hub, 'alarm.door_offline', 'front')).toHaveLength(1);

    await controller('ctl-front');
    const cleared = await waitFor(
      () => bridge.messages.find((m) => m.alarm === 'alarm.door_offline_cleared' && m.door === 'front'),
      'alarm.door_offline_cleared',
    );
    expect(cleared).toMatchObject({ cleared: true, data: { device: 'ctl-front' } });
    expect((cleared.data as Message).offlineMs as number).toBeGreaterThanOrEqual(GRACE_S * 1000 - 50);
    expect(stored(hub, 'alarm.door_offline_cleared', 'front')).toHaveLength(1);
  });

  it('a controller that reconnects within the grace period raises nothing', async () => {
    const device = await controller('ctl-side');
    kill(device);
    await controller('ctl-side');
    await sleep(GRACE_S * 1000 + 1000);
    expect(stored(hub, 'alarm.door_offline', 'side')).toEqual([]);
    expect(stored(hub, 'alarm.door_offline_cleared', 'side')).toEqual([]);
    expect(bridge.messages.filter((m) => m.door === 'side' && m.type === 'alarm')).toEqual([]);
    // The door is online again.
    await waitFor(() => hub.doors.get('side')?.status().online, 'side online');
  });

  it('a flapping controller gets one flapping alarm instead of an alarm per change', async () => {
    const count = (type: string) => stored(hub, type, 'back').length;
    // Offline, back, offline, back: four changes written, each after its grace period.
    let live = await controller('ctl-back');
    for (let round = 1; round <= 2; round++) {
      kill(live);
      await waitFor(() => count('alarm.door_offline') === round, `offline #${round}`);
      live = await controller('ctl-back');
      await waitFor(() => count('alarm.door_offline_cleared') === round, `back #${round}`);
    }
    // The fifth change in the minute is one flapping alarm, saying where the device stands.
    kill(live);
    const flapping = await waitFor(
      () => bridge.messages.find((m) => m.alarm === 'alarm.door_flapping' && m.door === 'back'),
      'alarm.door_flapping',
    );
    expect(flapping).toMatchObject({ data: { device: 'ctl-back', state: 'offline', windowMs: 60_000 } });
    // More changes this minute are only counted.
    kill(await controller('ctl-back'));
    await sleep(GRACE_S * 1000 + 500);
    expect(count('alarm.door_flapping')).toBe(1);
    expect(count('alarm.door_offline') + count('alarm.door_offline_cleared')).toBe(4);
  });

  it('a doorbell is recorded and bridged; a stuck button rings once per interval', async () => {
    const device = await controller('ctl-bell');
    await device.publishAsync('gatehouse/door/bell/event', JSON.stringify({ type: 'doorbell' }), { qos: 1 });
    const rang = await waitFor(
      () => bridge.messages.find((m) => m.type === 'doorbell' && m.door === 'bell'),
      'doorbell on bridge/event',
    );
    const first = stored(hub, 'door.doorbell', 'bell');
    expect(first).toHaveLength(1);
    expect(rang).toEqual({ type: 'doorbell', door: 'bell', seq: first[0]!.seq, ts: first[0]!.ts });

    // A stuck button (or a looping firmware): 40 presses at once are one ring...
    await Promise.all(
      Array.from({ length: 40 }, () =>
        device.publishAsync('gatehouse/door/bell/event', JSON.stringify({ type: 'doorbell' }), { qos: 1 }),
      ),
    );
    await sleep(300);
    const afterFlood = stored(hub, 'door.doorbell', 'bell').length;
    expect(afterFlood).toBeLessThanOrEqual(2);
    // ...and the next ring after the interval says how many presses were folded in.
    await sleep(2100);
    await device.publishAsync('gatehouse/door/bell/event', JSON.stringify({ type: 'doorbell' }), { qos: 1 });
    const all = await waitFor(
      () =>
        stored(hub, 'door.doorbell', 'bell').length > afterFlood
          ? stored(hub, 'door.doorbell', 'bell')
          : null,
      'the next doorbell',
    );
    const ignored = all.reduce((sum, e) => sum + ((e.data.ignored as number | undefined) ?? 0), 0);
    expect(all.length + ignored).toBe(42);
    await waitFor(
      () => bridge.messages.filter((m) => m.type === 'doorbell' && m.door === 'bell').length === all.length,
      'every recorded doorbell bridged',
    );
    // Doorbells are events, not alarms.
    expect(bridge.messages.filter((m) => m.type === 'alarm' && m.door === 'bell')).toEqual([]);
  });

  it('other device event types are kept by name; sync_ack is refused on the event topic', async () => {
    const device = await controller('ctl-bell');
    await device.subscribeAsync('gatehouse/device/ctl-bell/error', { qos: 1 });
    const errors: string[] = [];
    device.on('message', (topic, body) => {
      if (topic.endsWith('/error')) errors.push(body.toString());
    });
    await device.publishAsync(
      'gatehouse/door/bell/event',
      JSON.stringify({ type: 'battery_low', pin: '1234', level: 3 }),
      { qos: 1 },
    );
    const kept = await waitFor(() => stored(hub, 'door.device_event', 'bell')[0], 'door.device_event');
    expect(kept.data).toEqual({ event: 'battery_low' }); // the name only: device data stays out of the log
    await device.publishAsync('gatehouse/door/bell/event', JSON.stringify({ type: 'sync_ack', version: 9 }), {
      qos: 1,
    });
    await waitFor(() => errors.find((e) => e.includes('reserved')), 'sync_ack refused');
  });

  it('an integration account limited to a door going away is no door going offline', async () => {
    const { secret } = hub.store.devices.add('flow-side', { role: 'integration', doors: ['side'] });
    const flow = await connectDevice(port, 'flow-side', secret);
    const online = () => hub.doors.get('side')?.status().online;
    expect(online()).toBe(true);
    kill(flow);
    await sleep(GRACE_S * 1000 + 500);
    expect(online()).toBe(true);
    expect(stored(hub, 'alarm.door_offline', 'side')).toEqual([]);
  });

  it('no bridge message carries a secret-like field', () => {
    const text = JSON.stringify(bridge.messages);
    expect(text).not.toMatch(/"(pin|secret|card|value|credential\w*|person\w*)"/i);
  });
});

describe('an alarm flood on bridge/event', () => {
  let dir: string;
  let hub: Hub;

  beforeAll(async () => {
    dir = tempDataDir();
    hub = await startHub(dir, { mqtt: { limits: { bridgeEventsPerSecond: 10, bridgeEventBurst: 20 } } });
  });

  afterAll(async () => {
    await hub?.stop();
    removeDir(dir);
  });

  it('is published within its budget, the rest summarised, and decisions keep coming', async () => {
    const { store } = hub;
    store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
    store.people.add({ id: 'ada', name: 'Ada', kind: 'resident' });
    store.credentials.addCard('ada', '04A22B1C');
    store.groups.add({ id: 'residents', name: 'Residents' });
    store.groups.addDoor('residents', 'front');
    store.groups.addMember('residents', 'ada');
    const { secret } = store.devices.add('ctl-front', { role: 'door', doors: ['front'] });
    const reader = await connectDevice(hub.addresses().mqtt.tcp!, 'ctl-front', secret);
    await reader.subscribeAsync('gatehouse/door/front/decision', { qos: 1 });
    const bridge = await listen(hub);

    // Tamper alarms from somewhere, as fast as the hub stores them, while cards are presented.
    const FLOOD = 5000;
    let appended = 0;
    const flooding = (async () => {
      while (appended < FLOOD) {
        for (let i = 0; i < 250 && appended < FLOOD; i++, appended++) {
          store.events.append({
            type: 'alarm.tamper',
            doorId: 'front',
            personId: null,
            credentialId: null,
            data: { zone: appended },
          });
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const latencies: number[] = [];
    for (let i = 0; i < 30; i++) {
      const started = performance.now();
      const decision = await present(reader, 'front', { id: `r-${i}`, kind: 'card', value: '04A22B1C' });
      latencies.push(performance.now() - started);
      expect(decision).toMatchObject({ granted: true, reason: 'granted' });
      await sleep(10);
    }
    await flooding;

    // Every stored alarm is either published or counted in a summary.
    const counted = () => {
      const published = bridge.messages.filter((m) => m.alarm === 'alarm.tamper').length;
      const summarised = bridge.messages
        .filter((m) => m.type === 'suppressed')
        .reduce((sum, m) => sum + ((m.byType as Record<string, number>)['alarm.tamper'] ?? 0), 0);
      return { published, summarised };
    };
    await waitFor(() => {
      const { published, summarised } = counted();
      return published + summarised === FLOOD;
    }, 'every alarm published or summarised');
    const { published, summarised } = counted();
    expect(summarised).toBeGreaterThan(0);
    // Within the burst plus the rate over the time it took (generously).
    const seconds = 60;
    expect(published).toBeLessThanOrEqual(20 + 10 * seconds);
    expect(bridge.messages.filter((m) => m.type === 'suppressed').length).toBeLessThanOrEqual(seconds + 2);
    // The decisions were not held up behind the alarms (a generous bound, not a speed target).
    expect(Math.max(...latencies)).toBeLessThan(3000);
    await bridge.client.endAsync();
    await reader.endAsync();
  });
});

describe('a door controller offline across a hub restart', () => {
  let dir: string;
  let hub: Hub | null = null;

  beforeAll(() => {
    dir = tempDataDir();
  });

  afterAll(async () => {
    await hub?.stop();
    removeDir(dir);
  });

  it('keeps its alarm open, and clears it when the controller is back after the restart', async () => {
    const config = { doors: { offlineGraceSeconds: 1 } };
    hub = await startHub(dir, config);
    hub.store.doors.add({ id: 'gate', name: 'Gate', transport: 'mqtt' });
    const { secret } = hub.store.devices.add('ctl-gate', { role: 'door', doors: ['gate'] });
    kill(await connectDevice(hub.addresses().mqtt.tcp!, 'ctl-gate', secret));
    const raised = await waitFor(() => stored(hub!, 'alarm.door_offline', 'gate')[0], 'alarm.door_offline');
    await hub.stop();

    hub = await startHub(dir, config);
    const bridge = await listen(hub, 'node-red-2');
    const device = await connectDevice(hub.addresses().mqtt.tcp!, 'ctl-gate', secret);
    const cleared = await waitFor(
      () => bridge.messages.find((m) => m.alarm === 'alarm.door_offline_cleared' && m.door === 'gate'),
      'alarm.door_offline_cleared after the restart',
    );
    expect(cleared).toMatchObject({ data: { device: 'ctl-gate' } });
    // Counted from when it went offline before the restart.
    expect((cleared.data as Message).offlineMs as number).toBeGreaterThanOrEqual(
      (cleared.ts as number) - (raised.data.since as number) - 5,
    );
    expect(stored(hub, 'alarm.door_offline', 'gate')).toHaveLength(1);
    await device.endAsync();
    await bridge.client.endAsync();
  });
});

describe('a wired door on bridge/event', () => {
  let dir: string;
  let hub: Hub;

  beforeAll(async () => {
    dir = tempDataDir();
    hub = await startHub(dir, {
      hardware: {
        driver: 'sim',
        doors: [
          {
            door: 'garage',
            lock: { gpio: 17 },
            readers: [{ id: 'garage-nfc', type: 'pn532', path: '/dev/serial0', pollMs: 20, timeoutMs: 200 }],
          },
        ],
      },
    });
  });

  afterAll(async () => {
    await hub?.stop();
    removeDir(dir);
  });

  it('carries its readers in every door state, and a reader going offline as an alarm', async () => {
    const bridge = await listen(hub);
    const hw = hub.wiredHardware('garage');
    if (!hw || !isSimDoorHardware(hw)) throw new Error('expected simulated wired hardware');
    const readerState = () =>
      (hub.status().doors as Array<{ doorId: string; readers?: Array<{ state: string }> }>).find(
        (d) => d.doorId === 'garage',
      )?.readers?.[0]?.state;
    await waitFor(() => readerState() === 'online', 'reader online');

    // A state change of the door itself (the lock), not of its reader, still names the reader.
    expect(hub.doors.unlock('garage', 1000)).toEqual({ ok: true });
    const unlocked = await waitFor(
      () => bridge.messages.find((m) => m.type === 'door' && m.doorId === 'garage' && m.lock === 'unlocked'),
      'door message for the unlock',
    );
    expect(unlocked.readers).toEqual([expect.objectContaining({ id: 'garage-nfc', state: 'online' })]);

    hw.pn532('garage-nfc')!.emulator.silent = true;
    const offline = await waitFor(
      () => bridge.messages.find((m) => m.alarm === 'alarm.reader_offline' && m.door === 'garage'),
      'alarm.reader_offline on bridge/event',
    );
    expect(offline).toMatchObject({ type: 'alarm', cleared: false, data: { reader: 'garage-nfc' } });
    hw.pn532('garage-nfc')!.emulator.silent = false;
    await waitFor(
      () => bridge.messages.find((m) => m.alarm === 'alarm.reader_offline_cleared' && m.door === 'garage'),
      'alarm.reader_offline_cleared on bridge/event',
      20_000,
    );
    await bridge.client.endAsync();
  }, 40_000);
});
