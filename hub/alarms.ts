// Alarms as staff see them (docs/doors.md "Alarms for staff"), derived from the event log alone so they
// survive restarts and agree between the hub and the CLI: each alarm.* event raises an alarm, the event
// that ends it (its *_cleared counterpart on the same door, or a hub-wide recovery) clears it, and an
// `admin.alarm.acknowledged` event records who looked at it. Nothing here is cached.
import type { HubEvent } from './domain.js';
import type { Store } from './store/store.js';

export interface AlarmAcknowledgement {
  /** The actor who acknowledged it (`user:alice`, `cli:root`). */
  by: string;
  at: number;
  note: string | null;
}

export interface Alarm {
  /** Seq of the event that raised it (the first of a run of repeats, e.g. alarm.held_open every heldOpenMs). */
  seq: number;
  ts: number;
  type: string;
  doorId: string | null;
  data: Record<string, unknown>;
  /** Not yet ended (see ALARM_ENDINGS); an alarm nothing ends is active until acknowledged. */
  active: boolean;
  clearedAt: number | null;
  acknowledged: AlarmAcknowledgement | null;
}

export const ALARM_ACKNOWLEDGED = 'admin.alarm.acknowledged';
/** alarm.list looks this far back. */
export const ALARM_WINDOW_MS = 7 * 24 * 3_600_000;
export const MAX_ALARMS_LISTED = 200;

/**
 * How an alarm type ends. `by`: a later event of that type on the same door (and the same reader or device
 * when `keyField` names it), or also by an acknowledgement when `orAcknowledged`; raises of the same alarm before it
 * are repeats of one alarm. `until`: at the time in
 * `data.until` (a keypad lockout). Types not listed (alarm.guess_risk, alarm.clock_disagrees,
 * alarm.reader_flapping, alarm.door_config, any new one) end when staff acknowledge them.
 */
export const ALARM_ENDINGS: Readonly<
  Record<string, { by: string; keyField?: 'reader' | 'device'; orAcknowledged?: true } | { until: 'until' }>
> = {
  'alarm.forced_open': { by: 'alarm.forced_open_cleared' },
  'alarm.held_open': { by: 'alarm.held_open_cleared' },
  'alarm.tamper': { by: 'alarm.tamper_cleared' },
  'alarm.fire': { by: 'alarm.fire_cleared' },
  'alarm.lock_fault': { by: 'alarm.lock_fault_cleared' },
  'alarm.reader_offline': { by: 'alarm.reader_offline_cleared', keyField: 'reader' },
  // Two controllers can serve one door: each is its own alarm.
  'alarm.door_offline': { by: 'alarm.door_offline_cleared', keyField: 'device' },
  'alarm.keypad_disabled': { by: 'admin.keypad.enabled', keyField: 'reader' },
  'alarm.disk_full': { by: 'storage.disk_ok' },
  // Ended by the next successful scheduled backup (hub/backups/scheduler.ts).
  'alarm.backup_overdue': { by: 'alarm.backup_overdue_cleared' },
  // Trust also comes back by NTP or the cloud, which writes no event: acknowledging ends it too.
  'alarm.clock_jump': { by: 'admin.clock.accepted', orAcknowledged: true },
  'alarm.keypad_locked_out': { until: 'until' },
};

/** Ending event type → the alarm type it ends. */
const ENDED_BY = new Map(
  Object.entries(ALARM_ENDINGS).flatMap(([type, ending]) => ('by' in ending ? [[ending.by, type]] : [])),
);

/** Event types besides alarm.* that the derivation reads. */
export const ALARM_RELATED_TYPES: readonly string[] = [
  ...[...ENDED_BY.keys()].filter((type) => !type.startsWith('alarm.')),
  ALARM_ACKNOWLEDGED,
];

/** Does an event of this type raise an alarm (rather than end one)? */
export function raisesAlarm(type: string): boolean {
  return type.startsWith('alarm.') && !type.endsWith('_cleared') && !ENDED_BY.has(type);
}

function keyOf(alarmType: string, e: HubEvent): string {
  const ending = ALARM_ENDINGS[alarmType];
  const part = ending && 'by' in ending && ending.keyField ? String(e.data[ending.keyField] ?? '') : '';
  return JSON.stringify([alarmType, e.doorId ?? '', part]);
}

