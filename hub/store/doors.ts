// Doors: how each is reached, its mode and its timings.
import type { Door, DoorMode, DoorTransport, FailMode } from '../domain.js';
import type { Audit, StoreContext } from './context.js';
import { checkId, checkIntRange, checkName, checkOneOf, invalid, notFound, StoreError } from './errors.js';

export const DOOR_TRANSPORTS: readonly DoorTransport[] = ['mqtt', 'wired', 'sim'];
export const DOOR_MODES: readonly DoorMode[] = ['normal', 'lockdown', 'unlocked'];
export const FAIL_MODES: readonly FailMode[] = ['secure', 'safe'];

interface DoorRow {
  id: string;
  name: string;
  transport: DoorTransport;
  mode: DoorMode;
  fail_mode: FailMode;
  unlock_ms: number;
  held_open_ms: number;
  created_at: number;
}

const COLUMNS = 'id, name, transport, mode, fail_mode, unlock_ms, held_open_ms, created_at';

function toDoor(row: DoorRow): Door {
  return {
    id: row.id,
    name: row.name,
    transport: row.transport,
    mode: row.mode,
    failMode: row.fail_mode,
    unlockMs: row.unlock_ms,
    heldOpenMs: row.held_open_ms,
    createdAt: row.created_at,
  };
}

export interface NewDoor {
  id: string;
  name: string;
  transport?: DoorTransport;
  failMode?: FailMode;
  unlockMs?: number;
  heldOpenMs?: number;
}

export type DoorPatch = Partial<Omit<NewDoor, 'id'>>;

function checkDoorFields(input: DoorPatch, base: Omit<Door, 'id' | 'mode' | 'createdAt'>) {
  return {
    name: input.name === undefined ? base.name : checkName(input.name, 'door name'),
    transport:
      input.transport === undefined
        ? base.transport
        : checkOneOf(input.transport, DOOR_TRANSPORTS, 'door transport'),
    failMode:
      input.failMode === undefined ? base.failMode : checkOneOf(input.failMode, FAIL_MODES, 'door failMode'),
    unlockMs:
      input.unlockMs === undefined ? base.unlockMs : checkIntRange(input.unlockMs, 1000, 60_000, 'unlockMs'),
    heldOpenMs:
      input.heldOpenMs === undefined
        ? base.heldOpenMs
        : checkIntRange(input.heldOpenMs, 1000, 3_600_000, 'heldOpenMs'),
  };
}

const DEFAULTS = {
  name: '',
  transport: 'mqtt',
  failMode: 'secure',
  unlockMs: 5000,
  heldOpenMs: 60_000,
} as const;

export class DoorsRepo {
  readonly #ctx: StoreContext;
  readonly #audit: Audit;

  constructor(ctx: StoreContext, audit: Audit) {
    this.#ctx = ctx;
    this.#audit = audit;
  }

  add(input: NewDoor): Door {
    if (input === null || typeof input !== 'object') throw invalid('door must be an object');
    const id = checkId(input.id, 'door');
    const fields = checkDoorFields({ ...input, name: input.name ?? '' }, DEFAULTS);
    return this.#ctx.write(() => {
      if (this.#row(id)) throw new StoreError('conflict', `door '${id}' already exists`);
      const now = this.#ctx.now();
      this.#ctx
        .stmt(
          'INSERT INTO doors (id, name, transport, mode, fail_mode, unlock_ms, held_open_ms, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(
          id,
          fields.name,
          fields.transport,
          'normal',
          fields.failMode,
          fields.unlockMs,
          fields.heldOpenMs,
          now,
          now,
        );
      this.#audit('admin.door.added', { doorId: id }, { ...fields });
      return this.#mustGet(id);
    });
  }

  get(id: string): Door | null {
    const row = this.#row(id);
    return row ? toDoor(row) : null;
  }

  list(): Door[] {
    return this.#ctx.stmt<DoorRow>(`SELECT ${COLUMNS} FROM doors ORDER BY id`).all().map(toDoor);
  }

  update(id: string, patch: DoorPatch): Door {
    if (patch === null || typeof patch !== 'object') throw invalid('door changes must be an object');
    return this.#ctx.write(() => {
      const fields = checkDoorFields(patch, this.#mustGet(id));
      this.#ctx
        .stmt(
          'UPDATE doors SET name = ?, transport = ?, fail_mode = ?, unlock_ms = ?, held_open_ms = ?, updated_at = ? WHERE id = ?',
        )
        .run(
          fields.name,
          fields.transport,
          fields.failMode,
          fields.unlockMs,
          fields.heldOpenMs,
          this.#ctx.now(),
          id,
        );
      this.#audit('admin.door.updated', { doorId: id }, { ...fields });
      return this.#mustGet(id);
    });
  }

  /** `reason` is kept in the audit event; the actor comes from `store.as(actor)`. */
  setMode(id: string, mode: DoorMode, reason?: string | null): Door {
    const checked = checkOneOf(mode, DOOR_MODES, 'door mode');
    const why = reason == null ? null : checkName(reason, 'reason', 200);
    return this.#ctx.write(() => {
      const current = this.#mustGet(id);
      if (current.mode === checked) return current;
      this.#ctx
        .stmt('UPDATE doors SET mode = ?, updated_at = ? WHERE id = ?')
        .run(checked, this.#ctx.now(), id);
      this.#audit(
        'admin.door.mode_changed',
        { doorId: id },
        { from: current.mode, to: checked, ...(why === null ? {} : { reason: why }) },
      );
      return this.#mustGet(id);
    });
  }

  /** Also removes the door from groups and devices. */
  remove(id: string): void {
    this.#ctx.write(() => {
      this.#mustGet(id);
      this.#ctx.stmt('DELETE FROM doors WHERE id = ?').run(id);
      this.#audit('admin.door.removed', { doorId: id });
    });
  }

  /** Cloud mirror: create or replace a door with an explicit id. */
  upsert(door: Omit<Door, 'createdAt'> & { createdAt?: number }): Door {
    if (door === null || typeof door !== 'object') throw invalid('door must be an object');
    const id = checkId(door.id, 'door');
    const fields = checkDoorFields({ ...door, name: door.name ?? '' }, DEFAULTS);
    const mode = checkOneOf(door.mode, DOOR_MODES, 'door mode');
    return this.#ctx.write(() => {
      const now = this.#ctx.now();
      this.#ctx
        .stmt(
          `INSERT INTO doors (id, name, transport, mode, fail_mode, unlock_ms, held_open_ms, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET name = excluded.name, transport = excluded.transport, mode = excluded.mode,
             fail_mode = excluded.fail_mode, unlock_ms = excluded.unlock_ms, held_open_ms = excluded.held_open_ms,
             updated_at = excluded.updated_at`,
        )
        .run(
          id,
          fields.name,
          fields.transport,
          mode,
          fields.failMode,
          fields.unlockMs,
          fields.heldOpenMs,
          door.createdAt ?? now,
          now,
        );
      this.#audit('admin.door.upserted', { doorId: id }, { ...fields, mode });
      return this.#mustGet(id);
    });
  }

  #row(id: string): DoorRow | undefined {
    return this.#ctx.stmt<DoorRow>(`SELECT ${COLUMNS} FROM doors WHERE id = ?`).get(id);
  }

  #mustGet(id: string): Door {
    const row = this.#row(id);
    if (!row) throw notFound('door', String(id));
    return toDoor(row);
  }
}
