// The proof of issue #5 (2): 10,000 random keypad entries against a building with 1,000 active codes
// (900 personal PINs, 100 daily codes) open nothing, and trigger the lockout and the daily cap.
// Drives the real decision path: DecisionService + store + offline codes + capped lockout.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus, type Presentation } from '../../hub/bus.js';
import { DecisionService } from '../../hub/decisions.js';
import type { Reason } from '../../hub/domain.js';
import { silentLogger } from '../../hub/logger.js';
import { CappedKeypadLockout, enableKeypad } from '../../hub/offline/cap.js';
import type { OfflineCodes } from '../../hub/offline/offline-codes.js';
import type { OpenedStore } from '../../hub/open-store.js';
import { seedBuilding, type TempData, tempData } from './helpers.js';

/** Deterministic "random" digits, so a failure can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const START = Date.parse('2026-11-27T07:00:00Z'); // 08:00 in Berlin

describe('10,000 random keypad entries', () => {
  let data: TempData;
  let opened: OpenedStore;
  let codes: OfflineCodes;
  let dailyCodes: string[];
  const clock = { ms: START };

  beforeEach(() => {
    clock.ms = START;
    data = tempData();
    opened = data.open(() => clock.ms);
    seedBuilding(opened);
    const { store } = opened;
    store.transaction(() => {
      for (let i = 0; i < 900; i++) {
        const id = `r${i}`;
        store.people.add({ id, name: id, kind: 'resident' });
        store.groups.addMember('residents', id);
        store.credentials.addPin(id, String(20_000_000 + i * 86_243));
      }
      store.credentials.addCard('alice', '04A1B2C3');
    });
    codes = data.codes(opened);
    dailyCodes = [];
    for (const scope of ['door:front', 'group:residents']) {
      for (let i = 0; i < 50; i++)
        dailyCodes.push(codes.issue({ type: 'daily', date: '2026-11-27', scope }).digits);
    }
  });
  afterEach(() => data.cleanup());

  it('open nothing, lock the keypad out, then hit the daily cap; cards keep working', () => {
    const lockout = new CappedKeypadLockout(
      { maxFailures: 5, windowMs: 300_000, baseLockMs: 60_000, maxLockMs: 900_000 },
      { keypads: opened.store.keypadCap, dailyCap: 100, emitEvent: (e) => opened.store.events.append(e) },
    );
    const service = new DecisionService({
      store: opened.store,
      bus: new EventBus(),
      lockout,
      timeZone: 'Europe/Berlin',
      now: () => clock.ms,
      logger: silentLogger(),
      offlineCodes: codes,
    });
    const keypad = (value: string): Presentation => ({
      doorId: 'front',
      kind: 'keypad',
      value,
      readerId: 'kp1',
    });

    // A real daily code works at this keypad before the attack (the offline path is wired in).
    expect(service.decide(keypad(dailyCodes[7]!)).granted).toBe(true);

    const random = mulberry32(20261127);
    const reasons = new Map<Reason, number>();
    let granted = 0;
    for (let i = 0; i < 10_000; i++) {
      const length = 4 + Math.floor(random() * 9);
      let digits = '';
      for (let d = 0; d < length; d++) digits += String(Math.floor(random() * 10));
      const decision = service.decide(keypad(digits));
      if (decision.granted) granted++;
      reasons.set(decision.reason, (reasons.get(decision.reason) ?? 0) + 1);
      clock.ms += 3_000;
    }
    expect(granted).toBe(0);
    expect(reasons.get('unknown_credential')).toBe(100); // the cap: 100 counted guesses, then disabled
    expect(reasons.get('locked_out')).toBe(9_900);

    opened.store.events.flush();
    expect(opened.store.events.list({ type: 'door.keypad_locked_out' }).length).toBe(1);
    expect(opened.store.events.list({ type: 'alarm.keypad_locked_out' }).length).toBeGreaterThan(5);
    const disabled = opened.store.events.list({ type: 'alarm.keypad_disabled' });
    expect(disabled).toHaveLength(1);
    expect(disabled[0]).toMatchObject({ doorId: 'front', data: { reader: 'kp1', failures: 100 } });

    // The keypad's codes stay disabled; the card reader on the same door still opens.
    clock.ms += 3_600_000;
    expect(service.decide(keypad(dailyCodes[8]!)).reason).toBe('locked_out');
    expect(
      service.decide({ doorId: 'front', kind: 'card', value: '04A1B2C3', readerId: 'reader' }).granted,
    ).toBe(true);

    expect(enableKeypad(opened.store, 'front', 'kp1', 'cli')).toBe(true);
    expect(service.decide(keypad(dailyCodes[8]!))).toMatchObject({ granted: true });
    expect(service.decide(keypad('20000000'))).toMatchObject({ granted: true, personId: 'r0' });
  });
});
