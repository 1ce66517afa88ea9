// The repositories that took over the SQL the cloud mirror, the keypad cap and door sync ran themselves:
// the same semantics as before (newest local deny wins, a disabled keypad keeps its first record), one
// transaction for a batch, and the connection's durability setting always restored.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type TempHub, tempHub } from './helpers.js';

describe('store repositories', () => {
  let hub: TempHub;
  beforeEach(() => {
    hub = tempHub();
  });
  afterEach(async () => {
    await hub.cleanup();
  });

  it('cloud state: cursors default to 0; a batch of local denies keeps the newest seq per record', () => {
    const { store } = hub.open();
    const state = store.cloudState;
    expect(state.read('acked_seq')).toBe(0);
    state.write('acked_seq', 41);
    expect(state.read('acked_seq')).toBe(41);
    state.recordDenies(
      [
        { kind: 'person', id: 'bob', seq: 9 },
        { kind: 'credential', id: 'c1', seq: 10 },
      ],
      'deny_scan_seq',
      10,
    );
    state.recordDenies([{ kind: 'person', id: 'bob', seq: 4 }], 'deny_scan_seq', 12); // older: ignored
    expect(state.localDenySeq('person', 'bob')).toBe(9);
    expect(state.localDenySeq('credential', 'c1')).toBe(10);
    expect(state.localDenySeq('person', 'nobody')).toBeNull();
    expect(state.read('deny_scan_seq')).toBe(12);
    // Another process (the CLI, after a restart) sees the same.
    expect(hub.open().store.cloudState.localDenySeq('person', 'bob')).toBe(9);
  });

  it('cloud state: a batch that fails writes nothing', () => {
    const { store } = hub.open();
    const hostile = { kind: 'person', id: null as unknown as string, seq: 3 }; // NOT NULL column
    expect(() =>
      store.cloudState.recordDenies([{ kind: 'person', id: 'bob', seq: 2 }, hostile], 'deny_scan_seq', 3),
    ).toThrow();
    expect(store.cloudState.localDenySeq('person', 'bob')).toBeNull();
    expect(store.cloudState.read('deny_scan_seq')).toBe(0);
  });

  it('withoutFsync relaxes the commit only inside, and restores FULL even when the work throws', () => {
    const { db, store } = hub.open();
    const level = () => db.pragma('synchronous', { simple: true });
    expect(level()).toBe(2);
    expect(store.cloudState.withoutFsync(() => level())).toBe(1);
    expect(level()).toBe(2);
    expect(() =>
      store.cloudState.withoutFsync(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(level()).toBe(2);
    // Nested: the inner call leaves the outer relaxation alone.
    expect(store.cloudState.withoutFsync(() => store.cloudState.withoutFsync(() => level()))).toBe(1);
    expect(level()).toBe(2);
  });

  it('keypad cap: disabling twice keeps the first record; enabling reports whether it was disabled', () => {
    const { store } = hub.open();
    const cap = store.keypadCap;
    expect(cap.isDisabled('front/kp1')).toBe(false);
    cap.disable('front/kp1', 1000, 10);
    cap.disable('front/kp1', 2000, 12);
    expect(cap.listDisabled()).toEqual([{ keypad: 'front/kp1', since: 1000, failures: 10 }]);
    expect(hub.open().store.keypadCap.isDisabled('front/kp1')).toBe(true);
    expect(cap.enable('front/kp1')).toBe(true);
    expect(cap.enable('front/kp1')).toBe(false);
    expect(cap.listDisabled()).toEqual([]);
  });

  it('door sync reads: active cards and PINs of unsuspended members, one row per granting group', () => {
    const { store } = hub.open();
    store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
    store.groups.add({ id: 'a', name: 'A' });
    store.groups.add({ id: 'b', name: 'B' });
    for (const group of ['a', 'b']) store.groups.addDoor(group, 'front');
    store.people.add({ id: 'alice', name: 'Alice', kind: 'resident' });
    store.people.add({ id: 'bob', name: 'Bob', kind: 'resident' });
    for (const group of ['a', 'b']) store.groups.addMember(group, 'alice');
    store.groups.addMember('a', 'bob');
    store.credentials.addCard('alice', '04A1B2C3', { id: 'card1' });
    store.credentials.addPin('bob', '24681357', { id: 'pin1' });
    store.credentials.addPin('alice', '13572468', { id: 'old', validUntil: 5000 });
    store.people.setSuspended('bob', true);

    const rows = store.doorSync.doorEntries('front', 10_000);
    expect(rows.map((r) => [r.id, r.person_id])).toEqual([
      ['card1', 'alice'],
      ['card1', 'alice'],
    ]);
    expect(store.doorSync.doorEntries('front', 1000).map((r) => r.id)).toEqual([
      'card1',
      'card1',
      'old',
      'old',
    ]);
    expect(store.doorSync.personEntries('front', 'bob', 10_000)).toEqual([]);
    expect(store.doorSync.personEntries('front', 'alice', 10_000)).toHaveLength(2);
    expect(store.doorSync.doorEntries("front' OR 1=1 --", 10_000)).toEqual([]);
  });
});
