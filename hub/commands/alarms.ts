// Alarms for staff: the list the dashboard shows and the acknowledgement, both from the event log
// (hub/alarms.ts, docs/doors.md "Alarms for staff"). Acknowledging twice is idempotent: the first
// acknowledgement stands and no second event is written.
import Type from 'typebox';
import { ALARM_ACKNOWLEDGED, alarmAt, listAlarms } from '../alarms.js';
import { CommandError, defineCommand } from './command.js';
import { Id, Input } from './schemas.js';

export const alarmCommands = [
  defineCommand({
    name: 'alarm.list',
    summary: 'alarms of the last 7 days that are active or not acknowledged (newest first, at most 200)',
    input: Input({
      doorId: Type.Optional(Id),
      includeCleared: Type.Optional(
        Type.Boolean({ description: 'also alarms that have ended and were acknowledged' }),
      ),
    }),
    roles: ['admin', 'staff', 'installer'],
    runs: 'store',
    readOnly: true,
    http: { method: 'GET', path: '/alarms' },
    run: (ctx, { doorId, includeCleared }) => ({
      alarms: listAlarms(ctx.store, {
        ...(doorId === undefined ? {} : { doorId }),
        includeCleared: includeCleared ?? false,
        now: Date.now(),
      }),
    }),
  }),
  defineCommand({
    name: 'alarm.ack',
    summary: 'acknowledge an alarm by its seq, with an optional note (acknowledging again changes nothing)',
    input: Input({
      seq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
      note: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    }),
    roles: ['admin', 'staff'],
    runs: 'store',
    http: { method: 'POST', path: '/alarms/:seq/ack' },
    run: (ctx, { seq, note }) =>
      // One write transaction: two staff acknowledging at once write one event between them.
      ctx.store.transaction(() => {
        const now = Date.now();
        const alarm = alarmAt(ctx.store, seq, now);
        if (!alarm) throw new CommandError('not_found', `no alarm with seq ${seq}`);
        if (alarm.acknowledged) return { alarm };
        ctx.store.audit(
          ALARM_ACKNOWLEDGED,
          { doorId: alarm.doorId },
          { seq: alarm.seq, type: alarm.type, note: note ?? null },
        );
        ctx.logger.info({ door: alarm.doorId, seq: alarm.seq, type: alarm.type }, 'alarm acknowledged');
        return { alarm: alarmAt(ctx.store, alarm.seq, now)! };
      }),
  }),
];
