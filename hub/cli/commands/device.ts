// `gatehouse device …`: MQTT accounts for door controllers, readers and integrations.
import type { Command } from 'commander';
import type { Device } from '../../store/devices.js';
import { type CliContext, collect, UsageError } from '../context.js';
import { printTable } from '../table.js';

export function registerDeviceCommands(program: Command, cli: CliContext): void {
  const { io } = cli;
  // --- devices
  const device = program
    .command('device')
    .description('MQTT device accounts (door controllers, readers, integrations)');
  device
    .command('add <id>')
    .description('create a device account; prints its secret ONCE')
    .option('--door <door>', 'a door this device serves (repeat for several)', collect, [])
    .option(
      '--integration',
      'an integration account (Node-RED, home automation): events and bridge requests; with --door, only those doors',
    )
    .option(
      '--grant <grant>',
      'integration accounts: people.read or codes.issue (repeat for both; see docs/mqtt.md)',
      collect,
      [],
    )
    .action(async (id: string, o: { door: string[]; integration?: boolean; grant: string[] }) => {
      const { json } = cli.settings();
      if (!o.integration && o.door.length === 0)
        throw new UsageError('give at least one --door <door> (or --integration)');
      if (!o.integration && o.grant.length > 0)
        throw new UsageError('--grant is for integration accounts (add --integration)');
      const { device: d, secret } = (await cli.run('device.add', {
        id,
        role: o.integration ? 'integration' : 'door',
        doors: o.door,
        ...(o.grant.length > 0 ? { grants: o.grant } : {}),
      })) as { device: Device; secret: string };
      cli.print(json, { ...d, secret }, () => {
        io.out(`device '${d.id}' created (${d.role}${o.door.length ? `, doors: ${o.door.join(', ')}` : ''})`);
        io.out(`MQTT username: ${d.id}`);
        io.out(`MQTT password: ${secret}`);
        io.out('This secret is shown only once. Store it in the device now.');
      });
    });
  device
    .command('list')
    .description('list device accounts')
    .action(() =>
      cli.withStore((store, _c, json) => {
        const devices = store.devices.list();
        cli.print(json, devices, () =>
          printTable(
            devices.map((d) => ({
              id: d.id,
              role: d.role,
              doors: d.doors.join(','),
              grants: d.grants.join(','),
            })),
            io,
          ),
        );
      }),
    );
  device
    .command('remove <id>')
    .description('remove a device account (it is disconnected at once)')
    .action((id: string) =>
      cli.run('device.remove', { id }).then(() => {
        io.out(`device '${id}' removed`);
      }),
    );
}
