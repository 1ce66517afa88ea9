// Mobile keys (docs/mobile-keys.md): staff list and revoke them; issuing needs the phone's public key
// and stays with POST /mobile/keys and `gatehouse mobile issue`.
import Type from 'typebox';
import { notFound } from '../store/errors.js';
import { defineCommand, type Role } from './command.js';
import { mobileKeyView } from './credentials.js';
import { Id, Input, Reason } from './schemas.js';

const STAFF: readonly Role[] = ['admin', 'staff'];

export const mobileCommands = [
  defineCommand({
    name: 'mobile.revoke',
    summary: 'revoke one mobile key: it stops working at every door at once',
    input: Input({ credentialId: Id, reason: Type.Optional(Reason) }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'POST', path: '/mobile/keys/:credentialId/revoke' },
    run: (ctx, { credentialId, reason }) =>
      ctx.store.transaction(() => {
        if (ctx.store.credentials.get(credentialId)?.kind !== 'mobile') {
          throw notFound('mobile key', credentialId);
        }
        return { key: mobileKeyView(ctx.store.credentials.revoke(credentialId, reason), Date.now()) };
      }),
  }),
  defineCommand({
    name: 'mobile.list',
    summary: 'list mobile keys with their state (active, revoked, expired, not yet valid)',
    input: Input({ personId: Type.Optional(Id) }),
    roles: STAFF,
    runs: 'store',
    readOnly: true,
    http: { method: 'GET', path: '/mobile/keys' },
    run: (ctx, { personId }) => {
      if (personId !== undefined && !ctx.store.people.get(personId)) throw notFound('person', personId);
      const all =
        personId === undefined ? ctx.store.credentials.list() : ctx.store.credentials.listForPerson(personId);
      const now = Date.now();
      return { keys: all.filter((c) => c.kind === 'mobile').map((c) => mobileKeyView(c, now)) };
    },
  }),
];
