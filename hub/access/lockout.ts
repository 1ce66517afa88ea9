// Brute-force protection for keypads: counted per keypad (`${doorId}/${readerId}`), never per
// person, so a guesser cannot lock a resident out of cards or mobile keys. In memory, time passed in.
import type { Decision } from '../bus.js';
import type { PresentationKind } from '../domain.js';

/**
 * How a decision feeds the keypad lockout: a keypad code that matched nothing or was malformed is
 * a guess (`recordFailure`); a granted keypad code is `recordSuccess`; anything else is neither (a
 * real but revoked/expired/out-of-hours code is not a guess, and entries while locked are not counted).
 */
export function keypadLockoutOutcome(
  kind: PresentationKind,
  decision: Decision,
): 'failure' | 'success' | 'none' {
  if (kind !== 'keypad') return 'none';
  if (decision.granted) return 'success';
  return decision.reason === 'unknown_credential' || decision.reason === 'invalid_request'
    ? 'failure'
    : 'none';
}

export interface KeypadLockoutPolicy {
  /** Wrong entries within `windowMs` that lock the keypad. */
  maxFailures: number;
  windowMs: number;
  /** First lockout; each further one doubles, up to `maxLockMs`. */
  baseLockMs: number;
  maxLockMs: number;
  /** The escalation level returns to zero after this long without a wrong entry. */
  escalationResetMs: number;
  /** Most keypads tracked at once; the least recently used unlocked one is forgotten first. */
  maxKeys: number;
}

export const DEFAULT_KEYPAD_LOCKOUT_POLICY: Readonly<KeypadLockoutPolicy> = {
  maxFailures: 5,
  windowMs: 300_000,
  baseLockMs: 60_000,
  maxLockMs: 900_000,
  escalationResetMs: 3_600_000,
  maxKeys: 10_000,
};

export interface LockoutState {
  locked: boolean;
  until?: number;
}

export interface FailureResult {
  /** Set while the keypad is locked (whether this entry locked it or it already was). */
  lockedUntil?: number;
  /** Lockouts since the last quiet period (1 = first lockout). */
  lockoutCount: number;
  /** True when this entry started a lockout that staff should hear about (the 2nd and later). */
  alarm: boolean;
  /** True when this entry started a lockout; false when it was counted or ignored. */
  newLockout: boolean;
}

export interface KeypadLockoutSnapshotEntry {
  key: string;
  /** Wrong entries counted in the current window. */
  failures: number;
  lockedUntil: number | null;
  lockoutCount: number;
  lastFailureAt: number | null;
}

interface KeypadState {
  failureTimes: number[];
  lockedUntil: number | null;
  lockDurationMs: number;
  lockoutCount: number;
  lastFailureAt: number | null;
  lastSeenAt: number;
}

function checkTime(now: number): void {
  if (!Number.isFinite(now)) throw new RangeError(`KeypadLockout: time must be finite epoch ms, got ${now}`);
}

export class KeypadLockout {
  readonly policy: Readonly<KeypadLockoutPolicy>;
  // Map iteration order doubles as least-recently-used order: touched keys are re-inserted.
  readonly #keys = new Map<string, KeypadState>();

