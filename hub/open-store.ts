// Opening the store is the same for the hub and the CLI: the database and the hub key under the data dir.
import path from 'node:path';
import { finishPendingRestore } from './store/backup.js';
import { type Database, DB_FILE_NAME, openDatabase } from './store/db.js';
import { HubKeys } from './store/keys.js';
import { Store, type StoreOptions } from './store/store.js';

export interface OpenedStore {
  db: Database;
  keys: HubKeys;
  store: Store;
  close(): void;
}

export function openHubStore(
  dataDir: string,
  options: { now?: () => number; logger?: StoreOptions['logger'] } = {},
): OpenedStore {
  finishPendingRestore(dataDir); // a restore interrupted by a power cut completes before anything reads
  const keys = HubKeys.loadOrCreate(dataDir);
  const db = openDatabase(path.join(dataDir, DB_FILE_NAME), keys);
  const store = new Store(db, keys, options);
  return {
    db,
    keys,
    store,
    close() {
      store.events.stop(); // commits what is queued
      db.close();
    },
  };
}
