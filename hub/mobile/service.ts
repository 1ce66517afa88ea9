// The mobile-key part of the access path. Over MQTT a reader publishes a credential with kind
// 'mobile': the value 'challenge' asks for a challenge (answered on door/{d}/challenge), any other
// value is a phone response and gets a decision. The HTTP routes (http.ts) call the same methods.
// Every decision takes the cards' path (DecisionRecorder: journal, answer on the bus, commit).
//
// Budgets (docs/mobile-keys.md, "Limits"): the endpoints need no login, so what one address can cost is
// bounded: challenge and response requests per address (token buckets), challenges per door, live
// challenges in all (the verifier). A refused response from a phone that did not prove itself is not a
// decision: the first few per door and minute are recorded, the rest counted into one summary event.
import { type Clock, KeyedBuckets, Summarizer } from '../budget.js';
import type { Decision, EventBus, Presentation } from '../bus.js';
import { DecisionRecorder } from '../decisions.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/store.js';
import type { ChallengeOutcome, IssuedChallenge, MobileVerdict, MobileVerifier } from './verifier.js';

/** Value of a `kind: "mobile"` credential message that asks for a challenge instead of presenting. */
export const CHALLENGE_REQUEST = 'challenge';

/** Publishes a hub message on `<base>/door/{door}/{channel}` (the broker's publishToDoor). */
export type PublishToDoor = (
  doorId: string,
  channel: 'challenge',
  payload: Record<string, unknown>,
  retain: boolean,
) => Promise<void>;

/** Request budgets of the phone endpoints (config `mobile.limits`, docs/configuration.md). */
export interface MobileLimits {
  /** Challenge requests per minute per client address, with `perAddressBurst`. */
  challengesPerMinutePerAddress: number;
  /** Responses per minute per client address, with `perAddressBurst`. */
  responsesPerMinutePerAddress: number;
  perAddressBurst: number;
  /** Challenges per second per door, with a burst of twice that. */
  challengesPerSecondPerDoor: number;
}

export const DEFAULT_MOBILE_LIMITS: MobileLimits = {
  challengesPerMinutePerAddress: 30,
  responsesPerMinutePerAddress: 30,
  perAddressBurst: 10,
  challengesPerSecondPerDoor: 10,
};

/** Client addresses (and devices) with a budget at once; beyond it the least recently seen is forgotten. */
const MAX_TRACKED_SOURCES = 10_000;
/** Unverified refusals recorded per door and minute; the rest go into one `mobile.refused` summary event. */
export const REFUSALS_RECORDED_PER_MINUTE = 5;
/** How often ended summary windows are written (so the count of a flood that stopped is not held back). */
const SUMMARY_FLUSH_MS = 10_000;

export interface MobileAccessOptions {
  store: Store;
  bus: EventBus;
  verifier: MobileVerifier;
  /** Needed for the MQTT flow only; without it, MQTT challenge requests are refused. */
  publishToDoor?: PublishToDoor;
  limits?: Partial<MobileLimits>;
  logger?: Logger;
  now?: Clock;
  /** Shared with cards and PINs (hub/app.ts); by default one over `store.events` and `bus`. */
  recorder?: DecisionRecorder;
}

export interface MobilePresentation {
  doorId: string;
  response: string;
  readerId: string;
  requestId?: string;
  deviceId?: string;
  /** Who asked (client address or `device:<id>`), for the audit of a refusal. */
  source?: string;
}

/** A refusal for being over budget: answer 429 with Retry-After (HTTP) or `rate_limited` (MQTT). */
export interface RateLimited {
  ok: false;
  reason: 'rate_limited';
  retryAfterMs: number;
}

export class MobileAccess {
  readonly #o: MobileAccessOptions;
  readonly #limits: MobileLimits;
  readonly #now: Clock;
  readonly #recorder: DecisionRecorder;
  readonly #challengeBuckets: KeyedBuckets;
  readonly #responseBuckets: KeyedBuckets;
  readonly #doorBuckets: KeyedBuckets;
  /** Unverified refusals per door: a few recorded, the rest one summary event. */
  readonly #refusals: Summarizer;
  /** Requests refused for budget, per door: one log line, then a count. */
  readonly #limitedLog: Summarizer;
  #flushTimer: NodeJS.Timeout | null = null;

