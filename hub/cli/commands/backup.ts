// `gatehouse backup` / `restore`: one encrypted file with the database and every key.
import type { Command } from 'commander';
import { Option } from 'commander';
import { createBackup, inspectBackup, restoreBackup } from '../../store/backup.js';
import { DB_FILE_NAME } from '../../store/db.js';
import { type CliContext, HubRefusedError } from '../context.js';
import { callHub } from '../hub-client.js';
import { type PassphraseOptions, readBackupPassphrase } from '../passphrase.js';

export function registerBackupCommands(program: Command, cli: CliContext): void {
  const { io } = cli;
  // --- backup / restore
  const passphraseHelp =
    'read the passphrase from this file (first line); else $GATEHOUSE_BACKUP_PASSPHRASE, else a prompt or stdin';
  const noArgvPassphrase = new Option('--passphrase <text>').hideHelp();
  program
    .command('backup <file>')
    .description('write ONE encrypted backup (database and every key) while the hub runs')
    .option('--passphrase-file <path>', passphraseHelp)
    .addOption(noArgvPassphrase)
    .action((file: string, o: PassphraseOptions) =>
      cli.withStore(async (_store, config, json, opened) => {
        const passphrase = await readBackupPassphrase(o, io, true);
        const result = await createBackup({ file, passphrase, dataDir: config.dataDir, db: opened.db });
        cli.print(json, result, () =>
          io.out(
            `encrypted backup written to ${file} (${result.bytes} bytes: database with ${result.events} events, ` +
              `${result.files.length - 1} key files). Keep the passphrase apart from the file: ` +
              'without it the backup cannot be restored.',
          ),
        );
      }),
    );
  program
    .command('restore <file>')
    .description('replace the database and keys with an encrypted backup (stop the hub first)')
    .option('--passphrase-file <path>', passphraseHelp)
    .option('--check', 'only check the file and the passphrase; change nothing (allowed while the hub runs)')
    .addOption(noArgvPassphrase)
    .action(async (file: string, o: PassphraseOptions & { check?: boolean }) => {
      const { config, json } = cli.settings();
      const passphrase = await readBackupPassphrase(o, io, false);
      if (o.check) {
        const checked = await inspectBackup({ file, passphrase });
        cli.print(json, checked, () =>
          io.out(
            `backup OK: hub ${checked.manifest.hubId} as of ${checked.manifest.createdAt}, ` +
              `${checked.manifest.events} events, ${checked.files.length} files; every byte verified`,
          ),
        );
        return;
      }
      const running = await callHub(config.dataDir, 'GET', '/health').then(
        () => true,
        () => false,
      );
      if (running)
        throw new HubRefusedError('the hub is running: stop it first (sudo systemctl stop gatehouse)');
      const result = await restoreBackup({ file, passphrase, dataDir: config.dataDir });
      cli.print(json, result, () =>
        io.out(
          `restored hub ${result.hubId} as of ${result.createdAt} (${result.events} events, keys: ` +
            `${result.files.filter((f) => f !== DB_FILE_NAME).join(', ')})` +
            (result.previous ? `; the replaced files are in ${result.previous}` : '') +
            '. Start the hub again.',
        ),
      );
    });
}
