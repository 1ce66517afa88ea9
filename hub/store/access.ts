// Who may open which door when: weekly schedules, holidays, access groups and the grant query.
import { type ScheduleDay, type ScheduleInterval, WEEKDAYS } from '../domain.js';
import type { Audit, StoreContext } from './context.js';
import { checkId, checkName, generateId, invalid, isPlainRecord, notFound, StoreError } from './errors.js';

export const SCHEDULE_DAYS: readonly ScheduleDay[] = [...WEEKDAYS, 'hol'];
export const MAX_INTERVALS_PER_DAY = 32;
const TIME_PATTERN = /^([01][0-9]|2[0-4]):([0-5][0-9])$/;
const DATE_PATTERN = /^(\d{4})-(\d{2})-(\d{2})$/;

export interface Schedule {
  id: string;
  name: string;
  intervals: ScheduleInterval[];
  createdAt: number;
}

export interface AccessGroup {
  id: string;
  name: string;
  /** null: no time restriction. */
  scheduleId: string | null;
  doorIds: string[];
  createdAt: number;
}

export interface Holiday {
  date: string;
  name: string;
}

export interface Grant {
  groupId: string;
  /** null: the group has no schedule (always). */
  intervals: ScheduleInterval[] | null;
}

/** Validates a schedule's intervals; throws a clear error naming the first bad one. */
export function checkIntervals(value: unknown): ScheduleInterval[] {
  if (!Array.isArray(value)) throw invalid('schedule intervals must be an array');
  const perDay = new Map<string, number>();
  return value.map((item: unknown, index) => {
    const where = `interval ${index + 1}`;
    if (!isPlainRecord(item)) throw invalid(`${where} must be an object {day, from, to}`);
    const { day, from, to } = item;
    if (typeof day !== 'string' || !(SCHEDULE_DAYS as readonly string[]).includes(day)) {
      throw invalid(`${where}: day must be one of ${SCHEDULE_DAYS.join(', ')}`);
    }
    for (const [field, time] of [
      ['from', from],
      ['to', to],
    ] as const) {
      const match = typeof time === 'string' ? TIME_PATTERN.exec(time) : null;
      if (!match || (match[1] === '24' && match[2] !== '00')) {
        throw invalid(`${where}: ${field} must be HH:MM from 00:00 to 24:00`);
      }
    }
    if (from === '24:00') throw invalid(`${where}: from cannot be 24:00`);
    const count = (perDay.get(day) ?? 0) + 1;
    if (count > MAX_INTERVALS_PER_DAY)
      throw invalid(`at most ${MAX_INTERVALS_PER_DAY} intervals per day (${day})`);
    perDay.set(day, count);
    return { day: day as ScheduleDay, from: from as string, to: to as string };
  });
}

export function checkDate(value: unknown): string {
  const match = typeof value === 'string' ? DATE_PATTERN.exec(value) : null;
  if (match) {
    const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
    const date = new Date(Date.UTC(year, month - 1, day));
    if (date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day) {
      return value as string;
    }
  }
  throw invalid('date must be a real calendar date YYYY-MM-DD');
}

interface ScheduleRow {
  id: string;
  name: string;
  intervals: string;
  created_at: number;
}

function toSchedule(row: ScheduleRow): Schedule {
  return {
    id: row.id,
    name: row.name,
    intervals: JSON.parse(row.intervals) as ScheduleInterval[],
    createdAt: row.created_at,
  };
}

export class SchedulesRepo {
  readonly #ctx: StoreContext;
  readonly #audit: Audit;

  constructor(ctx: StoreContext, audit: Audit) {
    this.#ctx = ctx;
    this.#audit = audit;
  }

