// The records offline doorcodes keep (hub/offline/offline-codes.ts): codes issued or used here, the
// denylist of revoked serials and the known length of each personal PIN. Tables: migration 3.
// The digits are never stored: `lookup` is a keyed hash of them.
import type { StoreContext } from './context.js';

/** One row of offline_codes. `type` and `scope` are the code's (hub/offline/codes.ts). */
export interface OfflineCodeRow {
  serial: string;
  lookup: string;
  type: string;
  scope: string;
  /** The code's spec as JSON. */
  spec: string;
  window_start: number;
  window_end: number;
  person_id: string | null;
  label: string | null;
  issued_by: string | null;
  issued_at: number | null;
  first_used_at: number | null;
  uses: number;
}

/** A code the hub issued or learned about (not yet used). */
export interface NewOfflineCode {
  serial: string;
  lookup: string;
  type: string;
  scope: string;
  spec: string;
  windowStart: number;
  windowEnd: number;
  personId: string | null;
  label: string | null;
  issuedBy: string;
  issuedAt: number;
}

/** A code first seen when it was used at a door (no issue record). */
export interface UsedOfflineCode {
  serial: string;
  lookup: string;
  type: string;
  scope: string;
  spec: string;
  windowStart: number;
  windowEnd: number;
  usedAt: number;
}

export interface OfflineCodeRevocation {
  serial: string;
  revoked_at: number;
  reason: string | null;
  actor: string | null;
}

export interface ActivePin {
  id: string;
  person_id: string;
  /** Known length, or null when the hub has not seen it. */
  digits: number | null;
}

/** What offline doorcodes need from the store. */
export interface OfflineCodesStore {
  byLookup(lookup: string): OfflineCodeRow | null;
  bySerial(serial: string): OfflineCodeRow | null;
  /** undefined: no record of the serial; null: recorded, never used. */
  firstUsedAt(serial: string): number | null | undefined;
  serialKnown(serial: string): boolean;
  lookupKnown(lookup: string): boolean;
  personOf(serial: string): string | null;
  /** Throws if the serial or the digits are already recorded. */
  insert(code: NewOfflineCode): void;
  /** False when the serial (or the digits) was already recorded. */
  insertIfNew(code: NewOfflineCode): boolean;
  /**
   * Like insertIfNew, but a code already on record without an issuer (used offline before the cloud's
   * record arrived) gets this one's holder, label and issuer. True when a row was added or claimed.
   */
  insertOrClaim(code: NewOfflineCode): boolean;
  insertUsed(code: UsedOfflineCode): void;
  markFirstUse(serial: string, at: number): void;
  /** Forgets codes whose window ended, and that were not first used, before `cutoff`. Returns how many. */
  prune(cutoff: number): number;
  /** Codes whose window is still open at `now` (or every code), newest window first, at most 10,000. */
  list(includeExpired: boolean, now: number): Array<OfflineCodeRow & { revoked_at: number | null }>;
  /** Hour-window codes on record that started before `startedBefore` and are still open at `now`. */
  countRememberedWindowed(startedBefore: number, now: number): number;
  /** Denylists a serial; false if it already was. */
  revoke(serial: string, at: number, reason: string | null, actor: string): boolean;
  isRevoked(serial: string): boolean;
  /** Newest first, at most 10,000. */
  revocations(): OfflineCodeRevocation[];
  pinLength(credentialId: string): number | undefined;
  setPinLength(credentialId: string, digits: number): void;
  /** Active PIN credentials (id and stored lookup), for the short-PIN scan. */
  activePinLookups(): Array<{ id: string; lookup: string }>;
  /** Active, currently valid PINs of unsuspended people inside their access window, with their known length. */
  activePinsWithLengths(now: number): ActivePin[];
  /** Access groups that include the door (a code scope 'group:<id>' covers it). */
  groupsAtDoor(doorId: string): string[];
  groupExists(groupId: string): boolean;
}

