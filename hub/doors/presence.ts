// LAN door controllers going offline → alarms (docs/alarms.md). A device whose connection drops (its
// last will, a dead socket) raises `alarm.door_offline` on each door it serves once it has stayed away
// for a grace period, and `alarm.door_offline_cleared` when it is back; a reconnect within the grace
// period raises nothing, so a Wi-Fi blip is not an alarm. A device that keeps coming and going is
// budgeted like a flapping reader (hub/doors/readers.ts): past a few changes a minute it gets one
// `alarm.door_flapping`, and where it stands is written when its minute ends.
import { BoundedMap } from '../budget.js';
import type { HubEvent, NewEvent } from '../domain.js';
import type { Logger } from '../logger.js';
import { type DoorClock, systemClock, type TimerHandle } from './clock.js';

export const DEFAULT_OFFLINE_GRACE_MS = 10_000;
/**
 * After the hub starts, its controllers reconnect with their own back-off (the hub's broker restarted with
 * it): one that is not back this long after the start is offline (docs/alarms.md).
 */
export const DEFAULT_BACK_AFTER_START_MS = 60_000;
/** Offline/back changes written per device and minute; the next one is a flapping alarm instead. */
export const DEVICE_CHANGES_PER_MINUTE = 4;
const FLAP_WINDOW_MS = 60_000;
/** Devices followed at once (the broker's own bound on device budgets). */
const MAX_DEVICES = 10_000;

type Written = 'online' | 'offline';

interface Device {
  id: string;
  /** Expected at start (a provisioned controller), not heard from since. */
  notBackAfterStart: boolean;
  /** Doors named by the device's last availability change (its doors when it logged in). */
  doors: Set<string>;
  online: boolean;
  offlineSince: number;
  /** Pending until the grace period after going offline has passed. */
  grace: TimerHandle | null;
  /** What the audit log says about this device now. */
  written: Written;
  /** The doors the written offline alarm went to, so its clear goes to the same doors. */
  alarmedDoors: string[];
  window: { since: number; changes: number; flapping: boolean; timer: TimerHandle | null };
}

/** An `alarm.door_offline` in the log whose `_cleared` has not followed (from before a restart). */
export interface OpenOfflineAlarm {
  deviceId: string;
  doorId: string;
  since: number;
}

/**
 * The offline alarms still open in a stretch of the log (any order): the latest of `alarm.door_offline`
 * and `alarm.door_offline_cleared` per device and door decides.
 */
export function openOfflineAlarms(events: readonly HubEvent[]): OpenOfflineAlarm[] {
  const latest = new Map<string, HubEvent>();
  for (const e of events) {
    if (e.type !== 'alarm.door_offline' && e.type !== 'alarm.door_offline_cleared') continue;
    const device = e.data['device'];
    if (typeof device !== 'string' || e.doorId === null) continue;
    const key = JSON.stringify([device, e.doorId]);
    const seen = latest.get(key);
    if (!seen || seen.seq < e.seq) latest.set(key, e);
  }
  const open: OpenOfflineAlarm[] = [];
  for (const e of latest.values()) {
    if (e.type !== 'alarm.door_offline' || e.doorId === null) continue;
    const since = e.data['since'];
    open.push({
      deviceId: e.data['device'] as string,
      doorId: e.doorId,
      since: typeof since === 'number' && Number.isFinite(since) ? since : e.ts,
    });
  }
  return open;
}

export interface DevicePresenceOptions {
  emitEvent: (event: NewEvent) => unknown;
  /** Whether an alarm belongs on this door (it exists and is a LAN door). */
  isLanDoor: (doorId: string) => boolean;
  graceMs?: number;
  /** How long after the start a provisioned controller has to come back (DEFAULT_BACK_AFTER_START_MS). */
  backAfterStartMs?: number;
  clock?: DoorClock;
  logger?: Logger;
}

export class DevicePresence {
  readonly #o: DevicePresenceOptions;
  readonly #clock: DoorClock;
  readonly #graceMs: number;
  readonly #backAfterStartMs: number;
  readonly #devices: BoundedMap<string, Device>;

  constructor(options: DevicePresenceOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#graceMs = options.graceMs ?? DEFAULT_OFFLINE_GRACE_MS;
    this.#backAfterStartMs = Math.max(options.backAfterStartMs ?? DEFAULT_BACK_AFTER_START_MS, this.#graceMs);
    this.#devices = new BoundedMap(MAX_DEVICES, (_id, device) => this.#forget(device));
  }

  /**
   * Offline alarms raised before this start and not cleared: the device is taken as offline with its
   * alarm written, so its return clears them (and a device that never returns keeps them open).
   */
  resume(open: readonly OpenOfflineAlarm[]): void {
    for (const alarm of open) {
      let device = this.#devices.get(alarm.deviceId);
      if (!device) {
        device = this.#newDevice(alarm.deviceId, false);
        device.written = 'offline';
        device.offlineSince = alarm.since;
        this.#devices.set(alarm.deviceId, device);
      }
      if (device.written !== 'offline' || device.online) continue;
      if (!device.alarmedDoors.includes(alarm.doorId)) device.alarmedDoors.push(alarm.doorId);
      device.offlineSince = Math.min(device.offlineSince, alarm.since);
    }
  }

