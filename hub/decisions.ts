// The access path: a presentation from any door (MQTT or wired) → store lookups → the pure engine →
// a durable audit event → the decision on the bus. It never waits on the network (docs/architecture.md, invariant 1).
import { decide, type KeypadLockout, validatePresentationValue } from './access/index.js';
import { Summarizer } from './budget.js';
import type { Decision, EventBus, Presentation } from './bus.js';
import type { CredentialKind, Door } from './domain.js';
import { type Logger, maskCard } from './logger.js';
import type { Store } from './store/store.js';

/** Offline doorcodes (issue #5, hub/offline/OfflineCodes): tried for keypad entries that matched no PIN. */
export interface OfflineCodeVerifier {
  verify(doorId: string, digits: string, now: number): Decision | null;
  notePinLength?(credentialId: string, digits: number): void;
}

export interface DecisionServiceOptions {
  store: Store;
  bus: EventBus;
  lockout: KeypadLockout;
  timeZone: string;
  now?: () => number;
  logger: Logger;
  /** Offline daily / temporary doorcodes (issue #5); without it only personal PINs open keypads. */
  offlineCodes?: OfflineCodeVerifier;
}

/** "decision failed" lines per door per minute; beyond it one summary (a broken store fails every card). */
const FAILURE_LINES_PER_MINUTE = 3;

const LOOKUP_KIND: Record<Presentation['kind'], CredentialKind> = {
  card: 'card',
  keypad: 'pin',
  mobile: 'mobile',
};

export class DecisionService {
  readonly #o: DecisionServiceOptions;
  readonly #now: () => number;
  readonly #failureLog: Summarizer;

