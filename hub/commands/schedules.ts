// Weekly schedules (building time zone, minute precision; docs/access-rules.md). Staff work.
import Type from 'typebox';
import { MAX_INTERVALS_PER_DAY, SCHEDULE_DAYS } from '../store/access.js';
import { defineCommand, type Role } from './command.js';
import { Id, Input, Name, NoInput } from './schemas.js';

const STAFF: readonly Role[] = ['admin', 'staff'];
const Time = Type.String({
  pattern: '^([01][0-9]|2[0-4]):[0-5][0-9]$',
  description: 'a time HH:MM (00:00-24:00)',
});

export const Interval = Input({ day: Type.Enum([...SCHEDULE_DAYS]), from: Time, to: Time });

export const scheduleCommands = [
  defineCommand({
    name: 'schedule.set',
    summary: 'create or replace a weekly schedule ({day, from, to} intervals; to <= from crosses midnight)',
    input: Input({
      id: Id,
      name: Type.Optional(Name),
      intervals: Type.Array(Interval, { maxItems: SCHEDULE_DAYS.length * MAX_INTERVALS_PER_DAY }),
    }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'PUT', path: '/schedules/:id' },
    run: (ctx, { id, name, intervals }) => ({
      schedule: ctx.store.schedules.set(id, name ?? ctx.store.schedules.get(id)?.name ?? id, intervals),
    }),
  }),
  defineCommand({
    name: 'schedule.remove',
    summary: 'remove a schedule (refused while a group uses it)',
    input: Input({ id: Id }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'DELETE', path: '/schedules/:id' },
    run: (ctx, { id }) => {
      ctx.store.schedules.remove(id);
      return { ok: true };
    },
  }),
  defineCommand({
    name: 'schedule.list',
    summary: 'list schedules',
    input: NoInput,
    roles: STAFF,
    runs: 'store',
    readOnly: true,
    http: { method: 'GET', path: '/schedules' },
    run: (ctx) => ({ schedules: ctx.store.schedules.list() }),
  }),
];
