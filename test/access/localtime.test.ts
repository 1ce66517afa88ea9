import { describe, expect, it } from 'vitest';
import { isValidTimeZone, localTime, previousLocalDay } from '../../hub/access/index.js';

const at = (iso: string): number => Date.parse(iso);

describe('localTime', () => {
  it.each([
    // [instant (UTC), zone, local date, weekday, wall clock]
    ['2026-11-27T04:38:00Z', 'UTC', '2026-11-27', 'fri', '04:38'],
    ['2026-11-27T23:30:00Z', 'Europe/Berlin', '2026-11-28', 'sat', '00:30'],
    ['2026-11-27T03:00:00Z', 'America/New_York', '2026-11-26', 'thu', '22:00'],
    ['2026-07-01T00:00:00Z', 'Asia/Kolkata', '2026-07-01', 'wed', '05:30'],
    ['2026-01-01T00:00:00Z', 'Europe/Berlin', '2026-01-01', 'thu', '01:00'],
    // Europe/Berlin spring forward, Sun 2026-03-29: 01:59 CET is followed by 03:00 CEST.
    ['2026-03-29T00:59:00Z', 'Europe/Berlin', '2026-03-29', 'sun', '01:59'],
    ['2026-03-29T01:00:00Z', 'Europe/Berlin', '2026-03-29', 'sun', '03:00'],
    // Europe/Berlin fall back, Sun 2026-10-25: 02:30 happens twice.
    ['2026-10-25T00:30:00Z', 'Europe/Berlin', '2026-10-25', 'sun', '02:30'],
    ['2026-10-25T01:30:00Z', 'Europe/Berlin', '2026-10-25', 'sun', '02:30'],
    // America/New_York spring forward, Sun 2026-03-08: 01:59 EST is followed by 03:00 EDT.
    ['2026-03-08T06:59:00Z', 'America/New_York', '2026-03-08', 'sun', '01:59'],
    ['2026-03-08T07:00:00Z', 'America/New_York', '2026-03-08', 'sun', '03:00'],
    // America/New_York fall back, Sun 2026-11-01: 01:30 happens twice.
    ['2026-11-01T05:30:00Z', 'America/New_York', '2026-11-01', 'sun', '01:30'],
    ['2026-11-01T06:30:00Z', 'America/New_York', '2026-11-01', 'sun', '01:30'],
  ])('%s in %s is %s (%s) %s on the wall clock', (iso, zone, date, weekday, clock) => {
    const [hours, minutes] = clock.split(':').map(Number) as [number, number];
    expect(localTime(at(iso), zone)).toEqual({ date, weekday, minute: hours * 60 + minutes });
  });

  it('reports local midnight as minute 0 and 23:59 as minute 1439', () => {
    expect(localTime(at('2026-11-26T23:00:00Z'), 'Europe/Berlin').minute).toBe(0);
    expect(localTime(at('2026-11-26T22:59:00Z'), 'Europe/Berlin').minute).toBe(1439);
  });

  it('gives the same answer within a minute, and a caller changing its copy changes nothing', () => {
    const first = localTime(at('2026-11-27T04:38:05Z'), 'Europe/Berlin');
    first.minute = 0;
    first.date = '1999-01-01';
    expect(localTime(at('2026-11-27T04:38:59Z'), 'Europe/Berlin')).toEqual({
      date: '2026-11-27',
      weekday: 'fri',
      minute: 5 * 60 + 38,
    });
    expect(localTime(at('2026-11-27T04:39:00Z'), 'Europe/Berlin').minute).toBe(5 * 60 + 39);
  });

  it('handles old instants with non-whole-minute offsets (Africa/Monrovia, UTC-00:44:30 until 1972)', () => {
    // 1970-01-01 00:44:29 UTC is 23:59:59 local on 1969-12-31; 00:44:30 UTC is midnight.
    expect(localTime(Date.UTC(1970, 0, 1, 0, 44, 29), 'Africa/Monrovia')).toMatchObject({
      date: '1969-12-31',
      minute: 1439,
    });
    expect(localTime(Date.UTC(1970, 0, 1, 0, 44, 30), 'Africa/Monrovia')).toMatchObject({
      date: '1970-01-01',
      minute: 0,
    });
  });

  it('refuses an unknown time zone and a non-finite instant with a clear error', () => {
    expect(() => localTime(0, 'Mars/Olympus_Mons')).toThrow(/unknown time zone "Mars\/Olympus_Mons"/);
    expect(() => localTime(Number.NaN, 'UTC')).toThrow(/finite/);
    expect(() => localTime(Number.POSITIVE_INFINITY, 'UTC')).toThrow(/finite/);
  });
});

describe('isValidTimeZone', () => {
  it.each([
    ['Europe/Berlin', true],
    ['America/New_York', true],
    ['UTC', true],
    ['Mars/Olympus_Mons', false],
    ['', false],
    ['Europe/Berlin; rm -rf /', false],
    [42, false],
    [null, false],
  ])('%j -> %s', (zone, valid) => {
    expect(isValidTimeZone(zone)).toBe(valid);
  });
});

describe('previousLocalDay', () => {
  it.each([
    [
      { date: '2026-11-27', weekday: 'fri' },
      { date: '2026-11-26', weekday: 'thu' },
    ],
    [
      { date: '2026-03-01', weekday: 'sun' },
      { date: '2026-02-28', weekday: 'sat' },
    ],
    [
      { date: '2028-03-01', weekday: 'wed' },
      { date: '2028-02-29', weekday: 'tue' },
    ],
    [
      { date: '2027-01-01', weekday: 'fri' },
      { date: '2026-12-31', weekday: 'thu' },
    ],
  ] as const)('the day before %j is %j', (day, expected) => {
    expect(previousLocalDay(day)).toEqual(expected);
  });

  it('refuses a malformed date', () => {
    expect(() => previousLocalDay({ date: '27.11.2026', weekday: 'fri' })).toThrow(/YYYY-MM-DD/);
  });
});
