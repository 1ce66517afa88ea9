// The cloud mirror's own durable state (its cursors and the index of local denies), kept in the hub's
// database so a backup or restore keeps it consistent with the data. Tables: migration 3.
import type { StoreContext } from './context.js';

/** A record whose newest local deny (suspension, revocation, deletion) the mirror remembers. */
export interface LocalDeny {
  kind: string;
  id: string;
  seq: number;
}

/** What the cloud mirror needs from the store for its own state. */
export interface CloudStateStore {
  /** A cursor or time the mirror keeps (0 when never written). */
  read(key: string): number;
  write(key: string, value: number): void;
  /** Seq of the newest local deny of this record, or null. */
  localDenySeq(kind: string, id: string): number | null;
  /** Records local denies (the newest seq per record wins) and the scan position, in one transaction. */
  recordDenies(denies: readonly LocalDeny[], scanKey: string, scannedThrough: number): void;
  /**
   * Runs `fn` with commits not fsynced (synchronous=NORMAL): still atomic and in order, made durable by
   * the next FULL commit. For work whose fsync would cost more than the work itself.
   */
  withoutFsync<T>(fn: () => T): T;
}

export class CloudStateRepo implements CloudStateStore {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  read(key: string): number {
    return (
      this.#ctx.stmt<{ value: number }>('SELECT value FROM cloud_sync_state WHERE key = ?').get(key)?.value ??
      0
    );
  }

  write(key: string, value: number): void {
    this.#ctx
      .stmt(
        'INSERT INTO cloud_sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      )
      .run(key, value);
  }

  localDenySeq(kind: string, id: string): number | null {
    return (
      this.#ctx
        .stmt<{ seq: number }>('SELECT seq FROM cloud_local_denies WHERE kind = ? AND id = ?')
        .get(kind, id)?.seq ?? null
    );
  }

  recordDenies(denies: readonly LocalDeny[], scanKey: string, scannedThrough: number): void {
    const upsert = this.#ctx.stmt(
      'INSERT INTO cloud_local_denies (kind, id, seq) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET seq = max(seq, excluded.seq)',
    );
    this.#ctx.write(() => {
      for (const deny of denies) upsert.run(deny.kind, deny.id, deny.seq);
      this.write(scanKey, scannedThrough);
    });
  }

  withoutFsync<T>(fn: () => T): T {
    const db = this.#ctx.db;
    const level = db.pragma('synchronous', { simple: true }) as number;
    if (level < 2) return fn();
    db.pragma('synchronous = NORMAL');
    try {
      return fn();
    } finally {
      db.pragma(`synchronous = ${level}`);
    }
  }
}
