// Doors, their alarms and their events as the dashboard and the door page read them: loaded from the
// API, then kept current by the live stream (`door` messages move the state, `event` messages of
// type alarm.* reload the alarms, `reset` reloads everything).
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { type ApiError, api, seg } from '../../api.js';
import { asApiError, useResource } from '../../hooks.js';
import { t } from '../../i18n/index.js';
import { useLive } from '../../live.js';
import type { Door, DoorStatus, HubEvent } from '../../types.js';

export type DoorMode = Door['mode'];

/** An alarm as GET /alarms answers it. */
export interface Alarm {
  seq: number;
  ts: number;
  type: string;
  doorId: string | null;
  data: Record<string, unknown>;
  active: boolean;
  clearedAt: number | null;
  acknowledged: { by: string; at: number; note: string | null } | null;
}

/** Door-side copy of one MQTT door, as GET /status `doorSync` reports it. */
export interface DoorSync {
  doorId: string;
  version: number;
  ackedVersion: number | null;
  /** Behind for longer than the hub allows (a copy is normally applied within a second). */
  stale: boolean;
  /** When it fell behind; null while in sync. */
  since: number | null;
}

/** Every door with its live state; `door` messages update it without a reload. */
export function useDoors() {
  const doors = useResource(() => api.get<{ doors: Door[] }>('/doors').then((r) => r.doors), []);
  const onDoor = useCallback(
    (status: DoorStatus) =>
      doors.set((list) =>
        list
          ? list.map((d) =>
              d.id === status.doorId
                ? { ...d, mode: status.mode ?? d.mode, status: { ...d.status, ...status } }
                : d,
            )
          : list,
      ),
    [doors.set],
  );
  useLive('door', onDoor);
  // A mode change made elsewhere (CLI, cloud) arrives as an event; the door message follows, but the
  // stored record may differ (a door not running): reload to be exact.
  const onEvent = useCallback(
    (e: HubEvent) => {
      if (/^admin\.door\.(added|removed|updated|upserted)$/.test(e.type)) doors.reload();
    },
    [doors.reload],
  );
  useLive('event', onEvent);
  useLive('reset', doors.reload);
  return doors;
}

// Types whose end is its own event: the alarm is active until then.
const CLEARS: Record<string, string> = {
  'alarm.door_offline_cleared': 'alarm.door_offline',
  'alarm.reader_offline_cleared': 'alarm.reader_offline',
  'alarm.forced_open_cleared': 'alarm.forced_open',
  'alarm.held_open_cleared': 'alarm.held_open',
  'alarm.tamper_cleared': 'alarm.tamper',
  'alarm.fire_cleared': 'alarm.fire',
  'alarm.lock_fault_cleared': 'alarm.lock_fault',
};

/** Events that raise, end or acknowledge an alarm. */
export const touchesAlarms = (type: string) =>
  /^(alarm\.|admin\.alarm\.|admin\.keypad\.enabled$|admin\.clock\.accepted$|storage\.)/.test(type);

/**
 * Alarms (all, or one door's) that are active or not yet acknowledged, and with `includeCleared` the
 * ones that ended and were acknowledged too (last 7 days). Reloads on live alarm events.
 */
export function useAlarms(doorId?: string, options: { includeCleared?: boolean } = {}) {
  const includeCleared = options.includeCleared === true;
  const alarms = useResource<Alarm[]>(
    () =>
      api
        .get<{ alarms: Alarm[] }>('/alarms', { doorId, includeCleared: includeCleared || undefined })
        .then((r) => r.alarms),
    [doorId, includeCleared],
  );
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);
  const onEvent = useCallback(
    (e: HubEvent) => {
      if (!touchesAlarms(e.type) || (doorId && e.doorId !== doorId && e.doorId !== null)) return;
      // A burst of alarm events (a door banging) makes one reload, not one each.
      if (pending.current) return;
      pending.current = setTimeout(() => {
        pending.current = null;
        alarms.reload();
      }, 150);
    },
    [alarms.reload, doorId],
  );
  useEffect(() => () => void (pending.current && clearTimeout(pending.current)), []);
  useLive('event', onEvent);
  useLive('reset', alarms.reload);
  return alarms;
}

/** Door-side copy staleness per MQTT door (empty on a hub without door-side copies); every 30 s. */
export function useDoorSync() {
  const sync = useResource<DoorSync[]>(
    () => api.get<{ doorSync?: DoorSync[] }>('/status').then((r) => r.doorSync ?? []),
    [],
  );
  useEffect(() => {
    const timer = setInterval(sync.reload, 30_000);
    return () => clearInterval(timer);
  }, [sync.reload]);
  return sync;
}

export function alarmLabel(type: string): string {
  return t.doors.alarmType[type] ?? t.doors.alarmOther(type);
}

/** Alarms that still need someone: active, or ended but not acknowledged. */
export function needsAttention(alarm: Alarm): boolean {
  return alarm.active || alarm.acknowledged === null;
}

export function acknowledgeAlarm(seq: number, note: string): Promise<{ alarm: Alarm }> {
  return api.post<{ alarm: Alarm }>(
    `/alarms/${seg(String(seq))}/ack`,
    note.trim() ? { note: note.trim() } : {},
  );
}

export function setDoorMode(id: string, mode: DoorMode, reason: string) {
  return api.put<{ ok: true; mode: DoorMode }>(`/doors/${seg(id)}/mode`, withReason({ mode }, reason));
}

export function setAllDoorsMode(mode: DoorMode, reason: string) {
  return api.put<{ ok: true; mode: DoorMode; changed: string[] }>(
    '/doors/mode',
    withReason({ mode }, reason),
  );
}

