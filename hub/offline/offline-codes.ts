// Daily and temporary doorcodes at the keypad: verification with no record of the issue (codes.ts),
// plus what only the hub can add — a durable denylist of revoked serials, a durable table of used
// one-time / first-use codes (no replay), issue records for `code list`, and the live guessing figure.
import { createHmac, randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import { decide, isKeypadValue } from '../access/engine.js';
import { isValidTimeZone, localTime, previousLocalDay } from '../access/localtime.js';
import type { KeypadLockoutPolicy } from '../access/lockout.js';
import { isWithinSchedule } from '../access/schedule.js';
import type { Decision } from '../bus.js';
import type { Credential, Person, ScheduleInterval } from '../domain.js';
import type { OfflineCodeRow, OfflineCodesStore } from '../store/offline-codes.js';
import type { Store } from '../store/store.js';
import type { ClockReading } from './clock.js';
import {
  type CodeFormat,
  type CodeScope,
  type CodeSpec,
  type CodeType,
  type CodeWindow,
  candidateDates,
  codeLengths,
  type IssuedCode,
  issueCode,
  isValidScope,
  isValidSerial,
  MS_PER_HOUR,
  START_RESIDUES,
  verifyCode,
  WINDOWED_INDEXES,
  WINDOWED_PAYLOAD_DIGITS,
} from './codes.js';
import type { OfflineConfig } from './config.js';
import { formatOdds, type GuessRisk, guessRisk, lockoutAttemptsPerDay } from './risk.js';

/** Daily indexes 50-99 and windowed index 1 are the hub's; the cloud issues 0-49 and 0 (docs/offline-codes.md). */
export const HUB_DAILY_INDEXES: readonly number[] = Array.from({ length: 50 }, (_, i) => 50 + i);
export const HUB_WINDOWED_INDEXES: readonly number[] = [WINDOWED_INDEXES - 1];

export interface OfflineCodesOptions {
  store: Store;
  /** The code secret shared with the cloud (CodeSecret.bytes()). */
  secret: Uint8Array;
  timeZone: string;
  config: OfflineConfig;
  /** The trusted clock; without one the time passed in is trusted. */
  clock?: { now(): ClockReading };
  /** The keypad lockout policy, for the guessing figure. */
  lockoutPolicy?: Partial<KeypadLockoutPolicy>;
  logger?: Logger;
}

/** What a keypad entry that is an offline code gets; null from verify() when the digits are no code. */
export interface OfflineVerdict extends Decision {
  serial: string;
  type: CodeType;
  /** Why it was refused, beyond the reason code (e.g. 'time_untrusted', 'used'). */
  detail?: string;
}

export interface IssueRequest {
  type: CodeType;
  scope: CodeScope;
  /** Daily: the local date "YYYY-MM-DD". */
  date?: string;
  /** Hour-window types: start (epoch ms, rounded down to the whole UTC hour) and length in hours. */
  validFrom?: number;
  hours?: number;
  personId?: string | null;
  /** Who it is for, e.g. "plumber" (shown to staff; keep it short, no secrets). */
  label?: string | null;
  actor?: string;
}

export interface IssuedRecord {
  digits: string;
  serial: string;
  type: CodeType;
  scope: CodeScope;
  window: CodeWindow;
  index: number;
}

export interface KnownCode {
  serial: string;
  type: CodeType;
  scope: CodeScope;
  windowStart: number;
  windowEnd: number;
  personId: string | null;
  label: string | null;
  issuedBy: string | null;
  issuedAt: number | null;
  firstUsedAt: number | null;
  revokedAt: number | null;
}

export interface DoorGuessRisk extends GuessRisk {
  doorId: string;
  personalCodes: number;
  /** PINs whose length the hub has not seen, counted at config.assumedPinDigits. */
  assumedLengthCodes: number;
  scopesAtDoor: number;
  overLimit: boolean;
  odds: string;
}

export class OfflineCodeError extends Error {
  override name = 'OfflineCodeError';
}

interface Matched {
  serial: string;
  type: CodeType;
  window: CodeWindow;
  spec: CodeSpec;
  row: KnownRow | null;
}

/** A code on record, as the store keeps it (`type` is one of this module's code types). */
type KnownRow = Omit<OfflineCodeRow, 'type'> & { type: CodeType };

const REF_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export class OfflineCodes {
  readonly #o: OfflineCodesOptions;
  readonly #codes: OfflineCodesStore;
  readonly #format: CodeFormat;
  #lookupKey: Buffer;
  #overLimit = new Set<string>();
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;
  readonly #pinLengths = new Map<string, number>();

  constructor(options: OfflineCodesOptions) {
    if (!isValidTimeZone(options.timeZone))
      throw new OfflineCodeError(`unknown time zone ${options.timeZone}`);
    if (options.secret.length < 16) throw new OfflineCodeError('code secret is too short');
    this.#o = options;
    this.#codes = options.store.offlineCodes;
    this.#format = {
      dailyMacDigits: options.config.dailyMacDigits,
      windowedMacDigits: options.config.windowedMacDigits,
    };
    this.#lookupKey = createHmac('sha256', options.secret).update('gatehouse-code-lookup').digest();
  }

  /**
   * Uses a new code secret (after `gatehouse code secret-rotate`): every code made with the old one,
   * here or in the cloud, stops working.
   */
  replaceSecret(secret: Uint8Array): void {
    if (secret.length < 16) throw new OfflineCodeError('code secret is too short');
    this.#o.secret = secret;
    this.#lookupKey = createHmac('sha256', secret).update('gatehouse-code-lookup').digest();
  }

  /** Checks the guessing figure now and every hour (warns staff with alarm.guess_risk). */
  async start(): Promise<void> {
    this.#stopped = false;
    const check = () => {
      try {
        this.prune();
      } catch (err) {
        this.#o.logger?.error({ err }, 'pruning old offline codes failed');
      }
      this.scanShortPinsInSlices()
        .then(() => this.#safeCheck())
        .catch((err: unknown) => this.#o.logger?.error({ err }, 'short PIN scan failed'));
    };
    check();
    this.#timer = setInterval(check, 3_600_000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  get codeLengths(): { daily: number; windowed: number } {
    return codeLengths(this.#format);
  }

  /**
   * A keypad entry that matched no personal PIN: is it an offline code valid at this door now?
   * Returns null when the digits are no code (the caller answers unknown_credential and counts a
   * guess). Consumes one-time codes and starts first-use codes durably before granting.
   */
  verify(doorId: string, digits: string, now?: number): OfflineVerdict | null {
    if (!this.#o.config.enabled) return null;
    if (typeof digits !== 'string' || typeof doorId !== 'string') return null;
    const lengths = this.codeLengths;
    if (digits.length !== lengths.daily && digits.length !== lengths.windowed) return null;
    if (!isKeypadValue(digits)) return null;
    const reading = this.#o.clock?.now();
    const ms = now ?? reading?.ms ?? Date.now();
    const trusted = reading?.trusted ?? true;
    const scopes = this.scopesFor(doorId);

    const known = this.#knownByDigits(digits);
    let match: Matched | null = null;
    if (known && scopes.includes(known.scope) && this.#knownCovers(known, ms)) {
      match = {
        serial: known.serial,
        type: known.type,
        window: knownWindow(known),
        spec: JSON.parse(known.spec) as CodeSpec,
        row: known,
      };
    } else {
      const found = verifyCode(this.#o.secret, digits, {
        now: ms,
        timeZone: this.#o.timeZone,
        graceMs: this.#o.config.graceMinutes * 60_000,
        scopes,
        format: this.#format,
      });
      if (found)
        match = {
          serial: found.serial,
          type: found.type,
          window: found.window,
          spec: found.spec,
          row: known?.serial === found.serial ? known : null,
        };
    }
    if (match === null) return null;
    const door = this.#o.store.doors.get(doorId);
    if (door === null) return null;
    const base = { serial: match.serial, type: match.type, credentialId: match.serial };
    const personId = match.row?.person_id ?? null;
    const holder = personId === null ? null : this.#o.store.people.get(personId);
    // The code as the engine's input (hub/access decides the order): the denylist and a removed
    // holder revoke it; the holder's suspension applies; its scope covers this door (it matched), but
    // gives no access while the time cannot be trusted. Its window was checked when it matched.
    const person: Person = holder ?? { ...CODE_HOLDER, suspended: false };
    const credential: Credential = {
      id: match.serial,
      personId: person.id,
      kind: 'pin',
      label: 'offline code',
      validFrom: null,
      validUntil: null,
      revokedAt: this.isRevoked(match.serial) || (personId !== null && holder === null) ? ms : null,
      createdAt: 0,
    };
    const untrusted = !trusted && this.#o.config.untrustedTime === 'refuse-timed-codes';
    const decision = decide({
      now: ms,
      timeZone: this.#o.timeZone,
      door: { id: door.id, mode: door.mode, unlockMs: door.unlockMs },
      kind: 'keypad',
      match: { credential, person },
      grants: untrusted ? [] : [{ groupId: match.spec.scope, intervals: null }],
      holidays: NO_HOLIDAYS,
      keypadLocked: false,
    });
    const deny = (reason: Decision['reason'], detail?: string): OfflineVerdict => ({
      granted: false,
      reason,
      personId,
      ...base,
      ...(detail ? { detail } : {}),
    });
    if (!decision.granted) {
      const detail =
        decision.reason === 'no_access' && untrusted
          ? 'time_untrusted'
          : decision.reason === 'revoked' && personId !== null && holder === null
            ? 'person_removed'
            : undefined;
      return deny(decision.reason, detail);
    }
    // Granted by the rules: now use the code up, durably, before the door hears "granted".
    const usable = this.#consume(digits, match, ms);
    if (usable !== 'ok') return deny('expired', usable);
    return { ...decision, personId, ...base };
  }

  /**
   * Forgets codes whose window ended more than 30 days ago (they can never be accepted again, so
   * dropping their use records cannot allow a replay). Revoked serials are kept. Returns how many.
   */
  prune(now?: number): number {
    const cutoff = (now ?? this.#nowMs()) - 30 * 86_400_000;
    return this.#codes.prune(cutoff);
  }

  /** Scopes covering a door: the whole site, the door itself, and each access group that has it. */
  scopesFor(doorId: string): CodeScope[] {
    const groups = this.#codes.groupsAtDoor(doorId);
    return ['site', `door:${doorId}`, ...groups.map((g) => `group:${g}`)];
  }

  /** Issues a code here (staff at the CLI / UI). The digits are returned once and never stored or logged. */
  issue(request: IssueRequest): IssuedRecord {
    const store = this.#o.store;
    if (request === null || typeof request !== 'object')
      throw new OfflineCodeError('issue request must be an object');
    if (!isValidScope(request.scope)) {
      throw new OfflineCodeError('scope must be "site", "door:<id>" or "group:<id>"');
    }
    this.#checkScopeExists(request.scope);
    const personId = request.personId ?? null;
    if (personId !== null && (!REF_PATTERN.test(personId) || store.people.get(personId) === null)) {
      throw new OfflineCodeError(`person '${String(personId).slice(0, 64)}' not found`);
    }
    const label = request.label == null ? null : String(request.label).trim().slice(0, 80);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
    if (label !== null && /[\x00-\x1f\x7f]/.test(label))
      throw new OfflineCodeError('label must be plain text');
    const actor = request.actor ?? 'hub';
    const specs = this.#candidateSpecs(request);
    const record = (issued: IssuedCode, random: boolean): IssuedRecord => {
      const { spec } = issued;
      this.#codes.insert({
        serial: issued.serial,
        lookup: this.#lookup(issued.digits),
        type: spec.type,
        scope: spec.scope,
        spec: JSON.stringify(random ? { ...spec, random: true } : spec),
        windowStart: issued.window.start,
        windowEnd: issued.window.end,
        personId,
        label,
        issuedBy: actor,
        issuedAt: this.#nowMs(),
      });
      this.#auditIssued(issued, spec, personId, actor, label);
      return {
        digits: issued.digits,
        serial: issued.serial,
        type: spec.type,
        scope: spec.scope,
        window: issued.window,
        index: spec.index,
      };
    };
    return store.transaction(() => {
      for (const spec of specs) {
        const issued = issueCode(this.#o.secret, spec, this.#o.timeZone, this.#format);
        if (!this.#serialTaken(issued.serial)) return record(issued, false);
      }
      // The derived codes for this window are used up. Hour-window codes issued here do not need to
      // be derivable (the hub keeps their record), so give random check digits and a random serial.
      const last = specs[specs.length - 1];
      if (last !== undefined && last.type !== 'daily') {
        for (let attempt = 0; attempt < 5; attempt++) {
          const derived = issueCode(this.#o.secret, last, this.#o.timeZone, this.#format);
          const macDigits = this.#format.windowedMacDigits;
          const digits =
            derived.digits.slice(0, WINDOWED_PAYLOAD_DIGITS) +
            String(randomInt(10 ** macDigits)).padStart(macDigits, '0');
          const serial = `oc-${randomSerialChars()}`;
          const lookupTaken = this.#codes.lookupKnown(this.#lookup(digits));
          if (digits === derived.digits || lookupTaken || this.#serialTaken(serial)) continue;
          return record({ ...derived, digits, serial }, true);
        }
      }
      throw new OfflineCodeError(
        'every code the hub may issue for this date and scope is already in use: pick another scope',
      );
    });
  }

  #serialTaken(serial: string): boolean {
    return this.#codes.serialKnown(serial) || this.isRevoked(serial);
  }

  /**
   * The cloud mirror tells the hub about a code it issued (the spec, not the digits). The hub derives
   * the digits itself and remembers the code, so an hour-window code works for its whole window even
   * if first used after its first 24 hours, and a suspended holder is refused. A code already used at
   * a door while the link was down gets its holder and issuer attached. Idempotent.
   */
  learnIssued(
    spec: CodeSpec,
    meta: { personId?: string | null; label?: string | null; actor?: string } = {},
  ): { serial: string; learned: boolean } {
    const issued = issueCode(this.#o.secret, spec, this.#o.timeZone, this.#format);
    const personId = meta.personId ?? null;
    if (personId !== null && !REF_PATTERN.test(personId))
      throw new OfflineCodeError('person id is not valid');
    const label = meta.label == null ? null : String(meta.label).trim().slice(0, 80);
    const actor = meta.actor ?? 'cloud';
    return this.#o.store.transaction(() => {
      const inserted = this.#codes.insertOrClaim({
        serial: issued.serial,
        lookup: this.#lookup(issued.digits),
        type: spec.type,
        scope: spec.scope,
        spec: JSON.stringify(spec),
        windowStart: issued.window.start,
        windowEnd: issued.window.end,
        personId,
        label,
        issuedBy: actor,
        issuedAt: this.#nowMs(),
      });
      if (inserted) {
        this.#auditIssued(issued, spec, personId, actor, label);
      }
      return { serial: issued.serial, learned: inserted };
    });
  }

  /** Denylists a serial: durable (with its 'admin.code.revoked' event) before this returns. Idempotent. */
  revoke(
    serial: string,
    options: { reason?: string; actor?: string } = {},
  ): { serial: string; alreadyRevoked: boolean } {
    if (!isValidSerial(serial))
      throw new OfflineCodeError('serial must look like oc-xxxxxxxxxxxx (see `gatehouse code list`)');
    const reason = options.reason == null ? null : String(options.reason).slice(0, 200);
    const actor = options.actor ?? 'hub';
    return this.#o.store.transaction(() => {
      const inserted = this.#codes.revoke(serial, this.#nowMs(), reason, actor);
      if (inserted) {
        const personId = this.#codes.personOf(serial);
        this.#o.store.events.insertInTransaction({
          type: 'admin.code.revoked',
          doorId: null,
          personId: personId ?? null,
          credentialId: serial,
          data: { serial, reason, actor },
        });
      }
      return { serial, alreadyRevoked: !inserted };
    });
  }

  /** A batch of revocations from the cloud mirror, in one durable transaction. */
  applyRevocations(serials: readonly string[], actor = 'cloud'): number {
    return this.#o.store.transaction(() => {
      let added = 0;
      for (const serial of serials) if (!this.revoke(serial, { actor }).alreadyRevoked) added++;
      return added;
    });
  }

  isRevoked(serial: string): boolean {
    return this.#codes.isRevoked(serial);
  }

  /** Codes this hub knows (issued here, or used at a door), newest window first; and revoked serials. */
  list(options: { includeExpired?: boolean; now?: number } = {}): KnownCode[] {
    const now = options.now ?? this.#nowMs();
    const rows = this.#codes.list(options.includeExpired === true, now) as Array<
      KnownRow & { revoked_at: number | null }
    >;
    return rows.map((row) => ({
      serial: row.serial,
      type: row.type,
      scope: row.scope,
      windowStart: row.window_start,
      windowEnd: row.window_end,
      personId: row.person_id,
      label: row.label,
      issuedBy: row.issued_by,
      issuedAt: row.issued_at,
      firstUsedAt: row.first_used_at,
      revokedAt: row.revoked_at,
    }));
  }

  revocations(): Array<{ serial: string; revokedAt: number; reason: string | null; actor: string | null }> {
    return this.#codes
      .revocations()
      .map((r) => ({ serial: r.serial, revokedAt: r.revoked_at, reason: r.reason, actor: r.actor }));
  }

  /**
   * Remembers how long a personal PIN is (PINs are stored hashed), for the guessing figure. Called on
   * a granted keypad entry; writes only when the length is new.
   */
  notePinLength(credentialId: string, digits: number): void {
    if (!Number.isInteger(digits) || digits < 4 || digits > 12) return;
    if (this.#pinLengths.get(credentialId) === digits) return;
    const stored = this.#codes.pinLength(credentialId);
    if (stored !== digits) this.#codes.setPinLength(credentialId, digits);
    if (this.#pinLengths.size >= 200_000) this.#pinLengths.clear();
    this.#pinLengths.set(credentialId, digits);
  }

  /**
   * Finds every active 4- and 5-digit personal PIN by trying all 110,000 of them against the stored
   * hashes (about half a second), so short codes are counted exactly. Returns how many were found.
   */
  scanShortPins(): number {
    const scan = this.#shortPinScan();
    let step = scan.next();
    while (step.done !== true) step = scan.next();
    return step.value;
  }

  /** The same scan in slices of 5,000 tries, yielding to the event loop between them (for the running hub). */
  async scanShortPinsInSlices(): Promise<number> {
    const scan = this.#shortPinScan();
    for (;;) {
      const step = scan.next();
      if (step.done === true) return step.value;
      await new Promise((resolve) => setImmediate(resolve));
      if (this.#stopped) return 0;
    }
  }

  *#shortPinScan(): Generator<void, number, void> {
    const active = new Map<string, string>();
    for (const row of this.#codes.activePinLookups()) active.set(row.lookup, row.id);
    if (active.size === 0) return 0;
    const found: Array<[string, number]> = [];
    for (const length of [4, 5]) {
      for (let n = 0; n < 10 ** length; n++) {
        if (n % 5000 === 4999) yield;
        const digits = String(n).padStart(length, '0');
        const id = active.get(this.#o.store.credentials.lookupFor('pin', digits));
        if (id !== undefined) found.push([id, length]);
      }
    }
    for (const [id, length] of found) this.notePinLength(id, length);
    return found.length;
  }

  /** The live guessing figure for one door's keypads (docs/offline-codes.md). */
  guessRisk(doorId: string, now?: number): DoorGuessRisk {
    const reading = this.#o.clock?.now();
    const ms = now ?? reading?.ms ?? Date.now();
    const trusted = reading?.trusted ?? true;
    const config = this.#o.config;
    const codesOn = config.enabled && (trusted || config.untrustedTime === 'accept');
    const personal = this.#personalPinsAt(doorId, ms);
    const scopes = this.scopesFor(doorId);
    const horizon = (Math.floor(ms / MS_PER_HOUR) - (START_RESIDUES - 1)) * MS_PER_HOUR;
    const remembered = codesOn ? this.#codes.countRememberedWindowed(horizon, ms) : 0;
    const lockoutAttempts = lockoutAttemptsPerDay(
      this.#o.lockoutPolicy ?? {},
      config.guessEntrySeconds * 1000,
    );
    const risk = guessRisk({
      personalByLength: personal.byLength,
      scopesAtDoor: scopes.length,
      dailyDates: codesOn ? candidateDates(ms, this.#o.timeZone, config.graceMinutes * 60_000).length : 0,
      windowedAccepted: codesOn,
      rememberedWindowed: remembered,
      format: this.#format,
      lockoutAttempts,
      dailyCap: config.keypadDailyFailureCap,
    });
    return {
      doorId,
      personalCodes: personal.total,
      assumedLengthCodes: personal.assumed,
      scopesAtDoor: scopes.length,
      overLimit: risk.perDay > config.maxDailyGuessProbability,
      odds: formatOdds(risk.perDay),
      ...risk,
    };
  }

  /** The figure for every door; warns (log + one alarm.guess_risk event per door) when one goes over the limit. */
  checkGuessRisk(now?: number): DoorGuessRisk[] {
    const doors = this.#o.store.doors.list();
    const reports = doors.map((door) => this.guessRisk(door.id, now));
    const over = new Set<string>();
    for (const report of reports) {
      if (!report.overLimit) continue;
      over.add(report.doorId);
      if (this.#overLimit.has(report.doorId)) continue;
      this.#o.logger?.warn(
        { door: report.doorId, perDay: report.perDay, odds: report.odds, worstLength: report.worstLength },
        'keypad guessing risk is above the limit: use longer codes or fewer codes at this entrance',
      );
      this.#o.store.events.append({
        type: 'alarm.guess_risk',
        doorId: report.doorId,
        personId: null,
        credentialId: null,
        data: {
          perDay: report.perDay,
          limit: this.#o.config.maxDailyGuessProbability,
          worstLength: report.worstLength,
          personalCodes: report.personalCodes,
          guessesPerDay: report.guessesPerDay,
        },
      });
    }
    this.#overLimit = over;
    return reports;
  }

  #safeCheck(): void {
    try {
      this.checkGuessRisk();
    } catch (err) {
      this.#o.logger?.error({ err }, 'guessing figure check failed');
    }
  }

  #nowMs(): number {
    return this.#o.clock?.now().ms ?? Date.now();
  }

  #lookup(digits: string): string {
    return createHmac('sha256', this.#lookupKey).update(digits).digest('hex');
  }

  #knownByDigits(digits: string): KnownRow | null {
    return this.#codes.byLookup(this.#lookup(digits)) as KnownRow | null;
  }

  /** A remembered code is usable now (its record says so; MAC was checked when it was recorded). */
  /** The audit event for a code the hub issued or learned about (inside the caller's transaction). */
  #auditIssued(
    issued: IssuedCode,
    spec: CodeSpec,
    personId: string | null,
    actor: string,
    label: string | null,
  ): void {
    this.#o.store.events.insertInTransaction({
      type: 'admin.code.issued',
      doorId: null,
      personId,
      credentialId: issued.serial,
      data: {
        serial: issued.serial,
        type: spec.type,
        scope: spec.scope,
        from: issued.window.start,
        until: issued.window.end,
        actor,
        ...(label ? { label } : {}),
      },
    });
  }

  #knownCovers(row: KnownRow, now: number): boolean {
    if (row.type === 'daily') {
      const grace = this.#o.config.graceMinutes * 60_000;
      return now >= row.window_start - grace && now < row.window_end + grace;
    }
    if (row.type === 'first-use' && row.first_used_at !== null) return true; // judged in #consume
    if (row.type === 'once' && row.first_used_at !== null)
      return now >= row.window_start && now < row.window_end;
    return now >= row.window_start && now < row.window_end;
  }

  /** Records the use durably; 'ok' or why the code is used up. */
  #consume(digits: string, match: Matched, now: number): 'ok' | 'used' | 'first_use_expired' {
    const seen = this.#codes.firstUsedAt(match.serial);
    if (seen !== undefined && seen !== null) {
      // Used before: judge without a write transaction (the common case for daily codes).
      if (match.type === 'once') return 'used';
      if (match.type === 'first-use' && now >= seen + this.#o.config.firstUseMinutes * 60_000)
        return 'first_use_expired';
      return 'ok';
    }
    return this.#o.store.transaction(() => {
      const row = this.#codes.bySerial(match.serial) as KnownRow | null;
      if (row?.first_used_at != null) {
        if (match.type === 'once') return 'used';
        if (
          match.type === 'first-use' &&
          now >= row.first_used_at + this.#o.config.firstUseMinutes * 60_000
        ) {
          return 'first_use_expired';
        }
      }
      if (row === null) {
        const spec = match.spec;
        this.#codes.insertUsed({
          serial: match.serial,
          lookup: this.#lookup(digits),
          type: match.type,
          scope: spec.scope,
          spec: JSON.stringify(spec),
          windowStart: match.window.start,
          windowEnd: match.window.end,
          usedAt: now,
        });
      } else if (row.first_used_at === null) {
        // Only the first use is written: later entries with a daily / hour-window code cost no disk write.
        this.#codes.markFirstUse(match.serial, now);
      }
      return 'ok';
    });
  }

  #candidateSpecs(request: IssueRequest): CodeSpec[] {
    const { type, scope } = request;
    if (type === 'daily') {
      if (typeof request.date !== 'string')
        throw new OfflineCodeError('a daily code needs a date (YYYY-MM-DD)');
      return HUB_DAILY_INDEXES.map((index) => ({ type, date: request.date as string, index, scope }));
    }
    if (type !== 'hourly' && type !== 'once' && type !== 'first-use') {
      throw new OfflineCodeError('type must be daily, hourly, once or first-use');
    }
    if (
      typeof request.validFrom !== 'number' ||
      !Number.isSafeInteger(request.validFrom) ||
      request.validFrom < 0
    ) {
      throw new OfflineCodeError('an hour-window code needs a start time');
    }
    const hours = request.hours ?? (type === 'hourly' ? undefined : 24);
    if (typeof hours !== 'number')
      throw new OfflineCodeError('an hour-window code needs its length in hours (1-672)');
    const startHour = Math.floor(request.validFrom / MS_PER_HOUR);
    return HUB_WINDOWED_INDEXES.map((index) => ({ type, startHour, hours, index, scope }));
  }

  #checkScopeExists(scope: CodeScope): void {
    if (scope === 'site') return;
    const [kind, id] = scope.split(':') as [string, string];
    const exists = kind === 'door' ? this.#o.store.doors.get(id) !== null : this.#codes.groupExists(id);
    if (!exists) throw new OfflineCodeError(`${kind} '${id}' not found`);
  }

  #personalPinsAt(
    doorId: string,
    now: number,
  ): { byLength: Map<number, number>; total: number; assumed: number } {
    const rows = this.#codes.activePinsWithLengths(now);
    const byLength = new Map<number, number>();
    let total = 0;
    let assumed = 0;
    const allowedCache = new Map<string, boolean>();
    const at = localTime(now, this.#o.timeZone);
    const previous = previousLocalDay(at);
    const holidays = this.#o.store.holidays.dates();
    for (const row of rows) {
      let allowed = allowedCache.get(row.person_id);
      if (allowed === undefined) {
        allowed = this.#o.store.access
          .grantsFor(row.person_id, doorId)
          .some((g) => isWithinSchedule(g.intervals as ScheduleInterval[] | null, at, holidays, previous));
        allowedCache.set(row.person_id, allowed);
      }
      if (!allowed) continue;
      const length = row.digits ?? this.#o.config.assumedPinDigits;
      if (row.digits === null) assumed++;
      byLength.set(length, (byLength.get(length) ?? 0) + 1);
      total++;
    }
    return { byLength, total, assumed };
  }
}

/** The stand-in holder of a code issued for nobody in particular (never stored, never reported). */
const CODE_HOLDER: Omit<Person, 'suspended'> = {
  id: 'offline-code',
  name: 'offline code',
  kind: 'guest',
  unitId: null,
  keyEpoch: 0,
  accessFrom: null,
  accessUntil: null,
  createdAt: 0,
};
/** A code's scope grants at any time: holidays never narrow it. */
const NO_HOLIDAYS: ReadonlySet<string> = new Set();

function knownWindow(row: KnownRow): CodeWindow {
  return { start: row.window_start, end: row.window_end };
}

function randomSerialChars(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let out = '';
  for (let i = 0; i < 12; i++) out += alphabet[randomInt(32)];
  return out;
}
