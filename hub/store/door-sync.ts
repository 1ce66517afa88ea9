// What the door-side copy (hub/doorsync) reads: the active cards and PINs of unsuspended people in a
// group that includes a door, one row per credential and granting group. A person's access window is
// folded into each credential's validity (the later start, the earlier end), so a door refuses outside
// it without the hub; a person whose window has ended is left out, like an expired credential.
import type { StoreContext } from './context.js';

export interface DoorSyncRow {
  id: string;
  kind: 'card' | 'pin';
  lookup: string;
  valid_from: number | null;
  valid_until: number | null;
  person_id: string;
  schedule_id: string | null;
  intervals: string | null;
}

/** What door sync needs from the store beyond doors, holidays and kv. */
export interface DoorSyncReads {
  /**
   * Every entry of a door, by credential id then group id. Credentials expired at `now`, and those of
   * people whose access window ended by `now`, are left out.
   */
  doorEntries(doorId: string, now: number): DoorSyncRow[];
  /** One person's entries at a door. */
  personEntries(doorId: string, personId: string, now: number): DoorSyncRow[];
}

const SELECT_ENTRIES = `
  SELECT c.id AS id, c.kind AS kind, c.lookup AS lookup,
         CASE WHEN c.valid_from IS NULL THEN p.access_from WHEN p.access_from IS NULL THEN c.valid_from
              ELSE max(c.valid_from, p.access_from) END AS valid_from,
         CASE WHEN c.valid_until IS NULL THEN p.access_until WHEN p.access_until IS NULL THEN c.valid_until
              ELSE min(c.valid_until, p.access_until) END AS valid_until,
         m.person_id AS person_id, g.schedule_id AS schedule_id, s.intervals AS intervals
  FROM group_doors gd
  JOIN access_groups g ON g.id = gd.group_id
  JOIN group_members m ON m.group_id = gd.group_id
  JOIN people p ON p.id = m.person_id AND p.suspended = 0 AND (p.access_until IS NULL OR p.access_until > ?)
  JOIN credentials c ON c.person_id = p.id AND c.revoked_at IS NULL AND c.kind IN ('card', 'pin')
    AND (c.valid_until IS NULL OR c.valid_until > ?)
  LEFT JOIN schedules s ON s.id = g.schedule_id
  WHERE gd.door_id = ?`;
const DOOR_SQL = `${SELECT_ENTRIES} ORDER BY c.id, g.id`;
const PERSON_SQL = `${SELECT_ENTRIES} AND m.person_id = ? ORDER BY c.id, g.id`;

export class DoorSyncRepo implements DoorSyncReads {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  doorEntries(doorId: string, now: number): DoorSyncRow[] {
    return this.#ctx.stmt<DoorSyncRow>(DOOR_SQL).all(now, now, doorId);
  }

  personEntries(doorId: string, personId: string, now: number): DoorSyncRow[] {
    return this.#ctx.stmt<DoorSyncRow>(PERSON_SQL).all(now, now, doorId, personId);
  }
}
