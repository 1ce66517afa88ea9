// Scheduled encrypted backups (docs/replace-a-hub.md, docs/storage.md): every `everyHours` one backup of
// the running hub (hub/store/backup.ts: SQLite's online backup API in small steps, so decisions go on),
// optionally copied to a mounted USB stick, the oldest beyond `keep` deleted. The last success and
// failure come from the event log (`backup.created`, `backup.failed`), so they survive a restart; an
// alarm is raised when none succeeded for 48 hours.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statfsSync,
  statSync,
  writeSync,
} from 'node:fs';
import { copyFile, open, rename } from 'node:fs/promises';
import path from 'node:path';
import type { HubEvent, NewEvent } from '../domain.js';
import type { Logger } from '../logger.js';
import { looseMode } from '../secret-file.js';
import { BackupError, checkPassphrase, createBackup, type KdfParams } from '../store/backup.js';
import type { Database } from '../store/db.js';
import { DB_FILE_NAME } from '../store/db.js';
import { syncDir } from '../store/keys.js';
import type { ResolvedBackupsConfig } from './config.js';

export const BACKUP_CREATED = 'backup.created';
export const BACKUP_FAILED = 'backup.failed';
export const BACKUP_OVERDUE = 'alarm.backup_overdue';
export const BACKUP_OVERDUE_CLEARED = 'alarm.backup_overdue_cleared';
/** No success for this long (while enabled) raises alarm.backup_overdue. */
export const OVERDUE_MS = 48 * 3_600_000;
/** After a failure the next try comes this soon (or at the normal interval when that is shorter). */
export const RETRY_MS = 3_600_000;
/** The first backup after a start waits this long, so a start (or a restart loop) stays light. */
export const FIRST_RUN_DELAY_MS = 5 * 60_000;
/** How often the schedule and the 48-hour bound are looked at. */
const TICK_MS = 60_000;
/** Failure events: this many per window, then one with the count of those left out. */
const FAILURE_EVENTS_PER_WINDOW = 3;
const FAILURE_WINDOW_MS = 24 * 3_600_000;
/** Only files with this shape are ever deleted by pruning: nothing else in the folder is touched. */
const BACKUP_NAME = /^gatehouse-\d{8}T\d{6}Z(-\d+)?\.ghbackup$/;
/** An error text in an event or the status: long enough to read, bounded. */
const MAX_ERROR_CHARS = 300;

export interface BackupsStatus {
  enabled: boolean;
  dir: string;
  copyTo: string | null;
  everyHours: number;
  keep: number;
  lastSuccess: { at: number; file: string; bytes: number } | null;
  lastFailure: { at: number; error: string } | null;
  nextAt: number | null;
  overdue: boolean;
}

/** What the scheduler needs of the event log. */
export interface BackupEventLog {
  appendDurable(e: NewEvent): HubEvent;
  /** The newest event of this type (a raw prefix when it ends in `*`), or null. */
  latest(type: string): HubEvent | null;
}

export interface BackupSchedulerOptions {
  config: ResolvedBackupsConfig;
  dataDir: string;
  /** The hub's own connection: the online backup then sees the hub's writes without restarting. */
  db: Database;
  events: BackupEventLog;
  now: () => number;
  logger: Logger;
  /** Tests only: a cheaper scrypt. */
  kdf?: KdfParams;
  /** The config file the hub runs with, kept in the backup (hubConfigFile in ./config.ts). */
  configFile?: string | null;
}

export interface BackupRun {
  ok: boolean;
  file: string | null;
  bytes: number | null;
  copiedTo: string | null;
  error: string | null;
  /** What the backup left out and why (e.g. a Node-RED folder over its limit); absent when nothing. */
  skipped?: string[];
}

/** An error meant for the operator: it goes into the status and the event as it is. */
class BackupRefused extends Error {}

export class BackupScheduler {
  readonly #o: BackupSchedulerOptions;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<BackupRun> | null = null;
  #since = 0;
  #nextAt: number | null = null;
  #lastSuccess: BackupsStatus['lastSuccess'] = null;
  #lastFailure: BackupsStatus['lastFailure'] = null;
  #failureWindow = { since: 0, written: 0, suppressed: 0 };

