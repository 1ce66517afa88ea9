// Scheduled backups in a real hub: the passphrase file rules, keep-N pruning, a USB stick that is not
// mounted, the status fields (docs/replace-a-hub.md) and the 48-hour alarm on the hub's own clock.
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { type BackupsStatus, OVERDUE_MS } from '../../hub/backups/index.js';
import { BackupError, inspectBackup } from '../../hub/store/backup.js';
import { removeDir, startHub, tempDataDir } from '../helpers/hub.js';

const PASSPHRASE = 'correct horse battery staple';
const HOUR = 3_600_000;

let dirs: string[] = [];
let hubs: Hub[] = [];

afterEach(async () => {
  for (const hub of hubs) await hub.stop();
  for (const dir of dirs) removeDir(dir);
  hubs = [];
  dirs = [];
});

/** A hub with scheduled backups on and a clock the test moves. */
async function hubWithBackups(backups: Record<string, unknown> = {}, passphraseMode: number | null = 0o600) {
  const dataDir = tempDataDir();
  dirs.push(dataDir);
  if (passphraseMode !== null) {
    writeFileSync(path.join(dataDir, 'backup.passphrase'), `${PASSPHRASE}\n`, { mode: passphraseMode });
    chmodSync(path.join(dataDir, 'backup.passphrase'), passphraseMode);
  }
  const clock = { now: Date.parse('2026-12-02T03:00:00Z') };
  const hub = await startHub(dataDir, { backups: { enabled: true, ...backups } }, { now: () => clock.now });
  hubs.push(hub);
  return { hub, dataDir, clock, status: () => hub.status().backups as BackupsStatus };
}

const eventsOf = (hub: Hub, type: string) => hub.store.events.list({ type, limit: 100 });

