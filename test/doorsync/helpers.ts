// A hub-side store wired to the bus the way hub/app.ts wires it (own events + other processes' events).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EventBus } from '../../hub/bus.js';
import { IssuerKey } from '../../hub/mobile/issuer.js';
import { type OpenedStore, openHubStore } from '../../hub/open-store.js';

export interface SyncBuilding {
  dataDir: string;
  opened: OpenedStore;
  bus: EventBus;
  issuer: IssuerKey;
  /** Runs `fn` with a second connection, as the CLI (another process) would. */
  cli<T>(fn: (store: OpenedStore['store']) => T): T;
  cleanup(): Promise<void>;
}

/** Doors 'front' and 'lobby' (mqtt); Anna (card 04A1B2C3, PIN 424242) and Ben (card 0BB0) in 'residents' → front. */
export function syncBuilding(): SyncBuilding {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gh-doorsync-'));
  const opened = openHubStore(dataDir);
  const { store } = opened;
  const bus = new EventBus();
  store.events.onStored((events) => {
    for (const e of events) bus.emit('event', e);
  });
  const unwatch = store.watch(50, (events) => {
    for (const e of events) bus.emit('event', e);
    bus.emit('storeChanged');
  });
  store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
  store.doors.add({ id: 'lobby', name: 'Lobby', transport: 'mqtt' });
  store.people.add({ id: 'anna', name: 'Anna', kind: 'resident' });
  store.people.add({ id: 'ben', name: 'Ben', kind: 'resident' });
  store.groups.add({ id: 'residents', name: 'Residents' });
  store.groups.addDoor('residents', 'front');
  store.groups.addMember('residents', 'anna');
  store.groups.addMember('residents', 'ben');
  store.credentials.addCard('anna', '04A1B2C3', { id: 'c_card1' });
  store.credentials.addPin('anna', '424242', { id: 'c_pin1' });
  store.credentials.addCard('ben', '0BB0', { id: 'c_card2' });
  return {
    dataDir,
    opened,
    bus,
    issuer: IssuerKey.loadOrCreate(dataDir),
    cli(fn) {
      const other = openHubStore(dataDir);
      try {
        return fn(other.store.as('cli'));
      } finally {
        other.close();
      }
    },
    async cleanup() {
      unwatch();
      await opened.store.stop();
      opened.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function until(check: () => boolean, timeoutMs = 3000, what = 'condition'): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
