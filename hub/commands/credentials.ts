// Cards and PINs: staff work. Values are stored as keyed hashes; what comes back is the label
// ("card …A1B2", "PIN"), never the value.
import Type from 'typebox';
import type { StoredCredential } from '../store/credentials.js';
import { notFound } from '../store/errors.js';
import { defineCommand, type Role } from './command.js';
import { EpochMs, Id, Input, Reason } from './schemas.js';

const STAFF: readonly Role[] = ['admin', 'staff'];

const Validity = {
  validFrom: Type.Optional(EpochMs),
  validUntil: Type.Optional(EpochMs),
};

export type MobileKeyState = 'active' | 'revoked' | 'expired' | 'not_yet_valid';

/** A mobile key as staff see it: its state now, so a logged-out or expired key never reads "active". */
export function mobileKeyView(c: StoredCredential, now: number) {
  const state: MobileKeyState =
    c.revokedAt !== null
      ? 'revoked'
      : c.validUntil !== null && now >= c.validUntil
        ? 'expired'
        : c.validFrom !== null && now < c.validFrom
          ? 'not_yet_valid'
          : 'active';
  return { ...c, state };
}

export function credentialsView(list: StoredCredential[]): StoredCredential[] {
  return list;
}

function windowOf(input: { validFrom?: number; validUntil?: number }) {
  return { validFrom: input.validFrom ?? null, validUntil: input.validUntil ?? null };
}

export const credentialCommands = [
  defineCommand({
    name: 'credential.add_card',
    summary: 'give a person a card (UID or Wiegand payload in hex, e.g. 04:A2:2B:1C)',
    input: Input({
      personId: Id,
      card: Type.String({
        minLength: 2,
        maxLength: 80,
        description: 'the card UID in hex (":" and spaces are ignored)',
      }),
      ...Validity,
    }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'POST', path: '/credentials', status: 201 },
    run: (ctx, input) => ({
      credential: ctx.store.credentials.addCard(input.personId, input.card, windowOf(input)),
    }),
  }),
  defineCommand({
    name: 'credential.add_pin',
    summary: 'give a person a PIN (4-12 digits; 6 or more recommended)',
    input: Input({
      personId: Id,
      pin: Type.String({ pattern: '^[0-9]{4,12}$', description: '4-12 digits' }),
      ...Validity,
    }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'POST', path: '/credentials/pins', status: 201 },
    run: (ctx, input) => ({
      credential: ctx.store.credentials.addPin(input.personId, input.pin, windowOf(input)),
    }),
  }),
  defineCommand({
    name: 'credential.revoke',
    summary: 'revoke a card, PIN or mobile key: it stops working at every door at once',
    input: Input({ id: Id, reason: Type.Optional(Reason) }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'POST', path: '/credentials/:id/revoke' },
    run: (ctx, { id, reason }) => ({ credential: ctx.store.credentials.revoke(id, reason) }),
  }),
  defineCommand({
    name: 'credential.list',
    summary: "list credentials (all, or one person's)",
    input: Input({ personId: Type.Optional(Id) }),
    roles: STAFF,
    runs: 'store',
    readOnly: true,
    http: { method: 'GET', path: '/credentials' },
    run: (ctx, { personId }) => {
      if (personId !== undefined && !ctx.store.people.get(personId)) throw notFound('person', personId);
      return {
        credentials: credentialsView(
          personId === undefined
            ? ctx.store.credentials.list()
            : ctx.store.credentials.listForPerson(personId),
        ),
      };
    },
  }),
];
