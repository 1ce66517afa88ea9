// Credentials: cards, PINs and mobile keys, each stored as an HMAC under a subkey of the hub key
// (a copied database alone reveals no card UID and cannot be used to test PIN guesses).
// Cards keep their last 4 hex digits in the label for staff. A lookup is one HMAC and one probe of
// the (kind, lookup) index joined to people.
import type { Credential, CredentialKind, Person } from '../domain.js';
import type { Audit, StoreContext } from './context.js';
import {
  canonicalCard,
  cardLabel,
  checkCard,
  checkId,
  checkName,
  checkOneOf,
  checkPin,
  checkTime,
  generateId,
  invalid,
  isValidPin,
  notFound,
  StoreError,
} from './errors.js';
import { CARD_HASH_PURPOSE } from './migrations.js';
import { type PersonRow, toPerson } from './people.js';

export const CREDENTIAL_KINDS: readonly CredentialKind[] = ['card', 'pin', 'mobile'];
const MOBILE_KEY = /^[A-Za-z0-9_.:-]{8,128}$/;

/** A stored credential, with why it was revoked. */
export interface StoredCredential extends Credential {
  revokedReason: string | null;
}

export interface CredentialOptions {
  id?: string;
  validFrom?: number | null;
  validUntil?: number | null;
}

export interface CredentialMatch {
  credential: StoredCredential;
  person: Person;
}

interface CredentialRow {
  id: string;
  person_id: string;
  kind: CredentialKind;
  label: string;
  valid_from: number | null;
  valid_until: number | null;
  revoked_at: number | null;
  revoked_reason: string | null;
  created_at: number;
}

const COLUMNS = 'id, person_id, kind, label, valid_from, valid_until, revoked_at, revoked_reason, created_at';

function toCredential(row: CredentialRow): StoredCredential {
  return {
    id: row.id,
    personId: row.person_id,
    kind: row.kind,
    label: row.label,
    validFrom: row.valid_from,
    validUntil: row.valid_until,
    revokedAt: row.revoked_at,
    revokedReason: row.revoked_reason,
    createdAt: row.created_at,
  };
}

type MatchRow = CredentialRow & {
  p_id: string;
  p_name: string;
  p_kind: PersonRow['kind'];
  p_unit_id: string | null;
  p_suspended: number;
  p_key_epoch: number;
  p_access_from: number | null;
  p_access_until: number | null;
  p_created_at: number;
  p_updated_at: number;
};

// Active first, else the most recently revoked, so the engine can answer 'revoked'.
const FIND_SQL = `
  SELECT c.id, c.person_id, c.kind, c.label, c.valid_from, c.valid_until, c.revoked_at, c.revoked_reason, c.created_at,
         p.id AS p_id, p.name AS p_name, p.kind AS p_kind, p.unit_id AS p_unit_id, p.suspended AS p_suspended,
         p.key_epoch AS p_key_epoch, p.access_from AS p_access_from, p.access_until AS p_access_until,
         p.created_at AS p_created_at, p.updated_at AS p_updated_at
  FROM credentials c JOIN people p ON p.id = c.person_id
  WHERE c.kind = ? AND c.lookup = ?
  ORDER BY c.revoked_at IS NULL DESC, c.revoked_at DESC
  LIMIT 1`;

function checkWindow(options: CredentialOptions): { validFrom: number | null; validUntil: number | null } {
  const validFrom = checkTime(options.validFrom, 'validFrom');
  const validUntil = checkTime(options.validUntil, 'validUntil');
  if (validFrom !== null && validUntil !== null && validUntil <= validFrom) {
    throw invalid('validUntil must be later than validFrom');
  }
  return { validFrom, validUntil };
}

export class CredentialsRepo {
  readonly #ctx: StoreContext;
  readonly #audit: Audit;

  constructor(ctx: StoreContext, audit: Audit) {
    this.#ctx = ctx;
    this.#audit = audit;
  }

  /** The value stored in `lookup`: hex HMAC-SHA256 under the kind's subkey (cards: of the canonical hex). */
  lookupFor(kind: CredentialKind, value: string): string {
    if (kind === 'card') return this.#ctx.keys.hmac(CARD_HASH_PURPOSE, checkCard(value));
    if (kind === 'pin') return this.#ctx.keys.hmac('pin', checkPin(value));
    if (typeof value !== 'string' || !MOBILE_KEY.test(value))
      throw invalid('mobile key id must be 8-128 characters');
    return this.#ctx.keys.hmac('mobile', value);
  }

