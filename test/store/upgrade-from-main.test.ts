// A hub upgrades in place from the release before migration 3: then the cloud mirror, offline doorcodes
// and the keypad cap created their own tables with CREATE TABLE IF NOT EXISTS when they started. The
// fixture is built as that release left it: schema 2 from its migrations, then those statements exactly
// as it ran them, and rows in every table. Opened by this code, migration 3 runs, nothing is lost and
// the hub decides as before (used and revoked codes stay refused, a disabled keypad stays disabled).
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../hub/bus.js';
import { MirrorState } from '../../hub/cloud/state.js';
import { StoreCloudPort } from '../../hub/cloud/store-port.js';
import { DecisionService } from '../../hub/decisions.js';
import { silentLogger } from '../../hub/logger.js';
import { CappedKeypadLockout } from '../../hub/offline/cap.js';
import { type CodeSpec, issueCode } from '../../hub/offline/codes.js';
import { resolveOfflineConfig } from '../../hub/offline/config.js';
import { OfflineCodes } from '../../hub/offline/offline-codes.js';
import { CodeSecret } from '../../hub/offline/secret.js';
import { type OpenedStore, openHubStore } from '../../hub/open-store.js';
import { HubKeys } from '../../hub/store/keys.js';
import { APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION } from '../../hub/store/migrations.js';
import { removeDir, tempDataDir } from '../helpers/hub.js';

// Verbatim from the release before migration 3 (hub/cloud/state.ts, hub/offline/offline-codes.ts,
// hub/offline/cap.ts at d328c3c): what a running hub executed on start.
const MAIN_CLOUD_SCHEMA = `
  CREATE TABLE IF NOT EXISTS cloud_sync_state (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  ) STRICT;
  -- Latest suspension / revocation / deletion made on the hub itself (not by the cloud), per record.
  CREATE TABLE IF NOT EXISTS cloud_local_denies (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
  ) STRICT, WITHOUT ROWID;
`;
const MAIN_OFFLINE_SCHEMA = `
    CREATE TABLE IF NOT EXISTS offline_codes (
      serial TEXT PRIMARY KEY,
      lookup TEXT NOT NULL UNIQUE,
      type TEXT NOT NULL,
      scope TEXT NOT NULL,
      spec TEXT NOT NULL,
      window_start INTEGER NOT NULL,
      window_end INTEGER NOT NULL,
      person_id TEXT,
      label TEXT,
      issued_by TEXT,
      issued_at INTEGER,
      first_used_at INTEGER,
      uses INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX IF NOT EXISTS offline_codes_end ON offline_codes (window_end);
    CREATE TABLE IF NOT EXISTS offline_code_revocations (
      serial TEXT PRIMARY KEY,
      revoked_at INTEGER NOT NULL,
      reason TEXT,
      actor TEXT
    ) STRICT;
    CREATE TABLE IF NOT EXISTS offline_pin_lengths (
      credential_id TEXT PRIMARY KEY,
      digits INTEGER NOT NULL CHECK (digits BETWEEN 4 AND 12)
    ) STRICT;
  `;
const MAIN_KEYPAD_SCHEMA = `CREATE TABLE IF NOT EXISTS offline_keypad_disabled (
    keypad TEXT PRIMARY KEY,
    since INTEGER NOT NULL,
    failures INTEGER NOT NULL
  ) STRICT`;

const ZONE = 'Europe/Berlin';
const T0 = Date.parse('2026-11-27T09:00:00Z');
const DATE = '2026-11-27';
const CARD = '04A1B2C3';
const PIN = '24681357';
const CONFIG = resolveOfflineConfig({});
const FORMAT = { dailyMacDigits: CONFIG.dailyMacDigits, windowedMacDigits: CONFIG.windowedMacDigits };
const TABLES = [
  'cloud_sync_state',
  'cloud_local_denies',
  'offline_codes',
  'offline_code_revocations',
  'offline_pin_lengths',
  'offline_keypad_disabled',
];

interface MainCodes {
  daily: string;
  dailySerial: string;
  usedOnce: string;
  revoked: string;
}

/** The keyed hash offline codes store instead of the digits (as the old hub/offline/offline-codes.ts did). */
function codeLookup(secret: Uint8Array, digits: string): string {
  const key = createHmac('sha256', secret).update('gatehouse-code-lookup').digest();
  return createHmac('sha256', key).update(digits).digest('hex');
}