  constructor(options: BackupSchedulerOptions) {
    this.#o = options;
    this.#log = options.logger;
  }

  start(): void {
    const now = this.#o.now();
    this.#since = now;
    this.#loadHistory();
    if (!this.#o.config.enabled) return;
    const due = this.#lastSuccess ? this.#lastSuccess.at + this.#intervalMs() : now;
    this.#nextAt = Math.max(due, now + FIRST_RUN_DELAY_MS);
    this.#timer = setInterval(() => void this.tick(), TICK_MS);
    this.#timer.unref();
    this.#log.info(
      {
        dir: this.#o.config.dir,
        copyTo: this.#o.config.copyTo,
        nextAt: new Date(this.#nextAt).toISOString(),
      },
      'scheduled backups on',
    );
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#nextAt = null;
    // A backup under way finishes (or fails) before the store closes under it.
    await this.#running?.catch(() => undefined);
  }

  /** Runs a backup when one is due and raises the overdue alarm; the timer calls it every minute. */
  async tick(): Promise<void> {
    if (!this.#o.config.enabled) return;
    const now = this.#o.now();
    if (this.#nextAt !== null && now >= this.#nextAt && this.#running === null) await this.runNow();
    this.#checkOverdue();
  }

  /** Runs the scheduled backup at once (`gatehouse backup now`); a backup under way is joined, not doubled. */
  runNow(): Promise<BackupRun> {
    this.#running ??= this.#run().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  status(): BackupsStatus {
    const { config } = this.#o;
    return {
      enabled: config.enabled,
      dir: config.dir,
      copyTo: config.copyTo,
      everyHours: config.everyHours,
      keep: config.keep,
      lastSuccess: this.#lastSuccess,
      lastFailure: this.#lastFailure,
      nextAt: config.enabled ? this.#nextAt : null,
      overdue: config.enabled && this.#isOverdue(this.#o.now()),
    };
  }

  #intervalMs(): number {
    return this.#o.config.everyHours * 3_600_000;
  }

  #isOverdue(now: number): boolean {
    return now - (this.#lastSuccess?.at ?? this.#since) >= OVERDUE_MS;
  }

  #loadHistory(): void {
    const created = this.#o.events.latest(BACKUP_CREATED);
    if (created) {
      this.#lastSuccess = {
        at: created.ts,
        file: String(created.data.file ?? ''),
        bytes: Number(created.data.bytes ?? 0),
      };
    }
    const failed = this.#o.events.latest(BACKUP_FAILED);
    if (failed) this.#lastFailure = { at: failed.ts, error: String(failed.data.error ?? '') };
  }

