// `gatehouse person …`: residents, staff and guests (`logout-everywhere` lives in phone.ts).
import type { Command } from 'commander';
import { Option } from 'commander';
import type { AccessExplanation } from '../../commands/person-access.js';
import type { Person } from '../../domain.js';
import { type CliContext, intArg } from '../context.js';
import { printTable } from '../table.js';
import { formatTime, parseTimeArg } from '../time.js';

export function registerPersonCommands(program: Command, cli: CliContext): void {
  const { io } = cli;
  // --- people
  const person = program.command('person').description('residents, staff and guests');
  person
    .command('add <name>')
    .description('add a person')
    .option('--id <id>', 'id (default: made from the name, e.g. "Plumber" → plumber; printed)')
    .addOption(
      new Option('--kind <kind>', 'kind of person')
        .choices(['resident', 'staff', 'guest'])
        .default('resident'),
    )
    .action((name: string, o: { id?: string; kind: 'resident' | 'staff' | 'guest' }) =>
      cli.run('person.add', { ...(o.id ? { id: o.id } : {}), name, kind: o.kind }).then((result) => {
        const p = (result as { person: Person }).person;
        cli.print(cli.settings().json, p, () => io.out(`person '${p.id}' added (${p.kind}: ${p.name})`));
      }),
    );
  person
    .command('list')
    .description('list people (everyone, or those matching --query)')
    .option('--query <text>', 'part of a name, id, unit id or unit name (case and accents ignored)')
    .option('--limit <n>', 'at most this many (1-500, default 100 with --query)', intArg('--limit'))
    .action((o: { query?: string; limit?: number }) =>
      (async () => {
        const { config, json } = cli.settings();
        let people: Person[] = [];
        if (o.query === undefined && o.limit === undefined) {
          await cli.withStore((store) => {
            people = store.people.list(); // a terminal lists everyone
          });
        } else {
          const input = {
            ...(o.query !== undefined ? { query: o.query } : {}),
            ...(o.limit !== undefined ? { limit: o.limit } : {}),
          };
          people = ((await cli.run('person.list', input)) as { people: Person[] }).people;
        }
        cli.print(json, people, () =>
          printTable(
            people.map((p) => ({
              id: p.id,
              name: p.name,
              kind: p.kind,
              unit: p.unitId ?? '',
              suspended: p.suspended ? 'yes' : 'no',
              window: windowText(p, config.timeZone),
            })),
            io,
          ),
        );
      })(),
    );
  person
    .command('window <id>')
    .description(
      'access window: outside it every credential of the person is refused (no --from/--until: none)',
    )
    .option(
      '--from <time>',
      'from (YYYY-MM-DD, YYYY-MM-DDTHH:MM in building time, or ISO 8601); default open',
    )
    .option('--until <time>', 'until, exclusive (same forms); default open')
    .option('--reason <text>', 'why (kept in the audit log)')
    .action((id: string, o: { from?: string; until?: string; reason?: string }) =>
      (async () => {
        const { config, json } = cli.settings();
        const result = (await cli.run('person.set_window', {
          id,
          from: o.from === undefined ? null : parseTimeArg(o.from, config.timeZone),
          until: o.until === undefined ? null : parseTimeArg(o.until, config.timeZone),
          ...(o.reason ? { reason: o.reason } : {}),
        })) as { person: Person };
        cli.print(json, result, () =>
          io.out(
            `person '${id}': access window ${windowText(result.person, config.timeZone) || 'none (always)'}`,
          ),
        );
      })(),
    );
  person
    .command('access <id>')
    .description('what each door would answer for the person right now, and why')
    .action((id: string) =>
      (async () => {
        const { json } = cli.settings();
        const result = (await cli.run('person.access', { id })) as AccessExplanation;
        cli.print(json, result, () =>
          printTable(
            result.doors.map((d) => ({
              door: d.doorId,
              answer: d.granted ? 'opens' : 'stays shut',
              why: d.why,
              credentials: d.credentials.map((c) => `${c.label}: ${c.reason}`).join('; '),
            })),
            io,
          ),
        );
      })(),
    );
  for (const [verb, suspended] of [
    ['suspend', true],
    ['unsuspend', false],
  ] as const) {
    person
      .command(`${verb} <id>`)
      .description(
        suspended ? 'suspend a person: every credential stops working at once' : 'lift a suspension',
      )
      .option('--reason <text>', 'why (kept in the audit log)')
      .action(async (id: string, o: { reason?: string }) => {
        await cli.run(`person.${verb}`, { id, ...(o.reason ? { reason: o.reason } : {}) });
        io.out(`person '${id}' ${suspended ? 'suspended' : 'unsuspended'}`);
      });
  }
  person
    .command('remove <id>')
    .description('remove a person and their credentials')
    .action(async (id: string) => {
      await cli.run('person.remove', { id });
      io.out(`person '${id}' removed`);
    });
}

/** "2026-12-01 08:00 – 2026-12-31 00:00", "from …", "until …", or '' when there is no window. */
function windowText(p: Person, timeZone: string): string {
  if (p.accessFrom === null && p.accessUntil === null) return '';
  if (p.accessUntil === null) return `from ${formatTime(p.accessFrom, timeZone)}`;
  if (p.accessFrom === null) return `until ${formatTime(p.accessUntil, timeZone)}`;
  return `${formatTime(p.accessFrom, timeZone)} – ${formatTime(p.accessUntil, timeZone)}`;
}
