// `gatehouse user …`: staff logins; the password is asked for, never taken from argv.
import type { Command } from 'commander';
import { Option } from 'commander';
import { removeSetupTokenFile } from '../../http/setup-token.js';
import type { CliContext } from '../context.js';
import { printTable } from '../table.js';

export function registerUserCommands(program: Command, cli: CliContext): void {
  const { io } = cli;
  // --- staff users
  const user = program.command('user').description('staff logins for the web UI and API');
  user
    .command('add <username>')
    .description(
      'add a staff user; the password is asked for (or read from stdin), never taken from the command line',
    )
    .addOption(
      new Option('--role <role>', 'what the user may do')
        .choices(['admin', 'staff', 'installer'])
        .makeOptionMandatory(),
    )
    .action(async (username: string, o: { role: 'admin' | 'staff' | 'installer' }) => {
      const { config } = cli.settings();
      const password = await io.readSecret(`Password for ${username}: `);
      const { user: u } = (await cli.run('user.add', { username, password, role: o.role })) as {
        user: { username: string; role: string };
      };
      // A staff user exists now: the first-run setup token is of no more use.
      removeSetupTokenFile(config.dataDir);
      io.out(`user '${u.username}' added (${u.role})`);
    });
  user
    .command('list')
    .description('list staff users')
    .action(() =>
      cli.withStore((store, _c, json) => {
        const list = store.users.list();
        cli.print(json, list, () =>
          printTable(
            list.map((u) => ({ username: u.username, role: u.role })),
            io,
          ),
        );
      }),
    );
  user
    .command('remove <username>')
    .description('remove a staff user and end their sessions')
    .action((username: string) =>
      cli.run('user.remove', { username }).then(() => {
        io.out(`user '${username}' removed`);
      }),
    );
}
