// The daily failure cap per keypad, composed onto the lockout: after `cap` wrong codes within 24 h a
// keypad's codes are disabled (durably, so a restart does not re-enable it) and an alarm is raised
// until staff run `gatehouse keypad enable`. Cards and mobile keys are never affected.
import {
  type FailureResult,
  KeypadLockout,
  type KeypadLockoutPolicy,
  type LockoutState,
} from '../access/lockout.js';
import type { NewEvent } from '../domain.js';
import type { DisabledKeypad, KeypadCapStore } from '../store/keypad-cap.js';
import type { Store } from '../store/store.js';

const DAY_MS = 86_400_000;
const REF_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export type { DisabledKeypad };

/** The disabled keypads, for the CLI and status pages. */
export function listDisabledKeypads(keypads: KeypadCapStore): DisabledKeypad[] {
  return keypads.listDisabled();
}

/**
 * Re-enables a keypad disabled by the cap, durably, with an 'admin.keypad.enabled' event in the same
 * transaction. Returns false if it was not disabled. Works from another process (the CLI): the hub
 * reads the table on every keypad entry.
 */
export function enableKeypad(store: Store, doorId: string, readerId: string, actor: string): boolean {
  const keypad = `${doorId}/${readerId}`;
  return store.transaction(() => {
    const removed = store.keypadCap.enable(keypad);
    if (removed) {
      store.events.insertInTransaction({
        type: 'admin.keypad.enabled',
        doorId: REF_PATTERN.test(doorId) ? doorId : null,
        personId: null,
        credentialId: null,
        data: { reader: readerId, actor },
      });
    }
    return removed;
  });
}

export interface CappedKeypadLockoutOptions {
  /** Where disabled keypads are kept (`store.keypadCap`). */
  keypads: KeypadCapStore;
  /** Wrong codes per keypad within 24 h before its codes are disabled. */
  dailyCap: number;
  /** Appends an event; usually `(e) => store.events.append(e)`. */
  emitEvent: (e: NewEvent) => void;
}

/** A KeypadLockout (drop-in for DecisionService) that also enforces the durable daily cap. */
export class CappedKeypadLockout extends KeypadLockout {
  readonly dailyCap: number;
  readonly #keypads: KeypadCapStore;
  readonly #emit: (e: NewEvent) => void;
  readonly #failures = new Map<string, number[]>();

  constructor(policy: Partial<KeypadLockoutPolicy>, options: CappedKeypadLockoutOptions) {
    super(policy);
    if (!Number.isSafeInteger(options.dailyCap) || options.dailyCap < 1) {
      throw new RangeError('CappedKeypadLockout: dailyCap must be a positive integer');
    }
    this.dailyCap = options.dailyCap;
    this.#keypads = options.keypads;
    this.#emit = options.emitEvent;
  }

  isDisabled(key: string): boolean {
    return this.#keypads.isDisabled(key);
  }

  override isLocked(key: string, now: number): LockoutState {
    const state = super.isLocked(key, now);
    if (state.locked) return state;
    if (this.isDisabled(key)) return { locked: true };
    return state;
  }

  override recordFailure(key: string, now: number): FailureResult {
    const result = super.recordFailure(key, now);
    const times = (this.#failures.get(key) ?? []).filter((t) => now - t < DAY_MS && t <= now);
    times.push(now);
    if (times.length >= this.dailyCap && !this.isDisabled(key)) {
      this.#disable(key, now, times.length);
      this.#failures.delete(key);
    } else {
      this.#failures.set(key, times);
    }
    if (this.#failures.size > this.policy.maxKeys) {
      const oldest = this.#failures.keys().next();
      if (oldest.done !== true) this.#failures.delete(oldest.value);
    }
    return result;
  }

  /** Wrong codes counted toward the cap in the last 24 h. */
  failuresToday(key: string, now: number): number {
    return (this.#failures.get(key) ?? []).filter((t) => now - t < DAY_MS && t <= now).length;
  }

  #disable(key: string, now: number, failures: number): void {
    this.#keypads.disable(key, now, failures);
    const slash = key.indexOf('/');
    const doorId = slash > 0 ? key.slice(0, slash) : key;
    this.#emit({
      type: 'alarm.keypad_disabled',
      doorId: REF_PATTERN.test(doorId) ? doorId : null,
      personId: null,
      credentialId: null,
      data: { reader: slash > 0 ? key.slice(slash + 1) : null, failures, cap: this.dailyCap },
    });
  }
}
