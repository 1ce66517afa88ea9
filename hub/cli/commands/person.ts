// `gatehouse person …`: residents, staff and guests (`logout-everywhere` lives in phone.ts).
import type { Command } from 'commander';
import { Option } from 'commander';
import type { Person } from '../../domain.js';
import type { CliContext } from '../context.js';
import { printTable } from '../table.js';

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
    .description('list people')
    .action(() =>
      cli.withStore((store, _c, json) => {
        const people = store.people.list();
        cli.print(json, people, () =>
          printTable(
            people.map((p) => ({
              id: p.id,
              name: p.name,
              kind: p.kind,
              suspended: p.suspended ? 'yes' : 'no',
            })),
            io,
          ),
        );
      }),
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