  /** Creates or replaces a schedule. */
  set(id: string, name: string, intervals: ScheduleInterval[]): Schedule {
    const checkedId = checkId(id, 'schedule');
    const checkedName = checkName(name, 'schedule name');
    const checked = checkIntervals(intervals);
    return this.#ctx.write(() => {
      const now = this.#ctx.now();
      this.#ctx
        .stmt(
          `INSERT INTO schedules (id, name, intervals, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET name = excluded.name, intervals = excluded.intervals, updated_at = excluded.updated_at`,
        )
        .run(checkedId, checkedName, JSON.stringify(checked), now, now);
      this.#audit('admin.schedule.set', {}, { scheduleId: checkedId, intervals: checked.length });
      return this.get(checkedId)!;
    });
  }

  get(id: string): Schedule | null {
    const row = this.#ctx
      .stmt<ScheduleRow>('SELECT id, name, intervals, created_at FROM schedules WHERE id = ?')
      .get(id);
    return row ? toSchedule(row) : null;
  }

  list(): Schedule[] {
    return this.#ctx
      .stmt<ScheduleRow>('SELECT id, name, intervals, created_at FROM schedules ORDER BY id')
      .all()
      .map(toSchedule);
  }

  /** Refused while a group uses it: dropping it must not turn that group into "always". */
  remove(id: string): void {
    this.#ctx.write(() => {
      if (!this.get(id)) throw notFound('schedule', String(id));
      const users = this.#ctx
        .stmt<string>('SELECT id FROM access_groups WHERE schedule_id = ? ORDER BY id')
        .pluck()
        .all(id);
      if (users.length > 0) {
        throw new StoreError('in_use', `schedule '${id}' is used by group(s): ${users.join(', ')}`);
      }
      this.#ctx.stmt('DELETE FROM schedules WHERE id = ?').run(id);
      this.#audit('admin.schedule.removed', {}, { scheduleId: id });
    });
  }
}

interface GroupRow {
  id: string;
  name: string;
  schedule_id: string | null;
  created_at: number;
}

export class GroupsRepo {
  readonly #ctx: StoreContext;
  readonly #audit: Audit;

  constructor(ctx: StoreContext, audit: Audit) {
    this.#ctx = ctx;
    this.#audit = audit;
  }