  constructor(options: DecisionServiceOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#failureLog = new Summarizer({
      perWindow: FAILURE_LINES_PER_MINUTE,
      now: this.#now,
      onSuppressed: ({ key, suppressed }) =>
        options.logger.error(
          { door: key, suppressed },
          `decision failed; ...and ${suppressed} more in the last minute`,
        ),
    });
  }

  // Doors and holidays change rarely and are read on every decision: cached, and dropped whenever the
  // store reports a change to them (this process at once; the CLI within the store watch interval).
  #doors: Map<string, Door> | null = null;
  #holidays: Set<string> | null = null;

  async start(): Promise<void> {
    const { bus } = this.#o;
    bus.on(this, 'event', (e) => {
      if (e.type.startsWith('admin.door.')) this.#doors = null;
      else if (e.type.startsWith('admin.holiday.')) this.#holidays = null;
    });
    bus.on(this, 'storeChanged', () => {
      this.#doors = null;
      this.#holidays = null;
    });
    this.#o.bus.on(this, 'presented', (p) => {
      // Mobile keys are verified by challenge–response in hub/mobile (MobileAccess answers them).
      if (p.kind === 'mobile') return;
      try {
        this.decide(p);
      } catch (err) {
        // Fail closed: the device hears "no", the hub keeps running; a few lines a minute per door.
        if (this.#failureLog.allow(p.doorId))
          this.#o.logger.error({ err, door: p.doorId }, 'decision failed; denying');
        this.#o.bus.emit('decided', p, { granted: false, reason: 'invalid_request' });
      }
    });
  }

  async stop(): Promise<void> {
    this.#o.bus.removeAll(this);
  }

  /** Decide, record durably, then announce. Returns the decision (also emitted as bus `decided`). */
  decide(p: Presentation): Decision {
    const { store, logger } = this.#o;
    const now = this.#now();
    // Lockout is per keypad. A LAN device names its own readers, so a compromised device could invent a
    // new reader id per guess: for MQTT the device itself is the keypad; wired reader ids come from config.
    const keypadKey = p.deviceId ? `${p.doorId}/device:${p.deviceId}` : `${p.doorId}/${p.readerId}`;
    this.#doors ??= new Map(store.doors.list().map((d) => [d.id, d]));
    const door = this.#doors.get(p.doorId);
    const checked = validatePresentationValue(p.kind, p.value);

    let decision: Decision;
    if (!door) {
      decision = { granted: false, reason: 'invalid_request' };
    } else if (!checked.ok) {
      decision = { granted: false, reason: 'invalid_request' };
    } else {
      decision = this.#decideFor(door, p, checked.value, now, keypadKey);
    }

    if (p.kind === 'keypad' && door) this.#countKeypad(decision, p, keypadKey, now);

    // Crash-safe (journal or WAL) before the answer leaves; SQLite and the fsync follow right after.
    store.events.appendCommitted({
      type: 'decision',
      doorId: door ? door.id : null,
      personId: decision.personId ?? null,
      credentialId: decision.credentialId ?? null,
      data: {
        granted: decision.granted,
        reason: decision.reason,
        kind: p.kind,
        reader: p.readerId,
        ...(p.deviceId ? { device: p.deviceId } : {}),
        ...(p.requestId ? { request: p.requestId } : {}),
        // Unknown cards keep a masked tail so staff can tell which card it was; keypad digits never.
        ...(p.kind === 'card' && checked.ok ? { card: maskCard(checked.value) } : {}),
        ...(door ? {} : { error: `unknown door '${p.doorId}'` }),
      },
    });
    // Every decision is in the event log already; the log line is for debugging only (spare the SD card).
    logger.debug(
      { door: p.doorId, kind: p.kind, granted: decision.granted, reason: decision.reason },
      'decision',
    );
    this.#o.bus.emit('decided', p, decision);
    store.events.flushSoon();
    return decision;
  }

  #decideFor(door: Door, p: Presentation, value: string, now: number, keypadKey: string): Decision {
    const { store, lockout } = this.#o;
    const keypadLocked = p.kind === 'keypad' && lockout.isLocked(keypadKey, now).locked;
    const lookupKind = LOOKUP_KIND[p.kind];
    // Mobile keys are verified by challenge-response (issue 5); a bare value never matches.
    const match = lookupKind === 'mobile' || keypadLocked ? null : store.credentials.find(lookupKind, value);
    const grants = match ? store.access.grantsFor(match.person.id, door.id) : [];
    const decision = decide({
      now,
      timeZone: this.#o.timeZone,
      door: { id: door.id, mode: door.mode, unlockMs: door.unlockMs },
      kind: p.kind,
      match,
      grants,
      holidays: this.#holidayDates(),
      keypadLocked,
    });
    // --- offline doorcodes (issue #5, hub/offline/) ---
    const offline = this.#o.offlineCodes;
    if (offline && p.kind === 'keypad') {
      // unknown_credential is only reached when the door is not in lockdown and the keypad not locked out.
      if (decision.reason === 'unknown_credential') {
        const verdict = offline.verify(door.id, value, now);
        if (verdict) {
          const refs = { personId: verdict.personId ?? null, credentialId: verdict.credentialId ?? null };
          return verdict.granted
            ? { granted: true, reason: 'granted', unlockMs: door.unlockMs, ...refs }
            : { granted: false, reason: verdict.reason, ...refs };
        }
      } else if (decision.granted && decision.credentialId) {
        offline.notePinLength?.(decision.credentialId, value.length); // for the guessing figure
      }
    }
    // --- end offline doorcodes ---
    return decision;
  }

  #holidayDates(): Set<string> {
    this.#holidays ??= this.#o.store.holidays.dates();
    return this.#holidays;
  }

  #countKeypad(decision: Decision, p: Presentation, keypadKey: string, now: number): void {
    const { lockout, store } = this.#o;
    if (decision.granted) {
      lockout.recordSuccess(keypadKey, now);
      return;
    }
    if (decision.reason !== 'unknown_credential' && decision.reason !== 'invalid_request') return;
    const result = lockout.recordFailure(keypadKey, now);
    if (result.lockedUntil !== undefined) {
      store.events.append({
        type: result.alarm ? 'alarm.keypad_locked_out' : 'door.keypad_locked_out',
        doorId: p.doorId,
        personId: null,
        credentialId: null,
        data: { reader: p.readerId, until: result.lockedUntil, lockouts: result.lockoutCount },
      });
    }
  }
}
