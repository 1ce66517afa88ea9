// People (residents, staff, guests) and the units they live in.
import type { Database } from 'better-sqlite3';
import type { Person, PersonKind } from '../domain.js';
import type { Audit, StoreContext } from './context.js';
import {
  checkId,
  checkIntRange,
  checkName,
  checkOneOf,
  checkTime,
  generateId,
  invalid,
  notFound,
  StoreError,
} from './errors.js';

export const PERSON_KINDS: readonly PersonKind[] = ['resident', 'staff', 'guest'];

interface PersonRow {
  id: string;
  name: string;
  kind: PersonKind;
  unit_id: string | null;
  suspended: number;
  key_epoch: number;
  access_from: number | null;
  access_until: number | null;
  created_at: number;
  updated_at: number;
}

function toPerson(row: PersonRow): Person {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    unitId: row.unit_id,
    suspended: row.suspended === 1,
    keyEpoch: row.key_epoch,
    accessFrom: row.access_from,
    accessUntil: row.access_until,
    createdAt: row.created_at,
  };
}

export const PERSON_COLUMNS =
  'id, name, kind, unit_id, suspended, key_epoch, access_from, access_until, created_at, updated_at';
/** The columns a new row gets; the access window starts open (null). */
const INSERT_COLUMNS = 'id, name, kind, unit_id, suspended, key_epoch, created_at, updated_at';

/** Longest search text and most rows one search returns (person.list). */
export const MAX_SEARCH_CHARS = 80;
export const MAX_SEARCH_LIMIT = 500;
export const DEFAULT_SEARCH_LIMIT = 100;

/**
 * What a search compares: lower case, accents removed ("Müller" → "muller", "ÉMILE" → "emile").
 * The same function folds the stored text (in SQL, as gh_fold) and the query.
 */
export function foldForSearch(text: string): string {
  return text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
}

const FOLD_FUNCTION = 'gh_fold';
const withFold = new WeakSet<Database>();

/** Registers gh_fold on a connection once (a Store view made by `as()` shares the connection). */
function registerFold(db: Database): void {
  if (withFold.has(db)) return;
  db.function(FOLD_FUNCTION, { deterministic: true }, (value: unknown) =>
    typeof value === 'string' ? foldForSearch(value) : null,
  );
  withFold.add(db);
}

// instr() compares literally: '%' and '_' in a query are plain characters, never wildcards.
const SEARCH_SQL = `
  SELECT p.id, p.name, p.kind, p.unit_id, p.suspended, p.key_epoch, p.access_from, p.access_until,
         p.created_at, p.updated_at
  FROM people p LEFT JOIN units u ON u.id = p.unit_id
  WHERE @query IS NULL
     OR instr(${FOLD_FUNCTION}(p.name), @query) > 0
     OR instr(${FOLD_FUNCTION}(p.id), @query) > 0
     OR instr(${FOLD_FUNCTION}(p.unit_id), @query) > 0
     OR instr(${FOLD_FUNCTION}(u.name), @query) > 0
  ORDER BY ${FOLD_FUNCTION}(p.name), p.name, p.id
  LIMIT @limit`;

export { type PersonRow, toPerson };

export interface NewPerson {
  id?: string;
  name: string;
  kind: PersonKind;
  unitId?: string | null;
}

export interface Unit {
  id: string;
  name: string;
  createdAt: number;
}

export class PeopleRepo {
  readonly #ctx: StoreContext;
  readonly #audit: Audit;

  constructor(ctx: StoreContext, audit: Audit) {
    this.#ctx = ctx;
    this.#audit = audit;
    registerFold(ctx.db);
  }

