// Event-log retention (docs/storage.md §4, docs/data.md): once a day, delete events older than
// `events.retention.keepDays` (and beyond `maxEvents`), oldest first, in small transactions with a pause
// between them so a door decision never waits behind the pass. With a cloud configured only events the
// cloud has acknowledged go: an unsent event is never deleted (a full disk is handled by the disk-full
// path, docs/outages.md). Each batch records the seq and hash of the last event it deleted (the anchor,
// hub/store/prune-anchor.ts) in the same transaction, so `gatehouse events verify` checks the chain from
// there. The newest event is always kept: the next event's seq and hash follow it.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Database } from 'better-sqlite3';
import type { Logger } from '../logger.js';
import { PRUNE_ANCHOR_KEY, type PruneAnchor, readPruneAnchor } from './prune-anchor.js';
import { MIN_KEEP_DAYS, type RetentionConfig } from './retention-config.js';

const DAY_MS = 86_400_000;
/** The first pass waits until the hub has settled after a start; then one a day. */
const FIRST_PASS_DELAY_MS = 10 * 60_000;
const PASS_EVERY_MS = DAY_MS;
/** Between two batches: decisions and their commits run here. */
const PAUSE_BETWEEN_BATCHES_MS = 50;

export interface RetentionPolicy {
  keepDays: number;
  maxEvents: number;
  batchSize: number;
}

export interface PruneOptions extends RetentionPolicy {
  now: number;
  /** The cloud's acknowledged seq when a cloud is configured: nothing after it is deleted. Null: no cloud. */
  ackedSeq: number | null;
}

/** What one pass did. */
export interface PruneResult {
  deleted: number;
  batches: number;
  /** The highest seq the policy would delete, before the cloud's acknowledgement was applied. */
  dueThroughSeq: number | null;
  /** Events due by age or count that stay because the cloud has not acknowledged them yet. */
  heldForCloud: number;
  anchor: PruneAnchor | null;
}

export interface OldestEvent {
  seq: number;
  ts: number;
}

export function oldestEvent(db: Database): OldestEvent | null {
  return (
    (db.prepare('SELECT seq, ts FROM events ORDER BY seq LIMIT 1').get() as OldestEvent | undefined) ?? null
  );
}

function seqBounds(db: Database): { lo: number; hi: number } | null {
  const b = db.prepare('SELECT min(seq) AS lo, max(seq) AS hi FROM events').get() as {
    lo: number | null;
    hi: number | null;
  };
  return b.lo === null || b.hi === null ? null : { lo: b.lo, hi: b.hi };
}

/**
 * The last seq whose ts is before `ts`, by bisection over seq (events are stored in time order, up to
 * clock steps): a few index lookups instead of a scan of the whole log on the hub's event loop.
 */
function lastSeqBefore(db: Database, ts: number, bounds: { lo: number; hi: number }): number | null {
  const tsAt = db.prepare('SELECT ts FROM events WHERE seq >= ? ORDER BY seq LIMIT 1').pluck();
  let lo = bounds.lo;
  let hi = bounds.hi + 1;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if ((tsAt.get(mid) as number) < ts) lo = mid + 1;
    else hi = mid;
  }
  // lo: the first seq at or after ts.
  return lo <= bounds.lo ? null : lo - 1;
}

/** The highest seq the policy deletes now (before the cloud's acknowledgement), or null for none. */
export function dueThroughSeq(db: Database, policy: RetentionPolicy, now: number): number | null {
  const bounds = seqBounds(db);
  if (bounds === null) return null;
  let due = lastSeqBefore(db, now - policy.keepDays * DAY_MS, bounds);
  if (policy.maxEvents > 0) {
    const count = bounds.hi - bounds.lo + 1; // seqs are contiguous (the chain checks it)
    if (count > policy.maxEvents) {
      // Beyond the cap, but never what is younger than MIN_KEEP_DAYS.
      const youngFloor = lastSeqBefore(db, now - MIN_KEEP_DAYS * DAY_MS, bounds);
      const byCount = Math.min(bounds.hi - policy.maxEvents, youngFloor ?? 0);
      if (byCount >= bounds.lo) due = Math.max(due ?? 0, byCount);
    }
  }
  if (due === null) return null;
  // The newest event always stays: the next one links to it.
  due = Math.min(due, bounds.hi - 1);
  return due >= bounds.lo ? due : null;
}

/**
 * Deletes events with seq <= `throughSeq`, at most `limit` of them, and records the anchor, in one
 * transaction. Not fsynced on its own (the next durable commit carries it): atomic either way, and
 * losing the last batch to a power cut only means it is deleted again next time.
 */
export function pruneBatch(db: Database, throughSeq: number, limit: number, now: number): PruneAnchor | null {
  const level = db.pragma('synchronous', { simple: true }) as number;
  db.pragma('synchronous = NORMAL');
  try {
    return db
      .transaction(() => {
        const first = db.prepare('SELECT min(seq) FROM events').pluck().get() as number | null;
        if (first === null || first > throughSeq) return null;
        const last = Math.min(throughSeq, first + limit - 1);
        const row = db.prepare('SELECT seq, ts, hash FROM events WHERE seq = ?').get(last) as
          | { seq: number; ts: number; hash: string }
          | undefined;
        if (!row) return null; // a gap: verifyEventChain reports it; pruning does not paper over it
        db.prepare('DELETE FROM events WHERE seq >= ? AND seq <= ?').run(first, last);
        const anchor: PruneAnchor = { seq: row.seq, hash: row.hash, ts: row.ts, prunedAt: now };
        db.prepare(
          'INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
        ).run(PRUNE_ANCHOR_KEY, JSON.stringify(anchor));
        return anchor;
      })
      .immediate();
  } finally {
    db.pragma(`synchronous = ${level}`);
  }
}

