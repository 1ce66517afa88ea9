// Door-side sync: for every MQTT door, the hub keeps a signed, versioned copy of the credentials
// that may open it, publishes it (retained snapshot + deltas) and tracks which version each device
// applied. Any admin change (this process or the CLI, via bus `event`) is re-computed within
// `debounceMs` and published as a delta, so a revocation reaches every connected door at once.
// A change about one person (credential, suspension, membership) re-reads only that person's
// entries at every door (milliseconds); door and group changes re-read the door; schedules and
// holidays re-read every door, one door per event-loop turn, applying person changes in between so
// a revocation never waits behind a big re-read.
import type { KeyObject } from 'node:crypto';
import type { EventBus } from '../bus.js';
import type { Door, HubEvent, ScheduleInterval } from '../domain.js';
import type { Logger } from '../logger.js';
import type { DoorSyncReads, DoorSyncRow } from '../store/door-sync.js';
import type { Store } from '../store/store.js';
import {
  ackCheck,
  type DeltaBody,
  type SignedMessage,
  type SnapshotBody,
  type SyncEntry,
  signSyncBody,
} from './format.js';

export type SyncChannel = 'sync/snapshot' | 'sync/delta';

/** Publishes a hub message on `<base>/door/{door}/{channel}` (the broker's publishToDoor). */
export type PublishSync = (
  doorId: string,
  channel: SyncChannel,
  payload: SignedMessage,
  retain: boolean,
) => Promise<void>;

/** What door sync reads and writes in the store. */
export interface DoorSyncStore {
  doors: Pick<Store['doors'], 'get' | 'list'>;
  holidays: Pick<Store['holidays'], 'dates'>;
  kv: Pick<Store['kv'], 'get' | 'set'>;
  doorSync: DoorSyncReads;
}

export interface DoorSyncOptions {
  store: DoorSyncStore;
  bus: EventBus;
  /** Signs every snapshot and delta (the hub's issuer key: IssuerKey.privateKey). */
  signingKey: KeyObject;
  publish: PublishSync;
  /** The store's PIN subkey (HubKeys.subkey('pin')); null or absent: PINs are not synced to doors. */
  pinKey?: Buffer | null;
  /**
   * The store's card subkey (HubKeys.subkey('card')): the hub keeps only HMACs of card UIDs, so a door
   * needs it to match a card. Null or absent: cards are not synced to doors.
   */
  cardKey?: Buffer | null;
  timeZone: string;
  /** Coalesces bursts of changes. Default 20 ms. */
  debounceMs?: number;
  /**
   * The retained snapshot is republished at most this often (deltas are never delayed): a burst of
   * changes on a door with many credentials costs one large message, not one per change. Default 1000 ms.
   */
  snapshotMinIntervalMs?: number;
  /** Periodic full re-computation (expired credentials drop out; doors check expiry themselves). Default 10 min. */
  refreshMs?: number;
  now?: () => number;
  logger?: Logger;
}

export interface DoorSyncDeviceStatus {
  deviceId: string | null;
  appliedVersion: number;
  appliedAt: number;
}

export interface DoorSyncStatus {
  doorId: string;
  /** Latest version the hub published. */
  version: number;
  publishedAt: number;
  entries: number;
  /** Highest version a device acknowledged, or null when none did yet. */
  appliedVersion: number | null;
  appliedAt: number | null;
  /** 0 when the door's copy is current; otherwise how long it has been behind (ms). */
  staleMs: number;
  inSync: boolean;
  devices: DoorSyncDeviceStatus[];
}

/** A door-side copy behind for longer than this is reported stale. */
export const STALE_AFTER_MS = 60_000;

/** One door in the hub status `doorSync` list (DoorSync.staleness). */
export interface DoorCopyStaleness {
  doorId: string;
  version: number;
  ackedVersion: number | null;
  stale: boolean;
  since: number | null;
}

interface DoorState {
  door: Door;
  version: number;
  publishedAt: number;
  entries: Map<string, Computed>;
  /** person id → refs of that person's entries, for person-targeted updates. */
  byPerson: Map<string, Set<string>>;
  settings: { mode: Door['mode']; unlockMs: number; timeZone: string; holidays: string[] };
  snapshotAt: number;
  snapshotTimer: NodeJS.Timeout | null;
  /** version → when it was published (bounded), to tell how stale a copy is. */
  history: Array<{ version: number; at: number }>;
  acks: Map<string, DoorSyncDeviceStatus>;
}

