// `gatehouse schedule …`: weekly schedules; the interval syntax is parsed here.
import type { Command } from 'commander';
import { type ScheduleDay, type ScheduleInterval, WEEKDAYS } from '../../domain.js';
import { type CliContext, UsageError } from '../context.js';
import { printTable } from '../table.js';

const DAY_RANGE = [...WEEKDAYS.slice(1), WEEKDAYS[0]]; // mon..sun, for "mon-fri"

/** "mon-fri@07:00-19:00", "sat,sun@10:00-14:00", "fri@22:00-06:00" (crosses midnight), "hol@…", "all@…". */
export function parseIntervalArg(text: string): ScheduleInterval[] {
  const m = /^([a-z,-]+)@(\d{2}:\d{2})-(\d{2}:\d{2})$/.exec(text.trim().toLowerCase());
  if (!m)
    throw new UsageError(`"${text}" is not an interval: use DAYS@HH:MM-HH:MM, e.g. mon-fri@07:00-19:00`);
  const [, dayText, from, to] = m as unknown as [string, string, string, string];
  const days = new Set<ScheduleDay>();
  for (const part of dayText.split(',')) {
    if (part === 'all') {
      for (const d of WEEKDAYS) days.add(d);
    } else if (part === 'hol') {
      days.add('hol');
    } else if (part.includes('-')) {
      const [a, b] = part.split('-') as [string, string];
      const i = DAY_RANGE.indexOf(a as never);
      const j = DAY_RANGE.indexOf(b as never);
      if (i < 0 || j < 0 || j < i) throw new UsageError(`"${part}" is not a day range (mon-fri, sat-sun)`);
      for (const d of DAY_RANGE.slice(i, j + 1)) days.add(d);
    } else if ((WEEKDAYS as readonly string[]).includes(part)) {
      days.add(part as ScheduleDay);
    } else {
      throw new UsageError(`"${part}" is not a day: use sun mon tue wed thu fri sat, hol or all`);
    }
  }
  return [...days].map((day) => ({ day, from, to }));
}

export function registerScheduleCommands(program: Command, cli: CliContext): void {
  const { io } = cli;
  const schedule = program
    .command('schedule')
    .description('weekly schedules (building time zone, minute precision)');
  schedule
    .command('set <id> <interval...>')
    .description(
      'create or replace a schedule, e.g. mon-fri@07:00-19:00 sat@09:00-13:00 fri@22:00-02:00 hol@10:00-12:00',
    )
    .option('--name <name>', 'display name')
    .action(async (id: string, intervals: string[], o: { name?: string }) => {
      const parsed = intervals.flatMap(parseIntervalArg);
      await cli.run('schedule.set', { id, ...(o.name ? { name: o.name } : {}), intervals: parsed });
      io.out(`schedule '${id}' set (${parsed.length} intervals)`);
    });
  schedule
    .command('list')
    .description('list schedules')
    .action(() =>
      cli.withStore((store, _c, json) => {
        const list = store.schedules.list();
        cli.print(json, list, () =>
          printTable(
            list.map((s) => ({
              id: s.id,
              name: s.name,
              intervals: s.intervals.map((i) => `${i.day}@${i.from}-${i.to}`).join(' '),
            })),
            io,
          ),
        );
      }),
    );
  schedule
    .command('remove <id>')
    .description('remove a schedule (refused while a group uses it)')
    .action((id: string) =>
      cli.run('schedule.remove', { id }).then(() => {
        io.out(`schedule '${id}' removed`);
      }),
    );
}
