// `gatehouse schema-version [dataDir]`: the database schema a data directory holds and the newest this
// Gatehouse understands. deploy/install.sh asks the release it is about to install, so an upgrade never
// switches to a release older than the database (the hub itself would refuse to open it).
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { DB_FILE_NAME, readSchemaVersion } from '../../store/db.js';
import { StoreError } from '../../store/errors.js';
import { SCHEMA_VERSION } from '../../store/migrations.js';
import type { CliContext } from '../context.js';

/** The schema version (SQLite user_version) of the database in `dataDir`, or null when there is none. */
export function databaseSchemaVersion(dataDir: string): number | null {
  const file = path.join(dataDir, DB_FILE_NAME);
  return existsSync(file) ? readSchemaVersion(file) : null;
}

export function registerSchemaCommands(program: Command, cli: CliContext): void {
  program
    .command('schema-version [dataDir]')
    .description(
      'print the database schema of a data directory and the newest this Gatehouse supports; exit 1 when the database is newer',
    )
    .action((dataDirArg?: string) => {
      const json = program.opts<{ json?: boolean }>().json === true;
      const dataDir = dataDirArg ?? cli.settings().config.dataDir;
      const database = databaseSchemaVersion(dataDir);
      const compatible = database === null || database <= SCHEMA_VERSION;
      cli.print(json, { dataDir, database, supported: SCHEMA_VERSION, compatible }, () =>
        cli.io.out(
          database === null
            ? `no database in ${dataDir}; this Gatehouse supports schema ${SCHEMA_VERSION}`
            : `database schema ${database} in ${dataDir}; this Gatehouse supports up to ${SCHEMA_VERSION}`,
        ),
      );
      if (!compatible) {
        throw new StoreError(
          'unsupported',
          `database schema version ${database} is newer than this Gatehouse understands (${SCHEMA_VERSION}); ` +
            'install the newer release again, or restore a backup made by this version',
        );
      }
    });
}
