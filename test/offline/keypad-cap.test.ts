import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus, type Presentation } from '../../hub/bus.js';
import { DecisionService } from '../../hub/decisions.js';
import { silentLogger } from '../../hub/logger.js';
import { CappedKeypadLockout, enableKeypad, listDisabledKeypads } from '../../hub/offline/cap.js';
import type { OpenedStore } from '../../hub/open-store.js';
import { seedBuilding, type TempData, tempData } from './helpers.js';

const T0 = Date.parse('2026-11-27T08:00:00Z');

describe('keypad daily failure cap', () => {
  let data: TempData;
  let opened: OpenedStore;
  let clock: { ms: number };
  beforeEach(() => {
    data = tempData();
    opened = data.open();
    seedBuilding(opened);
    opened.store.credentials.addPin('alice', '24681357');
    opened.store.credentials.addCard('alice', '04A1B2C3');
    clock = { ms: T0 };
  });
  afterEach(() => data.cleanup());

  const serviceOn = (o: OpenedStore, cap = 10) => {
    const lockout = new CappedKeypadLockout(
      { maxFailures: 5, windowMs: 300_000, baseLockMs: 60_000, maxLockMs: 900_000 },
      { keypads: o.store.keypadCap, dailyCap: cap, emitEvent: (e) => o.store.events.append(e) },
    );
    const service = new DecisionService({
      store: o.store,
      bus: new EventBus(),
      lockout,
      timeZone: 'Europe/Berlin',
      now: () => clock.ms,
      logger: silentLogger(),
    });
    return { service, lockout };
  };
  const keypad = (value: string): Presentation => ({
    doorId: 'front',
    kind: 'keypad',
    value,
    readerId: 'kp1',
  });

  /** Wrong codes, waiting out each lockout, until `n` have been counted as guesses. */
  const guess = (service: DecisionService, n: number) => {
    let counted = 0;
    for (let i = 0; counted < n && i < 10_000; i++) {
      const decision = service.decide(keypad(String(10_000_000 + i)));
      if (decision.reason === 'unknown_credential') counted++;
      clock.ms += decision.reason === 'locked_out' ? 60_000 : 3_000;
    }
    return counted;
  };

  it('disables the keypad after the cap, durably, with an alarm; cards keep working; staff re-enable it', async () => {
    const { service } = serviceOn(opened);
    expect(guess(service, 10)).toBe(10);
    clock.ms += 3_600_000; // any lockout is long over
    expect(service.decide(keypad('24681357'))).toMatchObject({ granted: false, reason: 'locked_out' });
    expect(service.decide({ doorId: 'front', kind: 'card', value: '04A1B2C3', readerId: 'r1' }).granted).toBe(
      true,
    );
    opened.store.events.flush();
    const alarm = opened.store.events.list({ type: 'alarm.keypad_disabled' });
    expect(alarm).toHaveLength(1);
    expect(alarm[0]).toMatchObject({ doorId: 'front', data: { reader: 'kp1', failures: 10, cap: 10 } });
    // Another keypad on the same door is not affected.
    expect(service.decide({ ...keypad('24681357'), readerId: 'kp2' }).granted).toBe(true);

    // A restart does not re-enable it.
    await service.stop();
    opened.close();
    const reopened = data.open();
    const { service: after } = serviceOn(reopened);
    expect(after.decide(keypad('24681357')).reason).toBe('locked_out');
    expect(listDisabledKeypads(reopened.store.keypadCap).map((k) => k.keypad)).toEqual(['front/kp1']);

    // Staff re-enable it (the CLI does this from another process: a second connection).
    const cli = data.open();
    expect(enableKeypad(cli.store, 'front', 'kp1', 'cli')).toBe(true);
    expect(enableKeypad(cli.store, 'front', 'kp1', 'cli')).toBe(false);
    expect(after.decide(keypad('24681357')).granted).toBe(true);
    expect(reopened.store.events.list({ type: 'admin.keypad.enabled' })).toHaveLength(1);
  });

  it('counts only the last 24 hours', () => {
    const { service, lockout } = serviceOn(opened);
    expect(guess(service, 9)).toBe(9);
    clock.ms += 86_400_000;
    expect(lockout.failuresToday('front/kp1', clock.ms)).toBe(0);
    expect(guess(service, 9)).toBe(9);
    expect(service.decide(keypad('24681357')).granted).toBe(true);
  });
});