  #alarmOpen(): boolean {
    // The newest of the alarm and its ending (a raw prefix covers both).
    return this.#o.events.latest(`${BACKUP_OVERDUE}*`)?.type === BACKUP_OVERDUE;
  }

  #checkOverdue(): void {
    const now = this.#o.now();
    if (!this.#isOverdue(now) || this.#alarmOpen()) return;
    const since = this.#lastSuccess?.at ?? null;
    this.#o.events.appendDurable({
      type: BACKUP_OVERDUE,
      doorId: null,
      personId: null,
      credentialId: null,
      data: {
        lastSuccessAt: since,
        lastError: this.#lastFailure?.error ?? null,
        hours: Math.floor((now - (since ?? this.#since)) / 3_600_000),
      },
    });
    this.#log.error({ lastSuccessAt: since }, 'no backup succeeded for 48 hours (alarm.backup_overdue)');
  }

  async #run(): Promise<BackupRun> {
    const { config, dataDir } = this.#o;
    const startedAt = this.#o.now();
    let file: string | null = null;
    try {
      const passphrase = readPassphraseFile(config.passphraseFile);
      mkdirSync(config.dir, { recursive: true, mode: 0o700 });
      checkFreeSpace(dataDir, config.dir, config.minFreeBytes);
      file = uniqueName(config.dir, startedAt);
      const result = await createBackup({
        file,
        passphrase,
        dataDir,
        db: this.#o.db,
        configFile: this.#o.configFile ?? null,
        ...(this.#o.kdf ? { kdf: this.#o.kdf } : {}),
      });
      if (result.skipped.length > 0)
        this.#log.warn({ skipped: result.skipped }, 'backup left some files out');
      const removed = prune(config.dir, config.keep);
      const at = this.#o.now();
      let copiedTo: string | null = null;
      let copyError: string | null = null;
      if (config.copyTo !== null) {
        try {
          copiedTo = await copyToStick(file, config.copyTo, dataDir, config.minFreeBytes);
          prune(config.copyTo, config.keep);
        } catch (err) {
          copyError = errorText(err);
        }
      }
      this.#lastSuccess = { at, file, bytes: result.bytes };
      this.#nextAt = startedAt + this.#intervalMs();
      this.#o.events.appendDurable({
        type: BACKUP_CREATED,
        doorId: null,
        personId: null,
        credentialId: null,
        data: {
          file,
          bytes: result.bytes,
          events: result.events,
          ms: at - startedAt,
          copiedTo,
          ...(removed > 0 ? { pruned: removed } : {}),
          ...(result.skipped.length > 0 ? { skipped: result.skipped } : {}),
        },
      });
      if (this.#alarmOpen()) {
        this.#o.events.appendDurable({
          type: BACKUP_OVERDUE_CLEARED,
          doorId: null,
          personId: null,
          credentialId: null,
          data: { file },
        });
      }
      this.#log.info({ file, bytes: result.bytes, ms: at - startedAt, copiedTo }, 'backup written');
      if (copyError !== null) this.#fail(`backup written to ${file}, but not copied: ${copyError}`);
      return {
        ok: true,
        file,
        bytes: result.bytes,
        copiedTo,
        error: copyError,
        ...(result.skipped.length > 0 ? { skipped: result.skipped } : {}),
      };
    } catch (err) {
      const error = errorText(err);
      this.#nextAt = startedAt + Math.min(RETRY_MS, this.#intervalMs());
      this.#fail(error);
      return { ok: false, file: null, bytes: null, copiedTo: null, error };
    }
  }

  /** Records a failure: always in the status and the log, as an event a few times a day. */
  #fail(error: string): void {
    const at = this.#o.now();
    this.#lastFailure = { at, error };
    this.#log.error({ error }, 'backup failed');
    const w = this.#failureWindow;
    if (at - w.since >= FAILURE_WINDOW_MS) {
      w.since = at;
      w.written = 0;
    }
    if (w.written >= FAILURE_EVENTS_PER_WINDOW) {
      w.suppressed++;
      return;
    }
    w.written++;
    this.#o.events.appendDurable({
      type: BACKUP_FAILED,
      doorId: null,
      personId: null,
      credentialId: null,
      data: { error, ...(w.suppressed > 0 ? { suppressed: w.suppressed } : {}) },
    });
    w.suppressed = 0;
  }
}

function errorText(err: unknown): string {
  const text = err instanceof BackupRefused || err instanceof BackupError ? err.message : String(err);
  return text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS - 1)}…` : text;
}

/** The passphrase file: only its owner may read it (it unlocks every backup), first line, ≥ 12 characters. */
export function readPassphraseFile(file: string): string {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch {
    throw new BackupRefused(
      `no backup passphrase: ${file} does not exist (set one with \`gatehouse backup passphrase\`)`,
    );
  }
  const loose = looseMode(mode);
  if (loose !== null) {
    throw new BackupRefused(
      `refusing to use the backup passphrase in ${file}: it is readable by other users ` +
        `(mode ${loose.toString(8).padStart(4, '0')}); run chmod 600 ${file}`,
    );
  }
  const passphrase = readFileSync(file, 'utf8').split('\n')[0]!.replace(/\r$/, '');
  checkPassphrase(passphrase);
  return passphrase;
}

function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/**
 * A backup needs about the database's size twice: the unencrypted snapshot in the data dir, then the
 * encrypted file. Refused when either disk would keep less than `minFree`.
 */
