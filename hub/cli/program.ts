// `npx gatehouse …`: one module per noun under commands/ (plus codes.ts and phone.ts for doorcodes and
// mobile keys), assembled here. Changes go through the command layer (hub/commands/), so the CLI applies the
// same rules and records the same actor (`cli:<os user>`) as every other route (docs/architecture.md).

import { Command, CommanderError } from 'commander';
import { registerHardwareCommands } from '../../adapters/cli.js';
import { ConfigError } from '../config/index.js';
import { registerCodeCommands } from './codes.js';
import { CLI_COMMANDS } from './command-table.js';
import { registerBackupCommands } from './commands/backup.js';
import { registerConfigCommands } from './commands/config.js';
import { registerCredentialCommands } from './commands/credential.js';
import { registerDeviceCommands } from './commands/device.js';
import { registerDoorCommands } from './commands/door.js';
import { registerEventsCommands } from './commands/events.js';
import { registerGroupCommands } from './commands/group.js';
import { registerHolidayCommands } from './commands/holiday.js';
import { registerHubCommands, registerStartCommand } from './commands/hub.js';
import { registerMetricsCommands } from './commands/metrics.js';
import { registerPersonCommands } from './commands/person.js';
import { registerScheduleCommands } from './commands/schedule.js';
import { registerSchemaCommands } from './commands/schema.js';
import { registerUserCommands } from './commands/user.js';
import { type CliIO, createContext, defaultIO, secretOnArgv, UsageError } from './context.js';
import { registerGeneratedCommands } from './generated.js';
import { registerPhoneCommands } from './phone.js';

export { redactSecrets } from './commands/config.js';
export { parseIntervalArg } from './commands/schedule.js';
export { type CliIO, HubRefusedError, UsageError } from './context.js';

/**
 * Commands of the table that a noun module writes by hand, because a person at a terminal wants more than
 * the generated form: intervals like mon-fri@07:00-19:00, a PIN prompt, one `credential add` for cards and
 * PINs, tables, local time.
 */
const HAND_WRITTEN: ReadonlySet<string> = new Set([
  'person.add',
  'person.remove',
  'person.list',
  'person.suspend',
  'person.unsuspend',
  'person.logout_everywhere',
  'person.set_window',
  'person.access',
  'credential.add_card',
  'credential.add_pin',
  'credential.revoke',
  'credential.list',
  'group.add',
  'group.remove',
  'group.set_schedule',
  'group.add_member',
  'group.remove_member',
  'group.add_door',
  'group.remove_door',
  'group.list',
  'schedule.set',
  'schedule.remove',
  'schedule.list',
  'holiday.add',
  'holiday.remove',
  'holiday.list',
  'door.add',
  'door.remove',
  'door.list',
  'door.set_mode',
  'door.unlock',
  'device.add',
  'device.remove',
  'device.list',
  'user.add',
  'user.remove',
  'user.list',
  'code.issue',
  'code.revoke',
  'code.list',
  'keypad.enable',
  'keypad.list',
  'mobile.revoke',
  'mobile.list',
]);

export function buildProgram(
  io: CliIO = defaultIO,
  startHub?: (configFile?: string) => Promise<void>,
): Command {
  const program = new Command('gatehouse')
    .description('Gatehouse access-control hub')
    .option('-c, --config <file>', 'config file (default: $GATEHOUSE_CONFIG or <data>/config.yaml)')
    .option('--json', 'machine-readable output')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      '\nEvery command: docs/cli.md. `gatehouse <command> --help` for its options.\n' +
        'Exit codes: 0 done, 1 refused (store, hub, config), 2 usage mistake, 3 broken event chain.',
    );
  const cli = createContext(program, io, CLI_COMMANDS);

  registerStartCommand(program, startHub);
  registerDoorCommands(program, cli);
  registerHubCommands(program, cli);
  registerDeviceCommands(program, cli);
  registerPersonCommands(program, cli);
  registerCredentialCommands(program, cli);
  registerGroupCommands(program, cli);
  registerScheduleCommands(program, cli);
  registerHolidayCommands(program, cli);
  registerUserCommands(program, cli);
  registerEventsCommands(program, cli);
  registerBackupCommands(program, cli);
  registerConfigCommands(program, cli);
  registerMetricsCommands(program, cli);
  registerSchemaCommands(program, cli);

  registerHardwareCommands(program, async () => {
    const { config } = cli.settings();
    return { hardware: config.hardware };
  });

  registerCodeCommands(program, {
    io,
    withStore: cli.withStore,
    offlineConfig: (c) => c.offline,
    usageError: (m) => new UsageError(m),
  });

  registerPhoneCommands(program, {
    io,
    settings: () => {
      const { config, json } = cli.settings();
      return { dataDir: config.dataDir, timeZone: config.timeZone, json };
    },
    run: cli.run,
  });

  // Every other command of the table, generated: `unit add`, `device rotate-secret`, `clock accept`…
  registerGeneratedCommands(program, cli, CLI_COMMANDS, HAND_WRITTEN, cli.run, {
    unit: 'units (flats, offices) people belong to',
    clock: "the hub's trusted clock (docs/trusted-time.md)",
    alarm: 'alarms staff see and acknowledge (docs/doors.md)',
  });

  return program;
}

/** Run the CLI; returns the exit code (0 ok, 1 refused by the store/config, 2 usage). */
export async function runCli(
  argv: string[],
  io: CliIO = defaultIO,
  startHub?: (configFile?: string) => Promise<void>,
): Promise<number> {
  // `--pin=1234` would otherwise only get commander's "unknown option".
  if (argv.some((a) => /^--pin(-stdin)?=/.test(a))) {
    io.err(
      `error: ${secretOnArgv('PIN', '`printf \'%s\\n\' "$PIN" | npx gatehouse credential add <person> --pin-stdin`').message}`,
    );
    return 2;
  }
  const program = buildProgram(io, startHub);
  // Every subcommand, not only the root: commander would otherwise exit 1 itself on a subcommand's usage
  // mistake (missing argument, unknown option) instead of the documented 2.
  const output = {
    writeOut: (s: string) => io.out(s.trimEnd()),
    writeErr: (s: string) => io.err(s.trimEnd()),
  };
  const override = (command: Command) => {
    command.exitOverride().configureOutput(output);
    for (const sub of command.commands) override(sub);
  };
  override(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof UsageError) {
      io.err(`error: ${err.message}`);
      return 2;
    }
    if (err instanceof ConfigError) {
      io.err(err.message);
      return 1;
    }
    const e = err as Error;
    if (
      [
        'StoreError',
        'RestoreError',
        'BackupError',
        'HubNotRunningError',
        'HubRefusedError',
        'HardwareConfigError',
      ].includes(e.name)
    ) {
      io.err(`error: ${e.message}`);
      return 1;
    }
    io.err(`error: ${e.message ?? String(err)}`);
    return 1;
  }
}
