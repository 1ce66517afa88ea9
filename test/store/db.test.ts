import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../hub/store/db.js';
import { SCHEMA_VERSION } from '../../hub/store/migrations.js';
import { type TempHub, tempHub } from './helpers.js';

describe('openDatabase', () => {
  let hub: TempHub;
  beforeEach(() => {
    hub = tempHub();
  });
  afterEach(async () => {
    await hub.cleanup();
  });

  it('creates the data dir and a migrated WAL database with durable settings', () => {
    const { db, store } = hub.open();
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .pluck()
      .all();
    expect(tables).toEqual(
      expect.arrayContaining(['people', 'doors', 'credentials', 'events', 'kv', 'sessions', 'staff_users']),
    );
    expect(store.hubId()).toMatch(/^hub_[0-9a-f]{16}$/);
    expect(statSync(hub.dbFile).mode & 0o777).toBe(0o600);
    expect(statSync(`${hub.dbFile}-wal`).mode & 0o777).toBe(0o600);
  });

  it('re-opens an existing database keeping its data and hub id', () => {
    const first = hub.open();
    const hubId = first.store.hubId();
    first.store.people.add({ id: 'alice', name: 'Alice', kind: 'resident' });
    first.db.close();
    const second = hub.open();
    expect(second.store.hubId()).toBe(hubId);
    expect(second.store.people.get('alice')?.name).toBe('Alice');
    expect(second.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
  });

  it('two connections opening a fresh file at once both work and migrate once', () => {
    const a = hub.open();
    const b = hub.open();
    expect(a.store.hubId()).toBe(b.store.hubId());
    a.store.doors.add({ id: 'front', name: 'Front door' });
    expect(b.store.doors.get('front')?.name).toBe('Front door');
  });

  it('refuses a database from a newer Gatehouse', () => {
    const { db } = hub.open();
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => openDatabase(hub.dbFile)).toThrow(/newer than this Gatehouse understands/);
  });

  it('refuses an SQLite file that is not a Gatehouse database', () => {
    const file = join(hub.dir, 'other.db');
    const other = new BetterSqlite3(file);
    other.exec('CREATE TABLE notes (text TEXT)');
    other.close();
    expect(() => openDatabase(file)).toThrow(/not a Gatehouse database/);
  });

  it('refuses a file that is not a database at all', () => {
    const file = join(hub.dir, 'junk.db');
    writeFileSync(file, 'this is not sqlite '.repeat(100));
    expect(() => openDatabase(file)).toThrow(/not a database/);
  });
});
