// LAN door controllers offline → alarms (hub/doors/presence.ts), on vitest's fake timers: the grace
// period, a device serving several doors, the flapping budget and what is written when its minute ends,
// and alarms left open by a restart. The whole path through a real hub is test/e2e/bridge-signals.test.ts.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HubEvent, NewEvent } from '../../hub/domain.js';
import { DevicePresence, openOfflineAlarms } from '../../hub/doors/presence.js';

let events: NewEvent[];
let presence: DevicePresence;

/** What the broker emits when a device's availability changes: one message per door it serves. */
function availability(deviceId: string, doors: string[], online: boolean): void {
  for (const door of doors) presence.availability(door, deviceId, online);
}

const types = () => events.map((e) => `${e.type}@${e.doorId}`);

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
  events = [];
  presence = new DevicePresence({
    emitEvent: (e) => events.push(e),
    isLanDoor: (door) => door !== 'wired',
    graceMs: 10_000,
  });
});

afterEach(() => {
  presence.stop();
  vi.useRealTimers();
});

describe('door controller presence', () => {
  it('raises door_offline on every LAN door of the device after the grace period, and clears each', () => {
    availability('ctl', ['front', 'back', 'wired'], true);
    availability('ctl', ['front', 'back', 'wired'], false);
    vi.advanceTimersByTime(9_999);
    expect(events).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(types()).toEqual(['alarm.door_offline@front', 'alarm.door_offline@back']);
    expect(events[0]!.data).toEqual({ device: 'ctl', since: 1_000_000 });
    vi.advanceTimersByTime(5_000);
    availability('ctl', ['front', 'back', 'wired'], true);
    expect(types().slice(2)).toEqual(['alarm.door_offline_cleared@front', 'alarm.door_offline_cleared@back']);
    expect(events[2]!.data).toEqual({ device: 'ctl', offlineMs: 15_000 });
  });

  it('a reconnect within the grace period raises and clears nothing, however often', () => {
    availability('ctl', ['front'], true);
    for (let i = 0; i < 100; i++) {
      availability('ctl', ['front'], false);
      vi.advanceTimersByTime(5_000);
      availability('ctl', ['front'], true);
    }
    vi.advanceTimersByTime(60_000);
    expect(events).toEqual([]);
  });

  it('a flapping device: four changes a minute, then one flapping alarm, then where it stands', () => {
    availability('ctl', ['front'], true);
    for (let i = 0; i < 3; i++) {
      availability('ctl', ['front'], false);
      vi.advanceTimersByTime(11_000);
      availability('ctl', ['front'], true);
    }
    // Changes 1–4 written; the fifth (offline again) is the flapping alarm; the sixth (back) is only counted.
    expect(types()).toEqual([
      'alarm.door_offline@front',
      'alarm.door_offline_cleared@front',
      'alarm.door_offline@front',
      'alarm.door_offline_cleared@front',
      'alarm.door_flapping@front',
    ]);
    expect(events[4]!.data).toEqual({ device: 'ctl', changes: 5, windowMs: 60_000, state: 'offline' });
    // It ends the minute online, as the log last said: nothing more to write.
    vi.advanceTimersByTime(60_000);
    expect(events).toHaveLength(5);
  });

  it('a device that ends its flapping minute offline gets its offline alarm then', () => {
    availability('ctl', ['front'], true);
    for (let i = 0; i < 2; i++) {
      availability('ctl', ['front'], false);
      vi.advanceTimersByTime(11_000);
      availability('ctl', ['front'], true);
    }
    availability('ctl', ['front'], false);
    vi.advanceTimersByTime(11_000); // the fifth change: flapping
    expect(events.at(-1)!.type).toBe('alarm.door_flapping');
    availability('ctl', ['front'], true);
    availability('ctl', ['front'], false);
    vi.advanceTimersByTime(60_000);
    expect(types().slice(5)).toEqual(['alarm.door_offline@front']);
    availability('ctl', ['front'], true);
    expect(types().slice(6)).toEqual(['alarm.door_offline_cleared@front']);
  });

  it('alarms open before a restart are cleared when the device is back, and only those', () => {
    const stored = (seq: number, type: string, doorId: string, data: Record<string, unknown>): HubEvent => ({
      seq,
      ts: 900_000 + seq,
      type,
      doorId,
      personId: null,
      credentialId: null,
      data,
      prevHash: '',
      hash: '',
    });
    const open = openOfflineAlarms([
      stored(3, 'alarm.door_offline', 'front', { device: 'ctl', since: 890_000 }),
      stored(1, 'alarm.door_offline', 'back', { device: 'ctl', since: 880_000 }),
      stored(2, 'alarm.door_offline_cleared', 'back', { device: 'ctl', offlineMs: 1 }),
      stored(4, 'alarm.door_offline', 'side', { device: 'other' }),
      stored(5, 'alarm.door_offline', 'side', { device: 42 }), // not ours: ignored
    ]);
    expect(open).toEqual([
      { deviceId: 'ctl', doorId: 'front', since: 890_000 },
      { deviceId: 'other', doorId: 'side', since: 900_004 },
    ]);
    presence.resume(open);
    availability('ctl', ['front', 'back'], true);
    expect(types()).toEqual(['alarm.door_offline_cleared@front']);
    expect(events[0]!.data).toEqual({ device: 'ctl', offlineMs: 110_000 });
  });

  it('a controller that does not come back after the hub starts raises door_offline; one that does, nothing', () => {
    presence.stop();
    presence = new DevicePresence({
      emitEvent: (e) => events.push(e),
      isLanDoor: (door) => door !== 'wired',
      graceMs: 10_000,
      backAfterStartMs: 60_000,
    });
    presence.resume([{ deviceId: 'alarmed', doorId: 'side', since: 900_000 }]);
    presence.expect([
      { id: 'back', doors: ['front'] },
      { id: 'gone', doors: ['garage', 'wired'] },
      { id: 'alarmed', doors: ['side'] }, // its alarm is open already: not raised twice
      { id: 'unassigned', doors: [] },
    ]);
    vi.advanceTimersByTime(20_000);
    availability('back', ['front'], true);
    vi.advanceTimersByTime(39_999);
    expect(events).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(types()).toEqual(['alarm.door_offline@garage']);
    expect(events[0]!.data).toEqual({ device: 'gone', since: 1_000_000, notBackAfterStart: true });
    // It comes back: cleared like any other; later drops are ordinary ones.
    vi.advanceTimersByTime(5_000);
    availability('gone', ['garage'], true);
    availability('gone', ['garage'], false);
    vi.advanceTimersByTime(10_000);
    expect(types()).toEqual([
      'alarm.door_offline@garage',
      'alarm.door_offline_cleared@garage',
      'alarm.door_offline@garage',
    ]);
    expect(events[1]!.data).toEqual({ device: 'gone', offlineMs: 65_000 });
    expect(events[2]!.data).toEqual({ device: 'gone', since: 1_065_000 });
  });
});
