// Real files in a temp dir: each test opens the store exactly as the hub and the CLI do.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { type Database, openDatabase } from '../../hub/store/db.js';
import { HubKeys } from '../../hub/store/keys.js';
import { Store, type StoreOptions } from '../../hub/store/store.js';

export interface TempHub {
  dir: string;
  dbFile: string;
  /** Opens another connection to the same files, as a second process (the CLI) would. */
  open(options?: StoreOptions): { db: Database; store: Store; keys: HubKeys };
  cleanup(): Promise<void>;
}

export function tempHub(): TempHub {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-store-'));
  const dbFile = join(dir, 'data', 'gatehouse.db');
  const opened: Array<{ db: Database; store: Store }> = [];
  return {
    dir,
    dbFile,
    open(options) {
      const keys = HubKeys.loadOrCreate(join(dir, 'data'));
      const db = openDatabase(dbFile, keys);
      const store = new Store(db, keys, options);
      opened.push({ db, store });
      return { db, store, keys };
    },
    async cleanup() {
      for (const { db, store } of opened) {
        await store.stop();
        if (db.open) db.close();
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves when `check` returns a value other than undefined, polling every 20 ms (max 5 s). */
export async function eventually<T>(check: () => T | undefined): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** sha256 of every file under `dir` (relative path → hash): "unchanged" means this map is equal. */
export function hashTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else out[relative(dir, path)] = createHash('sha256').update(readFileSync(path)).digest('hex');
    }
  };
  walk(dir);
  return out;
}
