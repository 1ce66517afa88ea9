// `gatehouse holiday …`: dates on which only hol@ intervals apply.
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { printTable } from '../table.js';

export function registerHolidayCommands(program: Command, cli: CliContext): void {
  const { io } = cli;
  const holiday = program
    .command('holiday')
    .description("holidays: on these dates only a schedule's hol@ intervals apply");
  holiday
    .command('add <date> [name]')
    .description('add a holiday (YYYY-MM-DD)')
    .action((date: string, name: string | undefined) =>
      cli.run('holiday.add', { date, ...(name ? { name } : {}) }).then(() => {
        io.out(`holiday ${date} added`);
      }),
    );
  holiday
    .command('list')
    .description('list holidays')
    .action(() =>
      cli.withStore((store, _c, json) => {
        const list = store.holidays.list();
        cli.print(json, list, () =>
          printTable(
            list.map((h) => ({ date: h.date, name: h.name })),
            io,
          ),
        );
      }),
    );
  holiday
    .command('remove <date>')
    .description('remove a holiday')
    .action((date: string) =>
      cli.run('holiday.remove', { date }).then(() => {
        io.out(`holiday ${date} removed`);
      }),
    );
}