  add(input: { id?: string; name: string; scheduleId?: string | null }): AccessGroup {
    if (input === null || typeof input !== 'object') throw invalid('group must be an object');
    const id = input.id === undefined ? generateId('g') : checkId(input.id, 'group');
    const name = checkName(input.name, 'group name');
    const scheduleId = input.scheduleId == null ? null : checkId(input.scheduleId, 'schedule');
    return this.#ctx.write(() => {
      if (this.#row(id)) throw new StoreError('conflict', `group '${id}' already exists`);
      this.#checkSchedule(scheduleId);
      const now = this.#ctx.now();
      this.#ctx
        .stmt(
          'INSERT INTO access_groups (id, name, schedule_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
        )
        .run(id, name, scheduleId, now, now);
      this.#audit('admin.group.added', {}, { groupId: id, scheduleId });
      return this.#mustGet(id);
    });
  }

  get(id: string): AccessGroup | null {
    const row = this.#row(id);
    return row ? this.#toGroup(row) : null;
  }

  list(): AccessGroup[] {
    return this.#ctx
      .stmt<GroupRow>('SELECT id, name, schedule_id, created_at FROM access_groups ORDER BY name, id')
      .all()
      .map((row) => this.#toGroup(row));
  }

  members(groupId: string): string[] {
    return this.#ctx
      .stmt<string>('SELECT person_id FROM group_members WHERE group_id = ? ORDER BY person_id')
      .pluck()
      .all(groupId);
  }

  groupsOf(personId: string): string[] {
    return this.#ctx
      .stmt<string>('SELECT group_id FROM group_members WHERE person_id = ? ORDER BY group_id')
      .pluck()
      .all(personId);
  }

  remove(id: string): void {
    this.#ctx.write(() => {
      this.#mustGet(id);
      this.#ctx.stmt('DELETE FROM access_groups WHERE id = ?').run(id);
      this.#audit('admin.group.removed', {}, { groupId: id });
    });
  }

  /** null: no time restriction. */
  setSchedule(id: string, scheduleId: string | null): AccessGroup {
    const checked = scheduleId === null ? null : checkId(scheduleId, 'schedule');
    return this.#ctx.write(() => {
      this.#mustGet(id);
      this.#checkSchedule(checked);
      this.#ctx
        .stmt('UPDATE access_groups SET schedule_id = ?, updated_at = ? WHERE id = ?')
        .run(checked, this.#ctx.now(), id);
      this.#audit('admin.group.schedule_changed', {}, { groupId: id, scheduleId: checked });
      return this.#mustGet(id);
    });
  }

  addDoor(groupId: string, doorId: string): void {
    this.#link(
      'door',
      groupId,
      doorId,
      'INSERT OR IGNORE INTO group_doors (group_id, door_id) VALUES (?, ?)',
    );
  }

  removeDoor(groupId: string, doorId: string): void {
    this.#link('door', groupId, doorId, 'DELETE FROM group_doors WHERE group_id = ? AND door_id = ?', true);
  }

  addMember(groupId: string, personId: string): void {
    this.#link(
      'member',
      groupId,
      personId,
      'INSERT OR IGNORE INTO group_members (group_id, person_id) VALUES (?, ?)',
    );
  }

  removeMember(groupId: string, personId: string): void {
    this.#link(
      'member',
      groupId,
      personId,
      'DELETE FROM group_members WHERE group_id = ? AND person_id = ?',
      true,
    );
  }

  /** Cloud mirror: replace a group's name, schedule, doors and members at once. */
  upsert(group: {
    id: string;
    name: string;
    scheduleId: string | null;
    doorIds: string[];
    memberIds?: string[];
  }): AccessGroup {
    if (group === null || typeof group !== 'object') throw invalid('group must be an object');
    const id = checkId(group.id, 'group');
    const name = checkName(group.name, 'group name');
    const scheduleId = group.scheduleId == null ? null : checkId(group.scheduleId, 'schedule');
    if (!Array.isArray(group.doorIds)) throw invalid('doorIds must be an array');
    const doorIds = group.doorIds.map((doorId) => checkId(doorId, 'door'));
    const memberIds = group.memberIds?.map((personId) => checkId(personId, 'person'));
    return this.#ctx.write(() => {
      this.#checkSchedule(scheduleId);
      const now = this.#ctx.now();
      this.#ctx
        .stmt(
          `INSERT INTO access_groups (id, name, schedule_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET name = excluded.name, schedule_id = excluded.schedule_id, updated_at = excluded.updated_at`,
        )
        .run(id, name, scheduleId, now, now);
      this.#ctx.stmt('DELETE FROM group_doors WHERE group_id = ?').run(id);
      for (const doorId of doorIds) {
        if (!this.#ctx.stmt('SELECT 1 FROM doors WHERE id = ?').get(doorId)) throw notFound('door', doorId);
        this.#ctx.stmt('INSERT OR IGNORE INTO group_doors (group_id, door_id) VALUES (?, ?)').run(id, doorId);
      }
      if (memberIds) {
        this.#ctx.stmt('DELETE FROM group_members WHERE group_id = ?').run(id);
        for (const personId of memberIds) {
          if (!this.#ctx.stmt('SELECT 1 FROM people WHERE id = ?').get(personId))
            throw notFound('person', personId);
          this.#ctx
            .stmt('INSERT OR IGNORE INTO group_members (group_id, person_id) VALUES (?, ?)')
            .run(id, personId);
        }
      }
      this.#audit('admin.group.upserted', {}, { groupId: id, scheduleId, doors: doorIds.length });
      return this.#mustGet(id);
    });
  }

  #link(what: 'door' | 'member', groupId: string, otherId: string, sql: string, removing = false): void {
    const checkedGroup = checkId(groupId, 'group');
    const checkedOther = checkId(otherId, what === 'door' ? 'door' : 'person');
    this.#ctx.write(() => {
      this.#mustGet(checkedGroup);
      const table = what === 'door' ? 'doors' : 'people';
      if (!removing && !this.#ctx.stmt(`SELECT 1 FROM ${table} WHERE id = ?`).get(checkedOther)) {
        throw notFound(what === 'door' ? 'door' : 'person', checkedOther);
      }
      const changes = this.#ctx.stmt(sql).run(checkedGroup, checkedOther).changes;
      if (changes === 0) return; // already so: nothing to record
      const verb = removing ? 'removed' : 'added';
      const refs = what === 'door' ? { doorId: checkedOther } : { personId: checkedOther };
      this.#audit(`admin.group.${what}_${verb}`, refs, { groupId: checkedGroup });
    });
  }

  #row(id: string): GroupRow | undefined {
    return this.#ctx
      .stmt<GroupRow>('SELECT id, name, schedule_id, created_at FROM access_groups WHERE id = ?')
      .get(id);
  }

  #toGroup(row: GroupRow): AccessGroup {
    const doorIds = this.#ctx
      .stmt<string>('SELECT door_id FROM group_doors WHERE group_id = ? ORDER BY door_id')
      .pluck()
      .all(row.id);
    return { id: row.id, name: row.name, scheduleId: row.schedule_id, doorIds, createdAt: row.created_at };
  }

  #mustGet(id: string): AccessGroup {
    const row = this.#row(id);
    if (!row) throw notFound('group', String(id));
    return this.#toGroup(row);
  }

  #checkSchedule(scheduleId: string | null): void {
    if (scheduleId !== null && !this.#ctx.stmt('SELECT 1 FROM schedules WHERE id = ?').get(scheduleId)) {
      throw notFound('schedule', scheduleId);
    }
  }
}

