// Budgets of the phone endpoints, in-process with a stepped clock: whose budget a request spends, the
// per-door limit (also for MQTT readers), and the refusal summary written once its minute ends.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Decision } from '../../hub/bus.js';
import { clientKey } from '../../hub/mobile/http.js';
import { MobileAccess } from '../../hub/mobile/service.js';
import { type Building, building } from './helpers.js';

let b: Building;
beforeEach(async () => {
  b = await building();
});
afterEach(async () => {
  await b.cleanup();
});

describe('phone request budgets', () => {
  it('counts an IPv4 address (mapped or not) on its own and an IPv6 /64 as one', () => {
    expect(clientKey('192.168.1.20')).toBe('192.168.1.20');
    expect(clientKey('::ffff:192.168.1.20')).toBe('192.168.1.20');
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(clientKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey(undefined)).toBe('local-socket');
  });

  it('limits challenges per door, answering MQTT readers rate_limited without an event', async () => {
    await b.mobile.stop(); // this test's own service answers the bus
    const mobile = new MobileAccess({
      store: b.opened.store,
      bus: b.bus,
      verifier: b.verifier,
      limits: { challengesPerSecondPerDoor: 2 },
      now: () => b.clock.now,
    });
    await mobile.start();
    try {
      const outcomes = Array.from({ length: 6 }, () => mobile.issueChallenge('front').ok);
      expect(outcomes).toEqual([true, true, true, true, false, false]);
      // Another door has its own budget.
      expect(mobile.issueChallenge('back').ok).toBe(true);
      const decided: Decision[] = [];
      b.bus.on(b, 'decided', (_p, d) => decided.push(d));
      const events = b.opened.store.events.list({ limit: 1000 }).length;
      b.bus.emit('presented', {
        doorId: 'front',
        kind: 'mobile',
        value: 'challenge',
        readerId: 'front.ble',
        requestId: 'q1',
        deviceId: 'front-reader',
      });
      expect(decided).toEqual([{ granted: false, reason: 'rate_limited' }]);
      b.opened.store.events.flush();
      expect(b.opened.store.events.list({ limit: 1000 })).toHaveLength(events);
      b.clock.now += 1000;
      expect(mobile.issueChallenge('front').ok).toBe(true);
    } finally {
      await mobile.stop();
    }
  });

  it('records five unverified refusals a minute per door and summarises the rest in one event', async () => {
    await b.mobile.stop();
    const store = b.opened.store;
    const mobile = new MobileAccess({ store, bus: b.bus, verifier: b.verifier, now: () => b.clock.now });
    for (let i = 0; i < 1000; i++)
      mobile.present({
        doorId: 'front',
        response: 'Zm9v',
        readerId: 'x',
        source: `10.0.${i >> 8}.${i & 255}`,
      });
    store.events.flush();
    expect(store.events.list({ type: 'decision', limit: 100 })).toHaveLength(5);
    expect(store.events.list({ type: 'decision', limit: 1 })[0]!.data).toMatchObject({
      granted: false,
      reason: 'invalid_request',
      source: '10.0.0.4',
    });
    // The next minute: its first refusal reports the count of the last one.
    b.clock.now += 60_000;
    mobile.present({ doorId: 'front', response: 'Zm9v', readerId: 'x' });
    store.events.flush();
    expect(store.events.list({ type: 'mobile.refused', limit: 10 })).toEqual([
      expect.objectContaining({
        doorId: 'front',
        data: { refused: 995, windowMs: 60_000, reason: 'invalid_request' },
      }),
    ]);
  });
});