/** One pruning pass: batches until nothing more is due, pausing between them. */
export async function pruneEvents(
  db: Database,
  options: PruneOptions,
  shouldStop: () => boolean = () => false,
  pauseMs = PAUSE_BETWEEN_BATCHES_MS,
): Promise<PruneResult> {
  const due = dueThroughSeq(db, options, options.now);
  const result: PruneResult = { deleted: 0, batches: 0, dueThroughSeq: due, heldForCloud: 0, anchor: null };
  if (due === null) return result;
  let through = due;
  if (options.ackedSeq !== null && options.ackedSeq < due) {
    through = options.ackedSeq;
    const oldest = oldestEvent(db)?.seq ?? due + 1;
    result.heldForCloud = due - Math.max(through, oldest - 1);
  }
  while (!shouldStop()) {
    const before = oldestEvent(db)?.seq ?? null;
    if (before === null || before > through) break;
    const anchor = pruneBatch(db, through, options.batchSize, options.now);
    if (anchor === null) break;
    result.deleted += anchor.seq - before + 1;
    result.batches++;
    result.anchor = anchor;
    if (anchor.seq >= through) break;
    await sleep(pauseMs);
  }
  return result;
}

export interface EventRetentionOptions {
  config: RetentionConfig;
  db: Database;
  /** The cloud's acknowledged seq, or null when no cloud is configured. */
  ackedSeq: () => number | null;
  now: () => number;
  logger?: Logger;
  firstPassDelayMs?: number;
  passEveryMs?: number;
}

export interface RetentionStatus {
  enabled: boolean;
  keepDays: number;
  maxEvents: number;
  oldestSeq: number | null;
  oldestAt: string | null;
  /** Events up to this seq were pruned; the chain is verified from here. */
  prunedThroughSeq: number | null;
  prunedAt: string | null;
  lastPass: { at: string; deleted: number; heldForCloud: number } | null;
  nextPassAt: string | null;
}

/** The hub part: a daily pass, off the decision path. */
export class EventRetention {
  readonly #o: EventRetentionOptions;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<PruneResult | null> | null = null;
  #stopped = true;
  #nextAt: number | null = null;
  #lastPass: RetentionStatus['lastPass'] = null;

  constructor(options: EventRetentionOptions) {
    this.#o = options;
  }

  start(): void {
    this.#stopped = false;
    if (!this.#o.config.enabled) return;
    this.#plan(this.#o.firstPassDelayMs ?? FIRST_PASS_DELAY_MS);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#nextAt = null;
    await this.#running; // a batch under way ends before the store closes
  }

  #plan(delayMs: number): void {
    this.#nextAt = this.#o.now() + delayMs;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.runOnce().finally(() => {
        if (!this.#stopped) this.#plan(this.#o.passEveryMs ?? PASS_EVERY_MS);
      });
    }, delayMs);
    this.#timer.unref();
  }

  /** One pass now (the daily timer, and tests). Never throws: a failure is logged and retried tomorrow. */
  runOnce(): Promise<PruneResult | null> {
    if (this.#running) return this.#running;
    const { config, logger } = this.#o;
    const at = this.#o.now();
    this.#running = pruneEvents(
      this.#o.db,
      { ...config, now: at, ackedSeq: this.#o.ackedSeq() },
      () => this.#stopped || !this.#o.db.open,
    )
      .then((result) => {
        this.#lastPass = {
          at: new Date(at).toISOString(),
          deleted: result.deleted,
          heldForCloud: result.heldForCloud,
        };
        if (result.deleted > 0 || result.heldForCloud > 0)
          logger?.info(
            {
              deleted: result.deleted,
              batches: result.batches,
              prunedThroughSeq: result.anchor?.seq,
              heldForCloud: result.heldForCloud,
            },
            result.heldForCloud > 0
              ? 'event log pruned; some old events are kept until the cloud has them'
              : 'event log pruned',
          );
        return result;
      })
      .catch((err: unknown) => {
        logger?.error({ err }, 'event log pruning failed; will try again at the next pass');
        return null;
      })
      .finally(() => {
        this.#running = null;
      });
    return this.#running;
  }

  status(): RetentionStatus {
    const { config, db } = this.#o;
    let oldest: OldestEvent | null = null;
    let anchor: PruneAnchor | null = null;
    if (db.open) {
      oldest = oldestEvent(db);
      try {
        anchor = readPruneAnchor(db);
      } catch {
        anchor = null;
      }
    }
    const iso = (ms: number | null | undefined) => (ms == null ? null : new Date(ms).toISOString());
    return {
      enabled: config.enabled,
      keepDays: config.keepDays,
      maxEvents: config.maxEvents,
      oldestSeq: oldest?.seq ?? null,
      oldestAt: iso(oldest?.ts),
      prunedThroughSeq: anchor?.seq ?? null,
      prunedAt: iso(anchor?.prunedAt),
      lastPass: this.#lastPass,
      nextPassAt: iso(this.#nextAt),
    };
  }
}