  /**
   * The controllers the hub serves (provisioned door devices and their doors), at start, after resume().
   * A controller connected when the hub stopped comes back by itself; one that does not, within the
   * start grace, raises door_offline as if it had dropped at the start — otherwise a controller that died
   * with the hub (one power cut for both) would only ever show online:false.
   */
  expect(controllers: ReadonlyArray<{ id: string; doors: readonly string[] }>): void {
    const since = this.#clock.now();
    for (const { id, doors } of controllers) {
      if (doors.length === 0 || this.#devices.get(id)) continue; // heard already, or its alarm is open
      const device = this.#newDevice(id, false);
      device.doors = new Set(doors);
      device.offlineSince = since;
      device.notBackAfterStart = true;
      device.grace = this.#clock.setTimeout(() => {
        device.grace = null;
        if (!device.online) this.#write(device, 'offline');
      }, this.#backAfterStartMs);
      this.#devices.set(id, device);
    }
  }

  /**
   * The broker's availability of a device for one of its doors (bus `doorInput`, type `availability`).
   * A change is announced once per door, one after the other: the first of a burst changes the state,
   * the rest only name more doors.
   */
  availability(doorId: string, deviceId: string, online: boolean): void {
    let device = this.#devices.get(deviceId);
    if (!device) {
      device = this.#newDevice(deviceId, !online);
      this.#devices.set(deviceId, device);
    }
    if (device.online === online) {
      device.doors.add(doorId);
      return;
    }
    device.online = online;
    device.notBackAfterStart = false;
    device.doors = new Set([doorId]);
    if (!online) {
      device.offlineSince = this.#clock.now();
      this.#clearGrace(device);
      device.grace = this.#clock.setTimeout(() => {
        device.grace = null;
        if (!device.online) this.#write(device, 'offline');
      }, this.#graceMs);
      return;
    }
    // Back within the grace period: nothing was raised, nothing to clear.
    this.#clearGrace(device);
    this.#write(device, 'online');
  }

  /** Stops every timer; alarms already written stay until the device is back (after a restart too). */
  stop(): void {
    for (const [, device] of this.#devices.entries()) this.#forget(device);
    this.#devices.clear();
  }

  #newDevice(id: string, online: boolean): Device {
    return {
      id,
      notBackAfterStart: false,
      doors: new Set(),
      online,
      offlineSince: 0,
      grace: null,
      written: 'online',
      alarmedDoors: [],
      window: { since: this.#clock.now(), changes: 0, flapping: false, timer: null },
    };
  }

  #write(device: Device, state: Written): void {
    if (device.written === state) return;
    const window = device.window;
    const now = this.#clock.now();
    if (now - window.since >= FLAP_WINDOW_MS && !window.flapping) {
      window.since = now;
      window.changes = 0;
    }
    window.changes++;
    if (window.changes > DEVICE_CHANGES_PER_MINUTE) {
      // Counted, not written; the state at the end of the minute is.
      if (!window.flapping) this.#flapping(device, state);
      return;
    }
    this.#record(device, state);
  }

  #record(device: Device, state: Written): void {
    device.written = state;
    if (state === 'offline') {
      device.alarmedDoors = [...device.doors].filter((d) => this.#o.isLanDoor(d));
      for (const doorId of device.alarmedDoors) {
        this.#emit(doorId, 'alarm.door_offline', {
          device: device.id,
          since: device.offlineSince,
          ...(device.notBackAfterStart ? { notBackAfterStart: true } : {}),
        });
      }
      this.#o.logger?.warn({ device: device.id, doors: device.alarmedDoors }, 'door controller offline');
      return;
    }
    const offlineMs = Math.max(0, this.#clock.now() - device.offlineSince);
    for (const doorId of device.alarmedDoors) {
      this.#emit(doorId, 'alarm.door_offline_cleared', { device: device.id, offlineMs });
    }
    this.#o.logger?.info({ device: device.id, offlineMs }, 'door controller back online');
    device.alarmedDoors = [];
  }

  /** One alarm for the minute; when it ends, what the device is then is written (if it changed). */
  #flapping(device: Device, state: Written): void {
    const window = device.window;
    window.flapping = true;
    const doors = [...new Set([...device.doors, ...device.alarmedDoors])].filter((d) => this.#o.isLanDoor(d));
    this.#o.logger?.warn({ device: device.id, changes: window.changes }, 'door controller flapping');
    for (const doorId of doors) {
      this.#emit(doorId, 'alarm.door_flapping', {
        device: device.id,
        changes: window.changes,
        windowMs: FLAP_WINDOW_MS,
        state,
      });
    }
    const left = Math.max(0, window.since + FLAP_WINDOW_MS - this.#clock.now());
    window.timer = this.#clock.setTimeout(() => {
      window.timer = null;
      window.flapping = false;
      window.since = this.#clock.now();
      window.changes = 0;
      // Offline still within its grace period: the grace timer writes it if it lasts.
      const now: Written | null = device.online ? 'online' : device.grace === null ? 'offline' : null;
      if (now !== null && now !== device.written) {
        window.changes = 1;
        this.#record(device, now);
      }
    }, left);
  }

  #clearGrace(device: Device): void {
    if (device.grace !== null) this.#clock.clearTimeout(device.grace);
    device.grace = null;
  }

  #forget(device: Device): void {
    this.#clearGrace(device);
    if (device.window.timer !== null) this.#clock.clearTimeout(device.window.timer);
    device.window.timer = null;
  }

  #emit(doorId: string, type: string, data: Record<string, unknown>): void {
    const event: NewEvent = { type, doorId, personId: null, credentialId: null, data };
    try {
      const result = this.#o.emitEvent(event);
      if (result instanceof Promise)
        result.catch((err: unknown) => this.#o.logger?.error({ err, type }, 'event lost'));
    } catch (err) {
      this.#o.logger?.error({ err, type }, 'event could not be recorded');
    }
  }
}
