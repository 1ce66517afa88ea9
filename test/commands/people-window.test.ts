// person.set_window: "a tenant in arrears, a contractor between jobs". On a real store as the CLI runs
// it (validation, audit event with actor and reason, person.get), and in a real hub where a card at a
// simulated door is granted inside the window and refused outside it.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Hub } from '../../hub/app.js';
import type { Person } from '../../hub/domain.js';
import { removeDir, tempDataDir, testConfig } from '../helpers/hub.js';
import { expectOnlyRoles, lastEvent, refusal, STAFF, type StoreBench, storeBench } from './helpers.js';

const HOUR = 3_600_000;
const T = Date.parse('2026-12-01T09:00:00Z');

describe('person.set_window on the store', () => {
  let bench: StoreBench;
  beforeEach(async () => {
    bench = storeBench();
    await bench.run('person.add', { id: 'carl', name: 'Carl Contractor', kind: 'guest' });
  });
  afterEach(async () => {
    await bench.cleanup();
  });

  it('sets a window with a reason, records who did it, and person.get shows it', async () => {
    const set = await bench.run(
      'person.set_window',
      { id: 'carl', from: T, until: T + 8 * HOUR, reason: 'kitchen job' },
      STAFF,
    );
    expect(set.person).toMatchObject({ id: 'carl', accessFrom: T, accessUntil: T + 8 * HOUR });
    const event = lastEvent(bench.store, 'admin.person.window_set');
    expect(event.personId).toBe('carl');
    expect(event.data).toEqual({ from: T, until: T + 8 * HOUR, reason: 'kitchen job', actor: 'user:sam' });
    const got = await bench.run('person.get', { id: 'carl' }, STAFF);
    expect(got.person).toMatchObject({ accessFrom: T, accessUntil: T + 8 * HOUR });
    const listed = (await bench.run('person.list', { query: 'carl' })).people as Person[];
    expect(listed[0]).toMatchObject({ accessFrom: T, accessUntil: T + 8 * HOUR });
  });

  it('takes an open side (null) and clears the window with both null', async () => {
    expect((await bench.run('person.set_window', { id: 'carl', from: null, until: T })).person).toMatchObject(
      {
        accessFrom: null,
        accessUntil: T,
      },
    );
    expect((await bench.run('person.set_window', { id: 'carl', from: T, until: null })).person).toMatchObject(
      {
        accessFrom: T,
        accessUntil: null,
      },
    );
    const cleared = await bench.run('person.set_window', { id: 'carl', from: null, until: null }, STAFF);
    expect(cleared.person).toMatchObject({ accessFrom: null, accessUntil: null });
    expect(lastEvent(bench.store, 'admin.person.window_set').data).toEqual({
      from: null,
      until: null,
      reason: null,
      actor: 'user:sam',
    });
  });

  it('refuses until <= from with a clear message, and changes nothing', async () => {
    for (const until of [T, T - 1]) {
      expect(await refusal(bench.run('person.set_window', { id: 'carl', from: T, until }))).toEqual({
        code: 'invalid',
        message: "'until' must be later than 'from'",
      });
    }
    // The store says the same to a caller that skips the command layer.
    expect(() => bench.store.people.setWindow('carl', { from: T, until: T })).toThrow(
      "'until' must be later than 'from'",
    );
    expect(bench.store.people.get('carl')).toMatchObject({ accessFrom: null, accessUntil: null });
    expect(bench.store.events.list({ type: 'admin.person.window_set' })).toEqual([]);
  });

  it('refuses hostile input before anything is written', async () => {
    const cases: unknown[] = [
      { id: 'carl', from: '2026-12-01', until: null },
      { id: 'carl', from: -1, until: null },
      { id: 'carl', from: 1.5, until: null },
      { id: 'carl', from: Number.MAX_SAFE_INTEGER + 2, until: null },
      { id: 'carl', until: null },
      { id: 'carl', from: null },
      { id: 'carl', from: null, until: null, reason: '' },
      { id: 'carl', from: null, until: null, reason: 'x'.repeat(201) },
      { id: 'carl', from: null, until: null, admin: true },
      { id: '../carl', from: null, until: null },
      [T, T + HOUR],
    ];
    for (const input of cases) {
      expect((await refusal(bench.run('person.set_window', input))).code, JSON.stringify(input)).toBe(
        'invalid',
      );
    }
    expect(
      (
        await refusal(
          bench.run('person.set_window', { id: 'carl', from: null, until: null, reason: 'a\u0000b' }),
        )
      ).message,
    ).toBe('reason must not contain control characters');
    expect(await refusal(bench.run('person.set_window', { id: 'nobody', from: null, until: null }))).toEqual({
      code: 'not_found',
      message: "person 'nobody' not found",
    });
    expect(bench.store.events.list({ type: 'admin.person.window_set' })).toEqual([]);
  });

  it('is staff work', async () => {
    await expectOnlyRoles(bench.commands, 'person.set_window', { id: 'carl', from: null, until: null }, [
      'admin',
      'staff',
    ]);
    await expectOnlyRoles(bench.commands, 'person.access', { id: 'carl' }, ['admin', 'staff']);
  });

  it('survives a cloud copy of the person (the window is the hub’s own)', async () => {
    await bench.run('person.set_window', { id: 'carl', from: T, until: T + HOUR });
    bench.store.people.upsert({
      id: 'carl',
      name: 'Carl C.',
      kind: 'guest',
      unitId: null,
      suspended: false,
      keyEpoch: 0,
    });
    expect(bench.store.people.get('carl')).toMatchObject({
      name: 'Carl C.',
      accessFrom: T,
      accessUntil: T + HOUR,
    });
  });
});

