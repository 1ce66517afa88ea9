import { describe, expect, it } from 'vitest';
import {
  isWithinSchedule,
  type LocalTime,
  parseHHMM,
  previousLocalDay,
  scheduleAllows,
  validateIntervals,
} from '../../hub/access/index.js';
import type { ScheduleInterval, Weekday } from '../../hub/domain.js';

const NO_HOLIDAYS: ReadonlySet<string> = new Set();

function wallClock(date: string, weekday: Weekday, clock: string): LocalTime {
  const minute = parseHHMM(clock);
  if (minute === null) throw new Error(`bad test clock ${clock}`);
  return { date, weekday, minute };
}

function allowed(
  intervals: ScheduleInterval[] | null,
  at: LocalTime,
  holidays: ReadonlySet<string> = NO_HOLIDAYS,
): boolean {
  return isWithinSchedule(intervals, at, holidays, previousLocalDay(at));
}

describe('parseHHMM', () => {
  it.each([
    ['00:00', 0],
    ['07:30', 450],
    ['23:59', 1439],
    ['24:00', 1440],
    ['24:01', null],
    ['25:00', null],
    ['12:60', null],
    ['7:30', null],
    ['07:30:00', null],
    ['0730', null],
    ['', null],
    [' 07:30', null],
    [730, null],
  ])('%j -> %j', (value, minutes) => {
    expect(parseHHMM(value)).toBe(minutes);
  });
});

