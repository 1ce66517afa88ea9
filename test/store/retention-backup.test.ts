// A pruned event log in a backup: the restore checks the chain from the anchor and accepts it; a kept
// event changed before the backup is still refused (docs/data.md §4, §5).
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openHubStore } from '../../hub/open-store.js';
import { createBackup, restoreBackup } from '../../hub/store/backup.js';
import { pruneEvents } from '../../hub/store/retention.js';
import { removeDir, tempDataDir } from '../helpers/hub.js';

const PASSPHRASE = 'correct horse battery staple';
const DAY = 86_400_000;
const NOW = Date.parse('2026-12-02T12:00:00Z');

let dataDir: string;
let work: string;
beforeEach(async () => {
  dataDir = tempDataDir();
  work = tempDataDir();
  const opened = openHubStore(dataDir);
  for (let i = 0; i < 40; i++)
    opened.store.events.append({
      type: 'decision',
      ts: NOW - 450 * DAY + i * 60_000,
      doorId: null,
      personId: null,
      credentialId: null,
      data: { n: i },
    });
  opened.store.events.flush();
  await pruneEvents(opened.db, { keepDays: 400, maxEvents: 0, batchSize: 500, now: NOW, ackedSeq: 25 });
  opened.close();
});
afterEach(() => {
  removeDir(dataDir);
  removeDir(work);
});

async function backUp(): Promise<string> {
  const file = join(work, 'gatehouse.ghbackup');
  const opened = openHubStore(dataDir);
  try {
    await createBackup({ file, passphrase: PASSPHRASE, dataDir, db: opened.db });
  } finally {
    opened.close();
  }
  return file;
}

describe('backups of a pruned event log', () => {
  it('restores, and the chain verifies from the anchor', async () => {
    const file = await backUp();
    const fresh = tempDataDir();
    try {
      const restored = await restoreBackup({ file, passphrase: PASSPHRASE, dataDir: fresh });
      expect(restored).toMatchObject({ events: 15 });
      const opened = openHubStore(fresh);
      expect(opened.store.events.verify()).toMatchObject({ ok: true, checked: 15, anchor: { seq: 25 } });
      opened.close();
    } finally {
      removeDir(fresh);
    }
  });

  it('refuses a backup whose kept events were changed', async () => {
    const opened = openHubStore(dataDir);
    opened.db.prepare('UPDATE events SET data = \'{"n":0}\' WHERE seq = 30').run();
    opened.close();
    const file = await backUp();
    const fresh = tempDataDir();
    try {
      await expect(restoreBackup({ file, passphrase: PASSPHRASE, dataDir: fresh })).rejects.toThrow(
        /broken at seq 30/,
      );
    } finally {
      removeDir(fresh);
    }
  });
});
