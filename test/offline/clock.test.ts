import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TrustedClock } from '../../hub/offline/clock.js';
import type { OpenedStore } from '../../hub/open-store.js';
import { fakeTime, T0 } from './clock-time.js';
import { type TempData, tempData } from './helpers.js';

describe('TrustedClock', () => {
  let data: TempData;
  let opened: OpenedStore;
  beforeEach(() => {
    data = tempData();
    opened = data.open();
  });
  afterEach(() => data.cleanup());

  const clockOn = (time: ReturnType<typeof fakeTime>, policy = {}) =>
    new TrustedClock({
      kv: opened.store.kv,
      emitEvent: (e) => opened.store.events.append(e),
      systemNow: time.systemNow,
      monotonicNow: time.monotonicNow,
      policy,
    });

  it('refuses a backward jump of more than 60 s, keeps counting, and raises alarm.clock_jump once', async () => {
    const time = fakeTime();
    const clock = clockOn(time, { rtc: true });
    await clock.start();
    expect(clock.now()).toEqual({ ms: T0, trusted: true, reason: 'rtc' });

    time.advance(10_000);
    time.t.system -= 3_600_000; // someone sets the clock back an hour
    const refused = clock.now();
    expect(refused).toEqual({ ms: T0 + 10_000, trusted: false, reason: 'clock_jump' });
    time.advance(5_000);
    expect(clock.now().ms).toBe(T0 + 15_000);
    opened.store.events.flush();
    const alarms = opened.store.events.list({ type: 'alarm.clock_jump' });
    expect(alarms).toHaveLength(1);
    expect(alarms[0]!.data).toMatchObject({ backwardMs: 3_600_000 });
    await clock.stop();
  });

  it('follows small corrections and forward steps', async () => {
    const time = fakeTime();
    const clock = clockOn(time, { rtc: true });
    await clock.start();
    time.t.system -= 30_000; // NTP nudges back 30 s: allowed
    expect(clock.now()).toEqual({ ms: T0 - 30_000, trusted: true, reason: 'rtc' });
    time.t.system += 86_400_000;
    expect(clock.now().ms).toBe(T0 - 30_000 + 86_400_000);
    await clock.stop();
  });

  it('persists the high-water mark: a restart with the clock behind it is refused', async () => {
    const time = fakeTime();
    const first = clockOn(time, { rtc: true });
    await first.start();
    time.advance(3_600_000);
    first.now();
    await first.stop();

    // Power cut; the Pi boots without an RTC, a day in the past.
    const boot = fakeTime();
    boot.t.system = T0 - 86_400_000;
    const second = clockOn(boot, { rtc: true });
    await second.start();
    expect(second.now()).toEqual({ ms: T0 + 3_600_000, trusted: false, reason: 'clock_jump' });
    expect(second.status().highWaterMark).toBe(T0 + 3_600_000);

    second.acceptSystemTime('cli');
    expect(second.now()).toEqual({ ms: T0 - 86_400_000, trusted: true, reason: 'rtc' });
    await second.stop();
  });

  it('without an RTC, trusts the time only after NTP or the cloud confirmed it recently', async () => {
    const time = fakeTime();
    const clock = clockOn(time, { confirmMaxAgeMs: 3_600_000, cloudToleranceMs: 60_000 });
    await clock.start();
    expect(clock.now()).toMatchObject({ trusted: false, reason: 'unconfirmed' });

    expect(clock.confirm('cloud', T0 + 10 * 60_000)).toBe(false); // 10 min apart: not a confirmation
    expect(clock.now()).toMatchObject({ trusted: false, reason: 'cloud_disagrees' });
    expect(clock.confirm('cloud', T0 + 5_000)).toBe(true);
    expect(clock.now()).toMatchObject({ trusted: true, reason: 'cloud' });

    time.advance(3_600_001);
    expect(clock.now()).toMatchObject({ trusted: false, reason: 'confirmation_stale' });
    clock.confirm('ntp');
    expect(clock.now()).toMatchObject({ trusted: true, reason: 'ntp' });
    await clock.stop();

    // The confirmation survives a restart.
    const again = clockOn(time, { confirmMaxAgeMs: 3_600_000 });
    await again.start();
    expect(again.now()).toMatchObject({ trusted: true, reason: 'ntp' });
    await again.stop();
  });

  it('polls NTP status when given a probe', async () => {
    const time = fakeTime();
    const clock = new TrustedClock({
      kv: opened.store.kv,
      emitEvent: () => {},
      systemNow: time.systemNow,
      monotonicNow: time.monotonicNow,
      ntpSynchronized: async () => true,
    });
    await clock.start();
    await new Promise((resolve) => setImmediate(resolve));
    expect(clock.now()).toMatchObject({ trusted: true, reason: 'ntp' });
    await clock.stop();
  });
});