describe('a card at a simulated door in a real hub', () => {
  let dir: string;
  let hub: Hub;
  let now = T;
  const run = (name: string, input: unknown) =>
    hub.commands.execute(name, input, STAFF) as Promise<Record<string, unknown>>;
  beforeAll(async () => {
    dir = tempDataDir();
    hub = new Hub({ config: testConfig(dir, { simulation: { door: 'front' } }), now: () => now });
    await hub.start();
    await run('person.add', { id: 'carl', name: 'Carl', kind: 'guest' });
    await run('credential.add_card', { personId: 'carl', card: '04A22B1C' });
    await run('group.add', { id: 'trades', name: 'Trades' });
    await run('group.add_door', { id: 'trades', doorId: 'front' });
    await run('group.add_member', { id: 'trades', personId: 'carl' });
  });
  afterAll(async () => {
    await hub?.stop();
    removeDir(dir);
  });

  it('is granted inside the window and refused outside it, and the refusal names the window', async () => {
    expect(decideNow()).toEqual({ granted: true, reason: 'granted' });
    await run('person.set_window', { id: 'carl', from: T + HOUR, until: T + 2 * HOUR, reason: 'next job' });
    expect(decideNow()).toEqual({ granted: false, reason: 'person_outside_window' });
    now = T + HOUR; // from is inclusive
    expect(decideNow()).toEqual({ granted: true, reason: 'granted' });
    expect(hub.simDoors.get('front')!.isUnlocked()).toBe(true);
    now = T + 2 * HOUR; // until is exclusive
    expect(decideNow()).toEqual({ granted: false, reason: 'person_outside_window' });
    await run('person.set_window', { id: 'carl', from: null, until: null });
    expect(decideNow()).toEqual({ granted: true, reason: 'granted' });
    hub.store.events.flush();
    const refusals = hub.store.events
      .list({ type: 'decision', limit: 10 })
      .filter((e) => e.data['reason'] === 'person_outside_window');
    expect(refusals).toHaveLength(2);
    expect(refusals[0]).toMatchObject({ doorId: 'front', personId: 'carl' });
  });

  /** Presents the card at the simulated door as its reader does (bus `presented`) and returns the answer. */
  function decideNow(): { granted: boolean; reason: string } {
    const owner = {};
    let answer: { granted: boolean; reason: string } | null = null;
    hub.bus.on(owner, 'decided', (p, d) => {
      if (p.doorId === 'front') answer = { granted: d.granted, reason: d.reason };
    });
    hub.bus.emit('presented', { doorId: 'front', kind: 'card', value: '04A22B1C', readerId: 'front.reader' });
    hub.bus.removeAll(owner);
    if (answer === null) throw new Error('no decision');
    return answer;
  }
});
