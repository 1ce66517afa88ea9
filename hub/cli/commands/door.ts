// `gatehouse door …`: add, list, remove, mode, unlock (running hub).
import type { Command } from 'commander';
import { Option } from 'commander';
import type { Door } from '../../domain.js';
import { type CliContext, intArg, UsageError } from '../context.js';
import { printTable } from '../table.js';

export function registerDoorCommands(program: Command, cli: CliContext): void {
  const { io } = cli;
  // --- doors
  const door = program.command('door').description('doors: add, list, remove, mode, unlock');
  door
    .command('add <id>')
    .description('add a door')
    .option('--name <name>', 'display name')
    .addOption(
      new Option('--transport <kind>', 'how the door is connected')
        .choices(['mqtt', 'wired', 'sim'])
        .default('mqtt'),
    )
    .option('--unlock-ms <ms>', 'unlock pulse (1000-60000)', intArg('--unlock-ms'))
    .option('--held-open-ms <ms>', 'held-open alarm after (ms)', intArg('--held-open-ms'))
    .option('--fail-safe', 'lock is fail-safe (maglock: unlocks without power); default fail-secure')
    .action(
      (
        id: string,
        o: {
          name?: string;
          transport: 'mqtt' | 'wired' | 'sim';
          unlockMs?: number;
          heldOpenMs?: number;
          failSafe?: boolean;
        },
      ) =>
        (async () => {
          const { config, json } = cli.settings();
          const result = await cli.run('door.add', {
            id,
            name: o.name ?? id,
            transport: o.transport,
            failMode: o.failSafe ? 'safe' : 'secure',
            unlockMs: o.unlockMs ?? config.doors.unlockMs,
            heldOpenMs: o.heldOpenMs ?? config.doors.heldOpenMs,
          });
          const d = (result as { door: Door }).door;
          cli.print(json, d, () =>
            io.out(`door '${d.id}' added (${d.transport}, unlock ${d.unlockMs} ms, fail-${d.failMode})`),
          );
        })(),
    );
  door
    .command('list')
    .description('list doors')
    .action(() =>
      cli.withStore((store, _c, json) => {
        const doors = store.doors.list();
        cli.print(json, doors, () =>
          printTable(
            doors.map((d) => ({
              id: d.id,
              name: d.name,
              transport: d.transport,
              mode: d.mode,
              unlockMs: d.unlockMs,
              fail: d.failMode,
            })),
            io,
          ),
        );
      }),
    );
  door
    .command('remove <id>')
    .description('remove a door')
    .action(async (id: string) => {
      await cli.run('door.remove', { id });
      io.out(`door '${id}' removed`);
    });
  door
    .command('mode <id> <mode>')
    .description('set door mode: normal, lockdown (nobody gets in) or unlocked (keep unlocked)')
    .option('--reason <text>', 'why (kept in the audit log)')
    .action(async (id: string, mode: string, o: { reason?: string }) => {
      if (!['normal', 'lockdown', 'unlocked'].includes(mode)) {
        throw new UsageError('mode must be normal, lockdown or unlocked');
      }
      await cli.run('door.set_mode', { id, mode, ...(o.reason ? { reason: o.reason } : {}) });
      io.out(`door '${id}' is now ${mode}`);
    });

  door
    .command('unlock <id>')
    .description('unlock a door now through the running hub (refused in lockdown and fire release)')
    .option('--ms <ms>', 'unlock time (1000-60000)', intArg('--ms'))
    .option('--reason <text>', 'why (kept in the audit log)')
    .action(async (id: string, o: { ms?: number; reason?: string }) => {
      await cli.run('door.unlock', {
        id,
        ...(o.ms !== undefined ? { ms: o.ms } : {}),
        ...(o.reason ? { reason: o.reason } : {}),
      });
      io.out(`door '${id}' unlocked`);
    });
}