const INSERT_ISSUED = `INSERT INTO offline_codes (serial, lookup, type, scope, spec, window_start, window_end, person_id, label, issued_by, issued_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

export class OfflineCodesRepo implements OfflineCodesStore {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  byLookup(lookup: string): OfflineCodeRow | null {
    return this.#ctx.stmt<OfflineCodeRow>('SELECT * FROM offline_codes WHERE lookup = ?').get(lookup) ?? null;
  }

  bySerial(serial: string): OfflineCodeRow | null {
    return this.#ctx.stmt<OfflineCodeRow>('SELECT * FROM offline_codes WHERE serial = ?').get(serial) ?? null;
  }

  firstUsedAt(serial: string): number | null | undefined {
    return this.#ctx
      .stmt<number | null>('SELECT first_used_at FROM offline_codes WHERE serial = ?')
      .pluck()
      .get(serial) as number | null | undefined;
  }

  serialKnown(serial: string): boolean {
    return this.#ctx.stmt('SELECT 1 FROM offline_codes WHERE serial = ?').get(serial) !== undefined;
  }

  lookupKnown(lookup: string): boolean {
    return this.#ctx.stmt('SELECT 1 FROM offline_codes WHERE lookup = ?').get(lookup) !== undefined;
  }

  personOf(serial: string): string | null {
    return (
      (this.#ctx
        .stmt<string | null>('SELECT person_id FROM offline_codes WHERE serial = ?')
        .pluck()
        .get(serial) as string | null | undefined) ?? null
    );
  }

  insert(code: NewOfflineCode): void {
    this.#ctx.stmt(INSERT_ISSUED).run(...issuedValues(code));
  }

  insertIfNew(code: NewOfflineCode): boolean {
    return this.#ctx.stmt(`${INSERT_ISSUED} ON CONFLICT DO NOTHING`).run(...issuedValues(code)).changes > 0;
  }

  insertOrClaim(code: NewOfflineCode): boolean {
    return (
      this.#ctx
        .stmt(
          `${INSERT_ISSUED} ON CONFLICT (serial) DO UPDATE SET person_id = excluded.person_id,
             label = excluded.label, issued_by = excluded.issued_by, issued_at = excluded.issued_at
           WHERE issued_by IS NULL
           ON CONFLICT DO NOTHING`,
        )
        .run(...issuedValues(code)).changes > 0
    );
  }

  insertUsed(code: UsedOfflineCode): void {
    this.#ctx
      .stmt(
        `INSERT INTO offline_codes (serial, lookup, type, scope, spec, window_start, window_end, first_used_at, uses)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)`,
      )
      .run(
        code.serial,
        code.lookup,
        code.type,
        code.scope,
        code.spec,
        code.windowStart,
        code.windowEnd,
        code.usedAt,
      );
  }

  markFirstUse(serial: string, at: number): void {
    this.#ctx.stmt('UPDATE offline_codes SET first_used_at = ?, uses = 1 WHERE serial = ?').run(at, serial);
  }

  prune(cutoff: number): number {
    return this.#ctx
      .stmt('DELETE FROM offline_codes WHERE window_end < ? AND (first_used_at IS NULL OR first_used_at < ?)')
      .run(cutoff, cutoff).changes;
  }

  list(includeExpired: boolean, now: number): Array<OfflineCodeRow & { revoked_at: number | null }> {
    return this.#ctx
      .stmt<OfflineCodeRow & { revoked_at: number | null }>(
        `SELECT c.*, r.revoked_at AS revoked_at FROM offline_codes c
         LEFT JOIN offline_code_revocations r ON r.serial = c.serial
         WHERE ? = 1 OR c.window_end > ? OR (c.type = 'first-use' AND c.first_used_at IS NOT NULL)
         ORDER BY c.window_start DESC, c.serial LIMIT 10000`,
      )
      .all(includeExpired ? 1 : 0, now);
  }

  countRememberedWindowed(startedBefore: number, now: number): number {
    return (
      (this.#ctx
        .stmt<number>(
          "SELECT count(*) FROM offline_codes WHERE type IN ('hourly', 'first-use') AND window_start < ? AND window_end > ?",
        )
        .pluck()
        .get(startedBefore, now) as number | undefined) ?? 0
    );
  }

  revoke(serial: string, at: number, reason: string | null, actor: string): boolean {
    return (
      this.#ctx
        .stmt(
          'INSERT INTO offline_code_revocations (serial, revoked_at, reason, actor) VALUES (?, ?, ?, ?) ON CONFLICT (serial) DO NOTHING',
        )
        .run(serial, at, reason, actor).changes > 0
    );
  }

  isRevoked(serial: string): boolean {
    return (
      this.#ctx.stmt('SELECT 1 FROM offline_code_revocations WHERE serial = ?').get(serial) !== undefined
    );
  }

  revocations(): OfflineCodeRevocation[] {
    return this.#ctx
      .stmt<OfflineCodeRevocation>(
        'SELECT serial, revoked_at, reason, actor FROM offline_code_revocations ORDER BY revoked_at DESC LIMIT 10000',
      )
      .all();
  }

  pinLength(credentialId: string): number | undefined {
    return this.#ctx
      .stmt<number>('SELECT digits FROM offline_pin_lengths WHERE credential_id = ?')
      .pluck()
      .get(credentialId) as number | undefined;
  }

  setPinLength(credentialId: string, digits: number): void {
    this.#ctx
      .stmt(
        'INSERT INTO offline_pin_lengths (credential_id, digits) VALUES (?, ?) ON CONFLICT (credential_id) DO UPDATE SET digits = excluded.digits',
      )
      .run(credentialId, digits);
  }

  activePinLookups(): Array<{ id: string; lookup: string }> {
    return this.#ctx
      .stmt<{ id: string; lookup: string }>(
        "SELECT id, lookup FROM credentials WHERE kind = 'pin' AND revoked_at IS NULL",
      )
      .all();
  }

  activePinsWithLengths(now: number): ActivePin[] {
    return this.#ctx
      .stmt<ActivePin>(
        `SELECT c.id, c.person_id, l.digits FROM credentials c
         JOIN people p ON p.id = c.person_id
         LEFT JOIN offline_pin_lengths l ON l.credential_id = c.id
         WHERE c.kind = 'pin' AND c.revoked_at IS NULL AND p.suspended = 0
           AND (c.valid_from IS NULL OR c.valid_from <= ?) AND (c.valid_until IS NULL OR c.valid_until > ?)
           AND (p.access_from IS NULL OR p.access_from <= ?) AND (p.access_until IS NULL OR p.access_until > ?)`,
      )
      .all(now, now, now, now);
  }

  groupsAtDoor(doorId: string): string[] {
    return this.#ctx
      .stmt<string>('SELECT group_id FROM group_doors WHERE door_id = ? ORDER BY group_id')
      .pluck()
      .all(doorId) as string[];
  }

  groupExists(groupId: string): boolean {
    return this.#ctx.stmt('SELECT 1 FROM access_groups WHERE id = ?').get(groupId) !== undefined;
  }
}

function issuedValues(code: NewOfflineCode): unknown[] {
  return [
    code.serial,
    code.lookup,
    code.type,
    code.scope,
    code.spec,
    code.windowStart,
    code.windowEnd,
    code.personId,
    code.label,
    code.issuedBy,
    code.issuedAt,
  ];
}
