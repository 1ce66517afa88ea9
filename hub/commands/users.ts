// Staff logins (web UI, API): admin work. Passwords are hashed by the store and never returned.
// The last enabled admin cannot be removed or demoted, so a building never locks its staff out.
import Type from 'typebox';
import type { StaffRole } from '../domain.js';
import { notFound } from '../store/errors.js';
import type { Store } from '../store/store.js';
import { STAFF_ROLES, type StaffUser } from '../store/users.js';
import { CommandError, defineCommand, type Role } from './command.js';
import { Input, NoInput } from './schemas.js';

const ADMIN: readonly Role[] = ['admin'];
const Username = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$',
  description: "1-64 characters: letters, digits, '_', '.', '@', '-'",
});
const Password = Type.String({ minLength: 1, maxLength: 256 });
const StaffRoleInput = Type.Enum([...STAFF_ROLES] as StaffRole[]);

function mustGet(store: Store, username: string): StaffUser {
  const user = store.users.getByUsername(username);
  if (!user) throw notFound('user', username);
  return user;
}

/** Refuses a change that would leave no enabled admin. */
function keepAnAdmin(store: Store, user: StaffUser, what: string): void {
  if (user.role !== 'admin' || user.disabled) return;
  const admins = store.users.list().filter((u) => u.role === 'admin' && !u.disabled);
  if (admins.length <= 1) {
    throw new CommandError(
      'conflict',
      `'${user.username}' is the last admin: add another admin before ${what}`,
    );
  }
}

/** What the API and CLI show of a staff user. */
function userView(u: StaffUser) {
  return { id: u.id, username: u.username, role: u.role, disabled: u.disabled, createdAt: u.createdAt };
}

export const userCommands = [
  defineCommand({
    name: 'user.add',
    summary: 'add a staff login (admin, staff or installer)',
    input: Input({ username: Username, password: Password, role: StaffRoleInput }),
    roles: ADMIN,
    runs: 'store',
    http: { method: 'POST', path: '/users', status: 201 },
    run: async (ctx, { username, password, role }) => ({
      user: userView(await ctx.store.users.add(username, password, role)),
    }),
  }),
  defineCommand({
    name: 'user.remove',
    summary: 'remove a staff login and end their sessions',
    input: Input({ username: Username }),
    roles: ADMIN,
    runs: 'store',
    http: { method: 'DELETE', path: '/users/:username' },
    run: (ctx, { username }) =>
      ctx.store.transaction(() => {
        const user = mustGet(ctx.store, username);
        keepAnAdmin(ctx.store, user, 'removing this one');
        ctx.store.users.remove(user.id);
        return { ok: true };
      }),
  }),
  defineCommand({
    name: 'user.set_role',
    summary: "change a staff login's role",
    input: Input({ username: Username, role: StaffRoleInput }),
    roles: ADMIN,
    runs: 'store',
    http: { method: 'PUT', path: '/users/:username/role' },
    run: (ctx, { username, role }) =>
      ctx.store.transaction(() => {
        const user = mustGet(ctx.store, username);
        if (role !== 'admin') keepAnAdmin(ctx.store, user, 'changing its role');
        return { user: userView(ctx.store.users.setRole(user.id, role)) };
      }),
  }),
  defineCommand({
    name: 'user.reset_password',
    summary: "set a staff login's password (their sessions end)",
    input: Input({ username: Username, password: Password }),
    roles: ADMIN,
    runs: 'store',
    http: { method: 'PUT', path: '/users/:username/password' },
    run: async (ctx, { username, password }) => {
      await ctx.store.users.setPassword(mustGet(ctx.store, username).id, password);
      return { ok: true };
    },
  }),
  defineCommand({
    name: 'user.list',
    summary: 'list staff logins',
    input: NoInput,
    roles: ADMIN,
    runs: 'store',
    readOnly: true,
    http: { method: 'GET', path: '/users' },
    run: (ctx) => ({ users: ctx.store.users.list().map(userView) }),
  }),
];