export interface DerivedAlarms {
  /** Oldest first. */
  alarms: Alarm[];
  /** Every raising seq (repeats too) → its alarm. */
  bySeq: Map<number, Alarm>;
}

/** Alarms from events in seq order (alarm.*, their endings and acknowledgements), as they stand at `now`. */
export function deriveAlarms(events: readonly HubEvent[], now: number): DerivedAlarms {
  const open = new Map<string, Alarm>();
  const bySeq = new Map<number, Alarm>();
  const alarms: Alarm[] = [];
  for (const e of events) {
    if (e.type === ALARM_ACKNOWLEDGED) {
      const alarm = bySeq.get(Number(e.data.seq));
      if (alarm && !alarm.acknowledged) {
        alarm.acknowledged = {
          by: typeof e.data.actor === 'string' ? e.data.actor : 'unknown',
          at: e.ts,
          note: typeof e.data.note === 'string' ? e.data.note : null,
        };
      }
      continue;
    }
    const ended = ENDED_BY.get(e.type);
    if (ended !== undefined) {
      const key = keyOf(ended, e);
      const alarm = open.get(key);
      if (alarm) {
        alarm.active = false;
        alarm.clearedAt = e.ts;
        open.delete(key);
      }
      continue;
    }
    if (!raisesAlarm(e.type)) continue;
    const ending = ALARM_ENDINGS[e.type];
    const key = keyOf(e.type, e);
    const repeated = ending && 'by' in ending ? open.get(key) : undefined;
    if (repeated) {
      bySeq.set(e.seq, repeated);
      continue;
    }
    const alarm: Alarm = {
      seq: e.seq,
      ts: e.ts,
      type: e.type,
      doorId: e.doorId,
      data: e.data,
      active: true,
      clearedAt: null,
      acknowledged: null,
    };
    if (ending && 'until' in ending) {
      const until = e.data[ending.until];
      if (typeof until === 'number' && until <= now) {
        alarm.active = false;
        alarm.clearedAt = until;
      }
    } else if (ending) open.set(key, alarm);
    alarms.push(alarm);
    bySeq.set(e.seq, alarm);
  }
  // Nothing (else) ends these but a person: acknowledged means dealt with.
  for (const alarm of alarms) {
    const ending = ALARM_ENDINGS[alarm.type];
    const byPerson = !ending || ('by' in ending && ending.orAcknowledged === true);
    if (byPerson && alarm.acknowledged) alarm.active = false;
  }
  return { alarms, bySeq };
}

export interface AlarmListOptions {
  doorId?: string;
  /** Also alarms that are both ended and acknowledged. */
  includeCleared?: boolean;
  now: number;
}

/** Alarms of the last 7 days that are active or not acknowledged (or all), newest first, at most 200. */
export function listAlarms(store: Store, options: AlarmListOptions): Alarm[] {
  const events = store.events.alarmLog({
    sinceTs: options.now - ALARM_WINDOW_MS,
    alsoTypes: ALARM_RELATED_TYPES,
    ...(options.doorId === undefined ? {} : { doorId: options.doorId }),
  });
  return deriveAlarms(events, options.now)
    .alarms.filter((a) => options.includeCleared || a.active || a.acknowledged === null)
    .sort((a, b) => b.seq - a.seq)
    .slice(0, MAX_ALARMS_LISTED);
}

/**
 * The alarm the event `seq` raised (a repeat answers its first raise), as it stands now; null when
 * that event raised no alarm. Works for alarms older than the list's window too.
 */
export function alarmAt(store: Store, seq: number, now: number): Alarm | null {
  const event = store.events.get(seq);
  if (!event || !raisesAlarm(event.type)) return null;
  const events = store.events.alarmLog({
    sinceTs: Math.min(event.ts, now - ALARM_WINDOW_MS),
    alsoTypes: ALARM_RELATED_TYPES,
    ...(event.doorId === null ? {} : { doorId: event.doorId }),
  });
  // An alarm further back than the newest MAX_ALARM_LOG alarm events stands on its own.
  const derived = events.some((e) => e.seq <= seq) ? events : [event, ...events.filter((e) => e.seq > seq)];
  return deriveAlarms(derived, now).bySeq.get(seq) ?? null;
}
