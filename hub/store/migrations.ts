// Numbered schema migrations. Kept as TS constants so they ship inside dist/ with the code.
// Migration N (1-based) brings the database from user_version N-1 to N. Never edit a released
// migration: append a new one.
import type { Database } from 'better-sqlite3';
import { StoreError } from './errors.js';
import type { HubKeys } from './keys.js';

/** A migration is SQL, or a function for changes that need the hub key (run in the same transaction). */
export type Migration = string | ((db: Database, keys: HubKeys | undefined) => void);

/** HMAC purpose of card lookups (docs/data.md): the stored lookup is HMAC-SHA256(subkey, canonical hex). */
export const CARD_HASH_PURPOSE = 'card';

/** PRAGMA application_id of every Gatehouse database ("GTH1"), to refuse foreign files. */
export const APPLICATION_ID = 0x47544831;

export const MIGRATIONS: readonly Migration[] = [
  // 1: initial schema
  `
  CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) STRICT;
  INSERT INTO kv (key, value) VALUES ('hub.id', 'hub_' || lower(hex(randomblob(8))));
  INSERT INTO kv (key, value) VALUES ('schema', 'gatehouse');

  CREATE TABLE units (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE people (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('resident', 'staff', 'guest')),
    unit_id TEXT REFERENCES units (id) ON DELETE SET NULL,
    suspended INTEGER NOT NULL DEFAULT 0 CHECK (suspended IN (0, 1)),
    key_epoch INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX people_unit ON people (unit_id);

  CREATE TABLE doors (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    transport TEXT NOT NULL DEFAULT 'mqtt' CHECK (transport IN ('mqtt', 'wired', 'sim')),
    mode TEXT NOT NULL DEFAULT 'normal' CHECK (mode IN ('normal', 'lockdown', 'unlocked')),
    fail_mode TEXT NOT NULL DEFAULT 'secure' CHECK (fail_mode IN ('secure', 'safe')),
    unlock_ms INTEGER NOT NULL DEFAULT 5000 CHECK (unlock_ms BETWEEN 1000 AND 60000),
    held_open_ms INTEGER NOT NULL DEFAULT 60000 CHECK (held_open_ms BETWEEN 1000 AND 3600000),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE schedules (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    intervals TEXT NOT NULL CHECK (json_valid(intervals)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE holidays (
    date TEXT PRIMARY KEY CHECK (date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    name TEXT NOT NULL
  ) STRICT;

  -- RESTRICT: dropping a schedule must never silently turn a group into "always".
  CREATE TABLE access_groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    schedule_id TEXT REFERENCES schedules (id) ON DELETE RESTRICT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE group_doors (
    group_id TEXT NOT NULL REFERENCES access_groups (id) ON DELETE CASCADE,
    door_id TEXT NOT NULL REFERENCES doors (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, door_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX group_doors_door ON group_doors (door_id, group_id);

  CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES access_groups (id) ON DELETE CASCADE,
    person_id TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    PRIMARY KEY (person_id, group_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX group_members_group ON group_members (group_id, person_id);

  CREATE TABLE credentials (
    id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('card', 'pin', 'mobile')),
    lookup TEXT NOT NULL,
    label TEXT NOT NULL,
    valid_from INTEGER,
    valid_until INTEGER,
    revoked_at INTEGER,
    revoked_reason TEXT,
    created_at INTEGER NOT NULL
  ) STRICT;
  -- One active holder per card / PIN; revoked rows stay for the 'revoked' answer and the audit.
  CREATE UNIQUE INDEX credentials_active_lookup ON credentials (kind, lookup) WHERE revoked_at IS NULL;
  CREATE INDEX credentials_kind_lookup ON credentials (kind, lookup);
  CREATE INDEX credentials_person ON credentials (person_id);

  CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('door', 'integration')),
    created_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE device_doors (
    device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    door_id TEXT NOT NULL REFERENCES doors (id) ON DELETE CASCADE,
    PRIMARY KEY (device_id, door_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX device_doors_door ON device_doors (door_id);

  CREATE TABLE staff_users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'staff', 'installer')),
    disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX sessions_user ON sessions (user_id);

  -- seq is assigned by the writer inside its transaction (last seq + 1) so it is part of the hash.
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    type TEXT NOT NULL,
    door_id TEXT,
    person_id TEXT,
    credential_id TEXT,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
  ) STRICT;
  CREATE INDEX events_type ON events (type, seq);
  CREATE INDEX events_door ON events (door_id, seq) WHERE door_id IS NOT NULL;
  `,
  // 2: card UIDs are stored as a keyed hash (like PINs); the label keeps the masked tail.
  hashCardLookups,
  // 3: the tables the cloud mirror, offline doorcodes and the keypad cap created for themselves.
  // IF NOT EXISTS: a hub that ran before this migration already has them (same definitions), with data.
  `
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

  CREATE TABLE IF NOT EXISTS offline_keypad_disabled (
    keypad TEXT PRIMARY KEY,
    since INTEGER NOT NULL,
    failures INTEGER NOT NULL
  ) STRICT;
  `,
  // 4: a person's access window set by staff (epoch ms; null = open), e.g. a contractor between jobs.
  `
  ALTER TABLE people ADD COLUMN access_from INTEGER;
  ALTER TABLE people ADD COLUMN access_until INTEGER;
  `,
  // 5: a person's events (their page in the staff UI, GET /api/v1/events?person=) without reading the
  // whole log; seq in the index keeps them in order, so a page needs no sort.
  `
  CREATE INDEX IF NOT EXISTS events_person ON events (person_id, seq) WHERE person_id IS NOT NULL;
  `,
  // 6: what an integration account may do beyond door state and door modes (JSON array of grants,
  // hub/store/devices.ts INTEGRATION_GRANTS): Node-RED may look people up and issue codes, Home Assistant not.
  `
  ALTER TABLE devices ADD COLUMN grants TEXT NOT NULL DEFAULT '[]';
  `,
];

