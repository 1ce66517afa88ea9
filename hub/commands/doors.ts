// Doors: wiring (installers), modes and remote unlock (staff, integrations, the cloud). The policy of
// every door change lives here, whoever asks (docs/doors.md "Modes", docs/architecture.md invariant 6):
// - a remote unlock is refused in lockdown and during fire release, and lasts 1–60 s;
// - deny wins: a door in lockdown cannot be set to 'unlocked' (set it to 'normal' first), and an
//   integration account may start a lockdown but never lift one (staff or the cloud must).
import Type from 'typebox';
import type { DoorMode } from '../domain.js';
import { MAX_CAPTURES, MAX_CAPTURES_PER_DOOR } from '../doors/capture.js';
import { DOOR_MODES, DOOR_TRANSPORTS, FAIL_MODES } from '../store/doors.js';
import { cardLabel, notFound } from '../store/errors.js';
import type { Store } from '../store/store.js';
import { type CommandContext, CommandError, defineCommand, type Role } from './command.js';
import { Id, Input, Name, NoInput, Reason } from './schemas.js';

/** door.capture_card waits this long: the HTTP answer must come before the 30 s request timeout. */
export const MIN_CAPTURE_S = 5;
export const MAX_CAPTURE_S = 25;
export const DEFAULT_CAPTURE_S = 20;
export const MIN_UNLOCK_MS = 1000;
export const MAX_UNLOCK_MS = 60_000;

/** The refusal texts are fixed: every route (HTTP, CLI, MQTT, cloud) answers with the same words. */
export const REFUSALS = {
  lockdownUnlock: (doorId: string) =>
    `door '${doorId}' is in lockdown: remote unlock refused (set the door to normal first)`,
  fireUnlock: (doorId: string) =>
    `door '${doorId}' is in fire release: it is already held open; remote unlock refused`,
  lockdownToUnlocked: (doorIds: readonly string[]) =>
    `${doorIds.length === 1 ? `door '${doorIds[0]}' is` : `doors ${doorIds.map((d) => `'${d}'`).join(', ')} are`} ` +
    "in lockdown: set normal first (deny wins: lockdown is never turned into 'unlocked' in one step)",
  integrationLift: (doorId: string) =>
    `door '${doorId}' is in lockdown: only staff or the cloud may lift a lockdown, not an integration`,
} as const;

const Mode = Type.Enum(DOOR_MODES as DoorMode[]);
const STAFF: readonly Role[] = ['admin', 'staff'];
const WIRING: readonly Role[] = ['admin', 'installer'];

/** Changes one door's mode in the current transaction after the deny-wins checks. */
function changeMode(ctx: CommandContext, doorId: string, mode: DoorMode, reason: string | undefined) {
  const door = ctx.store.doors.get(doorId);
  if (!door) throw notFound('door', doorId);
  if (door.mode === 'lockdown' && mode === 'unlocked') {
    throw new CommandError('refused', REFUSALS.lockdownToUnlocked([doorId]));
  }
  if (door.mode === 'lockdown' && mode !== 'lockdown' && ctx.caller.role === 'integration') {
    throw new CommandError('refused', REFUSALS.integrationLift(doorId));
  }
  return { from: door.mode, door: ctx.store.doors.setMode(doorId, mode, reason ?? null) };
}

/** The running controllers follow at once (otherwise the store watch reloads them within a second). */
function applyLive(ctx: CommandContext, doorId: string, mode: DoorMode): void {
  const result = ctx.hub?.doors.setMode(doorId, mode);
  if (result && !result.ok) ctx.logger.warn({ door: doorId, error: result.error }, 'live mode change failed');
}

function doorRecords(store: Store, ctx: CommandContext) {
  const live = new Map((ctx.hub?.doors.status() ?? []).map((s) => [s.doorId, s]));
  return store.doors.list().map((door) => ({ ...door, status: live.get(door.id) ?? null }));
}