  add(input: NewPerson): Person {
    if (input === null || typeof input !== 'object') throw invalid('person must be an object');
    const id = input.id === undefined ? generateId('p') : checkId(input.id, 'person');
    const name = checkName(input.name, 'person name');
    const kind = checkOneOf(input.kind, PERSON_KINDS, 'person kind');
    const unitId = input.unitId == null ? null : checkId(input.unitId, 'unit');
    return this.#ctx.write(() => {
      if (this.#row(id)) throw new StoreError('conflict', `person '${id}' already exists`);
      this.#checkUnit(unitId);
      const now = this.#ctx.now();
      this.#ctx
        .stmt(`INSERT INTO people (${INSERT_COLUMNS}) VALUES (?, ?, ?, ?, 0, 0, ?, ?)`)
        .run(id, name, kind, unitId, now, now);
      this.#audit('admin.person.added', { personId: id }, { kind, unitId });
      return this.#mustGet(id);
    });
  }

  get(id: string): Person | null {
    const row = this.#row(id);
    return row ? toPerson(row) : null;
  }

  list(): Person[] {
    return this.#ctx
      .stmt<PersonRow>(`SELECT ${PERSON_COLUMNS} FROM people ORDER BY name, id`)
      .all()
      .map(toPerson);
  }

  /**
   * People whose name, id, unit id or unit name contains `query` (case and accents ignored, taken
   * literally), by name; everyone when `query` is absent. At most `limit` rows.
   */
  search(options: { query?: string | null; limit?: number } = {}): Person[] {
    const query = options.query == null ? null : checkName(options.query, 'query', MAX_SEARCH_CHARS);
    const limit =
      options.limit === undefined
        ? DEFAULT_SEARCH_LIMIT
        : checkIntRange(options.limit, 1, MAX_SEARCH_LIMIT, 'limit');
    return this.#ctx
      .stmt<PersonRow>(SEARCH_SQL)
      .all({ query: query === null ? null : foldForSearch(query), limit })
      .map(toPerson);
  }

  update(id: string, patch: { name?: string; kind?: PersonKind; unitId?: string | null }): Person {
    return this.#ctx.write(() => {
      const current = this.#mustGet(id);
      const name = patch.name === undefined ? current.name : checkName(patch.name, 'person name');
      const kind =
        patch.kind === undefined ? current.kind : checkOneOf(patch.kind, PERSON_KINDS, 'person kind');
      const unitId =
        patch.unitId === undefined
          ? current.unitId
          : patch.unitId === null
            ? null
            : checkId(patch.unitId, 'unit');
      this.#checkUnit(unitId);
      this.#ctx
        .stmt('UPDATE people SET name = ?, kind = ?, unit_id = ?, updated_at = ? WHERE id = ?')
        .run(name, kind, unitId, this.#ctx.now(), id);
      this.#audit('admin.person.updated', { personId: id }, { kind, unitId });
      return this.#mustGet(id);
    });
  }

  /**
   * Suspension denies every credential of the person; durable before this returns. `reason` is kept
   * in the audit event; the actor comes from `store.as(actor)`.
   */
  setSuspended(id: string, suspended: boolean, reason?: string | null): Person {
    if (typeof suspended !== 'boolean') throw invalid('suspended must be true or false');
    const why = reason == null ? null : checkName(reason, 'reason', 200);
    return this.#ctx.write(() => {
      const current = this.#mustGet(id);
      if (current.suspended === suspended) return current;
      this.#ctx
        .stmt('UPDATE people SET suspended = ?, updated_at = ? WHERE id = ?')
        .run(suspended ? 1 : 0, this.#ctx.now(), id);
      this.#audit(
        suspended ? 'admin.person.suspended' : 'admin.person.unsuspended',
        { personId: id },
        why === null ? {} : { reason: why },
      );
      return this.#mustGet(id);
    });
  }

  /**
   * The person's access window (from inclusive, until exclusive; null = open on that side): outside it
   * every credential is refused (reason person_outside_window). Both null clears it. Durable before
   * this returns; writes admin.person.window_set with from, until and the reason.
   */
  setWindow(
    id: string,
    window: { from: number | null; until: number | null; reason?: string | null },
  ): Person {
    if (window === null || typeof window !== 'object') throw invalid('window must be an object');
    const from = checkTime(window.from, 'from');
    const until = checkTime(window.until, 'until');
    if (from !== null && until !== null && until <= from) {
      throw invalid("'until' must be later than 'from'");
    }
    const why = window.reason == null ? null : checkName(window.reason, 'reason', 200);
    return this.#ctx.write(() => {
      this.#mustGet(id);
      this.#ctx
        .stmt('UPDATE people SET access_from = ?, access_until = ?, updated_at = ? WHERE id = ?')
        .run(from, until, this.#ctx.now(), id);
      this.#audit('admin.person.window_set', { personId: id }, { from, until, reason: why });
      return this.#mustGet(id);
    });
  }

  /** "Log out everywhere": mobile keys issued under an older epoch stop working. Returns the new epoch. */
  bumpKeyEpoch(id: string): number {
    return this.#ctx.write(() => {
      this.#mustGet(id);
      this.#ctx
        .stmt('UPDATE people SET key_epoch = key_epoch + 1, updated_at = ? WHERE id = ?')
        .run(this.#ctx.now(), id);
      const epoch = this.#mustGet(id).keyEpoch;
      this.#audit('admin.person.key_epoch_bumped', { personId: id }, { keyEpoch: epoch });
      return epoch;
    });
  }

  /** Removes the person with their credentials and group memberships. Events keep the id. */
  remove(id: string): void {
    this.#ctx.write(() => {
      this.#mustGet(id);
      this.#ctx.stmt('DELETE FROM people WHERE id = ?').run(id);
      this.#audit('admin.person.removed', { personId: id });
    });
  }

  /**
   * Cloud mirror: create or replace a person with an explicit id. The access window is the hub's own:
   * a mirrored copy neither sets nor clears it (deny wins).
   */
  upsert(person: Omit<Person, 'createdAt' | 'accessFrom' | 'accessUntil'> & { createdAt?: number }): Person {
    if (person === null || typeof person !== 'object') throw invalid('person must be an object');
    const id = checkId(person.id, 'person');
    const name = checkName(person.name, 'person name');
    const kind = checkOneOf(person.kind, PERSON_KINDS, 'person kind');
    const unitId = person.unitId == null ? null : checkId(person.unitId, 'unit');
    if (typeof person.suspended !== 'boolean') throw invalid('suspended must be true or false');
    if (!Number.isSafeInteger(person.keyEpoch) || person.keyEpoch < 0) throw invalid('keyEpoch must be >= 0');
    return this.#ctx.write(() => {
      this.#checkUnit(unitId);
      const now = this.#ctx.now();
      // key_epoch only moves forward: an older copy must not revive revoked mobile keys.
      this.#ctx
        .stmt(
          `INSERT INTO people (${INSERT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, unit_id = excluded.unit_id,
             suspended = excluded.suspended, key_epoch = max(key_epoch, excluded.key_epoch), updated_at = excluded.updated_at`,
        )
        .run(id, name, kind, unitId, person.suspended ? 1 : 0, person.keyEpoch, person.createdAt ?? now, now);
      this.#audit('admin.person.upserted', { personId: id }, { kind, unitId, suspended: person.suspended });
      return this.#mustGet(id);
    });
  }

  #row(id: string): PersonRow | undefined {
    return this.#ctx.stmt<PersonRow>(`SELECT ${PERSON_COLUMNS} FROM people WHERE id = ?`).get(id);
  }

  #mustGet(id: string): Person {
    const row = this.#row(id);
    if (!row) throw notFound('person', String(id));
    return toPerson(row);
  }

  #checkUnit(unitId: string | null): void {
    if (unitId !== null && !this.#ctx.stmt('SELECT 1 FROM units WHERE id = ?').get(unitId)) {
      throw notFound('unit', unitId);
    }
  }
}

