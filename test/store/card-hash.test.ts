// Card UIDs are stored as keyed hashes like PINs: the database file (and its WAL) never holds a full
// UID, old databases are converted by migration 2, and lookups, duplicates and labels work as before.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openHubStore } from '../../hub/open-store.js';
import { openDatabase } from '../../hub/store/db.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../hub/store/migrations.js';
import { removeDir, tempDataDir } from '../helpers/hub.js';

const CARDS = ['04A1B2C3D4E5F6', 'DEADBEEF01', '0A0B0C0D'];

/** Every form a UID could take in the raw bytes: ASCII hex in both cases, and binary. */
function uidForms(hex: string): Buffer[] {
  return [Buffer.from(hex.toUpperCase()), Buffer.from(hex.toLowerCase()), Buffer.from(hex, 'hex')];
}

function rawFiles(dir: string): Buffer {
  const parts: Buffer[] = [];
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    const file = join(dir, `gatehouse.db${suffix}`);
    if (existsSync(file)) parts.push(readFileSync(file));
  }
  return Buffer.concat(parts);
}

function expectNoUid(dir: string): void {
  const raw = rawFiles(dir);
  for (const card of CARDS) {
    for (const form of uidForms(card))
      expect(raw.includes(form), `${card} in the database files`).toBe(false);
  }
}

/** A database as Gatehouse schema 1 left it: card UIDs in clear in `lookup`. */
function schemaOneDatabase(dir: string): void {
  const db = new BetterSqlite3(join(dir, 'gatehouse.db'));
  db.pragma('journal_mode = WAL');
  db.exec(MIGRATIONS[0] as string);
  db.pragma('application_id = 1196705841');
  db.pragma('user_version = 1');
  db.prepare(
    "INSERT INTO people (id, name, kind, created_at, updated_at) VALUES ('alice', 'Alice', 'resident', 1, 1)",
  ).run();
  const add = db.prepare(
    `INSERT INTO credentials (id, person_id, kind, lookup, label, revoked_at, created_at)
     VALUES (?, 'alice', 'card', ?, ?, ?, 1)`,
  );
  add.run('c1', CARDS[0], `card …${CARDS[0]!.slice(-4)}`, null);
  add.run('c2', CARDS[1], `card …${CARDS[1]!.slice(-4)}`, 5);
  add.run('c3', CARDS[2], `card …${CARDS[2]!.slice(-4)}`, null);
  db.close(); // checkpoints: the UIDs are in the main file now
}

describe('card UIDs as keyed hashes', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDataDir();
  });
  afterEach(() => removeDir(dir));

  it('stores no full UID: only the HMAC and the last 4 hex digits for staff', () => {
    const opened = openHubStore(dir);
    const { store } = opened;
    store.people.add({ id: 'alice', name: 'Alice', kind: 'resident' });
    store.people.add({ id: 'bob', name: 'Bob', kind: 'resident' });
    for (const [n, card] of CARDS.entries()) store.credentials.addCard('alice', card, { id: `c${n}` });
    expect(store.credentials.get('c0')?.label).toBe('card …E5F6');
    expect(store.credentials.find('card', '04:a1:b2:c3:d4:e5:f6')?.credential.id).toBe('c0');
    expect(store.credentials.find('card', '04A1B2C3D4E5F7')).toBeNull();
    expect(() => store.credentials.addCard('bob', 'deadbeef01')).toThrow('card …EF01 is already assigned');
    const lookup = opened.db.prepare("SELECT lookup FROM credentials WHERE id = 'c0'").pluck().get();
    expect(lookup).toMatch(/^[0-9a-f]{64}$/);
    expectNoUid(dir);
    opened.close();
    expectNoUid(dir);
  });

  it('the cloud mirror path (upsert with the card value) hashes on apply', () => {
    const opened = openHubStore(dir);
    const { store } = opened;
    store.people.add({ id: 'alice', name: 'Alice', kind: 'resident' });
    const stored = store.credentials.upsert({ id: 'cc1', personId: 'alice', kind: 'card', value: CARDS[0]! });
    expect(stored.label).toBe('card …E5F6');
    expect(store.credentials.find('card', CARDS[0]!)?.credential.id).toBe('cc1');
    opened.close();
    expectNoUid(dir);
  });

  it('migration 2 converts the cards of an old database and leaves no UID in its files', () => {
    schemaOneDatabase(dir);
    expect(rawFiles(dir).includes(Buffer.from(CARDS[0]!))).toBe(true); // the problem as observed

    const opened = openHubStore(dir);
    const { store } = opened;
    expect(opened.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(store.credentials.find('card', CARDS[0]!)?.credential).toMatchObject({
      id: 'c1',
      revokedAt: null,
    });
    expect(store.credentials.find('card', CARDS[1]!)?.credential).toMatchObject({ id: 'c2', revokedAt: 5 });
    expect(store.credentials.get('c3')?.label).toBe('card …0C0D');
    store.people.add({ id: 'bob', name: 'Bob', kind: 'resident' });
    expect(() => store.credentials.addCard('bob', CARDS[2]!)).toThrow('card …0C0D is already assigned');
    expectNoUid(dir);
    opened.close();
    expectNoUid(dir);
  });

  it('an old database with cards is not migrated without the hub key (and stays as it was)', () => {
    schemaOneDatabase(dir);
    expect(() => openDatabase(join(dir, 'gatehouse.db'))).toThrow(/needs the hub key/);
    const db = new BetterSqlite3(join(dir, 'gatehouse.db'), { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(1);
    expect(db.prepare("SELECT lookup FROM credentials WHERE id = 'c1'").pluck().get()).toBe(CARDS[0]);
    db.close();
  });
});
