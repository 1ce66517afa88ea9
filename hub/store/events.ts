// The event log: audit trail and cloud outbox (docs/architecture.md, invariant 3). Every event gets the next
// hub-wide seq and a hash chained to the previous event, both assigned inside the write
// transaction so several processes appending at once still build one valid chain.
import { createHash } from 'node:crypto';
import { closeSync, fsync, ftruncateSync, openSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Database } from 'better-sqlite3';
import { Summarizer } from '../budget.js';
import type { HubEvent, NewEvent } from '../domain.js';
import type { StoreContext } from './context.js';
import { canonicalJson, invalid, isPlainRecord, StoreError } from './errors.js';
import { type PruneAnchor, readPruneAnchor } from './prune-anchor.js';
import { DiskReserve, isNoSpace, nodeStorageFs, type StorageFs, storageErrorCode } from './reserve.js';

export const GENESIS_HASH = '0'.repeat(64);
const MAX_DATA_BYTES = 64 * 1024;
const TYPE_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/;
const REF_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const RETRY_MS = 250;
/** While the disk is full: how often free space is checked to write held events and leave the state. */
const DISK_RECHECK_MS = 1000;
/** Held events are written back in transactions of this size, so one that fails costs little. */
const HELD_CHUNK = 500;
/** Storage-failure log lines per kind per minute before "...and N more" (the SD card is the thing that is full). */
const FAULT_LINES_PER_MINUTE = 3;

/** The reserve file next to the journal (docs/outages.md). */
export const RESERVE_FILE_NAME = 'events.reserve';
export const DEFAULT_RESERVE_BYTES = 8 * 1024 * 1024;
export const DEFAULT_HELD_EVENTS = 10_000;

export interface JournalOptions {
  /** Size of the reserve file deleted to make room when the disk fills; 0 = none. */
  reserveBytes?: number;
  /** Events held in memory while they cannot be written; beyond it the oldest are dropped and counted. */
  heldEvents?: number;
  /** The file-system calls of the journal and the reserve (tests stand in a failing disk here). */
  fs?: StorageFs;
}

/** The disk-full state: since when, and what was dropped from the memory ring meanwhile. */
interface DiskFull {
  since: number;
  code: string;
  lost: number;
  firstLostTs: number | null;
  lastLostTs: number | null;
}

interface EventRow {
  seq: number;
  ts: number;
  type: string;
  door_id: string | null;
  person_id: string | null;
  credential_id: string | null;
  data: string;
  prev_hash: string;
  hash: string;
}

export interface PendingEvent {
  /** Journal id, for events first written to the decision journal (see useJournal). */
  jid?: string;
  ts: number;
  type: string;
  doorId: string | null;
  personId: string | null;
  credentialId: string | null;
  dataJson: string;
  /** Written ahead of held events and never dropped from the ring (the disk-full alarm and its end). */
  keep?: boolean;
}

export interface EventListQuery {
  limit?: number;
  /** Only events with seq < beforeSeq (paging backwards). */
  beforeSeq?: number;
  /** Only events with seq > afterSeq (resuming a stream). */
  afterSeq?: number;
  /** Only events with seq <= throughSeq (a replay up to a known end). */
  throughSeq?: number;
  /** A type and its sub-types ('alarm' → 'alarm', 'alarm.forced'), or a raw prefix ending in '*' ('admin.cred*'). */
  type?: string;
  /** Only these types and their sub-types (what a role may see); an empty list matches nothing. */
  typeScopes?: readonly string[];
  doorId?: string;
  personId?: string;
  /** Only events with ts >= fromTs (epoch ms). */
  fromTs?: number;
  /** Only events with ts < untilTs (epoch ms). */
  untilTs?: number;
  /** Oldest first (replays); newest first otherwise. */
  oldestFirst?: boolean;
}

/**
 * The WHERE clause of a list query. Type conditions are written `+type` so SQLite never picks the type
 * index for them: with it, a common type (every decision) is collected in full and sorted by seq for
 * one page; without it, the seq order of the table (or the door and person indexes, which keep seq
 * order per id) gives a page after reading about as many rows as it holds (docs/http-api.md, Events).
 */
export function eventListWhere(query: EventListQuery): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const typeCondition = (type: string) => {
    if (type.endsWith('*')) {
      const prefix = type.slice(0, -1);
      params.push(prefix, `${prefix}\uffff`);
      return '(+type >= ? AND +type < ?)';
    }
    // 'alarm' matches 'alarm' and 'alarm.forced', not 'alarms'.
    params.push(type, `${type}.`, `${type}.\uffff`);
    return '(+type = ? OR (+type > ? AND +type < ?))';
  };
  if (query.beforeSeq !== undefined) {
    where.push('seq < ?');
    params.push(query.beforeSeq);
  }
  if (query.afterSeq !== undefined) {
    where.push('seq > ?');
    params.push(query.afterSeq);
  }
  if (query.throughSeq !== undefined) {
    where.push('seq <= ?');
    params.push(query.throughSeq);
  }
  if (query.type !== undefined) where.push(typeCondition(query.type));
  if (query.typeScopes !== undefined) {
    where.push(
      query.typeScopes.length === 0 ? '0' : `(${query.typeScopes.map((t) => typeCondition(t)).join(' OR ')})`,
    );
  }
  if (query.doorId !== undefined) {
    where.push('door_id = ?');
    params.push(query.doorId);
  }
  if (query.personId !== undefined) {
    where.push('person_id = ?');
    params.push(query.personId);
  }
  if (query.fromTs !== undefined) {
    where.push('ts >= ?');
    params.push(query.fromTs);
  }
  if (query.untilTs !== undefined) {
    where.push('ts < ?');
    params.push(query.untilTs);
  }
  return { sql: where.length > 0 ? `WHERE ${where.join(' AND ')}` : '', params };
}

