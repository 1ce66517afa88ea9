// Reader health → audit events and door status. A reader going offline is one alarm and coming back is
// one event, however many retries it takes (docs/doors.md, "Reader offline"). A reader that flaps
// (a loose cable) is budgeted too: past a few changes a minute they are counted into one event.
import type { ReaderHealth, ReaderState } from '../../adapters/types.js';
import { type Clock, Summarizer } from '../budget.js';
import type { NewEvent } from '../domain.js';
import type { Logger } from '../logger.js';

/** What `gatehouse status`, GET /api/v1/status and the doors list show per reader. */
export interface ReaderStatus {
  id: string;
  state: ReaderState;
  /** When the state began (ms); null while starting. */
  since: number | null;
  lastError?: string;
}

/** Reader state changes recorded per reader and minute; past it they are counted into one alarm. */
export const READER_EVENTS_PER_MINUTE = 4;
/** How often the count of suppressed changes is checked, so it is written soon after its minute ends. */
const FLUSH_EVERY_MS = 10_000;

/** Anything with the reader side of CardReader. */
export interface WatchedReader {
  readonly id: string;
  onHealth(listener: (health: ReaderHealth) => void): () => void;
  health(): ReaderHealth;
}

export interface ReaderMonitorOptions {
  emitEvent: (event: NewEvent) => unknown;
  /** A reader of this door changed state (to refresh the door's live status). */
  onChange?: (doorId: string) => void;
  logger?: Logger;
  now?: Clock;
}

interface Watched {
  doorId: string;
  reader: WatchedReader;
  status: ReaderStatus;
  /** The last state written to the audit log ('starting' until the first change). */
  recorded: ReaderState;
}

export class ReaderMonitor {
  readonly #o: ReaderMonitorOptions;
  readonly #watched = new Map<string, Watched>();
  readonly #budget: Summarizer;
  #timer: NodeJS.Timeout | null = null;

  constructor(options: ReaderMonitorOptions) {
    this.#o = options;
    this.#budget = new Summarizer({
      perWindow: READER_EVENTS_PER_MINUTE,
      windowMs: 60_000,
      ...(options.now ? { now: options.now } : {}),
      onSuppressed: (s) => this.#flapped(s.key, s.suppressed, s.windowMs),
    });
  }

  /** Follows a reader's health; returns a function that stops following it. */
  watch(doorId: string, reader: WatchedReader): () => void {
    const key = `${doorId}/${reader.id}`;
    const h = reader.health();
    const entry: Watched = {
      doorId,
      reader,
      status: statusOf(reader.id, h),
      recorded: h.state === 'unsupervised' ? 'unsupervised' : 'starting',
    };
    this.#watched.set(key, entry);
    if (!this.#timer) {
      this.#timer = setInterval(() => this.#budget.flush(), FLUSH_EVERY_MS);
      this.#timer.unref();
    }
    const off = reader.onHealth((health) => this.#changed(key, entry, health));
    return () => {
      off();
      if (this.#watched.get(key) === entry) this.#watched.delete(key);
    };
  }

  /** The readers of a door, in the order they were watched; undefined for a door without readers. */
  forDoor(doorId: string): ReaderStatus[] | undefined {
    const out: ReaderStatus[] = [];
    for (const w of this.#watched.values()) if (w.doorId === doorId) out.push({ ...w.status });
    return out.length > 0 ? out : undefined;
  }

  /** Writes what is still counted and stops the timer. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#budget.flush(true);
  }

  #changed(key: string, entry: Watched, health: ReaderHealth): void {
    const before = entry.status.state;
    entry.status = statusOf(entry.reader.id, health);
    if (health.state === before) return;
    this.#o.onChange?.(entry.doorId);
    if (health.state !== 'online' && health.state !== 'offline') return;
    // starting → online is an ordinary boot, not an event.
    if (health.state === 'online' && entry.recorded === 'starting') return;
    // Every other change counts against the budget; past it, it is counted into one flapping alarm.
    if (!this.#budget.allow(key)) return;
    const offline = health.state === 'offline';
    // Only offline, and back after a recorded offline, are written (a suppressed pair nets to nothing).
    if (offline ? entry.recorded === 'offline' : entry.recorded !== 'offline') return;
    entry.recorded = health.state;
    this.#emit({
      type: offline ? 'alarm.reader_offline' : 'alarm.reader_offline_cleared',
      doorId: entry.doorId,
      personId: null,
      credentialId: null,
      data: {
        reader: entry.reader.id,
        ...(offline && health.lastError ? { error: health.lastError } : {}),
        errors: health.errors,
      },
    });
  }

  /** A flapping reader: one alarm with the count and where it stands now (its last change was not written). */
  #flapped(key: string, suppressed: number, windowMs: number): void {
    const entry = this.#watched.get(key);
    if (!entry) return;
    const state = entry.status.state;
    entry.recorded = state === 'offline' ? 'offline' : state === 'online' ? 'online' : entry.recorded;
    this.#o.logger?.warn(
      { door: entry.doorId, reader: entry.reader.id, suppressed, state },
      `reader state changes: …and ${suppressed} more in the last minute`,
    );
    this.#emit({
      type: 'alarm.reader_flapping',
      doorId: entry.doorId,
      personId: null,
      credentialId: null,
      data: { reader: entry.reader.id, changes: suppressed, windowMs, state },
    });
  }

  #emit(event: NewEvent): void {
    try {
      const result = this.#o.emitEvent(event);
      if (result instanceof Promise)
        result.catch((err: unknown) => this.#o.logger?.error({ err }, 'reader event lost'));
    } catch (err) {
      this.#o.logger?.error({ err }, 'reader event could not be recorded');
    }
  }
}

function statusOf(id: string, h: ReaderHealth): ReaderStatus {
  return {
    id,
    state: h.state,
    since: h.since,
    ...(h.state === 'offline' && h.lastError ? { lastError: h.lastError } : {}),
  };
}
