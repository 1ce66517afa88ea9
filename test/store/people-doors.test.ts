import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError } from '../../hub/store/errors.js';
import type { Store } from '../../hub/store/store.js';
import { type TempHub, tempHub } from './helpers.js';

describe('people, units and doors', () => {
  let hub: TempHub;
  let store: Store;
  let clock: number;
  beforeEach(() => {
    hub = tempHub();
    clock = 1_700_000_000_000;
    store = hub.open({ now: () => clock }).store;
  });
  afterEach(async () => {
    await hub.cleanup();
  });

  it('adds people with generated or given ids and lists them', () => {
    store.units.add({ id: '4b', name: 'Flat 4B' });
    const alice = store.people.add({ name: 'Alice Martin', kind: 'resident', unitId: '4b' });
    expect(alice.id).toMatch(/^p_[a-z2-7]{10}$/);
    expect(alice).toMatchObject({
      name: 'Alice Martin',
      kind: 'resident',
      unitId: '4b',
      suspended: false,
      keyEpoch: 0,
    });
    expect(alice.createdAt).toBe(clock);
    store.people.add({ id: 'bob', name: 'Bob', kind: 'staff' });
    expect(store.people.list().map((p) => p.name)).toEqual(['Alice Martin', 'Bob']);
    expect(store.people.get('nobody')).toBeNull();
  });

  it('refuses bad people input with clear errors', () => {
    expect(() => store.people.add({ name: '', kind: 'resident' })).toThrow('person name must not be empty');
    expect(() => store.people.add({ name: 'X', kind: 'alien' as 'guest' })).toThrow(
      'person kind must be one of: resident, staff, guest',
    );
    expect(() => store.people.add({ id: '../etc', name: 'X', kind: 'guest' })).toThrow(/person id must be/);
    expect(() => store.people.add({ name: 'X', kind: 'guest', unitId: 'nowhere' })).toThrow(
      "unit 'nowhere' not found",
    );
    store.people.add({ id: 'bob', name: 'Bob', kind: 'staff' });
    const duplicate = (() => {
      try {
        store.people.add({ id: 'bob', name: 'Bob 2', kind: 'staff' });
      } catch (err) {
        return err;
      }
    })();
    expect(duplicate).toBeInstanceOf(StoreError);
    expect((duplicate as StoreError).code).toBe('conflict');
    expect(() => store.people.setSuspended('ghost', true)).toThrow("person 'ghost' not found");
  });

  it('suspends, bumps the key epoch, updates and removes, each with an audit event', () => {
    const person = store.people.add({ id: 'alice', name: 'Alice', kind: 'resident' });
    expect(store.as('user:admin').people.setSuspended(person.id, true, 'moved out').suspended).toBe(true);
    expect(store.people.bumpKeyEpoch('alice')).toBe(1);
    expect(store.people.bumpKeyEpoch('alice')).toBe(2);
    expect(store.people.update('alice', { name: 'Alice M.' }).name).toBe('Alice M.');
    store.people.remove('alice');
    expect(store.people.get('alice')).toBeNull();
    const types = store.events.list({ type: 'admin.*' }).map((e) => e.type);
    expect(types.reverse()).toEqual([
      'admin.person.added',
      'admin.person.suspended',
      'admin.person.key_epoch_bumped',
      'admin.person.key_epoch_bumped',
      'admin.person.updated',
      'admin.person.removed',
    ]);
    const suspended = store.events.list({ type: 'admin.person.suspended' })[0]!;
    expect(suspended.personId).toBe('alice');
    expect(suspended.data).toEqual({ actor: 'user:admin', reason: 'moved out' });
  });

  it('records the actor of a store view in audit events', () => {
    store.as('cli').people.add({ id: 'carol', name: 'Carol', kind: 'guest' });
    expect(store.events.list({ type: 'admin.person.added' })[0]!.data).toMatchObject({ actor: 'cli' });
  });

  it('upserts people from the cloud without moving the key epoch backwards', () => {
    store.people.add({ id: 'dave', name: 'Dave', kind: 'resident' });
    store.people.bumpKeyEpoch('dave');
    store.people.bumpKeyEpoch('dave');
    const updated = store.people.upsert({
      id: 'dave',
      name: 'David',
      kind: 'resident',
      unitId: null,
      suspended: true,
      keyEpoch: 1,
    });
    expect(updated).toMatchObject({ name: 'David', suspended: true, keyEpoch: 2 });
    expect(
      store.people.upsert({
        id: 'erin',
        name: 'Erin',
        kind: 'guest',
        unitId: null,
        suspended: false,
        keyEpoch: 0,
      }),
    ).toMatchObject({ id: 'erin', kind: 'guest' });
  });

  it('removing a unit keeps its people, without a unit', () => {
    store.units.add({ id: 'u1', name: 'Flat 1' });
    store.people.add({ id: 'fay', name: 'Fay', kind: 'resident', unitId: 'u1' });
    store.units.remove('u1');
    expect(store.units.list()).toEqual([]);
    expect(store.people.get('fay')?.unitId).toBeNull();
  });

  it('adds doors with safe defaults and validates timings and modes', () => {
    const door = store.doors.add({ id: 'front', name: 'Front door' });
    expect(door).toMatchObject({
      transport: 'mqtt',
      mode: 'normal',
      failMode: 'secure',
      unlockMs: 5000,
      heldOpenMs: 60000,
    });
    expect(() => store.doors.add({ id: 'back', name: 'Back', unlockMs: 500 })).toThrow(
      'unlockMs must be an integer from 1000 to 60000',
    );
    expect(() => store.doors.add({ id: 'back', name: 'Back', transport: 'carrier-pigeon' as 'sim' })).toThrow(
      /door transport must be one of/,
    );
    expect(() => store.doors.add({ id: 'front', name: 'Again' })).toThrow("door 'front' already exists");
    expect(store.doors.setMode('front', 'lockdown').mode).toBe('lockdown');
    expect(() => store.doors.setMode('front', 'open' as 'normal')).toThrow(/door mode must be one of/);
    expect(store.doors.update('front', { unlockMs: 8000, failMode: 'safe' })).toMatchObject({
      unlockMs: 8000,
      failMode: 'safe',
      mode: 'lockdown',
    });
    const modeEvent = store.events.list({ type: 'admin.door.mode_changed' })[0]!;
    expect(modeEvent).toMatchObject({ doorId: 'front', data: { from: 'normal', to: 'lockdown' } });
    store.doors.remove('front');
    expect(store.doors.list()).toEqual([]);
  });

  it('a failed mutation writes neither the change nor an audit event', () => {
    const before = store.events.lastSeq();
    expect(() => store.doors.add({ id: 'x', name: 'X', heldOpenMs: -1 })).toThrow();
    expect(() => store.people.remove('ghost')).toThrow();
    expect(store.events.lastSeq()).toBe(before);
  });
});