  addCard(personId: string, hex: string, options: CredentialOptions = {}): StoredCredential {
    const card = checkCard(hex);
    return this.#add(
      personId,
      'card',
      this.#ctx.keys.hmac(CARD_HASH_PURPOSE, card),
      cardLabel(card),
      options,
    );
  }

  /** A PIN already held by someone else is refused without saying by whom. */
  addPin(personId: string, digits: string, options: CredentialOptions = {}): StoredCredential {
    return this.#add(personId, 'pin', this.lookupFor('pin', digits), 'PIN', options);
  }

  /** A mobile key, identified by its key id (stored as an HMAC). The label is free text for staff. */
  addMobile(
    personId: string,
    keyId: string,
    options: CredentialOptions & { label?: string } = {},
  ): StoredCredential {
    const label = options.label === undefined ? 'mobile key' : checkName(options.label, 'label', 80);
    return this.#add(personId, 'mobile', this.lookupFor('mobile', keyId), label, options);
  }

  /** Revocation is durable before this returns, and never undone by an upsert. Idempotent. */
  revoke(id: string, reason?: string): StoredCredential {
    const why = reason === undefined || reason === null ? null : checkName(reason, 'revocation reason', 200);
    return this.#ctx.write(() => {
      const current = this.#mustGet(id);
      if (current.revokedAt !== null) return current;
      this.#ctx
        .stmt('UPDATE credentials SET revoked_at = ?, revoked_reason = ? WHERE id = ?')
        .run(this.#ctx.now(), why, id);
      this.#audit(
        'admin.credential.revoked',
        { personId: current.personId, credentialId: id },
        { kind: current.kind, label: current.label, reason: why },
      );
      return this.#mustGet(id);
    });
  }

  /** Changes the validity window of an active credential. */
  setValidity(
    id: string,
    options: { validFrom?: number | null; validUntil?: number | null },
  ): StoredCredential {
    return this.#ctx.write(() => {
      const current = this.#mustGet(id);
      const window = checkWindow({
        validFrom: options.validFrom === undefined ? current.validFrom : options.validFrom,
        validUntil: options.validUntil === undefined ? current.validUntil : options.validUntil,
      });
      this.#ctx
        .stmt('UPDATE credentials SET valid_from = ?, valid_until = ? WHERE id = ?')
        .run(window.validFrom, window.validUntil, id);
      this.#audit(
        'admin.credential.validity_changed',
        { personId: current.personId, credentialId: id },
        window,
      );
      return this.#mustGet(id);
    });
  }

  get(id: string): StoredCredential | null {
    const row = this.#ctx.stmt<CredentialRow>(`SELECT ${COLUMNS} FROM credentials WHERE id = ?`).get(id);
    return row ? toCredential(row) : null;
  }

  listForPerson(personId: string): StoredCredential[] {
    return this.#ctx
      .stmt<CredentialRow>(
        `SELECT ${COLUMNS} FROM credentials WHERE person_id = ? ORDER BY created_at, rowid`,
      )
      .all(personId)
      .map(toCredential);
  }

  /** The person's unrevoked credentials (cards, PINs, mobile keys), oldest first, at most `limit`. */
  activeForPerson(personId: string, limit: number): StoredCredential[] {
    return this.#ctx
      .stmt<CredentialRow>(
        `SELECT ${COLUMNS} FROM credentials WHERE person_id = ? AND revoked_at IS NULL ORDER BY created_at, rowid LIMIT ?`,
      )
      .all(personId, Math.min(Math.max(1, Math.trunc(limit)), 1000))
      .map(toCredential);
  }

  list(options: { limit?: number; afterId?: string } = {}): StoredCredential[] {
    const limit = Math.min(Math.max(1, Math.trunc(options.limit ?? 10_000)), 100_000);
    return this.#ctx
      .stmt<CredentialRow>(`SELECT ${COLUMNS} FROM credentials WHERE id > ? ORDER BY id LIMIT ?`)
      .all(options.afterId ?? '', limit)
      .map(toCredential);
  }

  /**
   * The credential presented at a door, with its holder: the active one if any, else the most
   * recently revoked one. Null when unknown or malformed (a malformed value never matches).
   */
  find(kind: 'card' | 'pin' | 'mobile', value: string): CredentialMatch | null {
    let lookup: string;
    if (kind === 'card') {
      const card = canonicalCard(value);
      if (card === null) return null;
      lookup = this.#ctx.keys.hmac(CARD_HASH_PURPOSE, card);
    } else if (kind === 'pin') {
      if (!isValidPin(value)) return null;
      lookup = this.#ctx.keys.hmac('pin', value);
    } else if (kind === 'mobile') {
      if (typeof value !== 'string' || !MOBILE_KEY.test(value)) return null;
      lookup = this.#ctx.keys.hmac('mobile', value);
    } else {
      return null;
    }
    const row = this.#ctx.stmt<MatchRow>(FIND_SQL).get(kind, lookup);
    if (!row) return null;
    return {
      credential: toCredential(row),
      person: toPerson({
        id: row.p_id,
        name: row.p_name,
        kind: row.p_kind,
        unit_id: row.p_unit_id,
        suspended: row.p_suspended,
        key_epoch: row.p_key_epoch,
        access_from: row.p_access_from,
        access_until: row.p_access_until,
        created_at: row.p_created_at,
        updated_at: row.p_updated_at,
      }),
    };
  }

  /**
   * Cloud mirror: create or replace a credential with an explicit id. `value` is the card hex, PIN
   * digits or mobile key id. A credential revoked here stays revoked whatever the copy says (deny wins).
   */
  upsert(record: {
    id: string;
    personId: string;
    kind: CredentialKind;
    value: string;
    label?: string;
    validFrom?: number | null;
    validUntil?: number | null;
    revokedAt?: number | null;
    revokedReason?: string | null;
    createdAt?: number;
  }): StoredCredential {
    if (record === null || typeof record !== 'object') throw invalid('credential must be an object');
    const id = checkId(record.id, 'credential');
    const personId = checkId(record.personId, 'person');
    const kind = checkOneOf(record.kind, CREDENTIAL_KINDS, 'credential kind');
    const lookup = this.lookupFor(kind, record.value);
    const label =
      kind === 'card'
        ? cardLabel(checkCard(record.value))
        : kind === 'pin'
          ? 'PIN'
          : record.label === undefined
            ? 'mobile key'
            : checkName(record.label, 'label', 80);
    const window = checkWindow(record);
    const revokedAt = checkTime(record.revokedAt, 'revokedAt');
    const revokedReason =
      record.revokedReason == null ? null : checkName(record.revokedReason, 'revocation reason', 200);
    return this.#ctx.write(() => {
      this.#checkPerson(personId);
      const existing = this.get(id);
      if (existing && existing.kind !== kind)
        throw new StoreError('conflict', `credential '${id}' has another kind`);
      const stillRevoked = existing?.revokedAt ?? revokedAt;
      if (stillRevoked === null) this.#checkLookupFree(kind, lookup, id);
      this.#ctx
        .stmt(
          `INSERT INTO credentials (id, person_id, kind, lookup, label, valid_from, valid_until, revoked_at, revoked_reason, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET person_id = excluded.person_id, lookup = excluded.lookup, label = excluded.label,
             valid_from = excluded.valid_from, valid_until = excluded.valid_until,
             revoked_at = coalesce(credentials.revoked_at, excluded.revoked_at),
             revoked_reason = CASE WHEN credentials.revoked_at IS NULL THEN excluded.revoked_reason ELSE credentials.revoked_reason END`,
        )
        .run(
          id,
          personId,
          kind,
          lookup,
          label,
          window.validFrom,
          window.validUntil,
          revokedAt,
          revokedReason,
          record.createdAt ?? this.#ctx.now(),
        );
      const stored = this.#mustGet(id);
      this.#audit(
        'admin.credential.upserted',
        { personId, credentialId: id },
        { kind, label, revoked: stored.revokedAt !== null },
      );
      return stored;
    });
  }

  #add(
    personId: string,
    kind: CredentialKind,
    lookup: string,
    label: string,
    options: CredentialOptions,
  ): StoredCredential {
    if (options === null || typeof options !== 'object')
      throw invalid('credential options must be an object');
    const id = options.id === undefined ? generateId('c') : checkId(options.id, 'credential');
    const window = checkWindow(options);
    return this.#ctx.write(() => {
      this.#checkPerson(personId);
      if (this.get(id)) throw new StoreError('conflict', `credential '${id}' already exists`);
      this.#checkLookupFree(kind, lookup, id);
      this.#ctx
        .stmt(
          'INSERT INTO credentials (id, person_id, kind, lookup, label, valid_from, valid_until, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(id, personId, kind, lookup, label, window.validFrom, window.validUntil, this.#ctx.now());
      this.#audit('admin.credential.added', { personId, credentialId: id }, { kind, label, ...window });
      return this.#mustGet(id);
    });
  }

  #checkPerson(personId: string): void {
    if (!this.#ctx.stmt('SELECT 1 FROM people WHERE id = ?').get(personId))
      throw notFound('person', String(personId));
  }

  #checkLookupFree(kind: CredentialKind, lookup: string, ownId: string): void {
    const holder = this.#ctx
      .stmt<string>('SELECT id FROM credentials WHERE kind = ? AND lookup = ? AND revoked_at IS NULL')
      .pluck()
      .get(kind, lookup);
    if (holder === undefined || holder === ownId) return;
    if (kind === 'pin') throw new StoreError('conflict', 'PIN already in use');
    if (kind === 'card') {
      const label = this.#ctx
        .stmt<string>('SELECT label FROM credentials WHERE id = ?')
        .pluck()
        .get(holder) as string;
      throw new StoreError('conflict', `${label} is already assigned`);
    }
    throw new StoreError('conflict', 'mobile key already in use');
  }

  #mustGet(id: string): StoredCredential {
    const credential = this.get(id);
    if (!credential) throw notFound('credential', String(id));
    return credential;
  }
}
