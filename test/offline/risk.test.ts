import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_KEYPAD_LOCKOUT_POLICY } from '../../hub/access/lockout.js';
import { guessRisk, lockoutAttemptsPerDay, WINDOWED_ACCEPTED_PER_SCOPE } from '../../hub/offline/risk.js';
import type { OpenedStore } from '../../hub/open-store.js';
import { seedBuilding, type TempData, tempData } from './helpers.js';

const NOON = Date.parse('2026-11-27T12:00:00Z');

describe('guessing figure', () => {
  it('counts the guesses a day the lockout allows, and the cap bounds them', () => {
    // 5 wrong → 60 s, doubling to 15 min: the first hour is quick, then 5 guesses per ~15 min.
    const attempts = lockoutAttemptsPerDay(DEFAULT_KEYPAD_LOCKOUT_POLICY, 2000);
    expect(attempts).toBeGreaterThan(24 * 4 * 5 - 5);
    expect(attempts).toBeLessThan(24 * 4 * 5 + 40);
    const risk = guessRisk({
      personalByLength: new Map([[6, 1]]),
      scopesAtDoor: 0,
      dailyDates: 0,
      windowedAccepted: false,
      rememberedWindowed: 0,
      format: { dailyMacDigits: 7, windowedMacDigits: 7 },
      lockoutAttempts: attempts,
      dailyCap: 100,
    });
    expect(risk.guessesPerDay).toBe(100);
    expect(risk.perGuess).toBeCloseTo(1e-6, 12);
    expect(risk.perDay).toBeCloseTo(1 - (1 - 1e-6) ** 100, 12);
  });

  it('keeps a keypad with only offline codes at or below 1 in 10,000 a day with the defaults', () => {
    const risk = guessRisk({
      personalByLength: new Map(),
      scopesAtDoor: 4, // site, the door, two groups
      dailyDates: 2, // inside the midnight grace
      windowedAccepted: true,
      rememberedWindowed: 50,
      format: { dailyMacDigits: 7, windowedMacDigits: 7 },
      lockoutAttempts: lockoutAttemptsPerDay(DEFAULT_KEYPAD_LOCKOUT_POLICY, 2000),
      dailyCap: 100,
    });
    expect(risk.perDay).toBeLessThanOrEqual(1e-4);
    expect(risk.worstLength).toBe(9);
  });
});

describe('live guessing figure for a seeded building', () => {
  let data: TempData;
  let opened: OpenedStore;
  beforeEach(() => {
    data = tempData();
    opened = data.open();
    seedBuilding(opened);
    const { store } = opened;
    store.transaction(() => {
      let n = 0;
      const resident = (pin: string) => {
        const id = `r${n++}`;
        store.people.add({ id, name: id, kind: 'resident' });
        store.groups.addMember('residents', id);
        return store.credentials.addPin(id, pin);
      };
      for (const pin of ['1234', '0007', '9876']) resident(pin);
      for (const pin of ['12345', '00042', '55555', '31337', '27182']) resident(pin);
      for (let i = 0; i < 10; i++) resident(String(600000 + i * 17)); // length unknown to the hub
      for (let i = 0; i < 20; i++) resident(String(80000000 + i * 31)); // 8 digits, length seen at a door
      // Not valid at the front keypad: suspended, revoked, no group, expired.
      const suspended = resident('44444444');
      store.people.setSuspended(suspended.personId, true);
      store.credentials.revoke(resident('4321').id);
      store.people.add({ id: 'outsider', name: 'Outsider', kind: 'resident' });
      store.credentials.addPin('outsider', '1111');
      store.credentials.setValidity(resident('22222222').id, { validFrom: 0, validUntil: NOON - 1 });
    });
  });
  afterEach(() => data.cleanup());

  it('matches the formula: counts only codes valid at that keypad now, by length', () => {
    const codes = data.codes(opened);
    for (const c of opened.store.credentials.list()) {
      if (
        c.personId.startsWith('r') &&
        Number(c.personId.slice(1)) >= 18 &&
        Number(c.personId.slice(1)) < 38
      ) {
        codes.notePinLength(c.id, 8);
      }
    }
    expect(codes.scanShortPins()).toBe(3 + 5 + 1); // the revoked 4321 is not active; the outsider's 1111 is
    const front = codes.guessRisk('front', NOON);

    // The formula of docs/offline-codes.md, written out for this building.
    const scopes = 3; // site, door:front, group:residents
    const perGuessByLength = {
      4: 3 / 1e4,
      5: 5 / 1e5,
      6: 10 / 1e6,
      8: 20 / 1e8,
      9: (1 * 100 * scopes) / 1e9,
      12: (WINDOWED_ACCEPTED_PER_SCOPE * scopes) / 1e12,
    };
    const perGuess = Math.max(...Object.values(perGuessByLength));
    const G = Math.min(100, lockoutAttemptsPerDay(DEFAULT_KEYPAD_LOCKOUT_POLICY, 2000));
    expect(front.acceptedByLength).toEqual({
      4: 3,
      5: 5,
      6: 10,
      8: 20,
      9: 300,
      12: WINDOWED_ACCEPTED_PER_SCOPE * 3,
    });
    expect(front.personalCodes).toBe(38);
    expect(front.assumedLengthCodes).toBe(10);
    expect(front.perGuess).toBeCloseTo(perGuess, 15);
    expect(front.worstLength).toBe(4);
    expect(front.perDay).toBeCloseTo(1 - (1 - perGuess) ** G, 12);
    expect(front.overLimit).toBe(true);

    const garage = codes.guessRisk('garage', NOON);
    expect(garage.personalCodes).toBe(0);
    expect(garage.perDay).toBeCloseTo(1 - (1 - 200 / 1e9) ** G, 12);
    expect(garage.overLimit).toBe(false);
  });

  it('warns staff once per door that goes over the limit', async () => {
    const codes = data.codes(opened);
    await codes.scanShortPinsInSlices();
    codes.checkGuessRisk(NOON);
    codes.checkGuessRisk(NOON);
    opened.store.events.flush();
    const alarms = opened.store.events.list({ type: 'alarm.guess_risk' });
    expect(alarms.map((a) => a.doorId)).toEqual(['front']);
    expect(alarms[0]!.data).toMatchObject({ limit: 1e-4, worstLength: 4 });
  });
});
