// Keypads whose codes the daily failure cap disabled (docs/offline-codes.md): staff re-enable them.
import { listDisabledKeypads } from '../offline/cap.js';
import { defineCommand } from './command.js';
import { Id, Input, NoInput } from './schemas.js';

export const keypadCommands = [
  defineCommand({
    name: 'keypad.enable',
    summary: "re-enable a keypad's codes after the daily failure cap disabled it",
    input: Input({ doorId: Id, readerId: Id }),
    roles: ['admin', 'staff'],
    runs: 'hub',
    http: { method: 'POST', path: '/keypads/:doorId/:readerId/enable' },
    run: (ctx, { doorId, readerId }) => ({
      enabled: ctx.hub!.keypads.enable(doorId, readerId, ctx.caller.actor),
    }),
  }),
  defineCommand({
    name: 'keypad.list',
    summary: 'keypads whose codes are disabled by the daily failure cap',
    input: NoInput,
    roles: ['admin', 'staff', 'installer'],
    runs: 'store',
    readOnly: true,
    http: { method: 'GET', path: '/keypads' },
    run: (ctx) => ({ keypads: listDisabledKeypads(ctx.store.db) }),
  }),
];
