// A hub's data dir in a temp folder: the real database, hub key and code secret, opened as the hub does.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type OfflineConfig, resolveOfflineConfig } from '../../hub/offline/config.js';
import { OfflineCodes } from '../../hub/offline/offline-codes.js';
import { CodeSecret } from '../../hub/offline/secret.js';
import { type OpenedStore, openHubStore } from '../../hub/open-store.js';

export const ZONE = 'Europe/Berlin';

export interface TempData {
  dataDir: string;
  /** Opens the store as the hub does (a second call is a second process, e.g. after a restart). */
  open(now?: () => number): OpenedStore;
  codes(opened: OpenedStore, options?: { config?: Partial<OfflineConfig>; trusted?: boolean }): OfflineCodes;
  secret(): Buffer;
  cleanup(): void;
}

export function tempData(): TempData {
  // /dev/shm when present: thousands of durable decisions stay fast on a shared VM.
  const base = process.platform === 'linux' ? '/dev/shm' : tmpdir();
  const dir = mkdtempSync(join(base, 'gatehouse-offline-'));
  const dataDir = join(dir, 'data');
  const opened: OpenedStore[] = [];
  return {
    dataDir,
    open(now) {
      const o = openHubStore(dataDir, now ? { now } : {});
      opened.push(o);
      return o;
    },
    codes(o, options = {}) {
      return new OfflineCodes({
        store: o.store,
        secret: CodeSecret.loadOrCreate(dataDir).bytes(),
        timeZone: ZONE,
        config: resolveOfflineConfig(options.config ?? {}),
        ...(options.trusted === false
          ? { clock: { now: () => ({ ms: Date.now(), trusted: false, reason: 'unconfirmed' as const }) } }
          : {}),
      });
    },
    secret: () => CodeSecret.loadOrCreate(dataDir).bytes(),
    cleanup() {
      for (const o of opened) {
        try {
          o.close();
        } catch {
          // already closed
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Seeds doors front (in group residents) and garage, and a resident. */
export function seedBuilding(o: OpenedStore): void {
  const { store } = o;
  store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
  store.doors.add({ id: 'garage', name: 'Garage', transport: 'mqtt' });
  store.groups.add({ id: 'residents', name: 'Residents' });
  store.groups.addDoor('residents', 'front');
  store.people.add({ id: 'alice', name: 'Alice', kind: 'resident' });
  store.groups.addMember('residents', 'alice');
}