describe('validateIntervals', () => {
  it('accepts a normal office schedule, a night shift across midnight and 24:00', () => {
    expect(
      validateIntervals([
        { day: 'mon', from: '07:00', to: '19:00' },
        { day: 'fri', from: '22:00', to: '06:00' },
        { day: 'sat', from: '00:00', to: '24:00' },
        { day: 'hol', from: '10:00', to: '12:00' },
      ]),
    ).toEqual([]);
  });

  it.each([
    [{ day: 'mon', from: '7:00', to: '19:00' }, /interval 1 \(mon 7:00–19:00\): "from" must be HH:MM/],
    [{ day: 'mon', from: '07:00', to: '25:00' }, /"to" must be HH:MM between 00:00 and 24:00/],
    [{ day: 'mon', from: '24:00', to: '06:00' }, /"from" cannot be 24:00/],
    [{ day: 'mon', from: '08:00', to: '08:00' }, /"from" and "to" are equal/],
    [
      { day: 'monday', from: '08:00', to: '09:00' },
      /day must be one of sun, mon, tue, wed, thu, fri, sat, hol/,
    ],
    [{ day: 'mon', from: '08:00' }, /"to" must be HH:MM/],
  ])('reports %j', (interval, message) => {
    const errors = validateIntervals([interval as ScheduleInterval]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
  });

  it('reports more than 32 intervals for one day, but allows 32', () => {
    const hhmm = (minutes: number): string =>
      `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
    // count intervals of 30 minutes, 40 minutes apart: 32 of them fit in a day without overlap.
    const day = (count: number, weekday: Weekday): ScheduleInterval[] =>
      Array.from({ length: count }, (_, i) => ({ day: weekday, from: hhmm(i * 40), to: hhmm(i * 40 + 30) }));
    expect(validateIntervals([...day(32, 'mon'), ...day(32, 'tue')])).toEqual([]);
    expect(validateIntervals([...day(33, 'wed')])).toEqual(['wed: 33 intervals, at most 32 per day']);
  });

  it('reports every problem, not just the first', () => {
    expect(
      validateIntervals([
        { day: 'mon', from: 'noon', to: '13:00' },
        { day: 'tue', from: '08:00', to: '08:00' },
      ]),
    ).toHaveLength(2);
  });

  it('rejects something that is not a list or not an object', () => {
    expect(validateIntervals('mon 08:00-09:00' as unknown as ScheduleInterval[])).toEqual([
      'intervals must be a list',
    ]);
    expect(validateIntervals([null as unknown as ScheduleInterval])[0]).toMatch(/must be an object/);
  });
});

describe('isWithinSchedule', () => {
  const office: ScheduleInterval[] = [
    { day: 'mon', from: '08:00', to: '18:00' },
    { day: 'tue', from: '08:00', to: '18:00' },
  ];

  it.each([
    // Mon 2026-11-23
    ['2026-11-23', 'mon', '07:59', false],
    ['2026-11-23', 'mon', '08:00', true], // from is inclusive
    ['2026-11-23', 'mon', '17:59', true],
    ['2026-11-23', 'mon', '18:00', false], // to is exclusive
    ['2026-11-25', 'wed', '12:00', false], // no interval on Wednesday
  ] as const)('office hours: %s %s %s -> %s', (date, weekday, clock, expected) => {
    expect(allowed(office, wallClock(date, weekday, clock))).toBe(expected);
  });

  it('null intervals mean always, an empty list means never', () => {
    expect(allowed(null, wallClock('2026-11-25', 'wed', '03:00'))).toBe(true);
    expect(allowed([], wallClock('2026-11-25', 'wed', '12:00'))).toBe(false);
  });

  it('24:00 as the end covers the last minute of the day and not the next day', () => {
    const evening: ScheduleInterval[] = [{ day: 'mon', from: '20:00', to: '24:00' }];
    expect(allowed(evening, wallClock('2026-11-23', 'mon', '23:59'))).toBe(true);
    expect(allowed(evening, wallClock('2026-11-24', 'tue', '00:00'))).toBe(false);
    const wholeDay: ScheduleInterval[] = [{ day: 'sat', from: '00:00', to: '24:00' }];
    expect(allowed(wholeDay, wallClock('2026-11-28', 'sat', '00:00'))).toBe(true);
    expect(allowed(wholeDay, wallClock('2026-11-28', 'sat', '23:59'))).toBe(true);
    expect(allowed(wholeDay, wallClock('2026-11-27', 'fri', '23:59'))).toBe(false);
  });

  describe('an interval across midnight (Fri 22:00–06:00)', () => {
    const nightShift: ScheduleInterval[] = [{ day: 'fri', from: '22:00', to: '06:00' }];
    it.each([
      ['2026-11-27', 'fri', '21:59', false],
      ['2026-11-27', 'fri', '22:00', true],
      ['2026-11-27', 'fri', '23:59', true],
      ['2026-11-28', 'sat', '00:00', true],
      ['2026-11-28', 'sat', '05:59', true],
      ['2026-11-28', 'sat', '06:00', false],
      ['2026-11-28', 'sat', '22:30', false], // Saturday night is not Friday night
      ['2026-11-27', 'fri', '03:00', false], // the early hours of Friday belong to Thursday
    ] as const)('%s %s %s -> %s', (date, weekday, clock, expected) => {
      expect(allowed(nightShift, wallClock(date, weekday, clock))).toBe(expected);
    });
  });

  describe('holidays', () => {
    const christmas = new Set(['2026-12-25']); // a Friday
    const schedule: ScheduleInterval[] = [
      { day: 'fri', from: '08:00', to: '18:00' },
      { day: 'fri', from: '22:00', to: '06:00' },
      { day: 'hol', from: '10:00', to: '12:00' },
      { day: 'hol', from: '23:00', to: '02:00' },
    ];

    it.each([
      // On the holiday itself only `hol` intervals apply.
      ['2026-12-25', 'fri', '09:00', false, 'weekday interval does not apply on a holiday'],
      ['2026-12-25', 'fri', '10:30', true, 'hol interval applies'],
      ['2026-12-25', 'fri', '22:30', false, "Friday's night interval does not start on a holiday"],
      ['2026-12-25', 'fri', '23:30', true, 'hol interval across midnight, before midnight'],
      // The day after: the after-midnight part follows the starting day's rule.
      ['2026-12-26', 'sat', '01:30', true, "after-midnight part of the holiday's hol interval"],
      ['2026-12-26', 'sat', '02:00', false, 'hol interval ended'],
      ['2026-12-26', 'sat', '03:00', false, "Friday's night interval did not start (holiday)"],
      // A normal Friday one week earlier.
      ['2026-12-18', 'fri', '10:30', true, 'normal Friday: weekday interval'],
      ['2026-12-18', 'fri', '22:30', true, 'normal Friday night'],
      ['2026-12-19', 'sat', '03:00', true, 'after midnight of a normal Friday'],
      ['2026-12-19', 'sat', '01:30', true, 'after midnight of a normal Friday (not via hol)'],
      ['2026-12-18', 'fri', '23:30', true, 'normal Friday night (not via hol)'],
    ] as const)('%s %s %s -> %s (%s)', (date, weekday, clock, expected, _why) => {
      expect(allowed(schedule, wallClock(date, weekday, clock), christmas)).toBe(expected);
    });

    it("a Friday night interval still covers Saturday's early hours when Saturday is a holiday", () => {
      const nightShift: ScheduleInterval[] = [{ day: 'fri', from: '22:00', to: '06:00' }];
      const saturdayHoliday = new Set(['2026-11-28']);
      expect(allowed(nightShift, wallClock('2026-11-28', 'sat', '03:00'), saturdayHoliday)).toBe(true);
    });

    it('a hol interval does not apply on a normal day', () => {
      const holidayOnly: ScheduleInterval[] = [{ day: 'hol', from: '00:00', to: '24:00' }];
      expect(allowed(holidayOnly, wallClock('2026-12-24', 'thu', '12:00'), christmas)).toBe(false);
      expect(allowed(holidayOnly, wallClock('2026-12-25', 'fri', '12:00'), christmas)).toBe(true);
    });
  });

  it('never grants through a malformed interval (fail closed)', () => {
    const broken = [
      { day: 'mon', from: '8:00', to: '18:00' },
      { day: 'mon', from: '08:00', to: '08:00' },
      { day: 'mon', from: '24:00', to: '06:00' },
      { day: 'mon', from: '08:00', to: '99:00' },
      null,
    ] as unknown as ScheduleInterval[];
    for (const clock of ['00:00', '05:00', '08:00', '12:00', '23:59']) {
      expect(allowed(broken, wallClock('2026-11-23', 'mon', clock))).toBe(false);
      expect(allowed(broken, wallClock('2026-11-24', 'tue', clock))).toBe(false);
    }
  });
});

describe('scheduleAllows across DST changes', () => {
  const utc = (iso: string): number => Date.parse(iso);

  describe('Europe/Berlin', () => {
    const zone = 'Europe/Berlin';
    // Spring forward Sun 2026-03-29: 02:00–03:00 local does not exist that day.
    const skippedHour: ScheduleInterval[] = [{ day: 'sun', from: '02:00', to: '03:00' }];
    it.each([
      ['2026-03-29T00:59:00Z', false], // 01:59 CET
      ['2026-03-29T01:00:00Z', false], // 03:00 CEST: the hour was skipped
      ['2026-03-22T01:30:00Z', true], // a week earlier: 02:30 CET exists
    ])('02:00–03:00 on Sundays at %s -> %s', (iso, expected) => {
      expect(scheduleAllows(skippedHour, utc(iso), zone, NO_HOLIDAYS)).toBe(expected);
    });

    it('an interval spanning the skipped hour opens at its start and closes at its wall-clock end', () => {
      const morning: ScheduleInterval[] = [{ day: 'sun', from: '01:00', to: '04:00' }];
      expect(scheduleAllows(morning, utc('2026-03-28T23:59:00Z'), zone, NO_HOLIDAYS)).toBe(false); // 00:59
      expect(scheduleAllows(morning, utc('2026-03-29T00:00:00Z'), zone, NO_HOLIDAYS)).toBe(true); // 01:00 CET
      expect(scheduleAllows(morning, utc('2026-03-29T01:59:00Z'), zone, NO_HOLIDAYS)).toBe(true); // 03:59 CEST
      expect(scheduleAllows(morning, utc('2026-03-29T02:00:00Z'), zone, NO_HOLIDAYS)).toBe(false); // 04:00 CEST
    });

    // Fall back Sun 2026-10-25: 02:00–03:00 local happens twice; both occurrences match.
    const repeatedHour: ScheduleInterval[] = [{ day: 'sun', from: '02:00', to: '03:00' }];
    it.each([
      ['2026-10-24T23:59:00Z', false], // 01:59 CEST
      ['2026-10-25T00:00:00Z', true], // 02:00 CEST, first time
      ['2026-10-25T00:59:00Z', true], // 02:59 CEST
      ['2026-10-25T01:00:00Z', true], // 02:00 CET, second time
      ['2026-10-25T01:59:00Z', true], // 02:59 CET
      ['2026-10-25T02:00:00Z', false], // 03:00 CET
    ])('02:00–03:00 on the fall-back Sunday at %s -> %s', (iso, expected) => {
      expect(scheduleAllows(repeatedHour, utc(iso), zone, NO_HOLIDAYS)).toBe(expected);
    });
  });

  describe('America/New_York', () => {
    const zone = 'America/New_York';
    it.each([
      // Spring forward Sun 2026-03-08: 02:00–03:00 EST is skipped.
      ['2026-03-08T06:59:00Z', false], // 01:59 EST
      ['2026-03-08T07:00:00Z', false], // 03:00 EDT
    ])('02:00–03:00 on the spring-forward Sunday at %s -> %s', (iso, expected) => {
      const intervals: ScheduleInterval[] = [{ day: 'sun', from: '02:00', to: '03:00' }];
      expect(scheduleAllows(intervals, utc(iso), zone, NO_HOLIDAYS)).toBe(expected);
    });

    it.each([
      // Fall back Sun 2026-11-01: 01:00–02:00 happens twice (EDT, then EST).
      ['2026-11-01T04:59:00Z', false], // 00:59 EDT
      ['2026-11-01T05:00:00Z', true], // 01:00 EDT
      ['2026-11-01T05:30:00Z', true], // 01:30 EDT
      ['2026-11-01T06:30:00Z', true], // 01:30 EST
      ['2026-11-01T06:59:00Z', true], // 01:59 EST
      ['2026-11-01T07:00:00Z', false], // 02:00 EST
    ])('01:00–02:00 on the fall-back Sunday at %s -> %s', (iso, expected) => {
      const intervals: ScheduleInterval[] = [{ day: 'sun', from: '01:00', to: '02:00' }];
      expect(scheduleAllows(intervals, utc(iso), zone, NO_HOLIDAYS)).toBe(expected);
    });

    it('uses the local date and weekday, not UTC, for days and holidays', () => {
      // Thu 2026-11-26 22:00 EST is already Fri 03:00 UTC.
      const thursdayEvening: ScheduleInterval[] = [{ day: 'thu', from: '21:00', to: '23:00' }];
      const instant = utc('2026-11-27T03:00:00Z');
      expect(scheduleAllows(thursdayEvening, instant, zone, NO_HOLIDAYS)).toBe(true);
      expect(scheduleAllows(thursdayEvening, instant, 'UTC', NO_HOLIDAYS)).toBe(false);
      expect(scheduleAllows(thursdayEvening, instant, zone, new Set(['2026-11-26']))).toBe(false);
      expect(scheduleAllows(thursdayEvening, instant, zone, new Set(['2026-11-27']))).toBe(true);
    });
  });

  it('fails closed on an unknown zone or a broken clock, except for "always"', () => {
    const daytime: ScheduleInterval[] = [{ day: 'mon', from: '00:00', to: '24:00' }];
    const monday = utc('2026-11-23T12:00:00Z');
    expect(scheduleAllows(daytime, monday, 'UTC', NO_HOLIDAYS)).toBe(true);
    expect(scheduleAllows(daytime, monday, 'Mars/Olympus_Mons', NO_HOLIDAYS)).toBe(false);
    expect(scheduleAllows(daytime, Number.NaN, 'UTC', NO_HOLIDAYS)).toBe(false);
    expect(scheduleAllows(null, Number.NaN, 'Mars/Olympus_Mons', NO_HOLIDAYS)).toBe(true);
  });
});