/**
 * Replaces every stored card UID with HMAC-SHA256(hub card subkey, UID) and rebuilds the database file
 * afterwards (VACUUM, see applyMigrations) so the old UIDs do not linger in free pages.
 */
function hashCardLookups(db: Database, keys: HubKeys | undefined): void {
  const rows = db.prepare("SELECT rowid, lookup FROM credentials WHERE kind = 'card'").all() as Array<{
    rowid: number;
    lookup: string;
  }>;
  if (rows.length === 0) return;
  if (!keys) throw new StoreError('unsupported', 'migration 2 (hashing card UIDs) needs the hub key');
  // Rebuilding the two lookup indexes once is much faster than updating them row by row.
  db.exec('DROP INDEX credentials_active_lookup; DROP INDEX credentials_kind_lookup;');
  const update = db.prepare('UPDATE credentials SET lookup = ? WHERE rowid = ?');
  for (const row of rows) update.run(keys.hmac(CARD_HASH_PURPOSE, row.lookup), row.rowid);
  db.exec(`
    CREATE UNIQUE INDEX credentials_active_lookup ON credentials (kind, lookup) WHERE revoked_at IS NULL;
    CREATE INDEX credentials_kind_lookup ON credentials (kind, lookup);`);
}

export const SCHEMA_VERSION = MIGRATIONS.length;

function userVersion(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Brings the schema up to date. Each migration runs in its own BEGIN IMMEDIATE transaction and
 * re-reads user_version inside it, so two processes opening a fresh file at once migrate once.
 */
export function applyMigrations(db: Database, keys?: HubKeys): { from: number; to: number } {
  const from = userVersion(db);
  if (from > SCHEMA_VERSION) {
    throw new StoreError(
      'unsupported',
      `database schema version ${from} is newer than this Gatehouse understands (${SCHEMA_VERSION}); ` +
        'upgrade Gatehouse or restore a backup made by this version',
    );
  }
  if (from > 0) checkApplicationId(db);
  else {
    const objects = db.prepare("SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").pluck();
    if ((objects.get() as number) > 0 && userVersion(db) === 0) {
      throw new StoreError('unsupported', 'this file is an SQLite database but not a Gatehouse database');
    }
  }
  for (let target = from + 1; target <= SCHEMA_VERSION; target++) {
    const sql = MIGRATIONS[target - 1]!;
    db.transaction(() => {
      if (userVersion(db) >= target) return; // another process got there first
      if (typeof sql === 'string') db.exec(sql);
      else sql(db, keys);
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.pragma(`user_version = ${target}`);
    }).immediate();
  }
  // Migration 2 overwrote card UIDs in place; their old bytes can survive in free pages and the WAL
  // until rewritten. Rebuild the file and truncate the WAL so no full UID stays on the card.
  if (from >= 1 && from < 2) scrubFreePages(db);
  return { from, to: SCHEMA_VERSION };
}

function scrubFreePages(db: Database): void {
  db.pragma('secure_delete = ON');
  db.exec('VACUUM');
  db.pragma('wal_checkpoint(TRUNCATE)');
}

export function checkApplicationId(db: Database): void {
  const appId = db.pragma('application_id', { simple: true }) as number;
  if (appId !== APPLICATION_ID) {
    throw new StoreError('unsupported', 'this file is an SQLite database but not a Gatehouse database');
  }
}