export class HolidaysRepo {
  readonly #ctx: StoreContext;
  readonly #audit: Audit;

  constructor(ctx: StoreContext, audit: Audit) {
    this.#ctx = ctx;
    this.#audit = audit;
  }

  /** Adds or renames a holiday. */
  add(date: string, name: string): Holiday {
    const checkedDate = checkDate(date);
    const checkedName = checkName(name, 'holiday name');
    return this.#ctx.write(() => {
      this.#ctx
        .stmt(
          'INSERT INTO holidays (date, name) VALUES (?, ?) ON CONFLICT (date) DO UPDATE SET name = excluded.name',
        )
        .run(checkedDate, checkedName);
      this.#audit('admin.holiday.added', {}, { date: checkedDate });
      return { date: checkedDate, name: checkedName };
    });
  }

  remove(date: string): void {
    const checkedDate = checkDate(date);
    this.#ctx.write(() => {
      if (this.#ctx.stmt('DELETE FROM holidays WHERE date = ?').run(checkedDate).changes === 0) {
        throw notFound('holiday', checkedDate);
      }
      this.#audit('admin.holiday.removed', {}, { date: checkedDate });
    });
  }

  list(): Holiday[] {
    return this.#ctx.stmt<Holiday>('SELECT date, name FROM holidays ORDER BY date').all();
  }

  dates(): Set<string> {
    return new Set(this.#ctx.stmt<string>('SELECT date FROM holidays').pluck().all());
  }
}

// One query: the person's groups that include the door, with each group's schedule.
const GRANTS_SQL = `
  SELECT g.id AS group_id, g.schedule_id AS schedule_id, s.intervals AS intervals
  FROM group_members m
  JOIN group_doors d ON d.group_id = m.group_id AND d.door_id = ?
  JOIN access_groups g ON g.id = m.group_id
  LEFT JOIN schedules s ON s.id = g.schedule_id
  WHERE m.person_id = ?
  ORDER BY g.id`;

export class AccessRepo {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  /** Every group that gives the person the door, with its intervals (null = always). Empty: no access. */
  grantsFor(personId: string, doorId: string): Grant[] {
    return this.#ctx
      .stmt<{ group_id: string; schedule_id: string | null; intervals: string | null }>(GRANTS_SQL)
      .all(doorId, personId)
      .map((row) => ({
        groupId: row.group_id,
        // A schedule that is referenced but missing grants nothing (fail closed), never "always".
        intervals:
          row.schedule_id === null
            ? null
            : row.intervals === null
              ? []
              : (JSON.parse(row.intervals) as ScheduleInterval[]),
      }));
  }
}