function checkFreeSpace(dataDir: string, dir: string, minFree: number): void {
  const db = path.join(dataDir, DB_FILE_NAME);
  const need = fileSize(db) + fileSize(`${db}-wal`);
  const sameDisk = statSync(dataDir).dev === statSync(dir).dev;
  const mb = (n: number) => `${Math.ceil(n / 1024 / 1024)} MB`;
  const dataFree = freeBytes(dataDir);
  const dataNeed = need * (sameDisk ? 2 : 1) + minFree;
  if (dataFree < dataNeed) {
    throw new BackupRefused(
      `not enough free space for a backup: ${mb(dataFree)} free in ${dataDir}, a backup needs ${mb(dataNeed)} ` +
        '(database size twice plus backups.minFreeMb); delete old files or lower backups.keep',
    );
  }
  if (!sameDisk && freeBytes(dir) < need + minFree) {
    throw new BackupRefused(
      `not enough free space for a backup in ${dir}: ${mb(freeBytes(dir))} free, ${mb(need + minFree)} needed`,
    );
  }
}

/** `gatehouse-20261202T031500Z.ghbackup`: sorts by time; a second one in the same second gets `-2`. */
function uniqueName(dir: string, at: number): string {
  const stamp = new Date(at)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  for (let n = 1; ; n++) {
    const file = path.join(dir, `gatehouse-${stamp}${n > 1 ? `-${n}` : ''}.ghbackup`);
    if (!existsSync(file)) return file;
  }
}

/** Deletes the oldest scheduled backups beyond `keep` (by name, which sorts by time); returns how many. */
export function prune(dir: string, keep: number): number {
  const backups = readdirSync(dir)
    .filter((name) => BACKUP_NAME.test(name))
    .sort(byTime);
  const old = backups.slice(0, Math.max(0, backups.length - keep));
  for (const name of old) rmSync(path.join(dir, name), { force: true });
  if (old.length > 0) syncDir(dir);
  return old.length;
}

function byTime(a: string, b: string): number {
  const key = (name: string) => {
    const m = /^gatehouse-(\d{8}T\d{6}Z)(?:-(\d+))?/.exec(name)!;
    return [m[1]!, Number(m[2] ?? 1)] as const;
  };
  const [ta, na] = key(a);
  const [tb, nb] = key(b);
  return ta < tb ? -1 : ta > tb ? 1 : na - nb;
}

/**
 * Is `dir` a mounted file system of its own, other than the data dir's? A stick that is not plugged in
 * leaves an empty folder on the SD card: copying there would fill the card, so it is refused.
 */
export function isSeparateMount(dir: string, dataDir: string): boolean {
  let own: number;
  try {
    if (!statSync(dir).isDirectory()) return false;
    own = statSync(dir).dev;
  } catch {
    return false;
  }
  const parent = path.dirname(dir);
  const isMountPoint = parent === dir || statSync(parent).dev !== own;
  return isMountPoint && own !== statSync(dataDir).dev;
}

/**
 * Copies a finished backup to the stick: temp name, fsync, rename, fsync of the folder. Asynchronous
 * (libuv's thread pool): a slow stick never holds up the event loop that answers doors.
 */
async function copyToStick(file: string, copyTo: string, dataDir: string, minFree: number): Promise<string> {
  if (!isSeparateMount(copyTo, dataDir)) {
    throw new BackupRefused(
      `USB stick not mounted: ${copyTo} is not a mounted disk of its own (see docs/replace-a-hub.md)`,
    );
  }
  const size = statSync(file).size;
  if (freeBytes(copyTo) < size + minFree) {
    throw new BackupRefused(`not enough free space on the USB stick ${copyTo} for a ${size}-byte backup`);
  }
  const target = path.join(copyTo, path.basename(file));
  const temp = path.join(copyTo, `.${path.basename(file)}.tmp-${randomBytes(4).toString('hex')}`);
  try {
    await copyFile(file, temp);
    const fh = await open(temp, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, target);
    syncDir(copyTo);
  } finally {
    rmSync(temp, { force: true });
  }
  return target;
}

/**
 * Writes the passphrase file for scheduled backups (`gatehouse backup passphrase`): checked first, mode
 * 0600 from the start (temp file, fsync, rename), replacing an older one.
 */
export function writePassphraseFile(file: string, passphrase: string): void {
  checkPassphrase(passphrase);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeSync(fd, `${passphrase.normalize('NFC')}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
    syncDir(path.dirname(file));
  } finally {
    rmSync(temp, { force: true });
  }
}
