// Groups, schedules and holidays through the commands on a real store: each change names its actor.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectOnlyRoles, lastEvent, refusal, STAFF, type StoreBench, storeBench } from './helpers.js';

let bench: StoreBench;
beforeEach(async () => {
  bench = storeBench();
  await bench.run('person.add', { id: 'ada', name: 'Ada', kind: 'resident' });
  await bench.run('door.add', { id: 'front', transport: 'mqtt' });
});
afterEach(async () => {
  await bench.cleanup();
});

describe('schedules, holidays and groups', () => {
  it('builds a group with a schedule, doors and members', async () => {
    const intervals = [
      { day: 'mon', from: '07:00', to: '19:00' },
      { day: 'fri', from: '22:00', to: '02:00' },
    ];
    expect((await bench.run('schedule.set', { id: 'office', intervals }, STAFF)).schedule).toMatchObject({
      id: 'office',
      name: 'office',
      intervals,
    });
    expect(lastEvent(bench.store, 'admin.schedule.set').data).toEqual({
      scheduleId: 'office',
      intervals: 2,
      actor: 'user:sam',
    });
    await bench.run('holiday.add', { date: '2026-12-25', name: 'Christmas' }, STAFF);
    expect(lastEvent(bench.store, 'admin.holiday.added').data).toEqual({
      date: '2026-12-25',
      actor: 'user:sam',
    });
    await bench.run('group.add', { id: 'residents' }, STAFF);
    await bench.run('group.set_schedule', { id: 'residents', scheduleId: 'office' }, STAFF);
    await bench.run('group.add_door', { id: 'residents', doorId: 'front' }, STAFF);
    await bench.run('group.add_member', { id: 'residents', personId: 'ada' }, STAFF);
    expect(lastEvent(bench.store, 'admin.group.member_added').data).toMatchObject({ actor: 'user:sam' });
    expect((await bench.run('group.list', {}, STAFF)).groups).toMatchObject([
      { id: 'residents', name: 'residents', scheduleId: 'office', doorIds: ['front'], memberIds: ['ada'] },
    ]);
    expect(await refusal(bench.run('schedule.remove', { id: 'office' }))).toMatchObject({ code: 'conflict' });
    await bench.run('group.set_schedule', { id: 'residents', scheduleId: null }, STAFF);
    await bench.run('schedule.remove', { id: 'office' }, STAFF);
    await bench.run('group.remove_member', { id: 'residents', personId: 'ada' }, STAFF);
    await bench.run('group.remove_door', { id: 'residents', doorId: 'front' }, STAFF);
    await bench.run('group.remove', { id: 'residents' }, STAFF);
    await bench.run('holiday.remove', { date: '2026-12-25' }, STAFF);
    for (const list of ['group.list', 'schedule.list', 'holiday.list']) {
      expect(Object.values(await bench.run(list, {}))[0]).toEqual([]);
    }
    const types = bench.store.events.list({ type: 'admin.', limit: 100 });
    for (const e of types) expect(e.data.actor, e.type).toMatch(/^(cli:root|user:sam)$/);
  });

  it('refuses malformed schedules and dates with a clear message', async () => {
    expect(
      await refusal(
        bench.run('schedule.set', { id: 's', intervals: [{ day: 'monday', from: '07:00', to: '19:00' }] }),
      ),
    ).toEqual({
      code: 'invalid',
      message: "'intervals.0.day' must be one of: sun, mon, tue, wed, thu, fri, sat, hol",
    });
    expect(
      (
        await refusal(
          bench.run('schedule.set', { id: 's', intervals: [{ day: 'mon', from: '7am', to: '19:00' }] }),
        )
      ).message,
    ).toBe("'intervals.0.from' must be a time HH:MM (00:00-24:00)");
    expect((await refusal(bench.run('holiday.add', { date: '2026-02-30' }))).message).toBe(
      'date must be a real calendar date YYYY-MM-DD',
    );
    expect((await refusal(bench.run('holiday.add', { date: "2026'; DROP TABLE" }))).message).toBe(
      "'date' must be a date YYYY-MM-DD",
    );
    expect((await refusal(bench.run('group.set_schedule', { id: 'g' }))).message).toBe(
      "'scheduleId' is required",
    );
  });

  it('is staff work', async () => {
    await expectOnlyRoles(bench.commands, 'group.add', { id: 'g' }, ['admin', 'staff']);
    await expectOnlyRoles(bench.commands, 'schedule.set', { id: 's', intervals: [] }, ['admin', 'staff']);
    await expectOnlyRoles(bench.commands, 'holiday.add', { date: '2026-01-01' }, ['admin', 'staff']);
  });
});
