// Read-only person information for integrations (the Node-RED `gatehouse lookup` node, docs/installer-flows.md):
// who a person is, where they live, whether they may get in. Built field by field from what is safe to hand
// to a flow: never a credential, a PIN, a card number, a phone key or any secret (docs/mqtt.md §6.1).
import Type from 'typebox';
import type { Person } from '../domain.js';
import { notFound } from '../store/errors.js';
import type { Store } from '../store/store.js';
import { CommandError, defineCommand } from './command.js';
import { PersonQuery } from './people.js';
import { Id, Input } from './schemas.js';

/** A flow looks up one person or a handful: a search never returns the whole building. */
export const MAX_LOOKUP_LIMIT = 50;
export const DEFAULT_LOOKUP_LIMIT = 10;

/** Everything person.lookup tells about a person: nothing else is ever added without review. */
export interface PersonInfo {
  id: string;
  name: string;
  kind: Person['kind'];
  unit: { id: string; name: string } | null;
  /** `suspended`: every credential is refused (staff lift it); otherwise `active`. */
  status: 'active' | 'suspended';
  groups: Array<{ id: string; name: string }>;
  /** The person's access window (epoch ms; null: open on that side). */
  accessWindow: { from: number | null; until: number | null };
}

/** Copies named fields only, so a field added to Person later never leaks by accident. */
export function personInfo(store: Store, person: Person): PersonInfo {
  const unit = person.unitId === null ? null : store.units.get(person.unitId);
  return {
    id: person.id,
    name: person.name,
    kind: person.kind,
    unit: unit ? { id: unit.id, name: unit.name } : null,
    status: person.suspended ? 'suspended' : 'active',
    groups: store.groups.groupsOf(person.id).flatMap((groupId) => {
      const group = store.groups.get(groupId);
      return group ? [{ id: group.id, name: group.name }] : [];
    }),
    accessWindow: { from: person.accessFrom, until: person.accessUntil },
  };
}

export const lookupCommands = [
  defineCommand({
    name: 'person.lookup',
    summary:
      'look a person up by id or by part of a name or unit: name, unit, status, groups, access window (never credentials)',
    input: Input({
      id: Type.Optional(Id),
      query: Type.Optional(PersonQuery),
      limit: Type.Optional(
        Type.Integer({
          minimum: 1,
          maximum: MAX_LOOKUP_LIMIT,
          description: `at most this many people (default ${DEFAULT_LOOKUP_LIMIT})`,
        }),
      ),
    }),
    roles: ['admin', 'staff', 'integration'],
    grant: 'people.read',
    runs: 'store',
    readOnly: true,
    http: { method: 'GET', path: '/lookup/people' },
    run: (ctx, { id, query, limit }) => {
      if ((id === undefined) === (query === undefined)) {
        throw new CommandError('invalid', "give 'id' or 'query' (one of them)");
      }
      if (id !== undefined) {
        if (limit !== undefined) throw new CommandError('invalid', "'limit' goes with 'query', not 'id'");
        const person = ctx.store.people.get(id);
        if (!person) throw notFound('person', id);
        return { people: [personInfo(ctx.store, person)] };
      }
      const text = query!.trim();
      if (text === '') throw new CommandError('invalid', "'query' must not be blank");
      const found = ctx.store.people.search({ query: text, limit: limit ?? DEFAULT_LOOKUP_LIMIT });
      return { people: found.map((person) => personInfo(ctx.store, person)) };
    },
  }),
];
