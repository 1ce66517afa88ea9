// People (residents, staff, guests): staff work. A person added without an id gets a readable one
// from the name ("Plumber" → plumber, then plumber-2 …), so the next command can name them.
import Type from 'typebox';
import type { Person } from '../domain.js';
import { generateId, ID_PATTERN, notFound } from '../store/errors.js';
import { DEFAULT_SEARCH_LIMIT, MAX_SEARCH_CHARS, MAX_SEARCH_LIMIT, PERSON_KINDS } from '../store/people.js';
import type { Store } from '../store/store.js';
import { type CommandContext, CommandError, defineCommand, type Role } from './command.js';
import { credentialsView, mobileKeyView } from './credentials.js';
import { explainAccess } from './person-access.js';
import { EpochMs, Id, Input, Name, Reason } from './schemas.js';

const STAFF: readonly Role[] = ['admin', 'staff'];
const MAX_SLUG = 40;

/** "Anna Müller" → "anna-muller"; '' when nothing usable is left (e.g. a name in another script). */
export function slugOf(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_SLUG)
    .replace(/-+$/, '');
}

/** The first free id of slug, slug-2, slug-3…; a generated one when the name gives no slug. */
export function freePersonId(store: Store, name: string): string {
  const slug = slugOf(name);
  if (!ID_PATTERN.test(slug)) return generateId('p');
  for (let n = 1; n < 10_000; n++) {
    const id = n === 1 ? slug : `${slug}-${n}`;
    if (!store.people.get(id)) return id;
  }
  return generateId('p');
}

function mustGet(store: Store, id: string): Person {
  const person = store.people.get(id);
  if (!person) throw notFound('person', id);
  return person;
}

/** The time decisions are made with: the running hub's trusted clock, else this machine's. */
function decisionNow(ctx: CommandContext): number {
  return ctx.hub ? ctx.hub.clock.status().ms : Date.now();
}

/** Epoch ms, or null for "open" on that side. */
const WindowBound = Type.Union([EpochMs, Type.Null()]);

/** A search for people (person.list for staff, person.lookup for flows): the store folds case and accents. */
export const PersonQuery = Type.String({
  minLength: 1,
  maxLength: MAX_SEARCH_CHARS,
  description: 'part of the name, id, unit id or unit name',
});

export const personCommands = [
  defineCommand({
    name: 'person.add',
    summary: 'add a resident, staff member or guest (id: given, or made from the name)',
    input: Input({
      id: Type.Optional(Id),
      name: Name,
      kind: Type.Enum([...PERSON_KINDS]),
      unitId: Type.Optional(Id),
    }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'POST', path: '/people', status: 201 },
    run: (ctx, input) => ({
      person: ctx.store.transaction(() =>
        ctx.store.people.add({ ...input, id: input.id ?? freePersonId(ctx.store, input.name) }),
      ),
    }),
  }),
  defineCommand({
    name: 'person.remove',
    summary: 'remove a person with their credentials and group memberships (events keep the id)',
    input: Input({ id: Id }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'DELETE', path: '/people/:id' },
    run: (ctx, { id }) => {
      ctx.store.people.remove(id);
      return { ok: true };
    },
  }),
  defineCommand({
    name: 'person.list',
    summary: 'list people by name; query: part of a name, id or unit (case and accents ignored)',
    input: Input({
      query: Type.Optional(PersonQuery),
      limit: Type.Optional(
        Type.Integer({
          minimum: 1,
          maximum: MAX_SEARCH_LIMIT,
          description: `at most this many people (default ${DEFAULT_SEARCH_LIMIT})`,
        }),
      ),
    }),
    roles: STAFF,
    runs: 'store',
    readOnly: true,
    http: { method: 'GET', path: '/people' },
    run: (ctx, { query, limit }) => ({
      // Only spaces: no filter (a search box that was cleared).
      people: ctx.store.people.search({ query: query?.trim() || null, limit: limit ?? DEFAULT_SEARCH_LIMIT }),
    }),
  }),
  defineCommand({
    name: 'person.get',
    summary: 'one person with their cards and PINs, mobile keys and offline doorcodes',
    input: Input({ id: Id }),
    roles: STAFF,
    runs: 'store',
    readOnly: true,
    http: { method: 'GET', path: '/people/:id' },
    run: (ctx, { id }) => {
      const person = mustGet(ctx.store, id);
      const all = ctx.store.credentials.listForPerson(id);
      const now = Date.now();
      return {
        person,
        credentials: credentialsView(all.filter((c) => c.kind !== 'mobile')),
        mobileKeys: all.filter((c) => c.kind === 'mobile').map((c) => mobileKeyView(c, now)),
        // null: this process cannot read offline codes (no code secret here).
        offlineCodes: ctx.codes ? ctx.codes.list().filter((c) => c.personId === id) : null,
      };
    },
  }),
  ...(['suspend', 'unsuspend'] as const).map((verb) =>
    defineCommand({
      name: `person.${verb}`,
      summary:
        verb === 'suspend' ? 'suspend a person: every credential stops working at once' : 'lift a suspension',
      input: Input({ id: Id, reason: Type.Optional(Reason) }),
      roles: STAFF,
      runs: 'store',
      http: { method: 'POST', path: `/people/:id/${verb}` },
      run: (ctx, { id, reason }) => ({
        person: ctx.store.people.setSuspended(id, verb === 'suspend', reason ?? null),
      }),
    }),
  ),
  defineCommand({
    name: 'person.set_window',
    summary:
      'access window: outside from-until every credential of the person is refused (null: open; both null: no window)',
    input: Input({ id: Id, from: WindowBound, until: WindowBound, reason: Type.Optional(Reason) }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'POST', path: '/people/:id/window' },
    run: (ctx, { id, from, until, reason }) => {
      if (from !== null && until !== null && until <= from) {
        throw new CommandError('invalid', "'until' must be later than 'from'");
      }
      return { person: ctx.store.people.setWindow(id, { from, until, reason: reason ?? null }) };
    },
  }),
  defineCommand({
    name: 'person.access',
    summary: 'what each door would answer for the person right now, and why (per card, PIN and key)',
    input: Input({ id: Id }),
    roles: STAFF,
    runs: 'store',
    readOnly: true,
    http: { method: 'GET', path: '/people/:id/access' },
    run: (ctx, { id }) => {
      const person = mustGet(ctx.store, id);
      if (ctx.timeZone === null) {
        throw new CommandError(
          'unavailable',
          "the building's time zone is not known here (timeZone setting)",
        );
      }
      return explainAccess(ctx.store, person, decisionNow(ctx), ctx.timeZone);
    },
  }),
  defineCommand({
    name: 'person.logout_everywhere',
    summary: 'stolen phone: every mobile key of the person stops working at once (new epoch, keys revoked)',
    input: Input({ id: Id, reason: Type.Optional(Reason) }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'POST', path: '/people/:id/logout-everywhere' },
    run: (ctx, { id, reason }) =>
      // The epoch stops every certificate at once (door-side copies too); revoking the credentials
      // makes `mobile list` say so and keeps the keys dead if the epoch is ever copied back.
      ctx.store.transaction(() => {
        const keyEpoch = ctx.store.people.bumpKeyEpoch(id);
        const revoked: string[] = [];
        for (const c of ctx.store.credentials.listForPerson(id)) {
          if (c.kind !== 'mobile' || c.revokedAt !== null) continue;
          ctx.store.credentials.revoke(c.id, reason ?? 'logged out everywhere');
          revoked.push(c.id);
        }
        return { person: id, keyEpoch, revoked };
      }),
  }),
];