interface Computed {
  entry: SyncEntry;
  json: string;
  personId: string;
}

/** Changes that concern one person's entries (the event names the person). */
const PERSON_CHANGE = /^admin\.(credential|person|group\.member_)/;
/** Changes that concern one door (the event names the door). */
const DOOR_CHANGE = /^admin\.(door|group\.door_)/;
/** Changes that cannot alter any door's copy. */
const IRRELEVANT = /^admin\.(unit|device|user|session|code|alarm)\./;
const HISTORY = 256;
const VERSIONS_PER_BOOT = 1_000_000;
const BOOT_KEY = 'doorsync.boot';

/** One credential and one granting group (hub/store/door-sync.ts). */
type EntryRow = DoorSyncRow;

export class DoorSync {
  readonly #o: DoorSyncOptions;
  readonly #now: () => number;
  readonly #doors = new Map<string, DoorState>();
  #timer: NodeJS.Timeout | null = null;
  #refresh: NodeJS.Timeout | null = null;
  #running = false;
  #boot = 0;
  readonly #counters = new Map<string, number>();
  #pendingAll = false;
  readonly #pendingDoors = new Set<string>();
  readonly #pendingPeople = new Set<string>();
  #flushing: Promise<void> | null = null;

  constructor(options: DoorSyncOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** Starts following changes and publishes every door's snapshot (in the background: see idle()). */
  async start(): Promise<void> {
    const { bus } = this.#o;
    this.#running = true;
    this.#newBoot();
    bus.on(this, 'event', (e) => this.#note(e));
    bus.on(this, 'doorInput', (input) => {
      if (input.type === 'sync_ack') this.acknowledge(input.doorId, input.data ?? {});
    });
    this.#pendingAll = true;
    this.#schedule(0);
    this.#refresh = setInterval(() => {
      this.#pendingAll = true;
      this.#schedule();
    }, this.#o.refreshMs ?? 600_000);
    this.#refresh.unref();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#o.bus.removeAll(this);
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#refresh) clearInterval(this.#refresh);
    this.#timer = null;
    this.#refresh = null;
    await this.#flushing;
    for (const state of this.#doors.values()) {
      if (state.snapshotTimer) clearTimeout(state.snapshotTimer);
      state.snapshotTimer = null;
    }
  }

  /** Resolves once every change noted so far is published (for tests, benchmarks and tools). */
  async idle(): Promise<void> {
    while (this.#running && (this.#flushing || this.#timer || this.#hasWork())) {
      if (this.#flushing) await this.#flushing;
      else await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  /** Re-reads every door now; resolves when done. */
  async resync(): Promise<void> {
    this.#pendingAll = true;
    this.#schedule(0);
    await this.idle();
  }

  /** Per door: published version, what the devices applied and how stale their copy is. For the UI/API. */
  status(): DoorSyncStatus[] {
    const now = this.#now();
    return [...this.#doors.values()].map((state) => {
      const devices = [...state.acks.values()].sort((a, b) =>
        String(a.deviceId).localeCompare(String(b.deviceId)),
      );
      const applied = devices.reduce<DoorSyncDeviceStatus | null>(
        (best, d) => (best === null || d.appliedVersion > best.appliedVersion ? d : best),
        null,
      );
      const appliedVersion = applied?.appliedVersion ?? null;
      const inSync = appliedVersion !== null && appliedVersion >= state.version;
      // Behind since the first version the door has not applied was published.
      const firstMissing = state.history.find((h) => h.version > (appliedVersion ?? 0));
      const behindSince = firstMissing?.at ?? state.history[0]?.at ?? state.publishedAt;
      return {
        doorId: state.door.id,
        version: state.version,
        publishedAt: state.publishedAt,
        entries: state.entries.size,
        appliedVersion,
        appliedAt: applied?.appliedAt ?? null,
        staleMs: inSync ? 0 : Math.max(0, now - behindSince),
        inSync,
        devices,
      };
    });
  }

  /**
   * Per door, for the hub status: the published and acknowledged version, and whether the door-side copy
   * is stale: behind for more than STALE_AFTER_MS (a copy is normally applied within a second), `since`
   * when it fell behind (null while in sync).
   */
  staleness(): DoorCopyStaleness[] {
    const now = this.#now();
    return this.status().map((s) => ({
      doorId: s.doorId,
      version: s.version,
      ackedVersion: s.appliedVersion,
      stale: !s.inSync && s.staleMs > STALE_AFTER_MS,
      since: s.inSync ? null : now - s.staleMs,
    }));
  }

  /** A device applied `version` of a door's copy (from `door/{d}/sync/ack`). Bad acks are ignored. */
  acknowledge(doorId: string, data: Record<string, unknown>): boolean {
    const state = this.#doors.get(doorId);
    const deviceField: unknown = data['deviceId'];
    if (!state || !ackCheck.Check(data)) return false;
    const version = data.version;
    if (version > state.version) {
      this.#o.logger?.warn(
        { door: doorId, version, published: state.version },
        'sync ack for a version never published; ignored',
      );
      return false;
    }
    const deviceId = typeof deviceField === 'string' ? deviceField : null;
    const key = deviceId ?? '';
    const previous = state.acks.get(key);
    if (previous && previous.appliedVersion > version) return false;
    state.acks.set(key, { deviceId, appliedVersion: version, appliedAt: this.#now() });
    return true;
  }

  /** Sorts a stored change into what it can affect. */
  #note(e: HubEvent): void {
    if (!e.type.startsWith('admin.') || IRRELEVANT.test(e.type)) return;
    if (PERSON_CHANGE.test(e.type) && e.personId) this.#pendingPeople.add(e.personId);
    else if (DOOR_CHANGE.test(e.type) && e.doorId) this.#pendingDoors.add(e.doorId);
    else this.#pendingAll = true;
    this.#schedule();
  }

  #hasWork(): boolean {
    return this.#pendingAll || this.#pendingDoors.size > 0 || this.#pendingPeople.size > 0;
  }

  #schedule(delayMs = this.#o.debounceMs ?? 20): void {
    // One flush at a time; a running flush picks up what is noted meanwhile.
    if (!this.#running || this.#timer || this.#flushing) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#flushing = this.#flush().finally(() => {
        this.#flushing = null;
        if (this.#hasWork()) this.#schedule(0);
      });
    }, delayMs);
  }

  async #flush(): Promise<void> {
    const { store, logger } = this.#o;
    try {
      this.#flushPeople();
      if (this.#pendingAll) {
        this.#pendingAll = false;
        for (const door of store.doors.list()) this.#pendingDoors.add(door.id);
        for (const id of this.#doors.keys()) this.#pendingDoors.add(id);
      }
      while (this.#running && this.#pendingDoors.size > 0) {
        const doorId = this.#pendingDoors.values().next().value as string;
        this.#pendingDoors.delete(doorId);
        const door = store.doors.get(doorId);
        if (door?.transport !== 'mqtt') {
          this.#forget(doorId);
          continue;
        }
        try {
          await this.#readDoor(door);
        } catch (err) {
          logger?.error({ err, door: doorId }, 'door sync failed for a door; will retry on the next change');
        }
        this.#flushPeople();
      }
    } catch (err) {
      logger?.error({ err }, 'door sync failed; will retry on the next change');
    }
  }

  /** Person changes: re-read that person's entries at every door. Cheap, so never deferred. */
  #flushPeople(): void {
    if (this.#pendingPeople.size === 0) return;
    const people = [...this.#pendingPeople];
    this.#pendingPeople.clear();
    const now = this.#now();
    for (const personId of people) {
      for (const state of this.#doors.values()) {
        try {
          this.#apply(state.door, now, this.#personEntries(state.door.id, now, personId), personId);
        } catch (err) {
          this.#o.logger?.error(
            { err, door: state.door.id },
            'door sync failed for a door; will retry on the next change',
          );
        }
      }
    }
  }

  /**
   * Re-reads a whole door and publishes what changed. One door per event-loop turn, with the
   * person changes noted meanwhile applied first: a revocation never waits behind a long re-read.
   */
  async #readDoor(door: Door): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    if (!this.#running) return;
    this.#flushPeople();
    const now = this.#now();
    const rows = this.#o.store.doorSync.doorEntries(door.id, now);
    const entries = mergeRows(rows, Boolean(this.#o.pinKey), Boolean(this.#o.cardKey));
    const holidays = [...this.#o.store.holidays.dates()].sort();
    this.#apply(door, now, entries, undefined, holidays);
  }

  #personEntries(doorId: string, now: number, personId: string): Map<string, Computed> {
    return mergeRows(
      this.#o.store.doorSync.personEntries(doorId, personId, now),
      Boolean(this.#o.pinKey),
      Boolean(this.#o.cardKey),
    );
  }

  #forget(doorId: string): void {
    const state = this.#doors.get(doorId);
    if (!state) return;
    if (state.snapshotTimer) clearTimeout(state.snapshotTimer);
    this.#doors.delete(doorId);
  }

  /**
   * Diffs freshly read entries against the door's copy: all of them, or (personId) that person's.
   * Publishes a delta and schedules the snapshot when anything changed.
   */
  #apply(
    door: Door,
    now: number,
    entries: Map<string, Computed>,
    personId?: string,
    holidays?: string[],
  ): void {
    const state = this.#doors.get(door.id);
    if (!state) {
      if (personId !== undefined) return; // the door's first full read will include it
      const version = this.#nextVersion(door.id);
      const fresh: DoorState = {
        door,
        version,
        publishedAt: now,
        entries,
        byPerson: indexByPerson(entries),
        settings: {
          mode: door.mode,
          unlockMs: door.unlockMs,
          timeZone: this.#o.timeZone,
          holidays: holidays ?? [],
        },
        history: [{ version, at: now }],
        acks: new Map(),
        snapshotAt: 0,
        snapshotTimer: null,
      };
      this.#doors.set(door.id, fresh);
      this.#publishSnapshot(fresh);
      return;
    }
    const scoped = personId !== undefined;
    const put: SyncEntry[] = [];
    const del: string[] = [];
    for (const [ref, next] of entries) {
      if (state.entries.get(ref)?.json !== next.json) put.push(next.entry);
    }
    const inScope = scoped ? (state.byPerson.get(personId) ?? new Set<string>()) : state.entries.keys();
    for (const ref of inScope) if (!entries.has(ref)) del.push(ref);
    // Apply to the hub's view of the copy (owners may move between people even without a delta).
    if (scoped) {
      for (const ref of del) {
        const old = state.entries.get(ref);
        state.entries.delete(ref);
        if (old) state.byPerson.get(old.personId)?.delete(ref);
      }
      for (const [ref, next] of entries) {
        const old = state.entries.get(ref);
        if (old && old.personId !== next.personId) state.byPerson.get(old.personId)?.delete(ref);
        state.entries.set(ref, next);
        addRef(state.byPerson, next.personId, ref);
      }
    } else {
      state.entries = entries;
      state.byPerson = indexByPerson(entries);
    }
    const settings = scoped
      ? state.settings
      : { mode: door.mode, unlockMs: door.unlockMs, timeZone: this.#o.timeZone, holidays: holidays ?? [] };
    const changed: Partial<DeltaBody> = {};
    if (settings.mode !== state.settings.mode) changed.mode = settings.mode;
    if (settings.unlockMs !== state.settings.unlockMs) changed.unlockMs = settings.unlockMs;
    if (settings.timeZone !== state.settings.timeZone) changed.timeZone = settings.timeZone;
    if (settings.holidays.join() !== state.settings.holidays.join()) changed.holidays = settings.holidays;
    if (put.length === 0 && del.length === 0 && Object.keys(changed).length === 0) return;

    const prev = state.version;
    state.version = this.#nextVersion(door.id);
    state.publishedAt = now;
    state.settings = settings;
    state.door = door;
    state.history.push({ version: state.version, at: now });
    if (state.history.length > HISTORY) state.history.shift();
    const delta: DeltaBody = {
      v: 1,
      type: 'delta',
      door: door.id,
      version: state.version,
      prev,
      issuedAt: now,
      put,
      del,
      ...changed,
    };
    // Delta first (small, a connected copy applies it at once), then the retained snapshot for late joiners.
    this.#send(door.id, 'sync/delta', signSyncBody(delta, this.#o.signingKey), false);
    this.#snapshotSoon(state);
    this.#o.logger?.info(
      { door: door.id, version: state.version, put: put.length, del: del.length },
      'door sync delta',
    );
  }

  /** Republishes the retained snapshot now, or once the minimum interval has passed (latest state wins). */
  #snapshotSoon(state: DoorState): void {
    if (state.snapshotTimer) return;
    const wait = state.snapshotAt + (this.#o.snapshotMinIntervalMs ?? 1000) - this.#now();
    if (wait <= 0) {
      this.#publishSnapshot(state);
      return;
    }
    state.snapshotTimer = setTimeout(() => {
      state.snapshotTimer = null;
      if (this.#running && this.#doors.get(state.door.id) === state) this.#publishSnapshot(state);
    }, wait);
  }

  #publishSnapshot(state: DoorState): void {
    state.snapshotAt = this.#now();
    const pinKey = this.#o.pinKey ? Buffer.from(this.#o.pinKey).toString('base64url') : undefined;
    const cardKey = this.#o.cardKey ? Buffer.from(this.#o.cardKey).toString('base64url') : undefined;
    const snapshot: SnapshotBody = {
      v: 1,
      type: 'snapshot',
      door: state.door.id,
      version: state.version,
      issuedAt: state.publishedAt,
      ...state.settings,
      ...(pinKey ? { pinKey } : {}),
      ...(cardKey ? { cardKey } : {}),
      entries: [...state.entries.values()].map((e) => e.entry),
    };
    this.#send(state.door.id, 'sync/snapshot', signSyncBody(snapshot, this.#o.signingKey), true);
  }

  #send(doorId: string, channel: SyncChannel, message: SignedMessage, retain: boolean): void {
    this.#o
      .publish(doorId, channel, message, retain)
      .catch((err: unknown) =>
        this.#o.logger?.warn({ err, door: doorId, channel }, 'door sync message not published'),
      );
  }

  /**
   * version = boot * 1,000,000 + change count in this boot. The boot number is stored once per start
   * (one durable write, not one per change), so versions only grow, across restarts too.
   */
  #nextVersion(doorId: string): number {
    let count = (this.#counters.get(doorId) ?? 0) + 1;
    if (this.#boot === 0 || count >= VERSIONS_PER_BOOT) {
      this.#newBoot();
      count = 1;
    }
    this.#counters.set(doorId, count);
    return this.#boot * VERSIONS_PER_BOOT + count;
  }

  #newBoot(): void {
    const kv = this.#o.store.kv;
    const stored = Number(kv.get(BOOT_KEY) ?? '0');
    this.#boot = (Number.isSafeInteger(stored) && stored > 0 ? stored : 0) + 1;
    kv.set(BOOT_KEY, String(this.#boot));
    this.#counters.clear();
  }
}

