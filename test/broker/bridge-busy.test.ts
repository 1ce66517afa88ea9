// A hub-wide bound on bridge requests in flight (mqtt.limits.maxBridgeRequestsInFlight): each
// integration's rate budget alone lets many accounts together queue without limit. Past the bound a
// request is answered `busy` at once; once answers go out, requests are taken again. Real broker, real
// mqtt.js integration accounts, a handler the test holds.
import type { MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeClients, connect, NODE_RED, type Rig, startRig } from './helpers.js';

let rig: Rig;
let client: MqttClient;
const held: Array<() => void> = [];
let started = 0;

beforeEach(async () => {
  started = 0;
  rig = await startRig({
    limits: { maxBridgeRequestsInFlight: 3 },
    bridgeRequests: () =>
      new Promise((resolve) => {
        started++;
        held.push(() => resolve({ ok: true, result: null }));
      }),
  });
  client = await connect(rig.port, NODE_RED);
  await client.subscribeAsync('gatehouse/bridge/response/+', { qos: 1 });
});

afterEach(async () => {
  for (const release of held.splice(0)) release();
  await closeClients();
  await rig.stop();
});

function answers(count: number): Promise<Array<Record<string, unknown>>> {
  const seen: Array<Record<string, unknown>> = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${seen.length} of ${count} answers`)), 10_000);
    client.on('message', (topic, body) => {
      if (!topic.startsWith('gatehouse/bridge/response/')) return;
      seen.push(JSON.parse(body.toString()) as Record<string, unknown>);
      if (seen.length === count) {
        clearTimeout(timer);
        resolve(seen);
      }
    });
  });
}

describe('bridge requests in flight, hub-wide', () => {
  it('answers busy beyond the bound, never queues, and takes requests again once answered', async () => {
    const busy = answers(5);
    for (let i = 0; i < 8; i++) {
      await client.publishAsync('gatehouse/bridge/request/door.list', JSON.stringify({ transaction: i }), {
        qos: 1,
      });
    }
    const first = await busy;
    expect(first.every((a) => (a.error as { code?: string } | undefined)?.code === 'busy')).toBe(true);
    expect(first.map((a) => a.transaction).sort()).toEqual([3, 4, 5, 6, 7]);
    expect(started).toBe(3);

    const done = answers(3);
    for (const release of held.splice(0)) release();
    expect((await done).map((a) => a.transaction).sort()).toEqual([0, 1, 2]);
    const again = answers(1);
    await client.publishAsync('gatehouse/bridge/request/door.list', JSON.stringify({ transaction: 'next' }), {
      qos: 1,
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(started).toBe(4);
    for (const release of held.splice(0)) release();
    expect((await again)[0]).toMatchObject({ ok: true, transaction: 'next' });
  });
});
