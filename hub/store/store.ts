// The store: one object that hands out the repositories, all sharing one connection, one
// statement cache and one event log. Every admin mutation writes its change and its audit event
// in one durable transaction.
import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import type { HubEvent } from '../domain.js';
import { AccessRepo, GroupsRepo, HolidaysRepo, SchedulesRepo } from './access.js';
import { CloudStateRepo } from './cloud-state.js';
import { type Audit, StoreContext } from './context.js';
import { CredentialsRepo } from './credentials.js';
import { DevicesRepo } from './devices.js';
import { DoorSyncRepo } from './door-sync.js';
import { DoorsRepo } from './doors.js';
import { invalid } from './errors.js';
import { EventLog } from './events.js';
import { KeypadCapRepo } from './keypad-cap.js';
import type { HubKeys } from './keys.js';
import { OfflineCodesRepo } from './offline-codes.js';
import { PeopleRepo, UnitsRepo } from './people.js';
import { UsersRepo } from './users.js';

export interface StoreOptions {
  now?: () => number;
  logger?: Logger;
  /** Recorded as `data.actor` in audit events (e.g. 'cli', 'user:alice', 'cloud'). */
  actor?: string;
}

const KV_KEY = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$/;
const MAX_KV_VALUE = 1024 * 1024;

export class KvRepo {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  get(key: string): string | null {
    return (
      (this.#ctx.stmt<string>('SELECT value FROM kv WHERE key = ?').pluck().get(key) as string | undefined) ??
      null
    );
  }

  set(key: string, value: string): void {
    if (typeof key !== 'string' || !KV_KEY.test(key))
      throw invalid('kv key must be 1-128 characters [A-Za-z0-9_.:/-]');
    if (typeof value !== 'string' || value.length > MAX_KV_VALUE)
      throw invalid('kv value must be a string up to 1 MiB');
    this.#ctx.write(() => {
      this.#ctx
        .stmt(
          'INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
        )
        .run(key, value);
    });
  }

  delete(key: string): void {
    this.#ctx.write(() => {
      this.#ctx.stmt('DELETE FROM kv WHERE key = ?').run(key);
    });
  }
}

export class Store {
  readonly events: EventLog;
  readonly kv: KvRepo;
  readonly access: AccessRepo;
  readonly people: PeopleRepo;
  readonly units: UnitsRepo;
  readonly doors: DoorsRepo;
  readonly credentials: CredentialsRepo;
  readonly schedules: SchedulesRepo;
  readonly groups: GroupsRepo;
  readonly holidays: HolidaysRepo;
  readonly devices: DevicesRepo;
  readonly users: UsersRepo;
  readonly cloudState: CloudStateRepo;
  readonly offlineCodes: OfflineCodesRepo;
  readonly keypadCap: KeypadCapRepo;
  readonly doorSync: DoorSyncRepo;
  /** Who audit events name as the actor (e.g. 'cli', 'user:alice', 'cloud'); null = not recorded. */
  readonly actor: string | null;
  /** Writes an `admin.*` event naming this view's actor, inside the current write transaction. */
  readonly audit: Audit;
  readonly #db: Database;
  readonly #ctx: StoreContext;
  readonly #watchers: Set<() => void>;