/** Most events alarmLog reads: a door propped open for days repeats alarm.held_open every heldOpenMs. */
export const MAX_ALARM_LOG = 20_000;

export interface AlarmLogQuery {
  /** Epoch ms: events at or after it. */
  sinceTs: number;
  /** Types besides alarm.* to include: the events that end or acknowledge an alarm. */
  alsoTypes: readonly string[];
  doorId?: string;
  /** Newest events kept when the window holds more (at most MAX_ALARM_LOG, the default). */
  limit?: number;
}

export interface ChainCheck {
  ok: boolean;
  checked: number;
  /** seq of the first event that does not match the chain. */
  brokenAt?: number;
  /** Older events were pruned (hub/store/retention.ts): the chain was checked from this anchor on. */
  anchor?: PruneAnchor;
}

/** The hash of one event: sha256(prevHash + canonical JSON of its fields). */
export function eventHash(
  prevHash: string,
  e: Pick<HubEvent, 'seq' | 'ts' | 'type' | 'doorId' | 'personId' | 'credentialId' | 'data'>,
): string {
  const body = canonicalJson({
    seq: e.seq,
    ts: e.ts,
    type: e.type,
    doorId: e.doorId,
    personId: e.personId,
    credentialId: e.credentialId,
    data: e.data,
  });
  return createHash('sha256').update(prevHash).update(body).digest('hex');
}