export class UnitsRepo {
  readonly #ctx: StoreContext;
  readonly #audit: Audit;

  constructor(ctx: StoreContext, audit: Audit) {
    this.#ctx = ctx;
    this.#audit = audit;
  }

  add(input: { id?: string; name: string }): Unit {
    if (input === null || typeof input !== 'object') throw invalid('unit must be an object');
    const id = input.id === undefined ? generateId('u') : checkId(input.id, 'unit');
    const name = checkName(input.name, 'unit name');
    return this.#ctx.write(() => {
      if (this.get(id)) throw new StoreError('conflict', `unit '${id}' already exists`);
      const now = this.#ctx.now();
      this.#ctx.stmt('INSERT INTO units (id, name, created_at) VALUES (?, ?, ?)').run(id, name, now);
      this.#audit('admin.unit.added', {}, { unitId: id });
      return { id, name, createdAt: now };
    });
  }

  get(id: string): Unit | null {
    const row = this.#ctx
      .stmt<{ id: string; name: string; created_at: number }>(
        'SELECT id, name, created_at FROM units WHERE id = ?',
      )
      .get(id);
    return row ? { id: row.id, name: row.name, createdAt: row.created_at } : null;
  }

  list(): Unit[] {
    return this.#ctx
      .stmt<{ id: string; name: string; created_at: number }>(
        'SELECT id, name, created_at FROM units ORDER BY name, id',
      )
      .all()
      .map((row) => ({ id: row.id, name: row.name, createdAt: row.created_at }));
  }

  /** People in the unit keep existing, with no unit. */
  remove(id: string): void {
    this.#ctx.write(() => {
      if (!this.get(id)) throw notFound('unit', String(id));
      this.#ctx.stmt('DELETE FROM units WHERE id = ?').run(id);
      this.#audit('admin.unit.removed', {}, { unitId: id });
    });
  }
}
