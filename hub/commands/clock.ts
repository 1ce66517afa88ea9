// The trusted clock (docs/trusted-time.md): after the hub refused a backward clock jump, an admin
// who has checked the time accepts the current system time. Admin only: it moves what "now" means
// for every schedule and code window.
import { defineCommand } from './command.js';
import { NoInput } from './schemas.js';

export const clockCommands = [
  defineCommand({
    name: 'clock.accept',
    summary: 'accept the current system time after a refused clock jump (check the time first)',
    input: NoInput,
    roles: ['admin'],
    runs: 'hub',
    http: { method: 'POST', path: '/clock/accept' },
    run: (ctx) => {
      const clock = ctx.hub!.clock;
      clock.acceptSystemTime(ctx.caller.actor);
      ctx.store.events.flush(); // the admin.clock.accepted event is on disk before the answer
      ctx.logger.warn({ actor: ctx.caller.actor }, 'system time accepted as trusted');
      return { clock: clock.status() };
    },
  }),
];
