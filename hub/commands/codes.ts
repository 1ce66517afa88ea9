// Offline daily and temporary doorcodes (docs/offline-codes.md): staff work, and code.issue for an
// integration account with the `codes.issue` grant (a Node-RED flow that e-mails a resident today's code).
// The digits are returned once and never stored; the hub keeps the serial, the window and who issued it.
import Type from 'typebox';
import { localTime } from '../access/localtime.js';
import { OfflineCodeError } from '../offline/offline-codes.js';
import { notFound } from '../store/errors.js';
import { printable } from '../text.js';
import {
  type CommandContext,
  CommandError,
  defineCommand,
  type OfflineCodesPort,
  type Role,
} from './command.js';
import { EpochMs, Id, Input, Reason } from './schemas.js';

const STAFF: readonly Role[] = ['admin', 'staff'];

/** Which doors a code opens: `site`, `door:<id>`, `group:<id>`, or a bare door id. */
const Doors = Type.String({
  pattern: '^(site|((door|group):)?[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$',
  description: "'site', 'door:<id>', 'group:<id>' or a door id",
});
/** daily: midnight to midnight, building time; window: `hours` from `from`; once / first-use: one entry. */
const KINDS = ['daily', 'window', 'once', 'first-use'] as const;

/**
 * What an integration may issue: a code for a person who may get in anyway, never more. It names the
 * person (no labelled codes for strangers), the person is not suspended, and the code opens only doors
 * the person's groups already give them (`door:<id>`) or a group they belong to (`group:<id>`), never
 * `site`; an account limited to some doors stays within them. Staff keep every other choice.
 */
function checkIntegrationIssue(ctx: CommandContext, personId: string | undefined, scope: string): void {
  if (ctx.caller.role !== 'integration') return;
  const who = ctx.caller.actor;
  if (personId === undefined) {
    throw new CommandError('forbidden', `${who} may issue codes for a person only: give 'personId'`);
  }
  const person = ctx.store.people.get(personId);
  if (!person) throw notFound('person', personId);
  if (person.suspended) {
    throw new CommandError('refused', `person '${personId}' is suspended: no code is issued for them`);
  }
  const limit = ctx.caller.doors;
  if (scope.startsWith('door:')) {
    const doorId = scope.slice('door:'.length);
    if (limit && !limit.includes(doorId)) {
      throw new CommandError('forbidden', `${who} may not act on door '${printable(doorId)}'`);
    }
    if (!ctx.store.doors.get(doorId)) throw notFound('door', doorId);
    if (ctx.store.access.grantsFor(personId, doorId).length === 0) {
      throw new CommandError(
        'refused',
        `person '${personId}' has no access to door '${doorId}': a code from ${who} opens only their doors`,
      );
    }
    return;
  }
  if (scope.startsWith('group:')) {
    const groupId = scope.slice('group:'.length);
    const group = ctx.store.groups.get(groupId);
    if (!group) throw notFound('group', groupId);
    if (limit && group.doorIds.some((d) => !limit.includes(d))) {
      throw new CommandError('forbidden', `${who} may not act on every door of group '${groupId}'`);
    }
    if (!ctx.store.groups.groupsOf(personId).includes(groupId)) {
      throw new CommandError(
        'refused',
        `person '${personId}' is not in group '${groupId}': a code from ${who} opens only their doors`,
      );
    }
    return;
  }
  throw new CommandError('forbidden', `${who} may not issue a code for the whole site: name a door or group`);
}

function codesOf(ctx: CommandContext): OfflineCodesPort {
  if (!ctx.codes) {
    throw new CommandError('unavailable', 'offline codes need the code secret: run this on the hub');
  }
  return ctx.codes;
}

/** OfflineCodes speaks in OfflineCodeError; its messages are written for staff. */
function asRefusal(err: unknown): never {
  if (err instanceof OfflineCodeError) {
    throw new CommandError(/not found/.test(err.message) ? 'not_found' : 'invalid', err.message, {
      cause: err,
    });
  }
  throw err;
}

export const codeCommands = [
  defineCommand({
    name: 'code.issue',
    summary: 'issue a doorcode that works even when the internet is down (the digits are shown once)',
    input: Input({
      personId: Type.Optional(Id),
      label: Type.Optional(Type.String({ minLength: 1, maxLength: 80 })),
      doors: Doors,
      kind: Type.Enum([...KINDS]),
      date: Type.Optional(
        Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', description: 'a date YYYY-MM-DD' }),
      ),
      from: Type.Optional(EpochMs),
      hours: Type.Optional(Type.Integer({ minimum: 1, maximum: 672 })),
    }),
    roles: [...STAFF, 'integration'],
    grant: 'codes.issue',
    runs: 'store',
    http: { method: 'POST', path: '/codes', status: 201 },
    run: (ctx, input) => {
      const codes = codesOf(ctx);
      if (input.personId !== undefined && input.label !== undefined) {
        throw new CommandError('invalid', "give 'personId' or 'label', not both");
      }
      if (input.kind === 'daily' && (input.from !== undefined || input.hours !== undefined)) {
        throw new CommandError('invalid', "a daily code takes 'date', not 'from' or 'hours'");
      }
      if (input.kind !== 'daily' && input.date !== undefined) {
        throw new CommandError('invalid', `a ${input.kind} code takes 'from' and 'hours', not 'date'`);
      }
      const scope = /^(site|door:|group:)/.test(input.doors) ? input.doors : `door:${input.doors}`;
      checkIntegrationIssue(ctx, input.personId, scope);
      const now = Date.now();
      const base = {
        scope,
        personId: input.personId ?? null,
        label: input.label ?? null,
        actor: ctx.caller.actor,
      };
      try {
        const issued =
          input.kind === 'daily'
            ? codes.issue({ ...base, type: 'daily', date: input.date ?? localTime(now, codes.timeZone).date })
            : codes.issue({
                ...base,
                type: input.kind === 'window' ? 'hourly' : input.kind,
                validFrom: input.from ?? now,
                hours: input.hours ?? 24,
              });
        return { code: issued };
      } catch (err) {
        asRefusal(err);
      }
    },
  }),
  defineCommand({
    name: 'code.revoke',
    summary: 'revoke a doorcode by serial: it stops working at every door at once, online or not',
    input: Input({
      serial: Type.String({
        pattern: '^oc-[a-z2-7]{12}$',
        description: 'a serial like oc-xxxxxxxxxxxx (see code.list)',
      }),
      reason: Type.Optional(Reason),
    }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'POST', path: '/codes/:serial/revoke' },
    run: (ctx, { serial, reason }) => {
      try {
        return codesOf(ctx).revoke(serial, {
          actor: ctx.caller.actor,
          ...(reason === undefined ? {} : { reason }),
        });
      } catch (err) {
        asRefusal(err);
      }
    },
  }),
  defineCommand({
    name: 'code.list',
    summary: 'doorcodes the hub knows (issued here or used at a door) and revoked serials',
    input: Input({ all: Type.Optional(Type.Boolean({ description: 'include expired codes' })) }),
    roles: STAFF,
    runs: 'store',
    readOnly: true,
    http: { method: 'GET', path: '/codes' },
    run: (ctx, { all }) => {
      const codes = codesOf(ctx);
      return { codes: codes.list({ includeExpired: all === true }), revoked: codes.revocations() };
    },
  }),
];
