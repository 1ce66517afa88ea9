// The bridge/event payload of a stored event (hub/broker/bridge-events.ts): small, plain, and never a
// secret, whatever an event's data holds. The live path is test/e2e/bridge-signals.test.ts.
import { describe, expect, it } from 'vitest';
import {
  BridgeEvents,
  bridgePayloadOf,
  DOOR_STATE_EVERY_MS,
  plainData,
} from '../../hub/broker/bridge-events.js';
import { type DoorStatus, EventBus } from '../../hub/bus.js';
import type { HubEvent } from '../../hub/domain.js';

function event(type: string, data: Record<string, unknown>, doorId: string | null = 'front'): HubEvent {
  return {
    seq: 7,
    ts: 1000,
    type,
    doorId,
    personId: 'ada',
    credentialId: 'c1',
    data,
    prevHash: '',
    hash: '',
  };
}

describe('bridge/event payloads', () => {
  it('an alarm keeps its type, door, seq and ts, and says whether it is a clear', () => {
    expect(bridgePayloadOf(event('alarm.held_open_cleared', { openMs: 61_000 }))).toEqual({
      type: 'alarm',
      alarm: 'alarm.held_open_cleared',
      cleared: true,
      door: 'front',
      data: { openMs: 61_000 },
      seq: 7,
      ts: 1000,
    });
    expect(bridgePayloadOf(event('alarm.disk_full', { code: 'ENOSPC' }, null))).toMatchObject({
      door: null,
      cleared: false,
    });
  });

  it('a doorbell is only its door and place in the log; other events are not bridged', () => {
    expect(bridgePayloadOf(event('door.doorbell', { ignored: 3 }))).toEqual({
      type: 'doorbell',
      door: 'front',
      seq: 7,
      ts: 1000,
    });
    for (const type of ['decision', 'door.opened', 'admin.person.added', 'alarms', 'alarm']) {
      expect(bridgePayloadOf(event(type, {}))).toBeNull();
    }
  });

  it('hostile data: no secrets, nothing nested, short texts, a few fields', () => {
    const data = plainData({
      pin: '1234',
      cardValue: '04A22B1C',
      secret: 's',
      personId: 'ada',
      credential: 'c1',
      tokenHash: 'x',
      actor: 'user:ines',
      nested: { pin: '1234' },
      list: ['04A22B1C'],
      huge: 'x'.repeat(100_000),
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      ok: true,
      none: null,
      ...Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}`, i])),
    });
    expect(Object.keys(data)).toHaveLength(12);
    expect(data).toMatchObject({ ok: true, none: null, f0: 0 });
    expect((data.huge as string).length).toBeLessThanOrEqual(201);
    const text = JSON.stringify(data);
    for (const leaked of ['1234', '04A22B1C', 'ada', 'ines', 'nested', 'list', 'nan', 'inf']) {
      expect(text).not.toContain(leaked);
    }
    expect(plainData(null as unknown as Record<string, unknown>)).toEqual({});
  });

  it('door states are coalesced per door: a chattering contact sends the first and the latest, not each', async () => {
    const bus = new EventBus();
    const published: Array<Record<string, unknown>> = [];
    const bridge = new BridgeEvents({
      bus,
      publish: (p) => published.push(p),
      eventsPerSecond: 20,
      eventBurst: 100,
    });
    bridge.start();
    const state = (doorId: string, i: number): DoorStatus => ({
      doorId,
      contact: i % 2 === 0 ? 'open' : 'closed',
      lock: 'locked',
      mode: 'normal',
      tamper: false,
      online: true,
    });
    try {
      for (let i = 0; i < 1000; i++) bus.emit('doorStatus', state('front', i));
      bus.emit('doorStatus', state('back', 0));
      await new Promise((r) => setTimeout(r, DOOR_STATE_EVERY_MS + 100));
      const front = published.filter((p) => p.doorId === 'front');
      expect(front.map((p) => p.contact)).toEqual(['open', 'closed']); // the first, then the 1000th
      expect(published.filter((p) => p.doorId === 'back')).toHaveLength(1);
      // Quiet since: the next change goes out at once, not after a timer.
      await new Promise((r) => setTimeout(r, DOOR_STATE_EVERY_MS));
      bus.emit('doorStatus', state('front', 0));
      await new Promise((r) => setImmediate(() => setImmediate(() => setImmediate(r))));
      expect(published.filter((p) => p.doorId === 'front')).toHaveLength(3);
    } finally {
      bridge.stop();
    }
  });
});