/** Schema 2 as its migrations made it, with a building: front door, Alice with a card and a PIN. */
function schemaTwo(dataDir: string, keys: HubKeys): BetterSqlite3.Database {
  const db = new BetterSqlite3(join(dataDir, 'gatehouse.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.exec(MIGRATIONS[0] as string);
  db.exec(`
    INSERT INTO people (id, name, kind, created_at, updated_at) VALUES ('alice', 'Alice', 'resident', 1, 1);
    INSERT INTO people (id, name, kind, created_at, updated_at) VALUES ('bob', 'Bob', 'resident', 1, 1);
    INSERT INTO doors (id, name, transport, created_at, updated_at) VALUES ('front', 'Front', 'mqtt', 1, 1);
    INSERT INTO access_groups (id, name, created_at, updated_at) VALUES ('residents', 'Residents', 1, 1);
    INSERT INTO group_doors (group_id, door_id) VALUES ('residents', 'front');
    INSERT INTO group_members (group_id, person_id) VALUES ('residents', 'alice');`);
  db.prepare(
    `INSERT INTO credentials (id, person_id, kind, lookup, label, created_at)
     VALUES ('c1', 'alice', 'card', ?, 'card …B2C3', 1), ('p1', 'alice', 'pin', ?, 'PIN', 1)`,
  ).run(CARD, keys.hmac('pin', PIN));
  (MIGRATIONS[1] as (db: BetterSqlite3.Database, keys: HubKeys) => void)(db, keys); // hashes the card
  db.pragma(`application_id = ${APPLICATION_ID}`);
  db.pragma('user_version = 2');
  return db;
}

/** A database as the release before migration 3 left it after running with the cloud and offline codes. */
function mainDatabase(dataDir: string): MainCodes {
  const keys = HubKeys.loadOrCreate(dataDir);
  const secret = CodeSecret.loadOrCreate(dataDir).bytes();
  const db = schemaTwo(dataDir, keys);
  db.exec(MAIN_CLOUD_SCHEMA);
  db.exec(MAIN_OFFLINE_SCHEMA);
  db.exec(MAIN_KEYPAD_SCHEMA);

  db.exec(`INSERT INTO cloud_sync_state (key, value) VALUES ('acked_seq', 7), ('change_cursor', 12);
           INSERT INTO cloud_local_denies (kind, id, seq) VALUES ('person', 'bob', 5);`);
  const insert = db.prepare(
    `INSERT INTO offline_codes (serial, lookup, type, scope, spec, window_start, window_end, person_id, label,
       issued_by, issued_at, first_used_at, uses) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const record = (spec: CodeSpec, personId: string | null, firstUsedAt: number | null) => {
    const issued = issueCode(secret, spec, ZONE, FORMAT);
    insert.run(
      issued.serial,
      codeLookup(secret, issued.digits),
      spec.type,
      spec.scope,
      JSON.stringify(spec),
      issued.window.start,
      issued.window.end,
      personId,
      personId ? 'for Alice' : null,
      'cli',
      T0 - 3_600_000,
      firstUsedAt,
      firstUsedAt === null ? 0 : 1,
    );
    return issued;
  };
  const daily = record({ type: 'daily', date: DATE, index: 50, scope: 'door:front' }, 'alice', null);
  const startHour = Math.floor(T0 / 3_600_000) - 2;
  const once = record({ type: 'once', startHour, hours: 24, index: 1, scope: 'site' }, null, T0 - 3_000_000);
  const revoked = record({ type: 'daily', date: DATE, index: 51, scope: 'site' }, null, null);
  db.prepare(
    "INSERT INTO offline_code_revocations (serial, revoked_at, reason, actor) VALUES (?, ?, 'lost', 'cli')",
  ).run(revoked.serial, T0 - 1_000_000);
  db.exec("INSERT INTO offline_pin_lengths (credential_id, digits) VALUES ('p1', 8)");
  db.prepare("INSERT INTO offline_keypad_disabled (keypad, since, failures) VALUES ('front/kp2', ?, 10)").run(
    T0 - 600_000,
  );
  db.close();
  return { daily: daily.digits, dailySerial: daily.serial, usedOnce: once.digits, revoked: revoked.digits };
}

function rowCounts(db: BetterSqlite3.Database): Record<string, number> {
  return Object.fromEntries(
    TABLES.map((table) => [table, db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number]),
  );
}

function columns(db: BetterSqlite3.Database, table: string): unknown[] {
  return db.pragma(`table_xinfo(${table})`) as unknown[];
}

describe('upgrading a hub from the release before migration 3', () => {
  let dataDir: string;
  const opened: OpenedStore[] = [];
  const open = () => {
    const o = openHubStore(dataDir, { now: () => T0 });
    opened.push(o);
    return o;
  };
  beforeEach(() => {
    dataDir = tempDataDir();
  });
  afterEach(() => {
    for (const o of opened.splice(0)) if (o.db.open) o.close();
    removeDir(dataDir);
  });

  it('runs migration 3 on a database that already has the tables, keeps every row, and the hub decides', () => {
    const codes = mainDatabase(dataDir);
    const before = new BetterSqlite3(join(dataDir, 'gatehouse.db'), { readonly: true });
    const countsBefore = rowCounts(before);
    before.close();
    expect(Object.values(countsBefore).every((n) => n > 0)).toBe(true);

    const o = open();
    expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(3);
    expect(o.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(rowCounts(o.db)).toEqual(countsBefore);

    const { store } = o;
    const offline = new OfflineCodes({
      store,
      secret: CodeSecret.loadOrCreate(dataDir).bytes(),
      timeZone: ZONE,
      config: CONFIG,
    });
    const lockout = new CappedKeypadLockout(
      {},
      { keypads: store.keypadCap, dailyCap: 10, emitEvent: () => {} },
    );
    const service = new DecisionService({
      store,
      bus: new EventBus(),
      lockout,
      timeZone: ZONE,
      now: () => T0,
      logger: silentLogger(),
      offlineCodes: offline,
    });
    const at = (kind: 'card' | 'keypad', value: string, readerId = 'kp1') =>
      service.decide({ doorId: 'front', kind, value, readerId });

    // People from before migration 4 have no access window (open on both sides): nothing changes for them.
    expect(store.people.get('alice')).toMatchObject({ accessFrom: null, accessUntil: null });
    expect(at('card', CARD)).toMatchObject({ granted: true, personId: 'alice' });
    expect(at('keypad', PIN)).toMatchObject({ granted: true, personId: 'alice' });
    // The keypad the cap disabled before the upgrade stays disabled.
    expect(at('keypad', PIN, 'kp2')).toMatchObject({ granted: false, reason: 'locked_out' });
    // The issue record (the holder) is kept: the code is Alice's.
    expect(at('keypad', codes.daily)).toMatchObject({
      granted: true,
      personId: 'alice',
      credentialId: codes.dailySerial,
    });
    // No replay of a one-time code used before the upgrade; a revoked code stays refused.
    expect(at('keypad', codes.usedOnce)).toMatchObject({ granted: false, reason: 'expired' });
    expect(at('keypad', codes.revoked)).toMatchObject({ granted: false, reason: 'revoked' });
    expect(offline.list({ now: T0 }).find((c) => c.serial === codes.dailySerial)).toMatchObject({
      personId: 'alice',
      label: 'for Alice',
      issuedBy: 'cli',
    });
    expect(offline.revocations()).toEqual([
      expect.objectContaining({ reason: 'lost', actor: 'cli', revokedAt: T0 - 1_000_000 }),
    ]);
    // The known PIN length is kept (no PIN counted at the assumed length).
    expect(offline.guessRisk('front', T0)).toMatchObject({ personalCodes: 1, assumedLengthCodes: 0 });

    // The cloud mirror resumes where it was.
    const mirror = new MirrorState(new StoreCloudPort(store));
    expect(mirror.ackedSeq).toBe(7);
    expect(mirror.changeCursor).toBe(12);
    expect(mirror.localDenySeq({ kind: 'person', id: 'bob' })).toBe(5);
  });

  it('gives the tables the same columns as the release before, whether they existed or not', () => {
    mainDatabase(dataDir);
    const upgraded = open();
    const freshDir = tempDataDir();
    try {
      const fresh = openHubStore(freshDir);
      for (const table of TABLES)
        expect(columns(fresh.db, table), table).toEqual(columns(upgraded.db, table));
      const index = "SELECT sql FROM sqlite_master WHERE name = 'offline_codes_end'";
      expect(fresh.db.prepare(index).pluck().get()).toBe(upgraded.db.prepare(index).pluck().get());
      fresh.close();
    } finally {
      removeDir(freshDir);
    }
  });

  it('creates the tables for a hub that never ran the cloud mirror or offline codes', () => {
    const keys = HubKeys.loadOrCreate(dataDir);
    schemaTwo(dataDir, keys).close();
    const o = open();
    expect(o.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(rowCounts(o.db)).toEqual(Object.fromEntries(TABLES.map((table) => [table, 0])));
    expect(o.store.keypadCap.listDisabled()).toEqual([]);
    expect(o.store.credentials.find('card', CARD)?.person.id).toBe('alice');
  });

  it('opening again is a no-op: the data stays as it was', () => {
    mainDatabase(dataDir);
    const first = open();
    const counts = rowCounts(first.db);
    first.close();
    const second = open();
    expect(second.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(rowCounts(second.db)).toEqual(counts);
  });
});