  /** `parent` is internal (used by `as()`): the view shares its connection, statements and event log. */
  constructor(db: Database, keys: HubKeys, opts: StoreOptions = {}, parent?: Store) {
    this.#db = db;
    this.#ctx = parent ? parent.#ctx : new StoreContext(db, keys, opts.now ?? Date.now, opts.logger);
    this.#watchers = parent ? parent.#watchers : new Set();
    this.events = parent ? parent.events : new EventLog(this.#ctx);
    this.actor = opts.actor ?? null;
    const ctx = this.#ctx;
    const audit = this.#auditAs(this.actor);
    this.audit = audit;
    this.kv = new KvRepo(ctx);
    this.access = new AccessRepo(ctx);
    this.people = new PeopleRepo(ctx, audit);
    this.units = new UnitsRepo(ctx, audit);
    this.doors = new DoorsRepo(ctx, audit);
    this.credentials = new CredentialsRepo(ctx, audit);
    this.schedules = new SchedulesRepo(ctx, audit);
    this.groups = new GroupsRepo(ctx, audit);
    this.holidays = new HolidaysRepo(ctx, audit);
    this.devices = new DevicesRepo(ctx, audit);
    this.users = new UsersRepo(ctx, audit);
    this.cloudState = new CloudStateRepo(ctx);
    this.offlineCodes = new OfflineCodesRepo(ctx);
    this.keypadCap = new KeypadCapRepo(ctx);
    this.doorSync = new DoorSyncRepo(ctx);
  }

  /**
   * The same store (same connection, statements and event log) whose audit events record `actor`.
   * Example: `store.as('user:alice').credentials.revoke(id)`.
   */
  as(actor: string): Store {
    if (typeof actor !== 'string' || actor.length === 0 || actor.length > 100) {
      throw invalid('actor must be a non-empty string up to 100 characters');
    }
    return new Store(this.#db, this.#ctx.keys, { actor }, this);
  }

  async start(): Promise<void> {
    this.events.start();
  }

  /** Commits queued events and stops watchers. Does not close the database (its opener does). */
  async stop(): Promise<void> {
    for (const unwatch of [...this.#watchers]) unwatch();
    this.events.stop();
  }

  /** Runs `fn` in one write transaction (BEGIN IMMEDIATE); nested store calls join it. */
  transaction<T>(fn: () => T): T {
    return this.#ctx.write(fn);
  }

  /** Changes whenever another connection (another process) commits. */
  dataVersion(): number {
    return this.#db.pragma('data_version', { simple: true }) as number;
  }

  hubId(): string {
    return this.kv.get('hub.id') ?? '';
  }

  /**
   * Polls for commits by other connections (the CLI, a restore). On each, calls `onChange` with
   * the events they appended since the last call (possibly none, e.g. for a kv change).
   * Events this connection stores are not repeated (see events.onStored). Returns `unwatch`.
   */
  watch(intervalMs: number, onChange: (newEvents: HubEvent[]) => void): () => void {
    if (!Number.isInteger(intervalMs) || intervalMs < 10)
      throw invalid('watch interval must be an integer >= 10 ms');
    const own = new Set<number>();
    const untrack = this.events.trackOwnSeqs(own);
    let lastSeen = this.events.lastSeq();
    let version = this.dataVersion();
    const poll = () => {
      if (!this.#db.open) {
        unwatch();
        return;
      }
      try {
        const current = this.dataVersion();
        if (current === version) {
          // Nobody else committed: every new event is ours.
          for (const seq of own) lastSeen = Math.max(lastSeen, seq);
          own.clear();
          return;
        }
        version = current;
        const foreign: HubEvent[] = [];
        for (;;) {
          const batch = this.events.after(lastSeen, 1000);
          for (const event of batch) {
            lastSeen = event.seq;
            if (!own.delete(event.seq)) foreign.push(event);
          }
          if (batch.length < 1000) break;
        }
        for (const seq of own) if (seq <= lastSeen) own.delete(seq);
        onChange(foreign);
      } catch (err) {
        this.#ctx.logger?.error({ err }, 'store watch failed; will retry');
      }
    };
    const timer = setInterval(poll, intervalMs);
    timer.unref();
    const unwatch = () => {
      clearInterval(timer);
      untrack();
      this.#watchers.delete(unwatch);
    };
    this.#watchers.add(unwatch);
    return unwatch;
  }

  #auditAs(actor: string | null): Audit {
    return (type, refs, data = {}) => {
      this.events.insertInTransaction({
        type,
        doorId: refs.doorId ?? null,
        personId: refs.personId ?? null,
        credentialId: refs.credentialId ?? null,
        data: actor === null || 'actor' in data ? data : { ...data, actor },
      });
    };
  }
}
