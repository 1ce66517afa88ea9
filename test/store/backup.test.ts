import { closeSync, existsSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backupDatabase, restoreDatabase } from '../../hub/store/backup.js';
import type { Store } from '../../hub/store/store.js';
import { type TempHub, tempHub } from './helpers.js';

describe('backup and restore', () => {
  let hub: TempHub;
  let store: Store;
  let keyFile: string;
  beforeEach(() => {
    hub = tempHub();
    const opened = hub.open();
    store = opened.store;
    keyFile = opened.keys.file;
    store.people.add({ id: 'alice', name: 'Alice', kind: 'resident' });
    store.credentials.addPin('alice', '55667788');
    store.credentials.addCard('alice', 'A1B2C3D4', { id: 'card-1' });
    for (let n = 0; n < 20; n++)
      store.events.append({
        type: 'decision',
        doorId: null,
        personId: null,
        credentialId: null,
        data: { n },
      });
    store.events.flush();
  });
  afterEach(async () => {
    await hub.cleanup();
  });

  it('round-trips: backup while running, change things, restore, and everything is as it was', async () => {
    const backupFile = join(hub.dir, 'backups', 'gatehouse-2026-11-27.db');
    const result = await backupDatabase(store.db, backupFile, { hubKeyFile: keyFile });
    expect(result).toEqual({ file: backupFile, keyFile: `${backupFile}.key`, events: 23 });
    expect(statSync(backupFile).mode & 0o777).toBe(0o600);
    expect(statSync(`${backupFile}.key`).mode & 0o777).toBe(0o600);
    expect(readFileSync(`${backupFile}.key`)).toEqual(readFileSync(keyFile));
    expect(existsSync(`${backupFile}-wal`)).toBe(false); // one self-contained file

    const hubId = store.hubId();
    store.credentials.revoke('card-1', 'after the backup');
    store.people.add({ id: 'bob', name: 'Bob', kind: 'guest' });

    const restored = await restoreDatabase(backupFile, hub.dbFile);
    expect(restored).toMatchObject({ hubId, schemaVersion: 1, events: 23 });
    expect(restored.previous).not.toBeNull();
    expect(existsSync(restored.previous!)).toBe(true);

    // The running connection (as the hub would have) sees the restored content.
    expect(store.people.get('bob')).toBeNull();
    expect(store.credentials.find('card', 'A1B2C3D4')?.credential.revokedAt).toBeNull();
    expect(store.credentials.find('pin', '55667788')?.person.id).toBe('alice');
    expect(store.events.verify()).toEqual({ ok: true, checked: 23 });
    // And a fresh process too; new events continue the chain.
    const cli = hub.open().store;
    cli.events.appendDurable({
      type: 'hub.restored',
      doorId: null,
      personId: null,
      credentialId: null,
      data: {},
    });
    expect(cli.events.verify()).toEqual({ ok: true, checked: 24 });

    // The replaced database was kept, with the later changes.
    const previous = new BetterSqlite3(restored.previous!, { readonly: true });
    expect(previous.prepare("SELECT name FROM people WHERE id = 'bob'").pluck().get()).toBe('Bob');
    previous.close();
  });

  it('refuses a corrupted backup and leaves the current database untouched', async () => {
    const backupFile = join(hub.dir, 'backup.db');
    await backupDatabase(store.db, backupFile);
    const fd = openSync(backupFile, 'r+');
    const size = statSync(backupFile).size;
    for (let offset = 4096; offset < size; offset += 4096)
      writeSync(fd, Buffer.alloc(512, 0xa5), 0, 512, offset + 100);
    closeSync(fd);
    store.people.add({ id: 'bob', name: 'Bob', kind: 'guest' });
    await expect(restoreDatabase(backupFile, hub.dbFile)).rejects.toThrow(/backup is damaged/);
    expect(store.people.get('bob')?.name).toBe('Bob');
    expect(store.events.verify().ok).toBe(true);
  });

  it('refuses a backup whose event log was tampered with', async () => {
    const backupFile = join(hub.dir, 'backup.db');
    await backupDatabase(store.db, backupFile);
    const tamper = new BetterSqlite3(backupFile);
    tamper.prepare("UPDATE events SET type = 'decision.hidden' WHERE seq = 10").run();
    tamper.close();
    await expect(restoreDatabase(backupFile, hub.dbFile)).rejects.toThrow(
      'backup event log is broken at seq 10: refusing to restore it',
    );
  });

  it('refuses files that are not Gatehouse backups', async () => {
    const other = join(hub.dir, 'other.db');
    const db = new BetterSqlite3(other);
    db.exec('CREATE TABLE t (x)');
    db.close();
    await expect(restoreDatabase(other, hub.dbFile)).rejects.toThrow('backup is not a Gatehouse database');
    await expect(restoreDatabase(join(hub.dir, 'missing.db'), hub.dbFile)).rejects.toThrow(/does not exist/);
    expect(store.people.get('alice')).not.toBeNull();
  });

  it('restores into an empty data directory', async () => {
    const backupFile = join(hub.dir, 'backup.db');
    await backupDatabase(store.db, backupFile);
    const target = join(hub.dir, 'new-hub', 'gatehouse.db');
    const result = await restoreDatabase(backupFile, target);
    expect(result.previous).toBeNull();
    const db = new BetterSqlite3(target, { readonly: true });
    expect(db.prepare('SELECT count(*) FROM credentials').pluck().get()).toBe(2);
    db.close();
  });
});
