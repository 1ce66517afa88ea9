// New databases get small pages (fewer bytes written per commit on the SD card, docs/storage.md §2);
// an existing database keeps the pages it was made with.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { NEW_DATABASE_PAGE_SIZE, openDatabase } from '../../hub/store/db.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempFile = () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-pagesize-'));
  dirs.push(dir);
  return join(dir, 'gatehouse.db');
};

describe('database page size', () => {
  it('is 1 KiB for a new database, in WAL mode', () => {
    const file = tempFile();
    const db = openDatabase(file);
    expect(NEW_DATABASE_PAGE_SIZE).toBe(1024);
    expect(db.pragma('page_size', { simple: true })).toBe(1024);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    const again = openDatabase(file);
    expect(again.pragma('page_size', { simple: true })).toBe(1024);
    again.close();
  });

  it('stays as it was for a database made with other pages', () => {
    const file = tempFile();
    const old = new BetterSqlite3(file);
    old.pragma('page_size = 4096');
    old.pragma('journal_mode = WAL');
    old.close();
    // An empty file with 4 KiB pages already set in WAL mode: SQLite cannot change it, and the hub does not try.
    const db = openDatabase(file);
    expect(db.pragma('page_size', { simple: true })).toBe(4096);
    db.prepare("SELECT value FROM kv WHERE key = 'hub.id'").get();
    db.close();
  });
});
