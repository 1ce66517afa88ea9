// The access path: a presentation from any door (MQTT or wired) → store lookups → the pure engine →
// a durable audit event → the decision on the bus. It never waits on the network (docs/architecture.md, invariant 1).
import {
  credentialKindFor,
  decide,
  type KeypadLockout,
  keypadLockoutOutcome,
  validatePresentationValue,
} from './access/index.js';
import { Summarizer } from './budget.js';
import type { Decision, EventBus, Presentation } from './bus.js';
import type { Door, NewEvent } from './domain.js';
import { type Logger, maskCard } from './logger.js';
import type { Store } from './store/store.js';

/**
 * Offline doorcodes (hub/offline/OfflineCodes): tried for keypad entries that matched no PIN. The
 * verdict is the engine's decision for the code; `detail` says more than the reason (e.g. 'time_untrusted').
 */
export interface OfflineCodeVerifier {
  verify(doorId: string, digits: string, now: number): (Decision & { detail?: string }) | null;
  notePinLength?(credentialId: string, digits: number): void;
}

/** The part of the event log a recorder writes to (EventLog). */
export interface DecisionLog {
  appendCommitted(e: NewEvent): void;
  flushSoon(): void;
}

/**
 * Journal → answer → commit, for every decision: cards, PINs, offline codes and mobile keys. The
 * decision is in the journal (one write()) before the answer leaves on the bus (door controllers and
 * the broker answer on `decided`), and SQLite commits right after (docs/architecture.md, step 4).
 */
export class DecisionRecorder {
  readonly #events: DecisionLog;
  readonly #bus: EventBus;

  constructor(events: DecisionLog, bus: EventBus) {
    this.#events = events;
    this.#bus = bus;
  }

  /** Records the decision, then announces it, then schedules the commit. `data` adds to the event. */
  record(
    p: Presentation,
    decision: Decision,
    options: { doorKnown: boolean; data?: Record<string, unknown> },
  ): void {
    this.#events.appendCommitted({
      type: 'decision',
      doorId: options.doorKnown ? p.doorId : null,
      personId: decision.personId ?? null,
      credentialId: decision.credentialId ?? null,
      data: {
        granted: decision.granted,
        reason: decision.reason,
        kind: p.kind,
        reader: p.readerId,
        ...(p.deviceId ? { device: p.deviceId } : {}),
        ...(p.requestId ? { request: p.requestId } : {}),
        ...options.data,
      },
    });
    this.#bus.emit('decided', p, decision);
    this.#events.flushSoon();
  }

  /** Announces without a record: a refusal that was only counted into a summary event. */
  announce(p: Presentation, decision: Decision): void {
    this.#bus.emit('decided', p, decision);
  }
}

export interface DecisionServiceOptions {
  store: Store;
  bus: EventBus;
  lockout: KeypadLockout;
  timeZone: string;
  now?: () => number;
  logger: Logger;
  /** Daily and temporary doorcodes, verified without a record; otherwise only personal PINs open keypads. */
  offlineCodes?: OfflineCodeVerifier;
  /** Shared with mobile keys (hub/app.ts); by default one over `store.events` and `bus`. */
  recorder?: DecisionRecorder;
}

/** "decision failed" lines per door per minute; beyond it one summary (a broken store fails every card). */
const FAILURE_LINES_PER_MINUTE = 3;

export class DecisionService {
  readonly #o: DecisionServiceOptions;
  readonly #now: () => number;
  readonly #failureLog: Summarizer;
  readonly #recorder: DecisionRecorder;

  constructor(options: DecisionServiceOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#recorder = options.recorder ?? new DecisionRecorder(options.store.events, options.bus);
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
    let detail: string | undefined;
    if (!door) {
      decision = { granted: false, reason: 'invalid_request' };
    } else {
      const verdict = this.#decideFor(door, p, checked, now, keypadKey);
      decision = verdict.decision;
      detail = verdict.detail;
    }

    if (door) this.#countKeypad(decision, p, keypadKey, now);

    // Every decision is in the event log already; the log line is for debugging only (spare the SD card).
    logger.debug(
      { door: p.doorId, kind: p.kind, granted: decision.granted, reason: decision.reason },
      'decision',
    );
    this.#recorder.record(p, decision, {
      doorKnown: door !== undefined,
      data: {
        // Unknown cards keep a masked tail so staff can tell which card it was; keypad digits never.
        ...(p.kind === 'card' && checked.ok ? { card: maskCard(checked.value) } : {}),
        ...(detail ? { detail } : {}),
        ...(door ? {} : { error: `unknown door '${p.doorId}'` }),
      },
    });
    return decision;
  }

  #decideFor(
    door: Door,
    p: Presentation,
    checked: ReturnType<typeof validatePresentationValue>,
    now: number,
    keypadKey: string,
  ): { decision: Decision; detail?: string } {
    const { store, lockout } = this.#o;
    const keypadLocked = p.kind === 'keypad' && lockout.isLocked(keypadKey, now).locked;
    const lookupKind = credentialKindFor(p.kind);
    // Mobile keys are verified by challenge-response (hub/mobile); a bare value never matches.
    const match =
      !checked.ok || lookupKind === 'mobile' || keypadLocked
        ? null
        : store.credentials.find(lookupKind, checked.value);
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
      malformed: !checked.ok,
    });
    // Offline doorcodes: a keypad entry that matched no PIN may be a code; the codes ask the engine too.
    const offline = this.#o.offlineCodes;
    if (offline && p.kind === 'keypad' && checked.ok) {
      // unknown_credential is only reached when the door is not in lockdown and the keypad not locked out.
      if (decision.reason === 'unknown_credential') {
        const verdict = offline.verify(door.id, checked.value, now);
        if (verdict) return answerOf(verdict);
      }
      if (decision.granted && decision.credentialId) {
        offline.notePinLength?.(decision.credentialId, checked.value.length); // for the guessing figure
      }
    }
    return { decision };
  }

  #holidayDates(): Set<string> {
    this.#holidays ??= this.#o.store.holidays.dates();
    return this.#holidays;
  }

  #countKeypad(decision: Decision, p: Presentation, keypadKey: string, now: number): void {
    const { lockout, store } = this.#o;
    const outcome = keypadLockoutOutcome(p.kind, decision);
    if (outcome === 'success') lockout.recordSuccess(keypadKey, now);
    if (outcome !== 'failure') return;
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

/** The decision and its detail, without whatever else a verdict carries (serial, code type). */
function answerOf(verdict: Decision & { detail?: string }): { decision: Decision; detail?: string } {
  const { granted, reason, unlockMs, personId, credentialId, detail } = verdict;
  return {
    decision: {
      granted,
      reason,
      ...(unlockMs !== undefined ? { unlockMs } : {}),
      personId: personId ?? null,
      credentialId: credentialId ?? null,
    },
    ...(detail ? { detail } : {}),
  };
}
