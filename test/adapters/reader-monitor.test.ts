// Reader health → audit events: one alarm per outage, one event per return, and a budget for a reader
// that flaps (a loose cable) so it cannot write thousands of events an hour either.
import { describe, expect, it } from 'vitest';
import type { ReaderHealth, ReaderState } from '../../adapters/types.js';
import type { NewEvent } from '../../hub/domain.js';
import { READER_EVENTS_PER_MINUTE, ReaderMonitor } from '../../hub/doors/readers.js';

/** A reader whose health the test sets, as the PN532 adapter reports it (one call per state change). */
class ScriptedReader {
  readonly id = 'nfc1';
  #health: ReaderHealth = { online: false, state: 'starting', since: null, lastSeen: null, errors: 0 };
  readonly #listeners = new Set<(h: ReaderHealth) => void>();
  onHealth(l: (h: ReaderHealth) => void) {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }
  health() {
    return { ...this.#health };
  }
  set(state: ReaderState, lastError?: string) {
    this.#health = {
      ...this.#health,
      state,
      online: state === 'online',
      since: clock.now,
      errors: this.#health.errors + (state === 'offline' ? 1 : 0),
      ...(lastError ? { lastError } : {}),
    };
    for (const l of this.#listeners) l(this.health());
  }
}

const clock = { now: 1_000_000 };

function rig() {
  const events: NewEvent[] = [];
  const changed: string[] = [];
  const monitor = new ReaderMonitor({
    emitEvent: (e) => events.push(e),
    onChange: (door) => changed.push(door),
    now: () => clock.now,
  });
  const reader = new ScriptedReader();
  monitor.watch('front', reader);
  return { monitor, reader, events, changed, types: () => events.map((e) => e.type) };
}

describe('reader monitor', () => {
  it('writes nothing for an ordinary start, one alarm going offline and one event coming back', () => {
    const r = rig();
    r.reader.set('online');
    expect(r.events).toEqual([]);
    expect(r.monitor.forDoor('front')).toEqual([{ id: 'nfc1', state: 'online', since: clock.now }]);
    r.reader.set('offline', 'poll failed: timeout');
    expect(r.monitor.forDoor('front')).toEqual([
      { id: 'nfc1', state: 'offline', since: clock.now, lastError: 'poll failed: timeout' },
    ]);
    clock.now += 600_000;
    r.reader.set('online');
    expect(r.types()).toEqual(['alarm.reader_offline', 'alarm.reader_offline_cleared']);
    expect(r.events[0]).toMatchObject({
      doorId: 'front',
      data: { reader: 'nfc1', error: 'poll failed: timeout' },
    });
    expect(r.changed).toEqual(['front', 'front', 'front']);
    expect(r.monitor.forDoor('elsewhere')).toBeUndefined();
    r.monitor.stop();
  });

  it('raises the alarm for a reader that never comes up after start', () => {
    const r = rig();
    r.reader.set('offline', 'open failed: ENOENT');
    expect(r.types()).toEqual(['alarm.reader_offline']);
    r.monitor.stop();
  });

  it('counts a flapping reader into one alarm a minute that says where it stands', () => {
    const r = rig();
    r.reader.set('online');
    // 200 flaps in one minute: 400 changes.
    for (let i = 0; i < 200; i++) {
      clock.now += 100;
      r.reader.set('offline', 'serial port went away');
      clock.now += 100;
      r.reader.set('online');
    }
    r.reader.set('offline', 'serial port went away');
    expect(r.events).toHaveLength(READER_EVENTS_PER_MINUTE);
    clock.now += 60_000;
    r.monitor.stop(); // writes what was counted, as at shutdown (a timer does it every 10 s otherwise)
    expect(r.events).toHaveLength(READER_EVENTS_PER_MINUTE + 1);
    expect(r.events.at(-1)).toMatchObject({
      type: 'alarm.reader_flapping',
      data: { reader: 'nfc1', changes: 401 - READER_EVENTS_PER_MINUTE, state: 'offline' },
    });
  });
});
