// Units (flats, offices) people live or work in: staff work.
import { defineCommand, type Role } from './command.js';
import { Id, Input, Name, NoInput } from './schemas.js';

const STAFF: readonly Role[] = ['admin', 'staff'];

export const unitCommands = [
  defineCommand({
    name: 'unit.add',
    summary: 'add a unit (flat, office)',
    input: Input({ id: Id, name: Name }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'POST', path: '/units', status: 201 },
    run: (ctx, input) => ({ unit: ctx.store.units.add(input) }),
  }),
  defineCommand({
    name: 'unit.remove',
    summary: 'remove a unit (its people stay, with no unit)',
    input: Input({ id: Id }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'DELETE', path: '/units/:id' },
    run: (ctx, { id }) => {
      ctx.store.units.remove(id);
      return { ok: true };
    },
  }),
  defineCommand({
    name: 'unit.list',
    summary: 'list units',
    input: NoInput,
    roles: STAFF,
    runs: 'store',
    readOnly: true,
    http: { method: 'GET', path: '/units' },
    run: (ctx) => ({ units: ctx.store.units.list() }),
  }),
];
