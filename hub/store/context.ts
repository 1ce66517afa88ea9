// What every repository shares: the connection, the key, the clock, a statement cache and the
// write transaction helper that runs "after commit" work (event notifications) only on success.
import type { Database, Statement } from 'better-sqlite3';
import type { Logger } from 'pino';
import { StoreError } from './errors.js';
import type { HubKeys } from './keys.js';
import { isNoSpace } from './reserve.js';

export class StoreContext {
  readonly db: Database;
  readonly keys: HubKeys;
  readonly now: () => number;
  readonly logger: Logger | undefined;
  readonly #statements = new Map<string, Statement<unknown[], unknown>>();
  #afterCommit: Array<() => void> = [];
  #onRollback: Array<() => void> = [];
  #depth = 0;

  constructor(db: Database, keys: HubKeys, now: () => number, logger: Logger | undefined) {
    this.db = db;
    this.keys = keys;
    this.now = now;
    this.logger = logger;
  }

  /** A prepared statement, prepared once per connection and reused. */
  stmt<Row = unknown>(sql: string): Statement<unknown[], Row> {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.db.prepare<unknown[], unknown>(sql);
      this.#statements.set(sql, statement);
    }
    return statement as Statement<unknown[], Row>;
  }

  /**
   * Runs `fn` in a write transaction: BEGIN IMMEDIATE at the outermost level (we read then write,
   * and another process may be writing), a savepoint when nested. With synchronous=FULL the
   * outermost commit is on disk when this returns.
   */
  write<T>(fn: () => T): T {
    if (this.#depth > 0) {
      const mark = this.#afterCommit.length;
      const rollbackMark = this.#onRollback.length;
      this.#depth++;
      try {
        return this.db.transaction(fn)();
      } catch (err) {
        this.#afterCommit.length = mark; // the savepoint rolled back: so did its notifications
        this.#runRollback(this.#onRollback.splice(rollbackMark));
        throw err;
      } finally {
        this.#depth--;
      }
    }
    this.#depth = 1;
    let result: T;
    try {
      result = this.db.transaction(fn).immediate();
    } catch (err) {
      this.#afterCommit = [];
      const rollbacks = this.#onRollback;
      this.#onRollback = [];
      this.#runRollback(rollbacks);
      // Nothing was saved: say so plainly, so no operator takes a refused revocation for a done one.
      if (isNoSpace(err)) {
        throw new StoreError(
          'unavailable',
          'the disk is full: the change was NOT saved; free space in the data directory and repeat it (docs/outages.md)',
          { cause: err },
        );
      }
      throw err;
    } finally {
      this.#depth = 0;
    }
    this.#onRollback = [];
    const callbacks = this.#afterCommit;
    this.#afterCommit = [];
    for (const callback of callbacks) {
      try {
        callback();
      } catch (err) {
        this.logger?.error({ err }, 'store after-commit listener failed');
      }
    }
    return result;
  }

  /** Undo work for in-memory state if the current transaction (or savepoint) rolls back. */
  onRollback(callback: () => void): void {
    if (this.#depth > 0) this.#onRollback.push(callback);
  }

  #runRollback(callbacks: Array<() => void>): void {
    for (const callback of callbacks.reverse()) {
      try {
        callback();
      } catch (err) {
        this.logger?.error({ err }, 'store rollback handler failed');
      }
    }
  }

  /** Schedules work for after the current outermost transaction commits. */
  afterCommit(callback: () => void): void {
    if (this.#depth === 0) callback();
    else this.#afterCommit.push(callback);
  }
}

/** Refs an audit event points at. */
export interface AuditRefs {
  doorId?: string | null;
  personId?: string | null;
  credentialId?: string | null;
}

/** Writes an 'admin.<noun>.<verb>' event inside the current write transaction. Never pass secrets in data. */
export type Audit = (type: string, refs: AuditRefs, data?: Record<string, unknown>) => void;
