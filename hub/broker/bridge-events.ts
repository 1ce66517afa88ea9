// What integrations hear on `gatehouse/bridge/event` (docs/mqtt.md §2.8, docs/alarms.md): decisions and
// door states as they happen, and every alarm and doorbell once it is stored in the event log. Each goes
// out after the door has its answer (two turns later), and alarms and doorbells share one budget: past
// it they are counted and published as one summary a second, so a flood of alarms cannot crowd out
// the decisions the broker delivers to doors. The event log keeps every one of them. A door's states are
// coalesced: at most one every DOOR_STATE_EVERY_MS per door, the latest one winning, so a chattering
// contact or a looping controller cannot flood flows while the last state still always arrives.
import { BoundedMap, TokenBucket } from '../budget.js';
import type { DoorStatus, EventBus } from '../bus.js';
import type { HubEvent } from '../domain.js';
import type { Logger } from '../logger.js';
import { shorten } from '../text.js';

/** Fields of an alarm's data copied to the bridge: plain values only, a few, short. */
const MAX_DATA_FIELDS = 12;
const MAX_TEXT = 200;
/** Never on the bridge, whatever an event's data says (invariant 5). */
const SECRET_FIELD = /secret|pin|card|credential|token|password|hash|value|uid|person|actor/i;
/** Suppressed alarms and doorbells are summarised this often. */
const SUMMARY_EVERY_MS = 1000;
/** Event types named in a summary; the rest are counted under `other`. */
const MAX_SUMMARY_TYPES = 20;
/** One door state per door this often at most; the ones between are replaced by the latest. */
export const DOOR_STATE_EVERY_MS = 200;
/** Doors followed at once (door ids come from the store, so this is never reached in practice). */
const MAX_DOORS = 10_000;

export interface BridgeEventsOptions {
  bus: EventBus;
  /** Publishes one payload on bridge/event; never throws (MqttBroker.publishBridgeEvent). */
  publish: (payload: Record<string, unknown>) => unknown;
  /** Alarms and doorbells per second, and at once (mqtt.limits.bridgeEventsPerSecond / bridgeEventBurst). */
  eventsPerSecond: number;
  eventBurst: number;
  now?: () => number;
  logger?: Logger;
}

export type BridgeAlarm = {
  type: 'alarm';
  /** The stored event type, e.g. `alarm.forced_open` or `alarm.forced_open_cleared`. */
  alarm: string;
  cleared: boolean;
  door: string | null;
  data: Record<string, string | number | boolean | null>;
  seq: number;
  ts: number;
};

export type BridgeDoorbell = { type: 'doorbell'; door: string | null; seq: number; ts: number };

export type BridgeSummary = {
  type: 'suppressed';
  /** Alarms and doorbells stored but not published since the last message of this kind. */
  count: number;
  /** Counts by event type (at most 20 types, the rest under `other`). */
  byType: Record<string, number>;
  /** First and last suppressed event. */
  fromSeq: number;
  toSeq: number;
  ts: number;
};

/** The bridge payload of a stored event, or null when it is not bridged. */
export function bridgePayloadOf(e: HubEvent): BridgeAlarm | BridgeDoorbell | null {
  if (e.type === 'door.doorbell') return { type: 'doorbell', door: e.doorId, seq: e.seq, ts: e.ts };
  if (!e.type.startsWith('alarm.')) return null;
  return {
    type: 'alarm',
    alarm: e.type,
    cleared: e.type.endsWith('_cleared'),
    door: e.doorId,
    data: plainData(e.data),
    seq: e.seq,
    ts: e.ts,
  };
}

/** Plain, short values of an event's data; nested values, long texts and anything secret-like left out. */
export function plainData(data: Record<string, unknown>): BridgeAlarm['data'] {
  const out: BridgeAlarm['data'] = {};
  let fields = 0;
  for (const [key, value] of Object.entries(data ?? {})) {
    if (fields >= MAX_DATA_FIELDS) break;
    if (SECRET_FIELD.test(key)) continue;
    if (typeof value === 'string') out[key] = shorten(value, MAX_TEXT);
    else if (typeof value === 'number' && Number.isFinite(value)) out[key] = value;
    else if (typeof value === 'boolean' || value === null) out[key] = value;
    else continue;
    fields++;
  }
  return out;
}

