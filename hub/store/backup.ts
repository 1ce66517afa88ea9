// Online backup and validated restore. The hub key is NOT inside the database: a backup is only
// useful together with the hub.key it was made with (PINs, device secrets and sessions are HMACs).
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Database } from 'better-sqlite3';
import BetterSqlite3 from 'better-sqlite3';
import { StoreError } from './errors.js';
import { verifyEventChain } from './events.js';
import { syncDir } from './keys.js';
import { APPLICATION_ID, SCHEMA_VERSION } from './migrations.js';

export interface BackupOptions {
  /** Also copy this hub.key to `<file>.key` (mode 0600). */
  hubKeyFile?: string;
}

export interface BackupResult {
  file: string;
  keyFile: string | null;
  events: number;
}

export interface RestoreOptions {
  /** Keep a copy of the current target as `<target>.before-restore-<time>` (default true). */
  keepPrevious?: boolean;
}

export interface RestoreResult {
  hubId: string;
  schemaVersion: number;
  /** Events in the restored log, all verified. */
  events: number;
  /** Where the replaced database was saved, if any. */
  previous: string | null;
}

function tempName(file: string): string {
  return join(dirname(file), `.${basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

function removeSqliteFiles(file: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${file}${suffix}`, { force: true });
}

/**
 * Copies the live database with SQLite's online backup (the hub keeps running), into a single
 * self-contained file (rollback journal, no -wal), written to a temp name and renamed into place.
 */
export async function backupDatabase(
  db: Database,
  file: string,
  options: BackupOptions = {},
): Promise<BackupResult> {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = tempName(file);
  try {
    await db.backup(tmp);
    const copy = new BetterSqlite3(tmp);
    let events: number;
    try {
      copy.pragma('journal_mode = DELETE');
      events = copy.prepare('SELECT count(*) FROM events').pluck().get() as number;
    } finally {
      copy.close();
    }
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
    syncDir(dirname(file));
    let keyFile: string | null = null;
    if (options.hubKeyFile !== undefined) {
      keyFile = `${file}.key`;
      copyFileSync(options.hubKeyFile, keyFile);
      chmodSync(keyFile, 0o600);
    }
    return { file, keyFile, events };
  } finally {
    removeSqliteFiles(tmp);
  }
}

/** Opens a backup copy and checks it is a complete, untampered Gatehouse database. */
function validateBackup(file: string): { hubId: string; schemaVersion: number; events: number } {
  let db: Database;
  try {
    db = new BetterSqlite3(file, { fileMustExist: true });
  } catch (err) {
    throw new StoreError('invalid', `backup cannot be opened: ${(err as Error).message}`);
  }
  try {
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new StoreError('invalid', `backup is damaged: ${String(check)}`);
    if (db.pragma('application_id', { simple: true }) !== APPLICATION_ID) {
      throw new StoreError('invalid', 'backup is not a Gatehouse database');
    }
    const schemaVersion = db.pragma('user_version', { simple: true }) as number;
    if (schemaVersion < 1 || schemaVersion > SCHEMA_VERSION) {
      throw new StoreError(
        'invalid',
        `backup has schema version ${schemaVersion}; this Gatehouse understands 1 to ${SCHEMA_VERSION}`,
      );
    }
    const hubId = db.prepare("SELECT value FROM kv WHERE key = 'hub.id'").pluck().get() as string | undefined;
    if (hubId === undefined)
      throw new StoreError('invalid', 'backup is not a Gatehouse database (no hub id)');
    const chain = verifyEventChain(db);
    if (!chain.ok) {
      throw new StoreError(
        'invalid',
        `backup event log is broken at seq ${chain.brokenAt}: refusing to restore it`,
      );
    }
    db.pragma('journal_mode = DELETE');
    return { hubId, schemaVersion, events: chain.checked };
  } catch (err) {
    if (err instanceof StoreError) throw err;
    throw new StoreError('invalid', `backup is damaged: ${(err as Error).message}`);
  } finally {
    db.close();
  }
}

/**
 * Validates `file` (integrity, Gatehouse schema, event hash chain) and only then replaces the
 * database at `targetDbFile`, through SQLite's backup API so the replacement is one locked,
 * atomic write even if another connection has the file open. The backup file itself is not changed.
 * Pair it with the hub.key the backup was made with.
 */
export async function restoreDatabase(
  file: string,
  targetDbFile: string,
  options: RestoreOptions = {},
): Promise<RestoreResult> {
  if (!existsSync(file)) throw new StoreError('not_found', `backup file ${file} does not exist`);
  mkdirSync(dirname(targetDbFile), { recursive: true, mode: 0o700 });
  const staged = tempName(targetDbFile);
  try {
    copyFileSync(file, staged);
    const info = validateBackup(staged);

    let previous: string | null = null;
    if (existsSync(targetDbFile) && options.keepPrevious !== false) {
      previous = `${targetDbFile}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      const current = new BetterSqlite3(targetDbFile, { fileMustExist: true });
      try {
        current.pragma('busy_timeout = 5000');
        await current.backup(previous);
      } finally {
        current.close();
      }
      chmodSync(previous, 0o600);
    }

    const source = new BetterSqlite3(staged, { fileMustExist: true });
    try {
      await source.backup(targetDbFile);
    } finally {
      source.close();
    }
    chmodSync(targetDbFile, 0o600);
    return { hubId: info.hubId, schemaVersion: info.schemaVersion, events: info.events, previous };
  } finally {
    removeSqliteFiles(staged);
  }
}
