// Budgets of the staff API (invariant 7): live streams per session, per user and in total, and login
// attempts per username. Shared by the HTTP, HTTPS and control-socket listeners of one hub.
import Type, { type Static } from 'typebox';
import { Value } from 'typebox/value';
import { BoundedMap, type Clock, KeyedBuckets } from '../budget.js';

/** The `http.streams` and `http.login` settings (merged into the config schema). */
export const StreamLimitsSchema = Type.Object(
  {
    perSession: Type.Integer({
      minimum: 1,
      maximum: 100,
      default: 4,
      description: 'Live event streams (GET /api/v1/stream) one login may hold open; more get 429.',
    }),
    perUser: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 10,
      description: 'Live event streams one staff user may hold open over all their logins; more get 429.',
    }),
    total: Type.Integer({
      minimum: 1,
      maximum: 10000,
      default: 100,
      description: 'Live event streams the hub serves at once; more get 429.',
    }),
  },
  { additionalProperties: false, default: {} },
);

export const LoginLimitsSchema = Type.Object(
  {
    attemptsPerUser: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 5,
      description:
        'Login attempts for one username (from all addresses together) before the slow-down starts. Addresses that logged in as that user before are not slowed down.',
    }),
    userRefillSeconds: Type.Integer({
      minimum: 1,
      maximum: 3600,
      default: 60,
      description:
        'During the slow-down, one more attempt for that username every this many seconds (429 with Retry-After before).',
    }),
  },
  { additionalProperties: false, default: {} },
);

export type StreamLimits = Static<typeof StreamLimitsSchema>;
export type LoginLimits = Static<typeof LoginLimitsSchema>;

export const DEFAULT_STREAM_LIMITS: StreamLimits = Value.Default(StreamLimitsSchema, {}) as StreamLimits;
export const DEFAULT_LOGIN_LIMITS: LoginLimits = Value.Default(LoginLimitsSchema, {}) as LoginLimits;

/** Re-check of open streams' sessions, so an expired session's streams end within about this time. */
const STREAM_RECHECK_MS = 1000;
/** A successful login keeps its (address, username) pair exempt from the per-username slow-down this long. */
const TRUSTED_LOGIN_MS = 30 * 24 * 3_600_000;
/** Usernames and (address, username) pairs remembered at once; the oldest are forgotten beyond it. */
const MAX_LOGIN_KEYS = 10_000;

export interface OpenStream {
  /** The session it belongs to (a token, or 'local' on the control socket). */
  session: string;
  userId: string;
  /** False once the session is gone or its user may no longer read the stream. */
  alive: () => boolean;
  end: () => void;
}

/**
 * Live streams. A stream lives only as long as its session: logout ends it at once; a removed, disabled
 * or re-roled user, or an expired session, ends it at the next re-check (every second, and at once when
 * an `admin.user.*` event is stored).
 */
export class StreamRegistry {
  readonly #limits: StreamLimits;
  readonly #streams = new Set<OpenStream>();
  #timer: NodeJS.Timeout | null = null;

  constructor(limits: StreamLimits) {
    this.#limits = limits;
  }

  get size(): number {
    return this.#streams.size;
  }

  /** Registers a stream; returns why it is refused (a cap is reached), or a release function. */
  open(stream: OpenStream): { refused: string } | { release: () => void } {
    const limits = this.#limits;
    if (this.#streams.size >= limits.total) {
      return { refused: `the hub already serves ${limits.total} live streams; try again later` };
    }
    let session = 0;
    let user = 0;
    for (const s of this.#streams) {
      if (s.session === stream.session) session++;
      if (s.userId === stream.userId) user++;
    }
    if (session >= limits.perSession) {
      return { refused: `this login already has ${limits.perSession} live streams open; close one first` };
    }
    if (user >= limits.perUser) {
      return { refused: `this user already has ${limits.perUser} live streams open; close one first` };
    }
    this.#streams.add(stream);
    this.#timer ??= setInterval(() => this.recheck(), STREAM_RECHECK_MS).unref();
    return { release: () => this.#remove(stream) };
  }

  /** Logout: every stream of that session ends now. */
  endSession(session: string): void {
    for (const s of [...this.#streams]) if (s.session === session) this.#end(s);
  }

  /** Ends every stream whose session is gone or whose user may no longer read it. */
  recheck(): void {
    for (const s of [...this.#streams]) if (!s.alive()) this.#end(s);
  }

  /** Ends all streams (shutdown). */
  stop(): void {
    for (const s of [...this.#streams]) this.#end(s);
  }

  #end(stream: OpenStream): void {
    this.#remove(stream);
    stream.end();
  }

  #remove(stream: OpenStream): void {
    this.#streams.delete(stream);
    if (this.#streams.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }
}

/**
 * Login attempts per username, from all addresses together: a token bucket per username, so a botnet
 * of addresses guessing one staff password is slowed to one guess per `userRefillSeconds`. It is a
 * slow-down, not a lockout: an address that has logged in as that user before keeps getting in, so an
 * attacker cannot lock staff out by failing on purpose. (The per-address limit applies to everyone.)
 */
export class LoginLimiter {
  readonly #now: Clock;
  readonly #buckets: KeyedBuckets;
  readonly #trusted = new BoundedMap<string, number>(MAX_LOGIN_KEYS);

  constructor(limits: LoginLimits, now: Clock = Date.now) {
    this.#now = now;
    this.#buckets = new KeyedBuckets({
      ratePerSecond: 1 / limits.userRefillSeconds,
      burst: limits.attemptsPerUser,
      maxKeys: MAX_LOGIN_KEYS,
      now,
    });
  }

  /** Spends an attempt for `username` from `address`; null when allowed, else seconds to wait. */
  admit(username: string, address: string): number | null {
    const name = username.toLowerCase();
    const trustedAt = this.#trusted.get(`${address}\n${name}`);
    if (trustedAt !== undefined && this.#now() - trustedAt < TRUSTED_LOGIN_MS) return null;
    const waitMs = this.#buckets.take(name);
    return waitMs === 0 ? null : Math.ceil(waitMs / 1000);
  }

  /** A correct password from `address`: that pair is exempt from the per-username slow-down. */
  succeeded(username: string, address: string): void {
    this.#trusted.set(`${address}\n${username.toLowerCase()}`, this.#now());
  }
}