/** Rows (one per credential and granting group) → one entry per credential. */
function mergeRows(rows: EntryRow[], includePins: boolean, includeCards: boolean): Map<string, Computed> {
  const merged = new Map<string, { entry: SyncEntry; personId: string }>();
  for (const row of rows) {
    if (row.kind === 'pin' && !includePins) continue;
    if (row.kind === 'card' && !includeCards) continue;
    // A referenced but missing schedule grants nothing (fail closed), like the engine.
    const intervals: ScheduleInterval[] | null =
      row.schedule_id === null
        ? null
        : row.intervals === null
          ? []
          : (JSON.parse(row.intervals) as ScheduleInterval[]);
    const existing = merged.get(row.id);
    if (!existing) {
      merged.set(row.id, {
        personId: row.person_id,
        entry: {
          ref: row.id,
          kind: row.kind,
          lookup: row.lookup,
          validFrom: row.valid_from,
          validUntil: row.valid_until,
          intervals,
        },
      });
    } else if (existing.entry.intervals !== null) {
      // Any group allows: "always" wins, else the union of the intervals.
      existing.entry.intervals = intervals === null ? null : [...existing.entry.intervals, ...intervals];
    }
  }
  const result = new Map<string, Computed>();
  for (const [ref, { entry, personId }] of merged) {
    // Kept even when its schedules open never: the door then says outside_schedule, as the hub does.
    result.set(ref, { entry, json: JSON.stringify(entry), personId });
  }
  return result;
}

function addRef(byPerson: Map<string, Set<string>>, personId: string, ref: string): void {
  let refs = byPerson.get(personId);
  if (!refs) {
    refs = new Set();
    byPerson.set(personId, refs);
  }
  refs.add(ref);
}

function indexByPerson(entries: Map<string, Computed>): Map<string, Set<string>> {
  const byPerson = new Map<string, Set<string>>();
  for (const [ref, computed] of entries) addRef(byPerson, computed.personId, ref);
  return byPerson;
}