// scrypt (128 MiB) per backup on a loaded 2-core machine: generous timeouts.
describe('scheduled backups', { timeout: 120_000 }, () => {
  it('status has every field of the contract, with the defaults under the data dir', async () => {
    const { dataDir, status, clock } = await hubWithBackups();
    expect(status()).toEqual({
      enabled: true,
      dir: path.join(dataDir, 'backups'),
      copyTo: null,
      everyHours: 24,
      keep: 7,
      lastSuccess: null,
      lastFailure: null,
      nextAt: clock.now + 5 * 60_000,
      overdue: false,
    });
  });

  it('writes a backup that restores, keeps the newest `keep`, and records each as an event', async () => {
    const { hub, dataDir, clock, status } = await hubWithBackups({ keep: 2 });
    const dir = path.join(dataDir, 'backups');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'notes.txt'), 'not a backup: pruning never touches it');
    const written: string[] = [];
    for (let i = 0; i < 3; i++) {
      const run = await hub.backups!.runNow();
      expect(run).toMatchObject({ ok: true, error: null });
      written.push(run.file!);
      clock.now += HOUR;
    }
    expect(readdirSync(dir).sort()).toEqual(
      [...written.slice(1).map((f) => path.basename(f)), 'notes.txt'].sort(),
    );
    expect(status().lastSuccess).toEqual({
      at: expect.any(Number),
      file: written[2],
      bytes: expect.any(Number),
    });
    expect(status().nextAt).toBe(clock.now - HOUR + 24 * HOUR);
    const checked = await inspectBackup({ file: written[2]!, passphrase: PASSPHRASE });
    expect(checked.files).toEqual(expect.arrayContaining(['gatehouse.db', 'hub.key', 'certs/ca.crt']));
    const created = eventsOf(hub, 'backup.created');
    expect(created).toHaveLength(3);
    expect(created[0]!.data).toMatchObject({ file: written[2], pruned: 1, copiedTo: null });
  });

  it('refuses a passphrase file other users can read, and says how to fix it', async () => {
    const { hub, dataDir, status } = await hubWithBackups({}, 0o644);
    const run = await hub.backups!.runNow();
    const file = path.join(dataDir, 'backup.passphrase');
    expect(run.ok).toBe(false);
    expect(run.error).toBe(
      `refusing to use the backup passphrase in ${file}: it is readable by other users (mode 0644); run chmod 600 ${file}`,
    );
    expect(status().lastFailure).toEqual({ at: expect.any(Number), error: run.error });
    expect(status().lastSuccess).toBeNull();
    expect(existsSync(path.join(dataDir, 'backups'))).toBe(false);
    expect(eventsOf(hub, 'backup.failed')[0]!.data).toEqual({ error: run.error });
  });

  it('without a passphrase file says how to set one', async () => {
    const { hub } = await hubWithBackups({}, null);
    const run = await hub.backups!.runNow();
    expect(run.error).toMatch(
      /^no backup passphrase: .* does not exist \(set one with `gatehouse backup passphrase`\)$/,
    );
  });

  it('a copyTo folder that is not a mounted disk is not written to: "USB stick not mounted"', async () => {
    const stick = tempDataDir(); // a plain folder on the same disk, like /media/usb with no stick in it
    dirs.push(stick);
    const { hub, status } = await hubWithBackups({ copyTo: stick });
    const run = await hub.backups!.runNow();
    expect(run.ok).toBe(true); // the local backup is there
    expect(run.copiedTo).toBeNull();
    expect(run.error).toMatch(/USB stick not mounted: .* is not a mounted disk of its own/);
    expect(readdirSync(stick)).toEqual([]);
    expect(status().lastSuccess?.file).toBe(run.file);
    expect(status().lastFailure?.error).toMatch(
      /^backup written to .*, but not copied: USB stick not mounted/,
    );
    expect(status().copyTo).toBe(stick);
  });

  it('refuses to start when the disk would keep less than minFreeMb', async () => {
    const { hub, dataDir } = await hubWithBackups({ minFreeMb: 100_000 });
    const run = await hub.backups!.runNow();
    expect(run.error).toMatch(/^not enough free space for a backup: .* MB free in /);
    expect(existsSync(path.join(dataDir, 'backups'))).toBe(true);
    expect(readdirSync(path.join(dataDir, 'backups'))).toEqual([]);
  });

  it('failure events are rate-limited: three a day, then one that counts those left out', async () => {
    const { hub, clock } = await hubWithBackups({}, null);
    for (let i = 0; i < 6; i++) await hub.backups!.runNow();
    expect(eventsOf(hub, 'backup.failed')).toHaveLength(3);
    clock.now += 25 * HOUR;
    await hub.backups!.runNow();
    const failed = eventsOf(hub, 'backup.failed');
    expect(failed).toHaveLength(4);
    expect(failed[0]!.data.suppressed).toBe(3);
  });

  it('raises alarm.backup_overdue once after 48 h without a success; the next success clears it', async () => {
    const { hub, dataDir, clock, status } = await hubWithBackups({}, null);
    clock.now += 6 * 60_000;
    await hub.backups!.tick(); // due: fails (no passphrase)
    expect(status().lastFailure).not.toBeNull();
    clock.now += OVERDUE_MS - 60 * 60_000;
    await hub.backups!.tick();
    expect(eventsOf(hub, 'alarm.backup_overdue*')).toEqual([]);
    expect(status().overdue).toBe(false);
    clock.now += 60 * 60_000;
    await hub.backups!.tick();
    await hub.backups!.tick();
    const raised = eventsOf(hub, 'alarm.backup_overdue*');
    expect(raised.map((e) => e.type)).toEqual(['alarm.backup_overdue']);
    expect(raised[0]!.data).toMatchObject({
      lastSuccessAt: null,
      lastError: expect.stringMatching(/^no backup passphrase/),
    });
    expect(status().overdue).toBe(true);
    const listed = (await hub.commands.execute('alarm.list', {}, { actor: 'user:sam', role: 'staff' })) as {
      alarms: Array<{ type: string; active: boolean }>;
    };
    expect(listed.alarms).toEqual([expect.objectContaining({ type: 'alarm.backup_overdue', active: true })]);

    writeFileSync(path.join(dataDir, 'backup.passphrase'), `${PASSPHRASE}\n`, { mode: 0o600 });
    clock.now += HOUR; // the retry after a failure
    await hub.backups!.tick();
    expect(status()).toMatchObject({
      overdue: false,
      lastSuccess: expect.objectContaining({ at: clock.now }),
    });
    expect(eventsOf(hub, 'alarm.backup_overdue*').map((e) => e.type)).toEqual([
      'alarm.backup_overdue_cleared',
      'alarm.backup_overdue',
    ]);
    const after = (await hub.commands.execute(
      'alarm.list',
      { includeCleared: true },
      { actor: 'user:sam', role: 'staff' },
    )) as {
      alarms: Array<{ type: string; active: boolean }>;
    };
    expect(after.alarms).toEqual([expect.objectContaining({ type: 'alarm.backup_overdue', active: false })]);
  });

  it('a restart keeps the last success and failure (they come from the event log)', async () => {
    const { hub, dataDir, status } = await hubWithBackups();
    const run = await hub.backups!.runNow();
    const before = status();
    await hub.stop();
    hubs = hubs.filter((h) => h !== hub);
    const again = await startHub(dataDir, { backups: { enabled: true } });
    hubs.push(again);
    const after = again.status().backups as BackupsStatus;
    expect(after.lastSuccess).toEqual(before.lastSuccess);
    expect(after.lastSuccess?.file).toBe(run.file);
    expect(after.nextAt).toBeGreaterThanOrEqual(before.lastSuccess!.at + 24 * HOUR);
  });
});

describe('a scheduled backup file', { timeout: 120_000 }, () => {
  it('is refused with a wrong passphrase, and when cut short', async () => {
    const { hub } = await hubWithBackups();
    const { file } = await hub.backups!.runNow();
    await expect(inspectBackup({ file: file!, passphrase: 'a wrong passphrase here' })).rejects.toMatchObject(
      {
        code: 'wrong_passphrase',
      },
    );
    const cut = path.join(path.dirname(file!), 'cut.ghbackup');
    copyFileSync(file!, cut);
    truncateSync(cut, statSync(cut).size - 100);
    const refused = await inspectBackup({ file: cut, passphrase: PASSPHRASE }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(BackupError);
    expect((refused as BackupError).code).toBe('truncated');
  });
});
