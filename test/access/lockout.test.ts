import { describe, expect, it } from 'vitest';
import {
  DEFAULT_KEYPAD_LOCKOUT_POLICY,
  KeypadLockout,
  keypadLockoutOutcome,
} from '../../hub/access/index.js';

const T0 = Date.parse('2026-11-27T04:00:00Z');
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const KEYPAD = 'front/keypad-1';

/** `count` wrong entries one second apart starting at `start`; returns the last result and time. */
function wrongEntries(lockout: KeypadLockout, key: string, start: number, count: number) {
  let now = start;
  let last = lockout.recordFailure(key, now);
  for (let i = 1; i < count; i++) {
    now += SECOND;
    last = lockout.recordFailure(key, now);
  }
  return { last, now };
}

describe('KeypadLockout', () => {
  it('uses the documented defaults', () => {
    expect(new KeypadLockout().policy).toEqual({
      maxFailures: 5,
      windowMs: 300_000,
      baseLockMs: 60_000,
      maxLockMs: 900_000,
      escalationResetMs: 3_600_000,
      maxKeys: 10_000,
    });
    expect(DEFAULT_KEYPAD_LOCKOUT_POLICY.maxFailures).toBe(5);
  });

  it('does not lock after 4 wrong entries, locks for 60 s on the 5th', () => {
    const lockout = new KeypadLockout();
    const four = wrongEntries(lockout, KEYPAD, T0, 4);
    expect(four.last).toEqual({ lockoutCount: 0, alarm: false, newLockout: false });
    expect(lockout.isLocked(KEYPAD, four.now)).toEqual({ locked: false });

    const fifthAt = four.now + SECOND;
    expect(lockout.recordFailure(KEYPAD, fifthAt)).toEqual({
      lockedUntil: fifthAt + 60 * SECOND,
      lockoutCount: 1,
      alarm: false,
      newLockout: true,
    });
    expect(lockout.isLocked(KEYPAD, fifthAt)).toEqual({ locked: true, until: fifthAt + 60 * SECOND });
    expect(lockout.isLocked(KEYPAD, fifthAt + 60 * SECOND - 1).locked).toBe(true);
    expect(lockout.isLocked(KEYPAD, fifthAt + 60 * SECOND)).toEqual({ locked: false });
  });

  it('only counts wrong entries inside the 5-minute window', () => {
    const lockout = new KeypadLockout();
    // One wrong entry every 76 s: never 5 within 300 s.
    for (let i = 0; i < 20; i++) {
      const result = lockout.recordFailure(KEYPAD, T0 + i * 76 * SECOND);
      expect(result.lockedUntil).toBeUndefined();
    }
    // 5 within 299 s lock.
    const other = 'back/keypad-1';
    for (let i = 0; i < 4; i++) lockout.recordFailure(other, T0 + i * 74 * SECOND);
    expect(lockout.recordFailure(other, T0 + 299 * SECOND).newLockout).toBe(true);
  });

  it('ignores entries during a lockout: they neither count nor extend it', () => {
    const lockout = new KeypadLockout();
    const { now: lockedAt } = wrongEntries(lockout, KEYPAD, T0, 5);
    const until = lockedAt + 60 * SECOND;
    for (let t = lockedAt + SECOND; t < until; t += 5 * SECOND) {
      expect(lockout.recordFailure(KEYPAD, t)).toEqual({
        lockedUntil: until,
        lockoutCount: 1,
        alarm: false,
        newLockout: false,
      });
    }
    expect(lockout.isLocked(KEYPAD, until)).toEqual({ locked: false });
    // The ignored entries did not carry over: 4 more wrong entries after expiry do not lock.
    const after = wrongEntries(lockout, KEYPAD, until, 4);
    expect(lockout.isLocked(KEYPAD, after.now).locked).toBe(false);
  });

  it('escalates 60, 120, 240, 480, 900, 900 s with an alarm from the second lockout on', () => {
    const lockout = new KeypadLockout();
    const durations: number[] = [];
    const alarms: boolean[] = [];
    let now = T0;
    for (let round = 0; round < 6; round++) {
      const { last, now: lockedAt } = wrongEntries(lockout, KEYPAD, now, 5);
      expect(last.newLockout).toBe(true);
      expect(last.lockoutCount).toBe(round + 1);
      durations.push((last.lockedUntil! - lockedAt) / SECOND);
      alarms.push(last.alarm);
      now = last.lockedUntil!; // the next guesser starts right when the lockout ends
    }
    expect(durations).toEqual([60, 120, 240, 480, 900, 900]);
    expect(alarms).toEqual([false, true, true, true, true, true]);
  });

  it('resets the escalation after an hour without wrong entries', () => {
    const lockout = new KeypadLockout();
    const first = wrongEntries(lockout, KEYPAD, T0, 5);
    const second = wrongEntries(lockout, KEYPAD, first.last.lockedUntil!, 5);
    expect(second.last.lockoutCount).toBe(2);

    // 59 minutes quiet is not enough: the next lockout is the third.
    const notQuietEnough = new KeypadLockout();
    const a = wrongEntries(notQuietEnough, KEYPAD, T0, 5);
    const b = wrongEntries(notQuietEnough, KEYPAD, a.last.lockedUntil!, 5);
    const c = wrongEntries(notQuietEnough, KEYPAD, b.now + 59 * MINUTE, 5);
    expect(c.last).toMatchObject({ lockoutCount: 3, alarm: true });
    expect(c.last.lockedUntil! - c.now).toBe(240 * SECOND);

    // A full hour quiet: back to a first, 60 s lockout without an alarm.
    const third = wrongEntries(lockout, KEYPAD, second.now + HOUR, 5);
    expect(third.last).toEqual({
      lockedUntil: third.now + 60 * SECOND,
      lockoutCount: 1,
      alarm: false,
      newLockout: true,
    });
  });

  it('wrong entries during a lockout still count as activity, so the hour of quiet restarts', () => {
    const lockout = new KeypadLockout();
    const { now: lockedAt } = wrongEntries(lockout, KEYPAD, T0, 5);
    lockout.recordFailure(KEYPAD, lockedAt + 59 * SECOND); // ignored, but not quiet
    const later = wrongEntries(lockout, KEYPAD, lockedAt + HOUR + 30 * SECOND, 5);
    expect(later.last).toMatchObject({ lockoutCount: 2, alarm: true });
  });

  it('a correct code clears the wrong entries so far but keeps the escalation level', () => {
    const lockout = new KeypadLockout();
    const first = wrongEntries(lockout, KEYPAD, T0, 5);
    let now = first.last.lockedUntil!;
    now = wrongEntries(lockout, KEYPAD, now, 4).now;
    lockout.recordSuccess(KEYPAD, now + SECOND);
    // 4 more wrong entries: would have locked without the success.
    const afterSuccess = wrongEntries(lockout, KEYPAD, now + 2 * SECOND, 4);
    expect(lockout.isLocked(KEYPAD, afterSuccess.now).locked).toBe(false);
    const fifth = lockout.recordFailure(KEYPAD, afterSuccess.now + SECOND);
    expect(fifth).toMatchObject({ lockoutCount: 2, alarm: true, newLockout: true });
    expect(fifth.lockedUntil! - (afterSuccess.now + SECOND)).toBe(120 * SECOND);
  });

  it('a correct code does not end a running lockout', () => {
    const lockout = new KeypadLockout();
    const { now } = wrongEntries(lockout, KEYPAD, T0, 5);
    lockout.recordSuccess(KEYPAD, now + SECOND);
    expect(lockout.isLocked(KEYPAD, now + SECOND).locked).toBe(true);
  });

  it('keeps separate keypads independent', () => {
    const lockout = new KeypadLockout();
    const front = wrongEntries(lockout, 'front/keypad-1', T0, 5);
    expect(lockout.isLocked('front/keypad-1', front.now).locked).toBe(true);
    expect(lockout.isLocked('front/keypad-2', front.now)).toEqual({ locked: false });
    expect(lockout.isLocked('garage/keypad-1', front.now)).toEqual({ locked: false });
    const garage = wrongEntries(lockout, 'garage/keypad-1', front.now, 4);
    expect(lockout.isLocked('garage/keypad-1', garage.now).locked).toBe(false);
  });

  it('snapshot shows what a status page needs', () => {
    const lockout = new KeypadLockout();
    const front = wrongEntries(lockout, 'front/keypad-1', T0, 5);
    wrongEntries(lockout, 'back/keypad-1', T0, 2);
    expect(lockout.snapshot(front.now)).toEqual([
      {
        key: 'front/keypad-1',
        failures: 0,
        lockedUntil: front.now + 60 * SECOND,
        lockoutCount: 1,
        lastFailureAt: front.now,
      },
      { key: 'back/keypad-1', failures: 2, lockedUntil: null, lockoutCount: 0, lastFailureAt: T0 + SECOND },
    ]);
    // Later the lockout is over and old wrong entries have left the window.
    expect(lockout.snapshot(T0 + 10 * MINUTE)).toEqual([
      { key: 'front/keypad-1', failures: 0, lockedUntil: null, lockoutCount: 1, lastFailureAt: front.now },
      { key: 'back/keypad-1', failures: 0, lockedUntil: null, lockoutCount: 0, lastFailureAt: T0 + SECOND },
    ]);
  });

  it('forgets keypads quiet for longer than the escalation reset', () => {
    const lockout = new KeypadLockout();
    wrongEntries(lockout, 'front/keypad-1', T0, 5);
    wrongEntries(lockout, 'back/keypad-1', T0 + 30 * MINUTE, 1);
    lockout.prune(T0 + HOUR + MINUTE);
    expect(lockout.snapshot().map((entry) => entry.key)).toEqual(['back/keypad-1']);
  });

  it('bounds memory: never tracks more than maxKeys keypads, keeping locked ones', () => {
    const lockout = new KeypadLockout({ maxKeys: 3 });
    wrongEntries(lockout, 'locked/keypad', T0, 5);
    for (let i = 0; i < 50; i++) lockout.recordFailure(`door-${i}/keypad`, T0 + 10 * SECOND + i);
    expect(lockout.size).toBe(3);
    expect(lockout.isLocked('locked/keypad', T0 + 20 * SECOND).locked).toBe(true);
  });

  it('does not let a clock set back stretch a lockout', () => {
    const lockout = new KeypadLockout();
    const { now } = wrongEntries(lockout, KEYPAD, T0, 5);
    const backInTime = now - HOUR;
    const state = lockout.isLocked(KEYPAD, backInTime);
    expect(state.locked).toBe(true);
    expect(state.until! - backInTime).toBeLessThanOrEqual(60 * SECOND);
  });

  it('refuses a nonsense policy or time with a clear error', () => {
    expect(() => new KeypadLockout({ maxFailures: 0 })).toThrow(/maxFailures must be a positive integer/);
    expect(() => new KeypadLockout({ windowMs: Number.NaN })).toThrow(/windowMs/);
    expect(() => new KeypadLockout({ baseLockMs: 60_000, maxLockMs: 1000 })).toThrow(/maxLockMs/);
    const lockout = new KeypadLockout();
    expect(() => lockout.recordFailure(KEYPAD, Number.NaN)).toThrow(/finite/);
    expect(() => lockout.isLocked(KEYPAD, Number.POSITIVE_INFINITY)).toThrow(/finite/);
  });
});

describe('keypadLockoutOutcome', () => {
  it.each([
    ['keypad', { granted: true, reason: 'granted' }, 'success'],
    ['keypad', { granted: false, reason: 'unknown_credential' }, 'failure'],
    ['keypad', { granted: false, reason: 'invalid_request' }, 'failure'],
    ['keypad', { granted: false, reason: 'revoked' }, 'none'],
    ['keypad', { granted: false, reason: 'outside_schedule' }, 'none'],
    ['keypad', { granted: false, reason: 'locked_out' }, 'none'],
    ['card', { granted: false, reason: 'unknown_credential' }, 'none'],
    ['mobile', { granted: true, reason: 'granted' }, 'none'],
  ] as const)('%s %j -> %s', (kind, decision, outcome) => {
    expect(keypadLockoutOutcome(kind, decision)).toBe(outcome);
  });
});
