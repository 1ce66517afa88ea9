// `gatehouse door …`: add, list, remove, mode, unlock (running hub).
import type { Command } from 'commander';
import { Option } from 'commander';
import { type CliContext, HubRefusedError, intArg, UsageError } from '../context.js';
import { callHub } from '../hub-client.js';
import { printTable } from '../table.js';

export function registerDoorCommands(program: Command, cli: CliContext): void {
  const { io } = cli;
  // --- doors
  const door = program.command('door').description('doors: add, list, remove, mode');
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
        cli.withStore((store, config, json) => {
          const d = store.doors.add({
            id,
            name: o.name ?? id,
            transport: o.transport,
            failMode: o.failSafe ? 'safe' : 'secure',
            unlockMs: o.unlockMs ?? config.doors.unlockMs,
            heldOpenMs: o.heldOpenMs ?? config.doors.heldOpenMs,
          });
          cli.print(json, d, () =>
            io.out(`door '${d.id}' added (${d.transport}, unlock ${d.unlockMs} ms, fail-${d.failMode})`),
          );
        }),
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
    .action((id: string) =>
      cli.withStore((store) => {
        store.doors.remove(id);
        io.out(`door '${id}' removed`);
      }),
    );
  door
    .command('mode <id> <mode>')
    .description('set door mode: normal, lockdown (nobody gets in) or unlocked (keep unlocked)')
    .action((id: string, mode: string) =>
      cli.withStore((store) => {
        if (!['normal', 'lockdown', 'unlocked'].includes(mode)) {
          throw new UsageError('mode must be normal, lockdown or unlocked');
        }
        store.doors.setMode(id, mode as 'normal' | 'lockdown' | 'unlocked');
        io.out(`door '${id}' is now ${mode}`);
      }),
    );

  door
    .command('unlock <id>')
    .description('unlock a door now through the running hub (refused in lockdown)')
    .option('--ms <ms>', 'unlock time (1000-60000)', intArg('--ms'))
    .action(async (id: string, o: { ms?: number }) => {
      const { config } = cli.settings();
      const res = await callHub(
        config.dataDir,
        'POST',
        `/doors/${encodeURIComponent(id)}/unlock`,
        o.ms ? { ms: o.ms } : {},
      );
      if (res.status !== 200) throw new HubRefusedError(String(res.body.error ?? `HTTP ${res.status}`));
      io.out(`door '${id}' unlocked`);
    });
}