  constructor(policy: Partial<KeypadLockoutPolicy> = {}) {
    const merged = { ...DEFAULT_KEYPAD_LOCKOUT_POLICY, ...policy };
    for (const [name, value] of Object.entries(merged)) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new RangeError(`KeypadLockout: ${name} must be a positive integer, got ${String(value)}`);
      }
    }
    if (merged.maxLockMs < merged.baseLockMs) {
      throw new RangeError('KeypadLockout: maxLockMs must be at least baseLockMs');
    }
    this.policy = Object.freeze(merged);
  }

  isLocked(key: string, now: number): LockoutState {
    checkTime(now);
    const state = this.#keys.get(key);
    if (state === undefined) return { locked: false };
    this.#settle(state, now);
    return state.lockedUntil === null ? { locked: false } : { locked: true, until: state.lockedUntil };
  }

  recordFailure(key: string, now: number): FailureResult {
    checkTime(now);
    const state = this.#touch(key, now);
    this.#settle(state, now);
    if (state.lockedUntil !== null) {
      // Entries during a lockout neither count nor extend it, so a guesser cannot keep it locked
      // for residents. They still count as activity for the escalation reset.
      state.lastFailureAt = now;
      return {
        lockedUntil: state.lockedUntil,
        lockoutCount: state.lockoutCount,
        alarm: false,
        newLockout: false,
      };
    }
    const { windowMs, maxFailures, baseLockMs, maxLockMs } = this.policy;
    state.failureTimes = state.failureTimes.filter((t) => now - t < windowMs);
    state.failureTimes.push(now);
    state.lastFailureAt = now;
    if (state.failureTimes.length < maxFailures) {
      return { lockoutCount: state.lockoutCount, alarm: false, newLockout: false };
    }
    state.failureTimes = [];
    state.lockoutCount += 1;
    state.lockDurationMs = Math.min(baseLockMs * 2 ** (state.lockoutCount - 1), maxLockMs);
    state.lockedUntil = now + state.lockDurationMs;
    return {
      lockedUntil: state.lockedUntil,
      lockoutCount: state.lockoutCount,
      alarm: state.lockoutCount >= 2,
      newLockout: true,
    };
  }

  /** A correct code: forget the wrong entries so far, but keep the escalation level. */
  recordSuccess(key: string, now: number): void {
    checkTime(now);
    const state = this.#keys.get(key);
    if (state === undefined) return;
    this.#settle(state, now);
    state.failureTimes = [];
    state.lastSeenAt = now;
  }

  /** Current state of every tracked keypad, for status pages. Pass `now` to hide expired data. */
  snapshot(now?: number): KeypadLockoutSnapshotEntry[] {
    if (now !== undefined) {
      checkTime(now);
      this.prune(now);
    }
    const entries: KeypadLockoutSnapshotEntry[] = [];
    for (const [key, state] of this.#keys) {
      if (now !== undefined) this.#settle(state, now);
      const failures =
        now === undefined
          ? state.failureTimes.length
          : state.failureTimes.filter((t) => now - t < this.policy.windowMs).length;
      entries.push({
        key,
        failures,
        lockedUntil: state.lockedUntil,
        lockoutCount: state.lockoutCount,
        lastFailureAt: state.lastFailureAt,
      });
    }
    return entries;
  }

  /** Forget keypads that are unlocked and have been quiet longer than the escalation reset. */
  prune(now: number): void {
    checkTime(now);
    for (const [key, state] of this.#keys) {
      this.#settle(state, now);
      if (state.lockedUntil === null && now - state.lastSeenAt >= this.policy.escalationResetMs) {
        this.#keys.delete(key);
      }
    }
  }

  get size(): number {
    return this.#keys.size;
  }

  #touch(key: string, now: number): KeypadState {
    let state = this.#keys.get(key);
    if (state === undefined) {
      if (this.#keys.size >= this.policy.maxKeys) this.#makeRoom(now);
      state = {
        failureTimes: [],
        lockedUntil: null,
        lockDurationMs: 0,
        lockoutCount: 0,
        lastFailureAt: null,
        lastSeenAt: now,
      };
    } else {
      this.#keys.delete(key);
    }
    state.lastSeenAt = now;
    this.#keys.set(key, state);
    return state;
  }

  #makeRoom(now: number): void {
    this.prune(now);
    if (this.#keys.size < this.policy.maxKeys) return;
    // Prefer forgetting an unlocked keypad; only if every tracked keypad is locked (an attack on
    // the table itself) forget the least recently used one, so memory stays bounded.
    for (const [key, state] of this.#keys) {
      if (state.lockedUntil === null) {
        this.#keys.delete(key);
        return;
      }
    }
    const oldest = this.#keys.keys().next();
    if (oldest.done !== true) this.#keys.delete(oldest.value);
  }

  /** Bring a keypad's state up to `now`: end expired lockouts, reset escalation after quiet. */
  #settle(state: KeypadState, now: number): void {
    if (state.lockedUntil !== null) {
      // If the clock was set back, do not let a lockout last longer than it was meant to.
      if (state.lockedUntil - now > state.lockDurationMs) state.lockedUntil = now + state.lockDurationMs;
      if (now >= state.lockedUntil) {
        state.lockedUntil = null;
        state.failureTimes = [];
      }
    }
    if (
      state.lockedUntil === null &&
      state.lastFailureAt !== null &&
      now - state.lastFailureAt >= this.policy.escalationResetMs
    ) {
      state.lockoutCount = 0;
      state.failureTimes = [];
      state.lastFailureAt = null;
    }
  }
}
