// Opening the SQLite file: pragmas every connection needs, then migrations.
import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Database } from 'better-sqlite3';
import BetterSqlite3 from 'better-sqlite3';
import { StoreError } from './errors.js';
import type { HubKeys } from './keys.js';
import { applyMigrations } from './migrations.js';

export type { Database } from 'better-sqlite3';

/** The database file inside a data directory. */
export const DB_FILE_NAME = 'gatehouse.db';

/**
 * Page size of a new database. Each commit writes every page it touched in full to the WAL: a decision
 * touches five (the event row, its three indexes, the journal mark), so 1 KiB pages write about half
 * what the default 4 KiB pages do (docs/storage.md). A database made with other pages keeps them.
 */
export const NEW_DATABASE_PAGE_SIZE = 1024;

/**
 * Opens (and creates or migrates) the Gatehouse database. Safe to call from several processes
 * at once (the hub and the CLI): WAL, a 5 s busy timeout, and migrations under BEGIN IMMEDIATE.
 * Throws a StoreError('unsupported') for a file that is not a Gatehouse database or is newer
 * than this code. `keys` (the hub key) is needed to migrate a database that holds cards (migration 2).
 */
export function openDatabase(file: string, keys?: HubKeys): Database {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const db = new BetterSqlite3(file);
  try {
    restrictMode(file);
    db.pragma('busy_timeout = 5000');
    // Only takes effect on a file with no tables yet (before WAL is on); a no-op for an existing one.
    if (isEmpty(db)) db.pragma(`page_size = ${NEW_DATABASE_PAGE_SIZE}`);
    db.pragma('journal_mode = WAL');
    // FULL: a revocation or an audit event must survive a power cut once acknowledged.
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    applyMigrations(db, keys);
    return db;
  } catch (err) {
    db.close();
    if ((err as { code?: unknown }).code === 'SQLITE_NOTADB') {
      throw new StoreError('unsupported', `${file} is not a database (damaged, or not a Gatehouse file)`);
    }
    throw err;
  }
}

/**
 * The schema version (user_version) of an existing database file, read-only: nothing is created, migrated
 * or written (`gatehouse schema-version`, which deploy/install.sh asks before switching releases).
 */
export function readSchemaVersion(file: string): number {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    return db.pragma('user_version', { simple: true }) as number;
  } finally {
    db.close();
  }
}

function isEmpty(db: Database): boolean {
  return (db.prepare('SELECT count(*) FROM sqlite_master').pluck().get() as number) === 0;
}

/** Card UIDs and hashes are in the file: owner only. SQLite gives -wal/-shm the same mode. */
function restrictMode(file: string): void {
  try {
    chmodSync(file, 0o600);
  } catch {
    // not the owner (e.g. a read-only inspection): leave the mode as the owner set it
  }
}
