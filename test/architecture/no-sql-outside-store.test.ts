// The store owns the database (docs/data.md §6): every table comes from a numbered migration in
// hub/store/migrations.ts and every query lives in a repository under hub/store/. This scan fails when
// a module elsewhere in hub/, adapters/ or deploy/ prepares or runs SQL, sets a pragma, imports the
// SQLite driver, carries SQL in a string, or reads the store's connection.
import { readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Finding, findSql, sourceFiles } from './sql-scan.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SCANNED = ['hub', 'adapters', 'deploy'];
const STORE_DIR = 'hub/store/';

/**
 * Files outside hub/store/ allowed to touch a database, each with the reason. Keep this tiny.
 */
const ALLOWED: Record<string, string> = {
  // The development cloud is a separate program standing in for the vendor's cloud service; this file
  // is that program's own store over its own database (dev-cloud.db), never the hub's.
  'deploy/dev-cloud/store.ts': 'the development cloud’s own store (a different program and database)',
};

/**
 * Reads of `Store.db` (the connection) outside hub/store/, with the reason. The connection is the
 * store's: everything else uses a repository.
 */
const ALLOWED_STORE_DB: Record<string, string> = {};

function scanRepository(): { sql: Finding[]; storeDb: Finding[]; files: number } {
  const sql: Finding[] = [];
  const storeDb: Finding[] = [];
  let files = 0;
  for (const top of SCANNED) {
    for (const path of sourceFiles(join(ROOT, top))) {
      const file = relative(ROOT, path).split(sep).join('/');
      if (file.startsWith(STORE_DIR)) continue;
      files++;
      const found = findSql(file, readFileSync(path, 'utf8'));
      if (!(file in ALLOWED)) sql.push(...found.sql);
      if (!(file in ALLOWED_STORE_DB) && !file.startsWith('deploy/')) storeDb.push(...found.storeDb);
    }
  }
  return { sql, storeDb, files };
}

const show = (findings: Finding[]) => findings.map((f) => `${f.file}:${f.line} ${f.what}`);

describe('the store owns the database', () => {
  it('no module outside hub/store/ issues SQL, sets a pragma or creates a table', () => {
    const { sql, files } = scanRepository();
    expect(files).toBeGreaterThan(50); // the scan really read the tree
    expect(show(sql), 'move these queries into a repository under hub/store/').toEqual([]);
  });

  it('no module outside hub/store/ reaches for the store’s connection', () => {
    expect(show(scanRepository().storeDb), 'depend on a repository interface instead').toEqual([]);
  });

  it('each allow-listed file still needs its exception (a stale entry is removed)', () => {
    for (const [file, why] of Object.entries(ALLOWED)) {
      const found = findSql(file, readFileSync(join(ROOT, file), 'utf8'));
      expect(found.sql.length, `${file}: ${why}`).toBeGreaterThan(0);
    }
    for (const [file, why] of Object.entries(ALLOWED_STORE_DB)) {
      const found = findSql(file, readFileSync(join(ROOT, file), 'utf8'));
      expect(found.storeDb.length, `${file}: ${why}`).toBeGreaterThan(0);
    }
  });

  it('the scan finds what the modules did before the store owned their tables', () => {
    // Shapes taken from the old hub/cloud/state.ts, hub/offline/cap.ts and hub/doorsync/service.ts.
    const before = `
      import type { Database, Statement } from 'better-sqlite3';
      const SCHEMA = \`
        CREATE TABLE IF NOT EXISTS cloud_sync_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;\`;
      const SQL = \`SELECT c.id AS id FROM group_doors gd WHERE gd.door_id = \${'?'}\`;
      class State {
        constructor(port) {
          this.#db = port.db;
          this.#db.exec(SCHEMA);
          this.#stmt ??= this.#o.store.db.prepare(SQL);
          store.db.prepare('DELETE FROM offline_keypad_disabled WHERE keypad = ?').run(k);
          db.pragma('synchronous = NORMAL');
          x.run("INSERT INTO offline_codes (serial) VALUES (?)");
          y.run('UPDATE offline_codes SET uses = 1 WHERE serial = ?');
        }
      }`;
    const found = findSql('old.ts', before);
    expect(found.sql.map((f) => f.what)).toEqual([
      'imports the SQLite driver (better-sqlite3)',
      'SQL in a string (CREATE TABLE/INDEX)',
      'SQL in a string (SELECT … FROM)',
      '#db.exec(',
      '.prepare(',
      '.prepare(',
      'SQL in a string (DELETE FROM)',
      '.pragma(',
      'SQL in a string (INSERT INTO)',
      'SQL in a string (UPDATE … SET)',
    ]);
    expect(found.storeDb.map((f) => f.line)).toEqual([10, 11]);
  });

  it('ordinary code is not mistaken for SQL', () => {
    const ordinary = `
      const m = /^(\\d{4})-(\\d{2})$/.exec(value);
      const n = DATE_PATTERN.exec(text);
      // SELECT the door FROM the list, then UPDATE the view SET
      log.info('select a door from the list');
      const message = 'Delete from the UI, then create table stands';`;
    expect(findSql('ok.ts', ordinary)).toEqual({ sql: [], storeDb: [] });
  });
});