export function unlockDoor(id: string, reason: string) {
  return api.post<{ ok: true; ms: number }>(`/doors/${seg(id)}/unlock`, withReason({}, reason));
}

function withReason<T extends object>(body: T, reason: string): T & { reason?: string } {
  const text = reason.trim();
  return text ? { ...body, reason: text } : body;
}

/** "user:sam" → "sam"; "cli:root" → "root (on the hub)"; a person's id → their name when known. */
export function actorOf(e: HubEvent, names: ReadonlyMap<string, string>): string {
  const a = t.doors.actor;
  const raw = typeof e.data.actor === 'string' ? e.data.actor : null;
  if (raw) {
    const colon = raw.indexOf(':');
    const kind = colon > 0 ? raw.slice(0, colon) : raw;
    const who = colon > 0 ? raw.slice(colon + 1) : raw;
    if (kind === 'user') return a.user(who);
    if (kind === 'cli') return a.cli(who);
    if (kind === 'device') return a.device(who);
    if (kind === 'cloud') return a.cloud;
    return raw;
  }
  if (e.personId) return a.person(names.get(e.personId) ?? e.personId);
  if (typeof e.data.device === 'string') return a.device(e.data.device);
  if (e.type.startsWith('door.') || e.type.startsWith('alarm.') || e.type === 'decision') return a.door;
  return a.hub;
}

/** One line saying what happened. */
export function describeEvent(e: HubEvent): string {
  const s = t.doors.event;
  const d = e.data;
  const text = (v: unknown) => (typeof v === 'string' ? v : '');
  const kind = t.doors.credentialKind[text(d.kind)] ?? text(d.kind);
  switch (e.type) {
    case 'decision':
      return d.granted === true ? s.granted(kind) : s.denied(kind, text(d.reason));
    case 'door.opened':
      return s.openedBy[text(d.by)] ?? s.opened;
    case 'door.closed':
      return s.closed;
    case 'door.rex':
      return s.rex;
    case 'door.doorbell':
      return s.doorbell;
    case 'door.keypad_locked_out':
      return s.keypadLockedOut;
    case 'door.mode_changed':
    case 'admin.door.mode_changed':
      return s.modeChanged(modeName(text(d.from)), modeName(text(d.to)));
    case 'admin.door.unlocked':
      return s.unlocked(Math.round(Number(d.ms ?? 0) / 1000));
    case 'admin.alarm.acknowledged':
      return s.acknowledged(alarmLabel(text(d.type)));
  }
  const cleared = CLEARS[e.type];
  if (cleared) return s.cleared(alarmLabel(cleared));
  if (e.type.startsWith('alarm.')) return s.alarmRaised(alarmLabel(e.type));
  return s.other(e.type);
}

function modeName(mode: string): string {
  return (t.doors.mode as Record<string, string>)[mode] ?? mode;
}

/** Loads the last events (of one door, or of every door) and prepends live ones as they happen. */
export function useRecentEvents(doorId: string | null, limit = 25) {
  const [events, setEvents] = useState<HubEvent[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const mine = useCallback(
    (e: HubEvent) => (doorId === null ? e.doorId !== null : e.doorId === doorId),
    [doorId],
  );
  const load = useCallback(() => {
    // `door=` filters on hubs that support it; the filter here keeps older hubs right too.
    api.get<{ events: HubEvent[] }>('/events', { door: doorId ?? undefined, limit: 200 }).then(
      (r) => {
        setEvents(r.events.filter(mine).slice(0, limit));
        setError(null);
      },
      (err: unknown) => setError(asApiError(err)),
    );
  }, [doorId, limit, mine]);
  useEffect(load, [load]);
  const onEvent = useCallback(
    (e: HubEvent) => {
      if (!mine(e)) return;
      setEvents((list) => {
        if (!list) return list;
        if (list.some((x) => x.seq === e.seq)) return list;
        return [e, ...list].slice(0, limit);
      });
    },
    [mine, limit],
  );
  useLive('event', onEvent);
  useLive('reset', load);
  return { events, error };
}

// Names already looked up, for the whole tab: a person's name rarely changes while someone watches.
const knownNames = new Map<string, string>();

/**
 * Person ids → names for the actor of a decision, looked up one by one (GET /people/:id) for the ids on
 * screen only; roles that may not read people see the id.
 */
export function usePeopleNames(ids: readonly string[], allowed: boolean): ReadonlyMap<string, string> {
  const [names, setNames] = useState<ReadonlyMap<string, string>>(() => new Map(knownNames));
  const wanted = [...new Set(ids)].filter((id) => !knownNames.has(id)).join('\n');
  useEffect(() => {
    if (!allowed || !wanted) return;
    let alive = true;
    const lookups = wanted.split('\n').map((id) =>
      api.get<{ person: { id: string; name: string } }>(`/people/${seg(id)}`).then(
        (r) => knownNames.set(id, r.person.name),
        () => knownNames.set(id, id), // removed since: the log keeps the id
      ),
    );
    void Promise.all(lookups).then(() => alive && setNames(new Map(knownNames)));
    return () => {
      alive = false;
    };
  }, [wanted, allowed]);
  return names;
}

/** A confirmation ("Unlocked.") that goes away by itself after a while. */
export function useFlash(ms = 8000): [string | null, (text: string) => void] {
  const [text, setText] = useState<string | null>(null);
  useEffect(() => {
    if (text === null) return;
    const timer = setTimeout(() => setText(null), ms);
    return () => clearTimeout(timer);
  }, [text, ms]);
  return [text, setText];
}