  constructor(options: MobileAccessOptions) {
    this.#o = options;
    this.#limits = { ...DEFAULT_MOBILE_LIMITS, ...options.limits };
    this.#now = options.now ?? Date.now;
    this.#recorder = options.recorder ?? new DecisionRecorder(options.store.events, options.bus);
    const perAddress = (perMinute: number) =>
      new KeyedBuckets({
        ratePerSecond: perMinute / 60,
        burst: this.#limits.perAddressBurst,
        maxKeys: MAX_TRACKED_SOURCES,
        now: this.#now,
      });
    this.#challengeBuckets = perAddress(this.#limits.challengesPerMinutePerAddress);
    this.#responseBuckets = perAddress(this.#limits.responsesPerMinutePerAddress);
    const perDoor = this.#limits.challengesPerSecondPerDoor;
    this.#doorBuckets = new KeyedBuckets({
      ratePerSecond: perDoor,
      burst: perDoor * 2,
      maxKeys: MAX_TRACKED_SOURCES,
      now: this.#now,
    });
    this.#refusals = new Summarizer({
      perWindow: REFUSALS_RECORDED_PER_MINUTE,
      now: this.#now,
      onSuppressed: (s) => this.#summariseRefusals(s.key, s.suppressed, s.windowMs),
    });
    this.#limitedLog = new Summarizer({
      perWindow: 1,
      now: this.#now,
      onSuppressed: (s) =>
        this.#o.logger?.warn(
          { door: s.key === BY_SOURCE ? undefined : s.key, refused: s.suppressed },
          `mobile requests over budget (429): …and ${s.suppressed} more in the last minute`,
        ),
    });
  }

  async start(): Promise<void> {
    this.#flushTimer ??= setInterval(() => {
      this.#refusals.flush();
      this.#limitedLog.flush();
    }, SUMMARY_FLUSH_MS);
    this.#flushTimer.unref();
    this.#o.bus.on(this, 'presented', (p) => {
      if (p.kind !== 'mobile') return;
      try {
        if (p.value === CHALLENGE_REQUEST) this.#answerChallengeRequest(p);
        else this.present({ doorId: p.doorId, response: p.value, readerId: p.readerId, ...ids(p) });
      } catch (err) {
        // Fail closed: the reader hears "no", the hub keeps running.
        this.#o.logger?.error({ err, door: p.doorId }, 'mobile presentation failed; denying');
        this.#o.bus.emit('decided', p, { granted: false, reason: 'invalid_request' });
      }
    });
  }

  async stop(): Promise<void> {
    this.#o.bus.removeAll(this);
    if (this.#flushTimer) clearInterval(this.#flushTimer);
    this.#flushTimer = null;
    this.#refusals.flush(true);
    this.#limitedLog.flush(true);
  }

  /** A fresh challenge for a door (null for an unknown door or when none can be issued now). */
  challenge(doorId: string): IssuedChallenge | null {
    const outcome = this.issueChallenge(doorId);
    return outcome.ok ? outcome.issued : null;
  }

  /** A challenge for `source` (a client address): its budget first, then issueChallenge. */
  requestChallenge(doorId: string, source: string): ChallengeOutcome {
    return this.admitChallenge(source) ?? this.issueChallenge(doorId);
  }

  /** A challenge at a door within the door's budget and the live-challenge bound (source already admitted). */
  issueChallenge(doorId: string): ChallengeOutcome {
    if (!this.#o.store.doors.get(doorId)) return { ok: false, reason: 'unknown_door' };
    const doorWaitMs = this.#doorBuckets.take(doorId);
    if (doorWaitMs > 0) return this.#limited(doorId, { retryAfterMs: doorWaitMs });
    const outcome = this.#o.verifier.issue(doorId);
    if (!outcome.ok && outcome.reason === 'rate_limited') return this.#limited(doorId, outcome);
    return outcome;
  }

  /** Spends one challenge request of `source`'s budget (also for requests that turn out malformed). */
  admitChallenge(source: string): RateLimited | null {
    return this.#spend(this.#challengeBuckets, source);
  }

  /** Spends one response of `source`'s budget. */
  admitResponse(source: string): RateLimited | null {
    return this.#spend(this.#responseBuckets, source);
  }

  /**
   * Verify, record, announce. Returns the verdict (also emitted as bus `decided`). A verified phone's
   * decision is stored durably; a refusal before that (garbage, a forged or replayed answer) is budgeted.
   */
  present(input: MobilePresentation): MobileVerdict {
    const { store, logger } = this.#o;
    const verdict = this.#o.verifier.verify(input.doorId, input.response);
    const doorKnown = store.doors.get(input.doorId) !== null;
    const presentation: Presentation = {
      doorId: input.doorId,
      kind: 'mobile',
      // The response itself stays out of the bus: listeners only need to know a phone answered.
      value: '[mobile response]',
      readerId: input.readerId,
      ...ids(input),
    };
    const decision: Decision = {
      granted: verdict.granted,
      reason: verdict.reason,
      ...(verdict.unlockMs !== undefined ? { unlockMs: verdict.unlockMs } : {}),
      personId: verdict.personId ?? null,
      credentialId: verdict.credentialId ?? null,
    };
    const data = {
      ...(!verdict.verified && input.source ? { source: input.source } : {}),
      ...(verdict.detail ? { error: verdict.detail } : {}),
    };
    const log = { door: input.doorId, kind: 'mobile', granted: verdict.granted, reason: verdict.reason };
    if (verdict.verified) {
      // Like a card: in the journal before the answer leaves, committed right after.
      logger?.info(log, 'decision');
      this.#recorder.record(presentation, decision, { doorKnown, data });
    } else if (this.#refusals.allow(doorKnown ? input.doorId : UNKNOWN_DOOR)) {
      logger?.info({ ...log, error: verdict.detail }, 'decision');
      this.#recorder.record(presentation, decision, { doorKnown, data });
    } else if (input.requestId !== undefined) {
      // Counted into the summary. An MQTT reader still gets its answer; nobody else hears of it.
      this.#recorder.announce(presentation, decision);
    }
    return verdict;
  }

  #answerChallengeRequest(p: Presentation): void {
    const source = p.deviceId !== undefined ? `device:${p.deviceId}` : `door:${p.doorId}`;
    // A reader relays for every phone at its door: the door's budget applies, not an address's. The
    // device is authenticated and may only ask for its own doors (the broker's ACL and budgets).
    const outcome = this.issueChallenge(p.doorId);
    if (!outcome.ok && outcome.reason === 'rate_limited') {
      // Answered at once, not recorded: the reader hears "later", the audit log hears nothing per request.
      this.#o.bus.emit(
        'decided',
        { ...p, value: '[mobile challenge request]' },
        { granted: false, reason: 'rate_limited' },
      );
      return;
    }
    const publish = this.#o.publishToDoor;
    if (!outcome.ok || !publish || p.requestId === undefined) {
      this.present({ doorId: p.doorId, response: '', readerId: p.readerId, source, ...ids(p) });
      return;
    }
    const { issued } = outcome;
    publish(
      p.doorId,
      'challenge',
      { id: p.requestId, challenge: issued.challenge, expiresAt: issued.expiresAt },
      false,
    ).catch((err: unknown) =>
      this.#o.logger?.warn({ err, door: p.doorId }, 'could not publish a mobile challenge'),
    );
  }

  /** Spends one token of `source`'s bucket; a refusal with the wait when there is none. */
  #spend(buckets: KeyedBuckets, source: string): RateLimited | null {
    const waitMs = buckets.take(source);
    return waitMs === 0 ? null : this.#limited(BY_SOURCE, { retryAfterMs: waitMs });
  }

  /** `key`: the door, or BY_SOURCE when one address or device is over its own budget. */
  #limited(key: string, over: { retryAfterMs: number }): RateLimited {
    if (this.#limitedLog.allow(key))
      this.#o.logger?.warn({ door: key === BY_SOURCE ? undefined : key }, 'mobile request over budget (429)');
    return { ok: false, reason: 'rate_limited', retryAfterMs: Math.max(1, over.retryAfterMs) };
  }

  /** One event for the refusals that were only counted: "…and N more in the last minute". */
  #summariseRefusals(key: string, refused: number, windowMs: number): void {
    const door = key === UNKNOWN_DOOR ? null : key;
    this.#o.logger?.warn(
      { door, refused },
      `mobile responses refused (not a verified phone): …and ${refused} more in the last minute`,
    );
    this.#o.store.events.append({
      type: 'mobile.refused',
      doorId: door !== null && this.#o.store.doors.get(door) ? door : null,
      personId: null,
      credentialId: null,
      data: { refused, windowMs, reason: 'invalid_request' },
    });
  }
}

/** The summary key of responses for doors that do not exist (one key, so made-up names cannot multiply). */
const UNKNOWN_DOOR = '\u0000unknown-door';
/** The log summary key of requests refused by a per-address (or per-device) budget. */
const BY_SOURCE = '\u0000per-source';

function ids(p: { requestId?: string; deviceId?: string }): { requestId?: string; deviceId?: string } {
  return {
    ...(p.requestId !== undefined ? { requestId: p.requestId } : {}),
    ...(p.deviceId !== undefined ? { deviceId: p.deviceId } : {}),
  };
}
