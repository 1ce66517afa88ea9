// The mirror's own durable state, in its own tables inside the store's database (so a backup or
// restore keeps it consistent with the data): cursors and the index of local denies. The store owns
// the tables and their queries (hub/store/cloud-state.ts).
import type { HubEvent } from '../domain.js';
import type { CloudStateStore } from '../store/cloud-state.js';
import type { CloudPort, DenyTarget } from './port.js';

type StateKey = 'acked_seq' | 'change_cursor' | 'deny_scan_seq' | 'last_change_at';

/** How many events one catch-up step reads, so a long scan never blocks the access path for long. */
const SCAN_CHUNK = 500;

export class MirrorState {
  readonly #port: CloudPort;
  readonly #state: CloudStateStore;
  #scanPos: number;

  constructor(port: CloudPort) {
    this.#port = port;
    this.#state = port.state;
    this.#scanPos = this.read('deny_scan_seq');
  }

  read(key: StateKey): number {
    return this.#state.read(key);
  }

  write(key: StateKey, value: number): void {
    this.#state.write(key, value);
  }

  get ackedSeq(): number {
    return this.read('acked_seq');
  }

  get changeCursor(): number {
    return this.read('change_cursor');
  }

  /** Seq of the newest local deny of this record, or null. Call scanDenies(true) first. */
  localDenySeq(target: DenyTarget): number | null {
    return this.#state.localDenySeq(target.kind, target.id);
  }

  /**
   * Indexes deny events written since the last scan. Everything not written by the mirror's own
   * apply transaction is local (UI, CLI, API). Returns true when the scan reached the end of the log.
   * The scan position is kept in memory and written only with a deny or at the end: re-scanning after
   * a crash is harmless, an fsync per chunk is not.
   */
  scanDenies(toEnd: boolean): boolean {
    const last = this.#port.lastSeq();
    let from = this.#scanPos;
    if (from > last) from = 0; // the log is shorter than our position (restored backup): rescan
    do {
      const events = this.#port.eventsAfter(from, SCAN_CHUNK);
      if (events.length === 0) break;
      const denies: Array<[DenyTarget, number]> = [];
      for (const event of events) {
        const target = this.#port.denyTarget(event);
        if (target) denies.push([target, event.seq]);
      }
      from = events[events.length - 1]!.seq;
      if (denies.length > 0) {
        this.#recordDenies(denies, from);
      }
    } while (toEnd && from < last);
    this.#scanPos = from;
    const done = from >= last;
    if (done && this.read('deny_scan_seq') !== from) this.write('deny_scan_seq', from);
    return done;
  }

  /**
   * Indexes events the mirror has just read to send, when they continue the scan: the drain then
   * reads the log once, not twice.
   */
  noteEvents(events: readonly HubEvent[]): void {
    const first = events[0];
    const from = this.#scanPos;
    if (!first || first.seq - 1 > from) return;
    const denies: Array<[DenyTarget, number]> = [];
    for (const event of events) {
      if (event.seq <= from) continue;
      const target = this.#port.denyTarget(event);
      if (target) denies.push([target, event.seq]);
    }
    const through = events[events.length - 1]!.seq;
    if (through <= from) return;
    if (denies.length > 0) {
      this.#recordDenies(denies, through);
    }
    this.#scanPos = through;
  }

  /** Every event up to this seq is indexed. */
  get scanPosition(): number {
    return this.#scanPos;
  }

  /** Indexes again from this seq on (events were renumbered behind recovered ones). */
  rewindScan(seq: number): void {
    if (this.#scanPos <= seq) return;
    this.#scanPos = Math.max(0, seq);
    this.write('deny_scan_seq', this.#scanPos);
  }

  /** Persists the in-memory scan position (on stop). */
  saveScanPosition(): void {
    if (this.read('deny_scan_seq') !== this.#scanPos) {
      this.write('deny_scan_seq', this.#scanPos);
    }
  }

  #recordDenies(denies: ReadonlyArray<[DenyTarget, number]>, through: number): void {
    const rows = denies.map(([target, seq]) => ({ kind: target.kind, id: target.id, seq }));
    this.#state.recordDenies(rows, 'deny_scan_seq' satisfies StateKey, through);
  }

  /** After the mirror wrote cloud changes: their own events are not local denies. */
  skipOwnEvents(): void {
    this.#scanPos = this.#port.lastSeq();
    this.write('deny_scan_seq', this.#scanPos);
  }
}