function rowToEvent(row: EventRow): HubEvent {
  return {
    seq: row.seq,
    ts: row.ts,
    type: row.type,
    doorId: row.door_id,
    personId: row.person_id,
    credentialId: row.credential_id,
    data: JSON.parse(row.data) as Record<string, unknown>,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

function checkRef(value: unknown, field: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string' || !REF_PATTERN.test(value))
    throw invalid(`event ${field} is not a valid id`);
  return value;
}

export class EventLog {
  readonly #ctx: StoreContext;
  #queue: PendingEvent[] = [];
  #scheduled: NodeJS.Immediate | NodeJS.Timeout | null = null;
  readonly #listeners = new Set<(events: HubEvent[]) => void>();
  /** Sets that collect the seqs this connection commits, so watch() can report only foreign ones. */
  readonly #ownTrackers = new Set<Set<number>>();
  #stopped = false;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  /** Queues an event; it is committed with others in one transaction on the next setImmediate. */
  append(e: NewEvent): void {
    this.#hold(this.#validate(e));
    if (this.#stopped) this.#flushOrHold();
    else this.#schedule(false);
  }

  /** Appends and commits at once (with anything queued before it); returns the stored event. */
  appendDurable(e: NewEvent): HubEvent {
    const item = this.#validate(e);
    // Disk full: commit this one alone (it may fit in the headroom) or throw; the held ring waits.
    if (this.#full !== null) return this.#ctx.write(() => this.#insert([item]))[0]!;
    this.#queue.push(item);
    const stored = this.flush();
    return stored[stored.length - 1]!;
  }

  /**
   * For door decisions: the answer must not wait for SQLite, yet no answered decision may be lost.
   * With a journal (useJournal), the event is appended to a plain file with one write() — in the OS
   * page cache when this returns, so it survives a crash or kill of this process — and committed to
   * SQLite in the next group commit, right after the answer has gone out. After a crash the hub
   * replays the journal at start. Without a journal it commits at once (synchronous=NORMAL).
   * Either way the WAL is fsynced in the background: a power cut can lose only the last moment.
   * When the disk is full this never throws: the event is held in memory (docs/outages.md).
   */
  appendCommitted(e: NewEvent): void {
    const item = this.#validate(e);
    if (this.#journalFd === null) {
      this.#hold(item);
      if (this.#full === null) this.#commitWithoutWaiting(() => this.#flushOrHold());
      return;
    }
    if (this.#full === null) {
      const jid = `${this.#journalBoot}.${++this.#journalCounter}`;
      const line = JSON.stringify([
        jid,
        item.ts,
        item.type,
        item.doorId,
        item.personId,
        item.credentialId,
        item.dataJson,
      ]);
      if (this.#writeJournal(`${line}\n`)) item.jid = jid;
    }
    this.#hold(item);
    // The caller schedules the commit (flushSoon) once the answer is on its way.
  }

  /**
   * Schedules the group commit. Called after the answer to a door was handed to the broker, so that
   * the broker's own deferred work (delivering the answer) is queued ahead of the commit.
   */
  flushSoon(): void {
    // Two turns: the broker queues the answer's socket write from a promise callback, which lands in
    // the same check phase as a plain setImmediate queued here would; the answer goes first.
    if (this.#queue.length > 0 && this.#full === null) setImmediate(() => this.#schedule(false));
  }

  #journalFd: number | null = null;
  /** Bytes of whole lines in the journal: a torn write is cut back to this. */
  #journalSize = 0;
  /** This boot's number (kv 'events.journal.boot'): journal ids `boot.n` order across restarts. */
  #journalBoot = 0;
  #journalCounter = 0;
  #fs: StorageFs = nodeStorageFs;
  #reserve: DiskReserve | null = null;
  #heldMax = DEFAULT_HELD_EVENTS;
  #full: DiskFull | null = null;
  #recheck: NodeJS.Timeout | null = null;
  #recheckSoon: NodeJS.Immediate | null = null;
  /** Repeated storage-failure log lines: a few a minute, then "...and N more" (invariant 7). */
  readonly #faultLog = new Summarizer({
    perWindow: FAULT_LINES_PER_MINUTE,
    onSuppressed: ({ key, suppressed }) =>
      this.#ctx.logger?.error({ failure: key, suppressed }, `...and ${suppressed} more in the last minute`),
  });

  /**
   * Opens the decision journal (the hub process only; one hub per data directory), first replaying
   * what a crash left in it: lines not yet in the database are committed now. Returns how many.
   * Replay is idempotent: a journal older than the database (it is not fsynced, the WAL is) only
   * holds ids at or before the last one committed, and those are skipped.
   */
  useJournal(file: string, options: JournalOptions = {}): number {
    this.#fs = options.fs ?? nodeStorageFs;
    this.#heldMax = Math.max(1, options.heldEvents ?? DEFAULT_HELD_EVENTS);
    let recovered = 0;
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    if (lines.length > 0) {
      const parsed: PendingEvent[] = [];
      for (const line of lines) {
        try {
          const [jid, ts, type, doorId, personId, credentialId, dataJson] = JSON.parse(line) as [
            string,
            number,
            string,
            string | null,
            string | null,
            string | null,
            string,
          ];
          parsed.push({ jid, ts, type, doorId, personId, credentialId, dataJson });
        } catch {
          this.#ctx.logger?.warn('decision journal: skipped an unreadable line');
        }
      }
      const last = this.#ctx
        .stmt<string>("SELECT value FROM kv WHERE key = 'events.journal.last'")
        .pluck()
        .get();
      const missing = notYetCommitted(parsed, last);
      if (missing.length > 0) {
        this.#queue.push(...missing);
        this.flush();
        recovered = missing.length;
        this.#ctx.logger?.warn({ recovered }, 'decision journal: recovered events after an unclean stop');
      }
    }
    // A new boot number, durable before any line of this boot is written.
    this.#journalBoot = this.#ctx.write(() => {
      const previous = this.#ctx
        .stmt<string>("SELECT value FROM kv WHERE key = 'events.journal.boot'")
        .pluck()
        .get();
      const boot = (Number.parseInt(previous ?? '0', 10) || 0) + 1;
      this.#ctx
        .stmt(
          "INSERT INTO kv (key, value) VALUES ('events.journal.boot', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .run(String(boot));
      return boot;
    });
    this.#journalCounter = 0;
    this.#journalFd = openSync(file, 'a', 0o600);
    ftruncateSync(this.#journalFd, 0);
    this.#journalSize = 0;
    this.#reserve = new DiskReserve(
      join(dirname(file), RESERVE_FILE_NAME),
      options.reserveBytes ?? DEFAULT_RESERVE_BYTES,
      this.#fs,
    );
    if (!this.#reserve.ensure()) {
      const err = Object.assign(new Error('no room for the event log reserve'), { code: 'ENOSPC' });
      this.#storageFailed(err, 'reserve');
    }
    return recovered;
  }

  /** True while events cannot be written and are held in memory (docs/outages.md). */
  diskFull(): boolean {
    return this.#full !== null;
  }

  #writeJournal(text: string): boolean {
    const fd = this.#journalFd!;
    const buffer = Buffer.from(text);
    let written = 0;
    try {
      while (written < buffer.length) written += this.#fs.writeSync(fd, buffer, written);
      this.#journalSize += buffer.length;
      return true;
    } catch (err) {
      if (written > 0) {
        try {
          ftruncateSync(fd, this.#journalSize); // no torn line for the next one to be glued to
        } catch {
          // the line stays torn; replay skips an unreadable line
        }
      }
      this.#storageFailed(err, 'journal');
      return false;
    }
  }

  /** Queues an event; while the disk is full the queue is a bounded ring that counts what it drops. */
  #hold(item: PendingEvent): void {
    this.#queue.push(item);
    const full = this.#full;
    if (full === null) return;
    // Half full: try to write back now (into the headroom) rather than wait for the next recheck.
    if (this.#queue.length >= this.#heldMax / 2 && !this.#recheckSoon) {
      this.#recheckSoon = setImmediate(() => {
        this.#recheckSoon = null;
        this.#recheckDisk();
      });
    }
    if (this.#queue.length <= this.#heldMax) return;
    // Drop the oldest ordinary events, 1% of the ring at a time so a flood costs O(1) per event.
    let drop = Math.max(this.#queue.length - this.#heldMax, Math.ceil(this.#heldMax / 100));
    const kept: PendingEvent[] = [];
    for (const held of this.#queue) {
      if (drop > 0 && !held.keep) {
        drop--;
        full.lost++;
        full.firstLostTs ??= held.ts;
        full.lastLostTs = held.ts;
      } else kept.push(held);
    }
    this.#queue = kept;
  }

  /** Commits what is queued; when the disk is full the events stay held instead of throwing. */
  #flushOrHold(): HubEvent[] {
    try {
      return this.flush();
    } catch (err) {
      if (!this.#storageFailed(err, 'commit')) throw err;
      return [];
    }
  }

  /**
   * A write failed. For "no space" (ENOSPC, SQLITE_FULL) the event log enters the disk-full state
   * once: the reserve is deleted to make room, one alarm is queued ahead of everything, one log line
   * is written, and a timer writes held events back as space allows. Returns false for other errors.
   */
  #storageFailed(err: unknown, where: string): boolean {
    const code = storageErrorCode(err);
    if (this.#full !== null) {
      if (this.#faultLog.allow(where))
        this.#ctx.logger?.warn({ code, where, held: this.#queue.length }, 'disk still full; events held');
      return true;
    }
    if (!isNoSpace(err)) {
      if (this.#faultLog.allow(where)) this.#ctx.logger?.error({ err, where }, 'event log write failed');
      return false;
    }
    const released = this.#reserve?.release() ?? false;
    this.#full = { since: this.#ctx.now(), code, lost: 0, firstLostTs: null, lastLostTs: null };
    this.#queue.unshift(
      this.#special('alarm.disk_full', {
        code,
        where,
        reserveReleased: released,
        freeBytes: this.#freeBytes(),
      }),
    );
    this.#ctx.logger?.error(
      { code, where, reserveReleased: released, held: this.#queue.length },
      'disk full: doors keep deciding; events are held in memory until space returns (docs/outages.md)',
    );
    this.#recheck = setInterval(() => this.#recheckDisk(), DISK_RECHECK_MS);
    this.#recheck.unref();
    setImmediate(() => this.#recheckDisk());
    return true;
  }

  #special(type: string, data: Record<string, unknown>): PendingEvent {
    return {
      ts: this.#ctx.now(),
      type,
      doorId: null,
      personId: null,
      credentialId: null,
      dataJson: canonicalJson(data),
      keep: true,
    };
  }

  #freeBytes(): number | null {
    try {
      return this.#reserve?.freeBytes() ?? null;
    } catch {
      return null;
    }
  }

  /** Space kept free for admin changes (revocations) while held events are written back. */
  #adminHeadroom(): number {
    return Math.floor((this.#reserve?.bytes ?? 0) / 4);
  }

  /** While the disk is full: write held events as space allows; leave the state once the reserve is back. */
  #recheckDisk(): void {
    const full = this.#full;
    if (full === null || this.#stopped || !this.#ctx.db.open) return;
    const headroom = this.#adminHeadroom();
    try {
      // The alarm and its end are small and always tried; ordinary events only above the headroom.
      while (this.#queue.length > 0) {
        const free = this.#freeBytes();
        const room = free === null || free > headroom;
        let n = HELD_CHUNK;
        if (!room) {
          n = this.#queue.findIndex((item) => !item.keep);
          if (n === 0) break;
          if (n < 0) n = HELD_CHUNK;
        }
        this.#commitWithoutWaiting(() => this.#flushSome(n));
        if (!room) break;
      }
    } catch (err) {
      this.#storageFailed(err, 'commit');
      return;
    }
    if (this.#queue.length > 0) return;
    const free = this.#freeBytes();
    const reserveBytes = this.#reserve?.bytes ?? 0;
    if (free !== null && free < reserveBytes + headroom) return;
    if (this.#reserve && !this.#reserve.ensure()) return;
    // Space is back: record what was lost (never silently) and the end of the alarm, then resume.
    const ended: PendingEvent[] = [];
    if (full.lost > 0) {
      ended.push(
        this.#special('events.lost', {
          count: full.lost,
          firstTs: full.firstLostTs,
          lastTs: full.lastLostTs,
          reason: 'disk_full',
        }),
      );
    }
    ended.push(
      this.#special('storage.disk_ok', {
        since: full.since,
        durationMs: this.#ctx.now() - full.since,
        lost: full.lost,
      }),
    );
    this.#queue.push(...ended);
    try {
      this.#commitWithoutWaiting(() => this.flush());
    } catch (err) {
      // Not yet after all: the reserve goes again and the state continues.
      this.#reserve?.release();
      if (!isNoSpace(err) && this.#faultLog.allow('commit'))
        this.#ctx.logger?.error({ err }, 'event log write failed');
      return;
    }
    this.#full = null;
    if (this.#recheck) clearInterval(this.#recheck);
    this.#recheck = null;
    this.#faultLog.flush(true);
    this.#ctx.logger?.warn(
      { lost: full.lost, durationMs: this.#ctx.now() - full.since },
      'disk space is back: held events written, reserve recreated',
    );
  }

  #closeJournal(): void {
    if (this.#recheck) clearInterval(this.#recheck);
    this.#recheck = null;
    if (this.#recheckSoon) clearImmediate(this.#recheckSoon);
    this.#recheckSoon = null;
    if (this.#journalFd === null) return;
    if (this.#queue.every((item) => item.jid === undefined)) ftruncateSync(this.#journalFd, 0);
    closeSync(this.#journalFd);
    this.#journalFd = null;
  }

  /** Resolves when everything committed so far is on disk (the background WAL fsync is done). */
  async whenOnDisk(): Promise<void> {
    while (this.#syncing) await this.#syncing;
  }

  #syncing: Promise<void> | null = null;
  #syncAgain = false;
  #walFd: number | null = null;

  #commitWithoutWaiting(commit: () => HubEvent[]): HubEvent[] {
    const db = this.#ctx.db;
    // Inside a caller's transaction the pragma cannot change; fall back to the durable path.
    if (db.inTransaction) return commit();
    this.#ctx.stmt('PRAGMA synchronous = NORMAL').run();
    try {
      return commit();
    } finally {
      this.#ctx.stmt('PRAGMA synchronous = FULL').run();
      this.#syncWalSoon();
    }
  }

  #syncWalSoon(): void {
    if (this.#syncing) {
      this.#syncAgain = true;
      return;
    }
    let resolve!: () => void;
    const syncing = new Promise<void>((r) => {
      resolve = r;
    });
    this.#syncing = syncing;
    const done = (err: NodeJS.ErrnoException | null) => {
      if (err) this.#ctx.logger?.error({ err }, 'WAL fsync failed');
      this.#syncing = null;
      resolve();
      if (this.#syncAgain && !err) {
        this.#syncAgain = false;
        this.#syncWalSoon();
      }
    };
    try {
      // fsync flushes the file's pages whichever descriptor wrote them.
      this.#walFd ??= openSync(`${this.#ctx.db.name}-wal`, 'r');
      fsync(this.#walFd, done);
    } catch (err) {
      done(err as NodeJS.ErrnoException);
    }
  }

  /** Commits everything queued in one transaction. Throws if the database refused; the queue is kept. */
  flush(): HubEvent[] {
    return this.#flushSome(Number.POSITIVE_INFINITY);
  }

  /** Commits the oldest `limit` queued events in one transaction (held events go back in chunks). */
  #flushSome(limit: number): HubEvent[] {
    if (this.#queue.length === 0) return [];
    const batch = limit >= this.#queue.length ? this.#queue : this.#queue.slice(0, limit);
    this.#queue = limit >= this.#queue.length ? [] : this.#queue.slice(limit);
    const requeue = () => {
      this.#queue = batch.concat(this.#queue);
      this.#schedule(true);
    };
    try {
      return this.#ctx.write(() => {
        // Inside a caller's transaction: if that rolls back later, the events go back in the queue.
        this.#ctx.onRollback(requeue);
        return this.#insert(batch);
      });
    } catch (err) {
      if (!this.#queue.includes(batch[0]!)) requeue();
      throw err;
    }
  }

  /** Writes an event inside the caller's transaction (admin audit); notifies after commit. */
  insertInTransaction(e: NewEvent): HubEvent {
    return this.#ctx.write(() => this.#insert([this.#validate(e)]))[0]!;
  }

  /** Called after each commit with the events it stored. Returns an unsubscribe function. */
  onStored(listener: (events: HubEvent[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Starts collecting this connection's committed seqs into `seqs`; returns a function to stop. */
  trackOwnSeqs(seqs: Set<number>): () => void {
    this.#ownTrackers.add(seqs);
    return () => this.#ownTrackers.delete(seqs);
  }

  pending(): number {
    return this.#queue.length;
  }

  after(seq: number, limit = 1000): HubEvent[] {
    const rows = this.#ctx
      .stmt<EventRow>('SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?')
      .all(seq, clampLimit(limit));
    return rows.map(rowToEvent);
  }

  get(seq: number): HubEvent | null {
    const row = this.#ctx.stmt<EventRow>('SELECT * FROM events WHERE seq = ?').get(seq);
    return row ? rowToEvent(row) : null;
  }

  /** The newest event of exactly `type` about a person (e.g. why they were suspended), or null. */
  latestForPerson(personId: string, type: string): HubEvent | null {
    const row = this.#ctx
      .stmt<EventRow>('SELECT * FROM events WHERE type = ? AND person_id = ? ORDER BY seq DESC LIMIT 1')
      .get(type, personId);
    return row ? rowToEvent(row) : null;
  }

  lastSeq(): number {
    return (this.#ctx.stmt<number>('SELECT coalesce(max(seq), 0) FROM events').pluck().get() as number) ?? 0;
  }

  /**
   * alarm.* events and the `alsoTypes` (what ends or acknowledges an alarm) with ts >= sinceTs, oldest
   * first; of more than `limit`, the newest. Indexed: the window's first seq is found by bisecting the
   * primary key (events are stored in time order), then each type is one range of the (type, seq) index.
   */
  alarmLog(query: AlarmLogQuery): HubEvent[] {
    const limit = Math.min(clampLimit(query.limit ?? MAX_ALARM_LOG), MAX_ALARM_LOG);
    const floor = this.#firstSeqAtOrAfter(query.sinceTs);
    if (floor === null) return [];
    const types = [...new Set([...this.#typesWithPrefix('alarm.'), ...query.alsoTypes])];
    const door = query.doorId === undefined ? '' : ' AND door_id = ?';
    const doorParam = query.doorId === undefined ? [] : [query.doorId];
    const seqs: number[] = [];
    const seqsOf = this.#ctx.stmt<number>(
      `SELECT seq FROM events WHERE type = ? AND seq >= ?${door} ORDER BY seq DESC LIMIT ?`,
    );
    for (const type of types)
      seqs.push(...(seqsOf.pluck().all(type, floor, ...doorParam, limit) as number[]));
    if (seqs.length === 0) return [];
    seqs.sort((a, b) => b - a);
    const from = seqs[Math.min(seqs.length, limit) - 1]!;
    const rowsOf = this.#ctx.stmt<EventRow>(`SELECT * FROM events WHERE type = ? AND seq >= ?${door}`);
    return types
      .flatMap((type) => rowsOf.all(type, from, ...doorParam))
      .map(rowToEvent)
      .filter((e) => e.ts >= query.sinceTs)
      .sort((a, b) => a.seq - b.seq);
  }

  /** The distinct event types starting with `prefix`: one index seek per type (at most 256). */
  #typesWithPrefix(prefix: string): string[] {
    const next = this.#ctx.stmt<string>('SELECT min(type) FROM events WHERE type > ? AND type < ?');
    const types: string[] = [];
    let after = prefix;
    while (types.length < 256) {
      const type = next.pluck().get(after, `${prefix}\uffff`) as string | null | undefined;
      if (type === null || type === undefined) break;
      types.push(type);
      after = type;
    }
    return types;
  }

  /** The first seq whose ts is >= `ts`, by bisection (ts follows seq up to clock steps); null if none. */
  #firstSeqAtOrAfter(ts: number): number | null {
    const bounds = this.#ctx
      .stmt<{ lo: number | null; hi: number | null }>('SELECT min(seq) AS lo, max(seq) AS hi FROM events')
      .get();
    if (!bounds || bounds.lo === null || bounds.hi === null) return null;
    const tsAt = this.#ctx.stmt<number>('SELECT ts FROM events WHERE seq >= ? ORDER BY seq LIMIT 1');
    let lo = bounds.lo;
    let hi = bounds.hi + 1;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if ((tsAt.pluck().get(mid) as number) < ts) lo = mid + 1;
      else hi = mid;
    }
    return lo > bounds.hi ? null : lo;
  }

  /** Newest first (or oldest first), for the CLI, the staff API and stream replays. */
  list(query: EventListQuery = {}): HubEvent[] {
    const { sql, params } = eventListWhere(query);
    const order = query.oldestFirst ? 'ASC' : 'DESC';
    return this.#ctx
      .stmt<EventRow>(`SELECT * FROM events ${sql} ORDER BY seq ${order} LIMIT ?`)
      .all(...params, clampLimit(query.limit ?? 100))
      .map(rowToEvent);
  }

  /**
   * Recomputes the chain from `fromSeq` (streaming, constant memory). From 0 the first event must
   * link to the genesis hash; from a later seq the stored prev_hash of the first row is trusted.
   */
  verify(fromSeq = 0): ChainCheck {
    return verifyEventChain(this.#ctx.db, fromSeq);
  }

  /** (Re)enables group commit after stop(). */
  start(): void {
    this.#stopped = false;
    if (this.#queue.length > 0) this.#schedule(false);
  }

  /** Commits what is queued and stops the background timer; later appends commit at once. */
  stop(): void {
    this.#stopped = true;
    if (this.#scheduled) {
      clearImmediate(this.#scheduled as NodeJS.Immediate);
      clearTimeout(this.#scheduled as NodeJS.Timeout);
      this.#scheduled = null;
    }
    if (this.#queue.length > 0) {
      const pending = this.#queue.length;
      try {
        this.flush();
      } catch (err) {
        if (!isNoSpace(err) && this.#full === null) throw err;
        // Nothing else can be done with them: say how many, never silently.
        this.#ctx.logger?.error(
          { err, lost: pending },
          'disk full at stop: held events could not be written',
        );
        this.#queue = this.#queue.filter((item) => item.jid !== undefined); // journaled ones replay at start
      }
    }
    this.#closeJournal();
    const fd = this.#walFd;
    this.#walFd = null;
    if (fd !== null) void this.whenOnDisk().then(() => closeSync(fd));
  }

  #schedule(retry: boolean): void {
    // While the disk is full the recheck timer writes held events back (#recheckDisk).
    if (this.#scheduled || this.#stopped || this.#full !== null) return;
    const run = () => {
      this.#scheduled = null;
      if (!this.#ctx.db.open) {
        this.#ctx.logger?.error({ pending: this.#queue.length }, 'database closed with events still queued');
        return;
      }
      try {
        // Background group commits (door events, alarms) never block the event loop on fsync.
        this.#commitWithoutWaiting(() => this.flush());
      } catch (err) {
        // flush() kept the events and scheduled a retry; the log never drops them.
        if (!this.#storageFailed(err, 'commit') && this.#faultLog.allow('retry'))
          this.#ctx.logger?.error(
            { err, pending: this.#queue.length },
            'event log commit failed; will retry',
          );
      }
    };
    this.#scheduled = retry ? setTimeout(run, RETRY_MS) : setImmediate(run);
  }

  #validate(e: NewEvent): PendingEvent {
    if (!isPlainRecord(e)) throw invalid('event must be an object');
    if (typeof e.type !== 'string' || e.type.length > 64 || !TYPE_PATTERN.test(e.type)) {
      throw invalid("event type must be lowercase dotted words, e.g. 'door.forced'");
    }
    const ts = e.ts ?? this.#ctx.now();
    if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0)
      throw invalid('event ts must be epoch ms');
    const data = e.data ?? {};
    if (!isPlainRecord(data)) throw invalid('event data must be an object');
    const dataJson = canonicalJson(data);
    if (dataJson.length > MAX_DATA_BYTES) throw invalid('event data is larger than 64 KiB');
    return {
      ts,
      type: e.type,
      doorId: checkRef(e.doorId, 'doorId'),
      personId: checkRef(e.personId, 'personId'),
      credentialId: checkRef(e.credentialId, 'credentialId'),
      dataJson,
    };
  }

  #insert(batch: PendingEvent[]): HubEvent[] {
    const last = this.#ctx
      .stmt<{ seq: number; hash: string }>('SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1')
      .get();
    let seq = last?.seq ?? 0;
    let prevHash = last?.hash ?? GENESIS_HASH;
    const insert = this.#ctx.stmt(
      'INSERT INTO events (seq, ts, type, door_id, person_id, credential_id, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    const stored: HubEvent[] = [];
    for (const item of batch) {
      seq++;
      const data = JSON.parse(item.dataJson) as Record<string, unknown>;
      const event: HubEvent = {
        seq,
        ts: item.ts,
        type: item.type,
        doorId: item.doorId,
        personId: item.personId,
        credentialId: item.credentialId,
        data,
        prevHash,
        hash: '',
      };
      event.hash = eventHash(prevHash, event);
      insert.run(
        seq,
        item.ts,
        item.type,
        item.doorId,
        item.personId,
        item.credentialId,
        item.dataJson,
        prevHash,
        event.hash,
      );
      stored.push(event);
      prevHash = event.hash;
    }
    const lastJid = batch.findLast((item) => item.jid !== undefined)?.jid;
    if (lastJid !== undefined) {
      // Committed with the batch, so a replay after a crash knows where the journal's tail begins.
      this.#ctx
        .stmt(
          "INSERT INTO kv (key, value) VALUES ('events.journal.last', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .run(lastJid);
    }
    this.#ctx.afterCommit(() => {
      // Everything journaled is in SQLite now: the journal can start over.
      if (
        lastJid !== undefined &&
        this.#journalFd !== null &&
        this.#queue.every((item) => item.jid === undefined)
      ) {
        ftruncateSync(this.#journalFd, 0);
        this.#journalSize = 0;
      }
      for (const tracker of this.#ownTrackers) for (const event of stored) tracker.add(event.seq);
      for (const listener of this.#listeners) {
        try {
          listener(stored);
        } catch (err) {
          this.#ctx.logger?.error({ err }, 'event listener failed');
        }
      }
    });
    return stored;
  }

  // -------------------------------------------------- events recovered from the cloud (hub swap)

  /**
   * Starts (or abandons) a recovery: an empty staging table. It is a TEMP table: on disk (temp_store is
   * a file), private to this connection and gone with it, so a recovery cut short by a restart starts over.
   */
  clearRecovered(): void {
    this.#ctx.db.exec(`
      CREATE TEMP TABLE IF NOT EXISTS event_recovery (
        seq INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        type TEXT NOT NULL,
        door_id TEXT,
        person_id TEXT,
        credential_id TEXT,
        data TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      ) STRICT;
      DELETE FROM temp.event_recovery;`);
  }

  /** Stages events the cloud handed back, already checked by the caller (schema, hash, chain), in one transaction. */
  stageRecovered(events: readonly RecoveredEvent[]): void {
    const insert = this.#ctx.stmt(
      'INSERT INTO temp.event_recovery (seq, ts, type, door_id, person_id, credential_id, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.#ctx.db.transaction(() => {
      for (const e of events) {
        insert.run(e.seq, e.ts, e.type, e.doorId, e.personId, e.credentialId, e.dataJson, e.prevHash, e.hash);
      }
    })();
  }

  /**
   * Puts the staged events (seq `fromSeq` onwards, contiguous) into the log verbatim — same seq, ts and
   * hash — in one transaction, after checking again that the first links to the hub's own event
   * fromSeq-1. Events this hub wrote itself at fromSeq or later (after a restore, before the cloud link
   * came up; the cloud never stored them) move behind them, renumbered and re-chained: nothing is lost.
   * Then `summary` is appended. Throws StoreError('conflict') when the staged events do not fit.
   */
  commitRecovered(fromSeq: number, summary: (result: RecoveryResult) => NewEvent): RecoveryResult {
    return this.#ctx.write(() => {
      const staged = this.#ctx
        .stmt<{ n: number; first: number | null; last: number | null }>(
          'SELECT count(*) AS n, min(seq) AS first, max(seq) AS last FROM temp.event_recovery',
        )
        .get()!;
      if (staged.n === 0 || staged.first !== fromSeq || staged.last! - staged.first + 1 !== staged.n) {
        throw new StoreError('conflict', `recovered events are not one contiguous run from seq ${fromSeq}`);
      }
      const anchor =
        fromSeq <= 1
          ? GENESIS_HASH
          : this.#ctx
              .stmt<string>('SELECT hash FROM events WHERE seq = ?')
              .pluck()
              .get(fromSeq - 1);
      const firstPrev = this.#ctx
        .stmt<string>('SELECT prev_hash FROM temp.event_recovery WHERE seq = ?')
        .pluck()
        .get(fromSeq);
      if (anchor === undefined || firstPrev !== anchor) {
        throw new StoreError(
          'conflict',
          `recovered seq ${fromSeq} does not link to this hub's seq ${fromSeq - 1}`,
        );
      }
      const through = staged.last!;
      const shift = through - fromSeq + 1;
      const localLast = this.lastSeq();
      const renumbered =
        localLast >= fromSeq ? { from: fromSeq, to: localLast, newFrom: fromSeq + shift } : null;
      // Park the hub's own events at negative seqs (the primary key), insert the recovered ones, then
      // bring the parked ones back behind them, oldest first, each re-hashed onto its new predecessor.
      if (renumbered) this.#ctx.stmt('UPDATE events SET seq = -seq WHERE seq >= ?').run(fromSeq);
      this.#ctx
        .stmt(
          'INSERT INTO events (seq, ts, type, door_id, person_id, credential_id, data, prev_hash, hash) SELECT seq, ts, type, door_id, person_id, credential_id, data, prev_hash, hash FROM temp.event_recovery ORDER BY seq',
        )
        .run();
      let prevHash = this.#ctx.stmt<string>('SELECT hash FROM events WHERE seq = ?').pluck().get(through)!;
      const parked = this.#ctx.stmt<EventRow>(
        'SELECT * FROM events WHERE seq < 0 ORDER BY seq DESC LIMIT 500',
      );
      const move = this.#ctx.stmt('UPDATE events SET seq = ?, prev_hash = ?, hash = ? WHERE seq = ?');
      for (let rows = parked.all(); rows.length > 0; rows = parked.all()) {
        for (const row of rows) {
          const event = rowToEvent({ ...row, seq: -row.seq + shift });
          const hash = eventHash(prevHash, event);
          move.run(event.seq, prevHash, hash, row.seq);
          prevHash = hash;
        }
      }
      const adminChanges = this.#ctx
        .stmt<number>("SELECT count(*) FROM temp.event_recovery WHERE type >= 'admin.' AND type < 'admin/'")
        .pluck()
        .get()!;
      this.#ctx.stmt('DELETE FROM temp.event_recovery').run();
      const result: RecoveryResult = {
        fromSeq,
        throughSeq: through,
        recovered: staged.n,
        adminChanges,
        renumbered,
      };
      this.#insert([this.#validate(summary(result))]);
      return result;
    });
  }
}

/** An event the cloud handed back after a hub swap (docs/cloud-protocol.md, "After a restore"). */
export interface RecoveredEvent {
  seq: number;
  ts: number;
  type: string;
  doorId: string | null;
  personId: string | null;
  credentialId: string | null;
  dataJson: string;
  prevHash: string;
  hash: string;
}

export interface RecoveryResult {
  fromSeq: number;
  throughSeq: number;
  recovered: number;
  /** Recovered admin.* events: changes made on the old hub after its backup, which the restored records lack. */
  adminChanges: number;
  /** The hub's own events that moved behind the recovered ones: old seqs from..to, now from newFrom. */
  renumbered: { from: number; to: number; newFrom: number } | null;
}

/** Event types and ids as the log stores them: recovered events are checked against the same rules. */
export function isStorableEventShape(
  e: Pick<RecoveredEvent, 'type' | 'doorId' | 'personId' | 'credentialId' | 'ts'>,
): boolean {
  const ref = (value: string | null) => value === null || REF_PATTERN.test(value);
  return (
    e.type.length <= 64 &&
    TYPE_PATTERN.test(e.type) &&
    Number.isSafeInteger(e.ts) &&
    e.ts >= 0 &&
    ref(e.doorId) &&
    ref(e.personId) &&
    ref(e.credentialId)
  );
}

/**
 * Recomputes the chain from `fromSeq` (streaming, constant memory). From 0 the first event must
 * link to the genesis hash; from a later seq the stored prev_hash of the first row is trusted.
 */
export function verifyEventChain(db: Database, fromSeq = 0): ChainCheck {
  let expectedPrev: string | null = fromSeq <= 1 ? GENESIS_HASH : null;
  let previousSeq: number | null = null;
  let checked = 0;
  // After pruning, "from the start" means from the anchor: the first kept event must follow it and link to it.
  let anchor: PruneAnchor | null = null;
  if (fromSeq <= 1) {
    try {
      anchor = readPruneAnchor(db);
    } catch {
      return { ok: false, checked: 0, brokenAt: 0 };
    }
    if (anchor) {
      expectedPrev = anchor.hash;
      previousSeq = anchor.seq;
      fromSeq = anchor.seq + 1;
    }
  }
  const withAnchor = (check: ChainCheck): ChainCheck => (anchor ? { ...check, anchor } : check);
  const rows = db
    .prepare<unknown[], EventRow>('SELECT * FROM events WHERE seq >= ? ORDER BY seq')
    .iterate(fromSeq);
  for (const row of rows) {
    let data: Record<string, unknown>;
    try {
      data = JSON.parse(row.data) as Record<string, unknown>;
    } catch {
      return withAnchor(broken(rows, checked, row.seq));
    }
    const linked = expectedPrev === null || row.prev_hash === expectedPrev;
    const contiguous = previousSeq === null || row.seq === previousSeq + 1;
    const hash = eventHash(row.prev_hash, {
      seq: row.seq,
      ts: row.ts,
      type: row.type,
      doorId: row.door_id,
      personId: row.person_id,
      credentialId: row.credential_id,
      data,
    });
    if (!linked || !contiguous || hash !== row.hash) return withAnchor(broken(rows, checked, row.seq));
    expectedPrev = row.hash;
    previousSeq = row.seq;
    checked++;
  }
  // Pruning always keeps the newest event: an anchor with nothing after it means events were removed.
  if (anchor && checked === 0) return withAnchor({ ok: false, checked, brokenAt: anchor.seq + 1 });
  return withAnchor({ ok: true, checked });
}

/** A parsed journal id: `boot.n` (boot numbers grow across restarts), or null for the old random form. */
function parseJid(jid: string | undefined): { boot: number; n: number } | null {
  const m = jid === undefined ? null : /^(\d+)\.(\d+)$/.exec(jid);
  return m ? { boot: Number(m[1]), n: Number(m[2]) } : null;
}

/**
 * The journal lines the database does not hold yet. `last` is the id committed last (kv
 * 'events.journal.last'); ids are ordered, so a line at or before it is already stored — whatever
 * the journal's age. Lines of the old random-id form are matched by position, as before.
 */
export function notYetCommitted(lines: PendingEvent[], last: string | undefined): PendingEvent[] {
  if (last === undefined) return lines;
  const lastId = parseJid(last);
  const legacyIndex = lastId === null ? lines.findIndex((line) => line.jid === last) : -1;
  return lines.filter((line, index) => {
    const id = parseJid(line.jid);
    if (id === null) return lastId === null && index > legacyIndex; // old lines predate any numbered boot
    if (lastId === null) return true;
    return id.boot > lastId.boot || (id.boot === lastId.boot && id.n > lastId.n);
  });
}

function clampLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1)
    throw new StoreError('invalid', 'limit must be a positive integer');
  return Math.min(limit, 10_000);
}

function broken(rows: IterableIterator<EventRow>, checked: number, seq: number): ChainCheck {
  rows.return?.(); // release the statement so the connection can be used again
  return { ok: false, checked, brokenAt: seq };
}
