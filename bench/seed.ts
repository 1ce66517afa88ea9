// Bench data dirs: one MQTT door with its reader device, a residents group, and many card holders.
// `seedCardholders` writes the rows directly (one prepared statement per table, 100,000 rows per
// transaction, the lookup indexes built once at the end), the way the hub stores them: the card UID as
// HMAC-SHA256 under the hub key's card subkey (hub/store/credentials.ts). 2,000,000 take one to two
// minutes instead of hours through the store's one-row-at-a-time API; no admin events are written for them.

import type { OpenedStore } from '../hub/open-store.js';
import { openHubStore } from '../hub/open-store.js';
import { cardLabel } from '../hub/store/errors.js';
import { CARD_HASH_PURPOSE } from '../hub/store/migrations.js';

export const BENCH_DOOR = 'front';
export const BENCH_DEVICE = 'bench-reader';
const GROUP = 'residents';
/** Every tenth holder is in the residents group (granted at the door); the rest are known but refused. */
const GRANTED_EVERY = 10;
const ROWS_PER_TRANSACTION = 100_000;

/** The card of holder `i` (`04000000`, `04000001`, … in hex, as bench/hub-process.ts seedResidents). */
export function cardOf(i: number): string {
  return (0x04000000 + i).toString(16).toUpperCase().padStart(8, '0');
}

export function isGranted(i: number): boolean {
  return i % GRANTED_EVERY === 0;
}

/** The door, its reader device and the group; returns the device's secret. */
export function seedDoor(opened: OpenedStore): string {
  const { store } = opened;
  store.doors.add({ id: BENCH_DOOR, name: 'Front', transport: 'mqtt' });
  const { secret } = store.devices.add(BENCH_DEVICE, { role: 'door', doors: [BENCH_DOOR] });
  store.groups.add({ id: GROUP, name: 'Residents' });
  store.groups.addDoor(GROUP, BENCH_DOOR);
  return secret;
}

/** Adds `count` people with one card each, straight into the tables. */
export function seedCardholders(opened: OpenedStore, count: number, log?: (message: string) => void): void {
  const { db, keys } = opened;
  const now = Date.now();
  const person = db.prepare(
    "INSERT INTO people (id, name, kind, unit_id, suspended, key_epoch, created_at, updated_at) VALUES (?, ?, 'resident', NULL, 0, 0, ?, ?)",
  );
  const credential = db.prepare(
    "INSERT INTO credentials (id, person_id, kind, lookup, label, created_at) VALUES (?, ?, 'card', ?, ?, ?)",
  );
  const member = db.prepare('INSERT INTO group_members (group_id, person_id) VALUES (?, ?)');
  // This connection only: a big page cache for the bulk insert.
  db.pragma('cache_size = -262144');
  db.exec('DROP INDEX credentials_active_lookup; DROP INDEX credentials_kind_lookup;');
  const width = String(count).length;
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const personId = `p${String(i).padStart(width, '0')}`;
      const card = cardOf(i);
      person.run(personId, `Resident ${i}`, now, now);
      credential.run(
        `c${String(i).padStart(width, '0')}`,
        personId,
        keys.hmac(CARD_HASH_PURPOSE, card),
        cardLabel(card),
        now,
      );
      if (isGranted(i)) member.run(GROUP, personId);
    }
  });
  for (let from = 0; from < count; from += ROWS_PER_TRANSACTION) {
    batch.immediate(from, Math.min(count, from + ROWS_PER_TRANSACTION));
    if (log && from > 0 && from % 500_000 === 0) log(`seeded ${from.toLocaleString('en-US')}`);
  }
  // The same definitions as hub/store/migrations.ts (schema 1).
  db.exec(`
    CREATE UNIQUE INDEX credentials_active_lookup ON credentials (kind, lookup) WHERE revoked_at IS NULL;
    CREATE INDEX credentials_kind_lookup ON credentials (kind, lookup);`);
  db.pragma('wal_checkpoint(TRUNCATE)');
}

/** A fresh bench data dir with `count` card holders; returns the reader device's secret. */
export function seedBenchDataDir(dataDir: string, count: number, log?: (message: string) => void): string {
  const opened = openHubStore(dataDir);
  try {
    const secret = seedDoor(opened);
    seedCardholders(opened, count, log);
    return secret;
  } finally {
    opened.close();
  }
}

/** Cards as a building presents them: 90 % held by someone (granted or not), 10 % unknown. */
export function randomCard(count: number): string {
  return Math.random() < 0.9 ? cardOf(Math.floor(Math.random() * count)) : 'DEADBEEF00';
}