export const doorCommands = [
  defineCommand({
    name: 'door.add',
    summary: 'add a door (how it is connected, unlock time, held-open alarm, fail mode)',
    input: Input({
      id: Id,
      name: Type.Optional(Name),
      transport: Type.Enum([...DOOR_TRANSPORTS]),
      unlockMs: Type.Optional(Type.Integer({ minimum: MIN_UNLOCK_MS, maximum: MAX_UNLOCK_MS })),
      heldOpenMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 3_600_000 })),
      failMode: Type.Optional(Type.Enum([...FAIL_MODES])),
    }),
    roles: WIRING,
    runs: 'store',
    http: { method: 'POST', path: '/doors', status: 201 },
    run: (ctx, input) => ({ door: ctx.store.doors.add({ ...input, name: input.name ?? input.id }) }),
  }),
  defineCommand({
    name: 'door.remove',
    summary: 'remove a door (also from groups and device accounts)',
    input: Input({ id: Id }),
    roles: WIRING,
    runs: 'store',
    http: { method: 'DELETE', path: '/doors/:id' },
    run: (ctx, { id }) => {
      ctx.store.doors.remove(id);
      return { ok: true };
    },
  }),
  defineCommand({
    name: 'door.list',
    summary: 'list doors with their mode and, while the hub runs, their live state',
    input: NoInput,
    roles: ['admin', 'staff', 'installer', 'integration'],
    runs: 'store',
    readOnly: true,
    http: { method: 'GET', path: '/doors' },
    run: (ctx) => {
      const scope = ctx.caller.doors;
      const doors = doorRecords(ctx.store, ctx);
      return { doors: scope ? doors.filter((d) => scope.includes(d.id)) : doors };
    },
  }),
  defineCommand({
    name: 'door.set_mode',
    summary: 'set a door to normal, lockdown (nobody gets in) or unlocked (held open)',
    input: Input({ id: Id, mode: Mode, reason: Type.Optional(Reason) }),
    roles: ['admin', 'staff', 'integration', 'cloud'],
    runs: 'store',
    door: 'id',
    http: { method: 'PUT', path: '/doors/:id/mode' },
    run: (ctx, { id, mode, reason }) => {
      const { from, door } = ctx.store.transaction(() => changeMode(ctx, id, mode, reason));
      applyLive(ctx, id, mode);
      if (from !== mode)
        ctx.logger.warn({ door: id, actor: ctx.caller.actor, from, mode }, 'door mode changed');
      return { ok: true, mode: door.mode };
    },
  }),
  defineCommand({
    name: 'door.set_mode_all',
    summary: 'set every door to one mode at once (building lockdown and its release)',
    input: Input({ mode: Mode, reason: Type.Optional(Reason) }),
    roles: STAFF,
    runs: 'store',
    http: { method: 'PUT', path: '/doors/mode' },
    run: (ctx, { mode, reason }) => {
      // One transaction: either every door changes or none does (a refusal names every door in lockdown).
      const changed = ctx.store.transaction(() => {
        const doors = ctx.store.doors.list();
        if (mode === 'unlocked') {
          const locked = doors.filter((d) => d.mode === 'lockdown').map((d) => d.id);
          if (locked.length > 0) throw new CommandError('refused', REFUSALS.lockdownToUnlocked(locked));
        }
        return doors
          .filter((d) => d.mode !== mode)
          .map((d) => {
            changeMode(ctx, d.id, mode, reason);
            return d.id;
          });
      });
      for (const id of changed) applyLive(ctx, id, mode);
      if (changed.length > 0) {
        ctx.logger.warn({ doors: changed, actor: ctx.caller.actor, mode }, 'door mode changed for all doors');
      }
      return { ok: true, mode, changed };
    },
  }),
  defineCommand({
    name: 'door.capture_card',
    summary:
      'wait up to timeoutS (5–25, default 20) for a card at the door and answer its UID for enrolment; the door decides it as usual',
    input: Input({
      doorId: Id,
      timeoutS: Type.Optional(Type.Integer({ minimum: MIN_CAPTURE_S, maximum: MAX_CAPTURE_S })),
    }),
    roles: STAFF,
    runs: 'hub',
    door: 'doorId',
    http: { method: 'POST', path: '/doors/:doorId/capture-card' },
    run: async (ctx, { doorId, timeoutS }) => {
      const door = ctx.store.doors.get(doorId);
      if (!door) throw notFound('door', doorId);
      const seconds = timeoutS ?? DEFAULT_CAPTURE_S;
      const result = await ctx.hub!.cards.next(doorId, seconds * 1000, ctx.signal);
      if (result.ok) {
        // The UID goes to this caller only; logs and events never see more than its masked tail.
        return { card: result.card, label: cardLabel(result.card), readerId: result.readerId };
      }
      if (result.why === 'busy') {
        throw new CommandError(
          'refused',
          `too many card captures are waiting (at most ${MAX_CAPTURES_PER_DOOR} at ${door.name}, ${MAX_CAPTURES} on the hub): try again in a moment`,
        );
      }
      if (result.why === 'cancelled') throw new CommandError('refused', 'the card capture was cancelled');
      throw new CommandError('refused', `no card was presented at ${door.name} within ${seconds} s`);
    },
  }),
  defineCommand({
    name: 'door.unlock',
    summary: 'unlock a door now for its unlock time or ms (1000–60000); refused in lockdown and fire release',
    input: Input({
      id: Id,
      ms: Type.Optional(Type.Integer({ minimum: MIN_UNLOCK_MS, maximum: MAX_UNLOCK_MS })),
      reason: Type.Optional(Reason),
    }),
    roles: ['admin', 'staff', 'integration', 'cloud'],
    runs: 'hub',
    door: 'id',
    http: { method: 'POST', path: '/doors/:id/unlock' },
    run: (ctx, { id, ms, reason }) => {
      const live = ctx.hub!.doors;
      const door = ctx.store.doors.get(id);
      if (!door) throw notFound('door', id);
      if (door.mode === 'lockdown') throw new CommandError('refused', REFUSALS.lockdownUnlock(id));
      if (live.fireRelease(id) === true) throw new CommandError('refused', REFUSALS.fireUnlock(id));
      const pulse = ms ?? door.unlockMs;
      // Durable before the relay moves: an unlock nobody can account for must not happen.
      ctx.store.events.appendDurable({
        type: 'admin.door.unlocked',
        doorId: id,
        personId: null,
        credentialId: null,
        data: { actor: ctx.caller.actor, ms: pulse, ...(reason === undefined ? {} : { reason }) },
      });
      const result = live.unlock(id, pulse);
      if (!result.ok) {
        if (result.code === 'lockdown') throw new CommandError('refused', REFUSALS.lockdownUnlock(id));
        throw new CommandError(result.code === 'unknown_door' ? 'not_found' : 'conflict', result.error);
      }
      ctx.logger.info({ door: id, actor: ctx.caller.actor, ms: pulse }, 'remote unlock');
      return { ok: true, ms: pulse };
    },
  }),
];
