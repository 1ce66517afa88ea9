// `gatehouse group …`: access groups, their doors, members and schedule.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { printTable } from '../table.js';

export function registerGroupCommands(program: Command, cli: CliContext): void {
  const { io } = cli;
  // --- access groups and schedules
  const group = program
    .command('group')
    .description('access groups: which people may open which doors, when');
  group
    .command('add <id>')
    .description('add an access group')
    .option('--name <name>', 'display name')
    .option('--schedule <id>', 'weekly schedule (default: always)')
    .action((id: string, o: { name?: string; schedule?: string }) =>
      cli
        .run('group.add', { id, name: o.name ?? id, ...(o.schedule ? { scheduleId: o.schedule } : {}) })
        .then(() => {
          io.out(`group '${id}' added${o.schedule ? ` (schedule '${o.schedule}')` : ' (always)'}`);
        }),
    );
  group
    .command('list')
    .description('list access groups')
    .action(() =>
      cli.withStore((store, _c, json) => {
        const groups = store.groups.list();
        cli.print(json, groups, () =>
          printTable(
            groups.map((g) => ({
              id: g.id,
              name: g.name,
              schedule: g.scheduleId ?? 'always',
              doors: g.doorIds.join(','),
              members: store.groups.members(g.id).length,
            })),
            io,
          ),
        );
      }),
    );
  group
    .command('remove <id>')
    .description('remove an access group')
    .action((id: string) =>
      cli.run('group.remove', { id }).then(() => {
        io.out(`group '${id}' removed`);
      }),
    );
  group
    .command('schedule <group> <schedule>')
    .description("set the group's schedule ('always' for none)")
    .action((groupId: string, scheduleId: string) =>
      cli
        .run('group.set_schedule', { id: groupId, scheduleId: scheduleId === 'always' ? null : scheduleId })
        .then(() => {
          io.out(
            `group '${groupId}' now uses ${scheduleId === 'always' ? 'no schedule (always)' : `schedule '${scheduleId}'`}`,
          );
        }),
    );
  for (const [noun, what] of [
    ['door', 'doors'],
    ['member', 'members'],
  ] as const) {
    const sub = group.command(noun).description(`group ${what}`);
    sub
      .command(`add <group> <${noun}...>`)
      .description(`add ${what} to a group`)
      .action(async (groupId: string, ids: string[]) => {
        for (const id of ids)
          await cli.run(
            `group.add_${noun}`,
            noun === 'door' ? { id: groupId, doorId: id } : { id: groupId, personId: id },
          );
        io.out(`group '${groupId}': added ${noun} ${ids.join(', ')}`);
      });
    sub
      .command(`remove <group> <${noun}...>`)
      .description(`remove ${what} from a group`)
      .action(async (groupId: string, ids: string[]) => {
        for (const id of ids)
          await cli.run(
            `group.remove_${noun}`,
            noun === 'door' ? { id: groupId, doorId: id } : { id: groupId, personId: id },
          );
        io.out(`group '${groupId}': removed ${noun} ${ids.join(', ')}`);
      });
  }
}
