// Holidays: on these dates only a schedule's `hol` intervals apply. Staff work.
import Type from 'typebox';
import { defineCommand, type Role } from './command.js';
import { Input, Name, NoInput } from './schemas.js';

const STAFF: readonly Role[] = ['admin', 'staff'];
const DateText = Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', description: 'a date YYYY-MM-DD' });

export const holidayCommands = [
  defineCommand({
    name: 'holiday.add',
    summary: 'add a holiday (YYYY-MM-DD)',
    input: Input({ date: DateText, name: Type.Optional(Name) }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'POST', path: '/holidays', status: 201 },
    run: (ctx, { date, name }) => ({ holiday: ctx.store.holidays.add(date, name ?? 'Holiday') }),
  }),
  defineCommand({
    name: 'holiday.remove',
    summary: 'remove a holiday',
    input: Input({ date: DateText }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'DELETE', path: '/holidays/:date' },
    run: (ctx, { date }) => {
      ctx.store.holidays.remove(date);
      return { ok: true };
    },
  }),
  defineCommand({
    name: 'holiday.list',
    summary: 'list holidays',
    input: NoInput,
    roles: STAFF,
    runs: 'store',
    readOnly: true,
    http: { method: 'GET', path: '/holidays' },
    run: (ctx) => ({ holidays: ctx.store.holidays.list() }),
  }),
];
