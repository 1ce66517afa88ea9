// Keypads whose codes the daily failure cap disabled (docs/offline-codes.md): staff re-enable them.

import Type from 'typebox';
import { enableKeypad, listDisabledKeypads } from '../offline/cap.js';
import { defineCommand } from './command.js';
import { Id, Input, NoInput } from './schemas.js';

export const keypadCommands = [
  defineCommand({
    name: 'keypad.enable',
    summary: "re-enable a keypad's codes after the daily failure cap disabled it",
    // Reader ids of MQTT doors name their device: 'device:lobby-controller'.
    input: Input({ doorId: Id, readerId: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$' }) }),
    roles: ['admin', 'staff'],
    // The cap is kept in the store and read there at every keypad entry: no running hub needed.
    runs: 'store',
    http: { method: 'POST', path: '/keypads/:doorId/:readerId/enable' },
    run: (ctx, { doorId, readerId }) => ({
      enabled: enableKeypad(ctx.store, doorId, readerId, ctx.caller.actor),
    }),
  }),
  defineCommand({
    name: 'keypad.list',
    summary:
      'keypads whose codes are disabled by the daily failure cap, and the guessing figure of each door',
    input: NoInput,
    roles: ['admin', 'staff', 'installer'],
    runs: 'store',
    readOnly: true,
    http: { method: 'GET', path: '/keypads' },
    run: (ctx) => ({
      keypads: listDisabledKeypads(ctx.store.keypadCap),
      // The chance that someone guessing at the door's keypads gets in within a day
      // (docs/offline-codes.md); empty where offline codes are not open (the CLI without the secret).
      guessing: ctx.codes
        ? ctx.store.doors.list().map((door) => {
            const risk = ctx.codes!.guessRisk(door.id);
            return {
              doorId: door.id,
              perDay: risk.perDay,
              odds: risk.odds,
              overLimit: risk.overLimit,
              worstLength: risk.worstLength,
              guessesPerDay: risk.guessesPerDay,
              personalCodes: risk.personalCodes,
            };
          })
        : [],
    }),
  }),
];
