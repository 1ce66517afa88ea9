// A full disk under the event log (docs/outages.md, "Disk full and power cuts"): the data dir sits
// on a small real tmpfs that is filled to the last byte, so the journal's write() and SQLite's
// writes fail with real ENOSPC / SQLITE_FULL (needs root to mount; skipped otherwise). The last test
// injects ENOSPC at the journal's fs port instead, and runs everywhere.
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../hub/store/db.js';
import { RESERVE_FILE_NAME } from '../../hub/store/events.js';
import { HubKeys } from '../../hub/store/keys.js';
import { nodeStorageFs, type StorageFs } from '../../hub/store/reserve.js';
import { Store } from '../../hub/store/store.js';
import { fillDisk, mountTmpfs, unmountTmpfs, until } from '../helpers/tmpfs.js';

const mount = mountTmpfs('12m');

describe.skipIf(mount === null)('the event log on a full disk (real tmpfs)', () => {
  const root = mount ?? '';
  beforeAll(() => mkdirSync(join(root, 'data'), { recursive: true }));
  afterAll(() => {
    if (mount) unmountTmpfs(mount);
  });

  it('holds what it cannot write, raises one alarm, counts what the ring drops, and writes the rest back', async () => {
    const dataDir = join(root, 'data');
    const db = openDatabase(join(dataDir, 'gatehouse.db'));
    const store = new Store(db, HubKeys.loadOrCreate(dataDir));
    const reserve = join(dataDir, RESERVE_FILE_NAME);
    store.events.useJournal(join(dataDir, 'events.journal'), { reserveBytes: 1 << 20, heldEvents: 500 });
    expect(statSync(reserve).size).toBe(1 << 20);
    const filler = join(root, 'filler');
    fillDisk(filler);

    const total = 20_000;
    for (let i = 0; i < total; i++) {
      // Never throws, whatever the disk says.
      store.events.appendCommitted({
        type: 'decision',
        doorId: null,
        personId: null,
        credentialId: null,
        data: { granted: true, reason: 'granted', request: `r${i}` },
      });
      store.events.flushSoon();
      if (i % 200 === 199) await new Promise((r) => setTimeout(r, 5));
    }
    expect(store.events.diskFull()).toBe(true);
    expect(existsSync(reserve)).toBe(false); // released to make room
    await until(() => store.events.list({ type: 'alarm.disk_full' }).length === 1);

    rmSync(filler);
    await until(() => store.events.list({ type: 'storage.disk_ok' }).length === 1);
    expect(store.events.diskFull()).toBe(false);
    expect(statSync(reserve).size).toBe(1 << 20);

    const all = store.events.after(0, 10_000).concat(store.events.after(10_000, 10_000));
    const decisions = all.filter((e) => e.type === 'decision');
    expect(new Set(decisions.map((e) => e.data.request)).size).toBe(decisions.length); // none twice
    const lost = store.events.list({ type: 'events.lost' });
    // The ring of 500 overflowed: what it dropped is counted, never silent.
    expect(lost).toHaveLength(1);
    expect(lost[0]!.data.count).toBeGreaterThan(0);
    expect((lost[0]!.data.count as number) + decisions.length).toBe(total);
    expect(store.events.list({ type: 'alarm.disk_full' })).toHaveLength(1);
    expect(store.events.verify().ok).toBe(true);
    await store.stop();
    db.close();
  }, 60_000);

  it('refuses a revocation it cannot save, with a plain message, and takes it once space returns', async () => {
    const dataDir = join(root, 'data2');
    mkdirSync(dataDir, { recursive: true });
    const db = openDatabase(join(dataDir, 'gatehouse.db'));
    const store = new Store(db, HubKeys.loadOrCreate(dataDir));
    store.events.useJournal(join(dataDir, 'events.journal'), { reserveBytes: 0 });
    store.people.add({ id: 'ada', name: 'Ada', kind: 'resident' });
    const card = store.credentials.addCard('ada', '04A22B1C');
    const filler = join(root, 'filler2');
    fillDisk(filler);
    let refused: unknown = null;
    try {
      store.credentials.revoke(card.id, 'lost');
    } catch (err) {
      refused = err;
    }
    // Either saved (it fit) or refused as not saved: never acknowledged and then forgotten.
    if (refused === null) {
      expect(store.credentials.get(card.id)?.revokedAt).not.toBeNull();
    } else {
      expect(refused).toMatchObject({ name: 'StoreError', code: 'unavailable' });
      expect((refused as Error).message).toMatch(/disk is full: the change was NOT saved/);
      expect(store.credentials.find('card', '04A22B1C')?.credential.id).toBe(card.id);
      rmSync(filler);
      store.credentials.revoke(card.id, 'lost');
    }
    rmSync(filler, { force: true });
    const reopenedDb = openDatabase(join(dataDir, 'gatehouse.db'));
    const reopened = new Store(reopenedDb, HubKeys.loadOrCreate(dataDir));
    expect(reopened.credentials.get(card.id)?.revokedAt).not.toBeNull();
    reopenedDb.close();
    await store.stop();
    db.close();
  }, 30_000);
});

// The same journal path without root: the journal's write() and the free-space probe go through the
// event log's StorageFs port, which here answers ENOSPC as a full disk would.
describe('the decision journal when its write() fails with ENOSPC (injected at the fs port)', () => {
  it('keeps answering, alarms once, logs a bounded number of lines, and stores every decision later', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-enospc-'));
    try {
      const dataDir = join(dir, 'data');
      mkdirSync(dataDir);
      const lines: Array<Record<string, unknown>> = [];
      const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
      const db = openDatabase(join(dataDir, 'gatehouse.db'));
      const store = new Store(db, HubKeys.loadOrCreate(dataDir), { logger });
      let full = false;
      const fs: StorageFs = {
        writeSync: (fd, buffer, offset) => {
          if (full)
            throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          return nodeStorageFs.writeSync(fd, buffer, offset);
        },
        freeBytes: (d) => (full ? 0 : nodeStorageFs.freeBytes(d)),
      };
      store.events.useJournal(join(dataDir, 'events.journal'), { reserveBytes: 64 * 1024, fs });
      full = true;
      for (let i = 0; i < 3000; i++) {
        store.events.appendCommitted({
          type: 'decision',
          doorId: null,
          personId: null,
          credentialId: null,
          data: { granted: true, reason: 'granted', request: `q${i}` },
        });
        store.events.flushSoon();
        if (i % 300 === 299) await new Promise((r) => setTimeout(r, 5));
      }
      expect(store.events.diskFull()).toBe(true);
      expect(lines.filter((l) => String(l.msg).startsWith('disk full')).length).toBe(1);
      expect(lines.length).toBeLessThan(10);

      full = false;
      await until(() => store.events.list({ type: 'storage.disk_ok' }).length === 1);
      const decisions = store.events.after(0, 10_000).filter((e) => e.type === 'decision');
      expect(decisions.map((e) => e.data.request)).toEqual(Array.from({ length: 3000 }, (_, i) => `q${i}`));
      expect(store.events.list({ type: 'alarm.disk_full' })).toHaveLength(1);
      expect(store.events.list({ type: 'events.lost' })).toHaveLength(0);
      expect(store.events.verify().ok).toBe(true);
      await store.stop();
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