export class BridgeEvents {
  readonly #o: BridgeEventsOptions;
  readonly #now: () => number;
  #budget: TokenBucket | null = null;
  #suppressed: { count: number; byType: Map<string, number>; fromSeq: number; toSeq: number } | null = null;
  #summaryTimer: NodeJS.Timeout | null = null;
  readonly #doors = new BoundedMap<
    string,
    { sentAt: number; pending: DoorStatus | null; timer: NodeJS.Timeout | null }
  >(MAX_DOORS, (_id, door) => {
    if (door.timer) clearTimeout(door.timer);
  });

  constructor(options: BridgeEventsOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    const { bus } = this.#o;
    this.#budget = new TokenBucket(this.#o.eventsPerSecond, this.#o.eventBurst, this.#now);
    bus.on(this, 'decided', (p, d) =>
      this.#later({ type: 'decision', door: p.doorId, kind: p.kind, granted: d.granted, reason: d.reason }),
    );
    // A wired door's status carries its readers (the door manager adds them): reader health is here too.
    bus.on(this, 'doorStatus', (s) => this.#doorState(s));
    bus.on(this, 'event', (e) => this.#stored(e));
  }

  stop(): void {
    this.#o.bus.removeAll(this);
    if (this.#summaryTimer) clearTimeout(this.#summaryTimer);
    this.#summaryTimer = null;
    this.#summarise();
    for (const [, door] of this.#doors.entries()) if (door.timer) clearTimeout(door.timer);
    this.#doors.clear();
  }

  #doorState(status: DoorStatus): void {
    let door = this.#doors.get(status.doorId);
    if (!door) {
      door = { sentAt: Number.NEGATIVE_INFINITY, pending: null, timer: null };
      this.#doors.set(status.doorId, door);
    }
    const wait = door.sentAt + DOOR_STATE_EVERY_MS - this.#now();
    if (wait <= 0 && door.timer === null) {
      door.sentAt = this.#now();
      this.#later({ type: 'door', ...status });
      return;
    }
    door.pending = status;
    const d = door;
    d.timer ??= setTimeout(
      () => {
        d.timer = null;
        const latest = d.pending;
        d.pending = null;
        if (latest === null) return;
        d.sentAt = this.#now();
        this.#later({ type: 'door', ...latest });
      },
      Math.max(0, wait),
    );
  }

  #stored(e: HubEvent): void {
    const payload = bridgePayloadOf(e);
    if (payload === null) return;
    if (this.#budget?.take()) {
      this.#later(payload);
      return;
    }
    this.#suppressed ??= { count: 0, byType: new Map(), fromSeq: e.seq, toSeq: e.seq };
    const s = this.#suppressed;
    s.count++;
    s.toSeq = e.seq;
    const key = s.byType.has(e.type) || s.byType.size < MAX_SUMMARY_TYPES ? e.type : 'other';
    s.byType.set(key, (s.byType.get(key) ?? 0) + 1);
    this.#summaryTimer ??= setTimeout(() => {
      this.#summaryTimer = null;
      this.#summarise();
    }, SUMMARY_EVERY_MS);
  }

  #summarise(): void {
    const s = this.#suppressed;
    if (s === null) return;
    this.#suppressed = null;
    this.#o.logger?.warn(
      { suppressed: s.count, fromSeq: s.fromSeq, toSeq: s.toSeq },
      `bridge events over budget: …and ${s.count} more alarms or doorbells, summarised`,
    );
    const summary: BridgeSummary = {
      type: 'suppressed',
      count: s.count,
      byType: Object.fromEntries(s.byType),
      fromSeq: s.fromSeq,
      toSeq: s.toSeq,
      ts: this.#now(),
    };
    this.#later(summary);
  }

  /** After the door's answer and whatever else the decision set off (the broker answers first). */
  #later(payload: Record<string, unknown>): void {
    setImmediate(() => setImmediate(() => void this.#o.publish(payload)));
  }
}
