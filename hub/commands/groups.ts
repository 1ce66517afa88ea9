// Access groups: which people may open which doors, and when (a schedule, or always). Staff work.
import Type from 'typebox';
import { defineCommand, type Role } from './command.js';
import { Id, Input, Name, NoInput } from './schemas.js';

const STAFF: readonly Role[] = ['admin', 'staff'];

export const groupCommands = [
  defineCommand({
    name: 'group.add',
    summary: 'add an access group (with a weekly schedule, or always)',
    input: Input({ id: Id, name: Type.Optional(Name), scheduleId: Type.Optional(Id) }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'POST', path: '/groups', status: 201 },
    run: (ctx, { id, name, scheduleId }) => ({
      group: ctx.store.groups.add({ id, name: name ?? id, scheduleId: scheduleId ?? null }),
    }),
  }),
  defineCommand({
    name: 'group.remove',
    summary: 'remove an access group (its people lose the access it gave)',
    input: Input({ id: Id }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'DELETE', path: '/groups/:id' },
    run: (ctx, { id }) => {
      ctx.store.groups.remove(id);
      return { ok: true };
    },
  }),
  defineCommand({
    name: 'group.set_schedule',
    summary: "set the group's weekly schedule (null: always)",
    input: Input({ id: Id, scheduleId: Type.Union([Id, Type.Null()]) }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'PUT', path: '/groups/:id/schedule' },
    run: (ctx, { id, scheduleId }) => ({ group: ctx.store.groups.setSchedule(id, scheduleId) }),
  }),
  defineCommand({
    name: 'group.add_member',
    summary: 'add a person to a group',
    input: Input({ id: Id, personId: Id }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'POST', path: '/groups/:id/members' },
    run: (ctx, { id, personId }) => {
      ctx.store.groups.addMember(id, personId);
      return { ok: true };
    },
  }),
  defineCommand({
    name: 'group.remove_member',
    summary: 'remove a person from a group',
    input: Input({ id: Id, personId: Id }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'DELETE', path: '/groups/:id/members/:personId' },
    run: (ctx, { id, personId }) => {
      ctx.store.groups.removeMember(id, personId);
      return { ok: true };
    },
  }),
  defineCommand({
    name: 'group.add_door',
    summary: "add a door to a group's doors",
    input: Input({ id: Id, doorId: Id }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'POST', path: '/groups/:id/doors' },
    run: (ctx, { id, doorId }) => {
      ctx.store.groups.addDoor(id, doorId);
      return { ok: true };
    },
  }),
  defineCommand({
    name: 'group.remove_door',
    summary: "remove a door from a group's doors",
    input: Input({ id: Id, doorId: Id }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'DELETE', path: '/groups/:id/doors/:doorId' },
    run: (ctx, { id, doorId }) => {
      ctx.store.groups.removeDoor(id, doorId);
      return { ok: true };
    },
  }),
  defineCommand({
    name: 'group.list',
    summary: 'list access groups with their doors, schedule and members',
    input: NoInput,
    roles: STAFF,
    runs: 'store',
    readOnly: true,
    http: { method: 'GET', path: '/groups' },
    run: (ctx) => ({
      groups: ctx.store.groups.list().map((g) => ({ ...g, memberIds: ctx.store.groups.members(g.id) })),
    }),
  }),
];
