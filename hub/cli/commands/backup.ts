// `gatehouse backup` / `restore`: one encrypted file with the database and every key.
import type { Command } from 'commander';
import { Option } from 'commander';
import {
  type BackupRun,
  BackupScheduler,
  hubConfigFile,
  resolveBackupsConfig,
  writePassphraseFile,
} from '../../backups/index.js';
import { silentLogger } from '../../logger.js';
import { createBackup, inspectBackup, restoreBackup } from '../../store/backup.js';
import { DB_FILE_NAME } from '../../store/db.js';
import { type CliContext, HubRefusedError } from '../context.js';
import { callHub, HubNotRunningError } from '../hub-client.js';
import { type PassphraseOptions, readBackupPassphrase } from '../passphrase.js';

export function registerBackupCommands(program: Command, cli: CliContext): void {
  const { io } = cli;
  const configFile = (dataDir: string) => hubConfigFile(dataDir, program.opts<{ config?: string }>().config);
  // --- backup / restore
  const passphraseHelp =
    'read the passphrase from this file (first line); else $GATEHOUSE_BACKUP_PASSPHRASE, else a prompt or stdin';
  const noArgvPassphrase = new Option('--passphrase <text>').hideHelp();
  const backup = program
    .command('backup')
    .description('encrypted backups: one now to a file, the scheduled one, its passphrase');
  backup
    .command('to <file>', { isDefault: true })
    .description('write ONE encrypted backup (database and every key) while the hub runs')
    .option('--passphrase-file <path>', passphraseHelp)
    .addOption(noArgvPassphrase)
    .action((file: string, o: PassphraseOptions) =>
      cli.withStore(async (_store, config, json, opened) => {
        const passphrase = await readBackupPassphrase(o, io, true);
        const result = await createBackup({
          file,
          passphrase,
          dataDir: config.dataDir,
          db: opened.db,
          configFile: configFile(config.dataDir),
        });
        cli.print(json, result, () => {
          io.out(
            `encrypted backup written to ${file} (${result.bytes} bytes: database with ${result.events} events, ` +
              `${result.files.length - 1} more files: keys, certificates${result.files.some((f) => f.startsWith('node-red/')) ? ', Node-RED flows' : ''}${result.files.includes('config.yml') ? ', config file' : ''}). ` +
              'Keep the passphrase apart from the file: without it the backup cannot be restored.',
          );
          for (const note of result.skipped) io.err(`warning: ${note}`);
        });
      }),
    );
  backup
    .command('passphrase')
    .description(
      'set the passphrase scheduled backups use (asked twice, or the first line of stdin); written mode 0600',
    )
    .action(async () => {
      const { config, json } = cli.settings();
      const file = resolveBackupsConfig(config.backups, config.dataDir).passphraseFile;
      const passphrase = await readBackupPassphrase({}, io, true);
      writePassphraseFile(file, passphrase);
      cli.print(json, { passphraseFile: file }, () =>
        io.out(
          `backup passphrase saved in ${file} (mode 0600). Write it down and keep it apart from the backups: ` +
            'without it no backup can be restored.',
        ),
      );
    });
  backup
    .command('now')
    .description('run the scheduled backup at once (through the running hub, else on the store)')
    .action(async () => {
      const { config, json } = cli.settings();
      let run: BackupRun | null = null;
      try {
        const answer = await callHub(config.dataDir, 'POST', '/backups/run', {}, {}, 600_000);
        if (answer.status !== 200) throw new HubRefusedError(String(answer.body.error ?? answer.status));
        run = answer.body as unknown as BackupRun;
      } catch (err) {
        if (!(err instanceof HubNotRunningError)) throw err;
        // The hub is stopped: the same backup, on this process's own connection.
        await cli.withStore(async (_store, _config, _json, opened) => {
          const scheduler = new BackupScheduler({
            config: resolveBackupsConfig(config.backups, config.dataDir),
            dataDir: config.dataDir,
            db: opened.db,
            events: {
              appendDurable: (e) => opened.store.events.appendDurable(e),
              latest: (type) => opened.store.events.list({ type, limit: 1 })[0] ?? null,
            },
            now: Date.now,
            logger: silentLogger(),
            configFile: configFile(config.dataDir),
          });
          run = await scheduler.runNow();
        });
      }
      const done = run!;
      if (!done.ok) throw new HubRefusedError(`backup failed: ${done.error}`);
      cli.print(json, done, () =>
        io.out(
          `backup written to ${done.file} (${done.bytes} bytes)` +
            (done.copiedTo ? `, copied to ${done.copiedTo}` : '') +
            (done.error ? `; but: ${done.error}` : '') +
            (done.skipped ? `; left out: ${done.skipped.join('; ')}` : ''),
        ),
      );
    });
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
            (result.files.some((f) => f.startsWith('node-red/')) ? '; Node-RED flows restored' : '') +
            '.' +
            (result.restoredConfig
              ? ` The config file the old hub ran with is in ${result.restoredConfig}: it was NOT applied. ` +
                'Compare it with the config file in use (/etc/gatehouse/config.yml on a Pi) and copy over what you need.'
              : '') +
            ' Start the hub again.',
        ),
      );
    });
}
