// Issue #8 §1: one device cannot starve or crash the hub. A real hub (store, decisions, journal) with
// real mqtt.js devices: one floods credentials as fast as TCP takes them while another door presents.
import { Aedes } from 'aedes';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { boundEmitterDepth } from '../../hub/broker/broker.js';
import { connectDevice, present, removeDir, startHub, tempDataDir } from '../helpers/hub.js';

const CARD = '04A22B1C';

/** Publishes QoS 0 credentials back to back for `ms`, as fast as the socket drains. */
async function flood(client: MqttClient, door: string, ms: number): Promise<number> {
  const stream = client.stream as unknown as NodeJS.WritableStream & { writableLength: number };
  const end = Date.now() + ms;
  let sent = 0;
  while (Date.now() < end && client.connected) {
    for (let i = 0; i < 200; i++) {
      client.publish(
        `gatehouse/door/${door}/credential`,
        `{"id":"f${sent++}","kind":"card","value":"${CARD}"}`,
        { qos: 0 },
      );
    }
    if (stream.writableLength > 64 * 1024) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        stream.once('drain', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    } else {
      await new Promise((r) => setImmediate(r));
    }
  }
  return sent;
}

function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms)),
  ]);
}

describe('a device flooding credentials', () => {
  let dir: string;
  let hub: Hub;
  let port: number;
  let flooder: MqttClient;
  let neighbour: MqttClient;
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);

  beforeAll(async () => {
    process.on('uncaughtException', onUncaught);
    dir = tempDataDir();
    hub = await startHub(dir);
    port = hub.addresses().mqtt.tcp!;
    const { store } = hub;
    store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
    store.doors.add({ id: 'back', name: 'Back', transport: 'mqtt' });
    store.people.add({ id: 'ada', name: 'Ada', kind: 'resident' });
    store.credentials.addCard('ada', CARD);
    store.groups.add({ id: 'residents', name: 'Residents' });
    store.groups.addDoor('residents', 'front');
    store.groups.addDoor('residents', 'back');
    store.groups.addMember('residents', 'ada');
    const flooderSecret = store.devices.add('flooder', { role: 'door', doors: ['front'] }).secret;
    const neighbourSecret = store.devices.add('neighbour', { role: 'door', doors: ['back'] }).secret;
    flooder = await connectDevice(port, 'flooder', flooderSecret);
    neighbour = await connectDevice(port, 'neighbour', neighbourSecret);
    await flooder.subscribeAsync('gatehouse/door/front/decision', { qos: 0 });
    await neighbour.subscribeAsync('gatehouse/door/back/decision', { qos: 1 });
  });

  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    await flooder?.endAsync(true).catch(() => {});
    await neighbour?.endAsync(true).catch(() => {});
    await hub?.stop().catch(() => {});
    removeDir(dir);
  });

  it('is answered rate_limited and paced, while another door keeps its answers; stop still completes', async () => {
    const reasons = new Map<string, number>();
    flooder.on('message', (_topic, payload) => {
      const reason = (JSON.parse(payload.toString()) as { reason: string }).reason;
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    });

    const FLOOD_MS = 3000;
    const started = Date.now();
    const flooding = flood(flooder, 'front', FLOOD_MS);
    // The neighbour presents at about 10/s for as long as the flood lasts.
    const answers: Array<{ granted: boolean; reason: string }> = [];
    let n = 0;
    while (Date.now() - started < FLOOD_MS) {
      answers.push(await present(neighbour, 'back', { id: `n${n++}`, kind: 'card', value: CARD }, 10_000));
      await new Promise((r) => setTimeout(r, 100));
    }
    const sent = await flooding;
    const seconds = (Date.now() - started) / 1000;
    await new Promise((r) => setTimeout(r, 500));

    // Every neighbour presentation was answered, and granted: the flood cost it nothing it could see.
    expect(answers.length).toBeGreaterThan(5);
    expect(answers.every((a) => a.granted)).toBe(true);
    // The flooder was decided at its budget (default 20/s, burst 40, one door), not at its sending rate.
    const decided = reasons.get('granted') ?? 0;
    expect(sent).toBeGreaterThan(1000);
    expect(decided).toBeLessThanOrEqual(40 + Math.ceil(20 * (seconds + 1)));
    expect(reasons.get('rate_limited') ?? 0).toBeGreaterThan(0);

    await withDeadline(hub.stop(), 10_000, 'hub.stop() after a flood');
    expect(uncaught).toEqual([]);
  }, 30_000);
});

describe("aedes' message emitter", () => {
  it('drains a long queue of messages nobody subscribed to without deep recursion', async () => {
    // One delivery slot, held by a subscriber that does not finish: everything else queues.
    const aedes = new Aedes({ concurrency: 1 });
    boundEmitterDepth(aedes);
    await aedes.listen();
    let release: (() => void) | null = null;
    aedes.subscribe(
      'hold',
      (_packet, done) => {
        release = done;
      },
      () => {},
    );
    await new Promise((r) => setImmediate(r));
    aedes.publish(
      { cmd: 'publish', topic: 'hold', payload: Buffer.from('x'), qos: 0, retain: false, dup: false },
      () => {},
    );
    await new Promise((r) => setTimeout(r, 20));
    expect(release).not.toBeNull();

    const QUEUED = 20_000; // without the bound this many overflow the stack
    let done = 0;
    const errors: unknown[] = [];
    for (let i = 0; i < QUEUED; i++) {
      aedes.publish(
        {
          cmd: 'publish',
          topic: 'nobody/listens',
          payload: Buffer.from('x'),
          qos: 0,
          retain: false,
          dup: false,
        },
        (error) => {
          if (error) errors.push(error);
          done++;
        },
      );
    }
    await new Promise((r) => setTimeout(r, 20));
    (release as unknown as () => void)();
    const deadline = Date.now() + 20_000;
    while (done < QUEUED && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(done).toBe(QUEUED);
    expect(errors).toEqual([]);
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
  }, 30_000);
});
