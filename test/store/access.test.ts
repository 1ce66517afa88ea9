import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ScheduleInterval } from '../../hub/domain.js';
import type { Store } from '../../hub/store/store.js';
import { type TempHub, tempHub } from './helpers.js';

const officeHours: ScheduleInterval[] = [
  { day: 'mon', from: '08:00', to: '18:00' },
  { day: 'sat', from: '22:00', to: '06:00' },
  { day: 'hol', from: '10:00', to: '24:00' },
];

describe('schedules, groups, holidays and grants', () => {
  let hub: TempHub;
  let store: Store;
  beforeEach(() => {
    hub = tempHub();
    store = hub.open().store;
    store.doors.add({ id: 'front', name: 'Front door' });
    store.doors.add({ id: 'gym', name: 'Gym' });
    store.people.add({ id: 'alice', name: 'Alice', kind: 'resident' });
  });
  afterEach(async () => {
    await hub.cleanup();
  });

  it('stores a valid schedule and replaces it on set', () => {
    expect(store.schedules.set('office', 'Office hours', officeHours).intervals).toEqual(officeHours);
    store.schedules.set('office', 'Office hours (winter)', officeHours.slice(0, 1));
    expect(store.schedules.get('office')).toMatchObject({
      name: 'Office hours (winter)',
      intervals: [officeHours[0]],
    });
    expect(store.schedules.list()).toHaveLength(1);
  });

  it.each([
    [[{ day: 'mon', from: '25:00', to: '26:00' }], 'interval 1: from must be HH:MM from 00:00 to 24:00'],
    [[{ day: 'mon', from: '08:60', to: '09:00' }], 'interval 1: from must be HH:MM from 00:00 to 24:00'],
    [[{ day: 'mon', from: '08:00', to: '24:30' }], 'interval 1: to must be HH:MM from 00:00 to 24:00'],
    [[{ day: 'mon', from: '8:00', to: '09:00' }], 'interval 1: from must be HH:MM from 00:00 to 24:00'],
    [
      [{ day: 'funday', from: '08:00', to: '09:00' }],
      'interval 1: day must be one of sun, mon, tue, wed, thu, fri, sat, hol',
    ],
    [[{ day: 'mon', from: '24:00', to: '09:00' }], 'interval 1: from cannot be 24:00'],
    [['mon 08:00-09:00'], 'interval 1 must be an object {day, from, to}'],
    ['always', 'schedule intervals must be an array'],
    [
      Array.from({ length: 33 }, () => ({ day: 'tue', from: '08:00', to: '09:00' })),
      'at most 32 intervals per day (tue)',
    ],
  ])('refuses bad intervals %#', (intervals, message) => {
    expect(() => store.schedules.set('bad', 'Bad', intervals as ScheduleInterval[])).toThrow(message);
    expect(store.schedules.get('bad')).toBeNull();
  });

  it('accepts 32 intervals on one day', () => {
    const many = Array.from({ length: 32 }, () => ({ day: 'tue' as const, from: '08:00', to: '09:00' }));
    expect(store.schedules.set('busy', 'Busy', many).intervals).toHaveLength(32);
  });

  it('grants doors through groups, with the group schedule, in one query', () => {
    store.schedules.set('office', 'Office hours', officeHours);
    store.groups.add({ id: 'residents', name: 'Residents' });
    store.groups.add({ id: 'gym-users', name: 'Gym users', scheduleId: 'office' });
    store.groups.addDoor('residents', 'front');
    store.groups.addDoor('gym-users', 'gym');
    store.groups.addDoor('gym-users', 'front');
    expect(store.access.grantsFor('alice', 'front')).toEqual([]);
    store.groups.addMember('residents', 'alice');
    expect(store.access.grantsFor('alice', 'front')).toEqual([{ groupId: 'residents', intervals: null }]);
    expect(store.access.grantsFor('alice', 'gym')).toEqual([]);
    store.groups.addMember('gym-users', 'alice');
    expect(store.access.grantsFor('alice', 'gym')).toEqual([
      { groupId: 'gym-users', intervals: officeHours },
    ]);
    expect(store.access.grantsFor('alice', 'front')).toHaveLength(2);
    expect(store.groups.get('gym-users')).toMatchObject({ scheduleId: 'office', doorIds: ['front', 'gym'] });
    expect(store.groups.members('gym-users')).toEqual(['alice']);
    store.groups.removeMember('gym-users', 'alice');
    store.groups.removeDoor('residents', 'front');
    expect(store.access.grantsFor('alice', 'front')).toEqual([]);
    expect(store.access.grantsFor('alice', 'gym')).toEqual([]);
  });

  it('refuses links to unknown doors, people, groups and schedules', () => {
    store.groups.add({ id: 'g', name: 'G' });
    expect(() => store.groups.addDoor('g', 'nowhere')).toThrow("door 'nowhere' not found");
    expect(() => store.groups.addMember('g', 'ghost')).toThrow("person 'ghost' not found");
    expect(() => store.groups.addMember('nogroup', 'alice')).toThrow("group 'nogroup' not found");
    expect(() => store.groups.setSchedule('g', 'nosuch')).toThrow("schedule 'nosuch' not found");
    expect(() => store.groups.add({ name: 'H', scheduleId: 'nosuch' })).toThrow(
      "schedule 'nosuch' not found",
    );
  });

  it('refuses to remove a schedule a group still uses (it would turn the group into "always")', () => {
    store.schedules.set('night', 'Night', [{ day: 'sun', from: '22:00', to: '06:00' }]);
    store.groups.add({ id: 'cleaners', name: 'Cleaners', scheduleId: 'night' });
    expect(() => store.schedules.remove('night')).toThrow("schedule 'night' is used by group(s): cleaners");
    store.groups.setSchedule('cleaners', null);
    store.schedules.remove('night');
    expect(store.schedules.get('night')).toBeNull();
  });

  it('removing a group or door removes its grants', () => {
    store.groups.add({ id: 'g', name: 'G' });
    store.groups.addDoor('g', 'front');
    store.groups.addMember('g', 'alice');
    store.doors.remove('front');
    expect(store.access.grantsFor('alice', 'front')).toEqual([]);
    store.groups.remove('g');
    expect(store.groups.list()).toEqual([]);
  });

  it('keeps holidays as real dates', () => {
    store.holidays.add('2026-12-25', 'Christmas Day');
    store.holidays.add('2026-01-01', "New Year's Day");
    expect(store.holidays.list().map((h) => h.date)).toEqual(['2026-01-01', '2026-12-25']);
    expect(store.holidays.dates()).toEqual(new Set(['2026-01-01', '2026-12-25']));
    expect(() => store.holidays.add('2026-02-30', 'Nope')).toThrow(
      'date must be a real calendar date YYYY-MM-DD',
    );
    expect(() => store.holidays.add('25/12/2026', 'Nope')).toThrow(
      'date must be a real calendar date YYYY-MM-DD',
    );
    store.holidays.remove('2026-01-01');
    expect(store.holidays.dates()).toEqual(new Set(['2026-12-25']));
    expect(() => store.holidays.remove('2026-01-01')).toThrow("holiday '2026-01-01' not found");
  });

  it('upserts a group with its doors and members', () => {
    const group = store.groups.upsert({
      id: 'all',
      name: 'Everyone',
      scheduleId: null,
      doorIds: ['front', 'gym'],
      memberIds: ['alice'],
    });
    expect(group.doorIds).toEqual(['front', 'gym']);
    expect(store.access.grantsFor('alice', 'gym')).toEqual([{ groupId: 'all', intervals: null }]);
    store.groups.upsert({ id: 'all', name: 'Everyone', scheduleId: null, doorIds: ['front'] });
    expect(store.access.grantsFor('alice', 'gym')).toEqual([]);
    expect(store.groups.members('all')).toEqual(['alice']);
  });
});
