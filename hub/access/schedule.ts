// Weekly schedules with holidays, evaluated on the local wall clock. Pure: no clock, no I/O.
//
// Rules (docs/access-rules.md explains them for operators):
// - `from` is inclusive, `to` is exclusive, minute granularity; "24:00" is allowed only as `to`.
// - `to` <= `from` crosses midnight: from..24:00 on the interval's day, 00:00..to on the next day.
// - On a holiday date only `hol` intervals apply; weekday intervals do not.
// - The after-midnight part of a crossing interval belongs to the day it started on: it applies
//   when the starting day matched (a weekday interval when that day was not a holiday, a `hol`
//   interval when it was), whatever the next day is.
// - An interval that cannot be parsed never grants (fail closed); validateIntervals reports it.
import { type ScheduleDay, type ScheduleInterval, WEEKDAYS } from '../domain.js';
import { isValidTimeZone, type LocalDay, type LocalTime, localTime, previousLocalDay } from './localtime.js';

export const MAX_INTERVALS_PER_DAY = 32;
const MINUTES_PER_DAY = 1440;
const SCHEDULE_DAYS: readonly ScheduleDay[] = [...WEEKDAYS, 'hol'];
const HHMM = /^(\d{2}):(\d{2})$/;

/** Minutes since midnight for "HH:MM" (00:00..23:59, and "24:00" = 1440); null when malformed. */
export function parseHHMM(value: unknown): number | null {
  if (typeof value !== 'string') return null;
  const match = HHMM.exec(value);
  if (match === null) return null;
  const hours = Number(match[1]);
  const minutes = Number(match[2]);
  if (minutes > 59 || hours > 24 || (hours === 24 && minutes !== 0)) return null;
  return hours * 60 + minutes;
}

function describe(interval: unknown): string {
  if (typeof interval !== 'object' || interval === null) return String(interval);
  const { day, from, to } = interval as Partial<Record<keyof ScheduleInterval, unknown>>;
  return `${String(day)} ${String(from)}–${String(to)}`;
}

/** Every problem in a list of intervals, one readable message each; empty when all are valid. */
export function validateIntervals(intervals: readonly ScheduleInterval[]): string[] {
  if (!Array.isArray(intervals)) return ['intervals must be a list'];
  const errors: string[] = [];
  const perDay = new Map<ScheduleDay, number>();
  intervals.forEach((interval: unknown, index) => {
    const where = `interval ${index + 1} (${describe(interval)})`;
    if (typeof interval !== 'object' || interval === null) {
      errors.push(`${where}: must be an object {day, from, to}`);
      return;
    }
    const { day, from, to } = interval as Partial<Record<keyof ScheduleInterval, unknown>>;
    if (!SCHEDULE_DAYS.includes(day as ScheduleDay)) {
      errors.push(`${where}: day must be one of ${SCHEDULE_DAYS.join(', ')}`);
    } else {
      perDay.set(day as ScheduleDay, (perDay.get(day as ScheduleDay) ?? 0) + 1);
    }
    const fromMinute = parseHHMM(from);
    const toMinute = parseHHMM(to);
    if (fromMinute === null) errors.push(`${where}: "from" must be HH:MM between 00:00 and 23:59`);
    else if (fromMinute === MINUTES_PER_DAY) errors.push(`${where}: "from" cannot be 24:00 (use 00:00)`);
    if (toMinute === null) errors.push(`${where}: "to" must be HH:MM between 00:00 and 24:00`);
    if (fromMinute !== null && toMinute !== null && fromMinute === toMinute) {
      errors.push(`${where}: "from" and "to" are equal; use 00:00–24:00 for a whole day`);
    }
  });
  for (const [day, count] of perDay) {
    if (count > MAX_INTERVALS_PER_DAY) {
      errors.push(`${day}: ${count} intervals, at most ${MAX_INTERVALS_PER_DAY} per day`);
    }
  }
  return errors;
}

function dayRuleMatches(intervalDay: ScheduleDay, day: LocalDay, holidays: ReadonlySet<string>): boolean {
  return holidays.has(day.date) ? intervalDay === 'hol' : intervalDay === day.weekday;
}

/**
 * Whether `at` (local wall clock) falls inside any interval. `null` intervals mean "always".
 * `previousDay` is the local day before `at` (for the after-midnight part of crossing intervals).
 */
export function isWithinSchedule(
  intervals: readonly ScheduleInterval[] | null,
  at: LocalTime,
  holidays: ReadonlySet<string>,
  previousDay: LocalDay,
): boolean {
  if (intervals === null) return true;
  if (!Array.isArray(intervals)) return false;
  for (const interval of intervals) {
    if (typeof interval !== 'object' || interval === null) continue;
    const from = parseHHMM(interval.from);
    const to = parseHHMM(interval.to);
    if (from === null || to === null || from === to || from === MINUTES_PER_DAY) continue;
    const crossesMidnight = to < from;
    if (dayRuleMatches(interval.day, at, holidays)) {
      const end = crossesMidnight ? MINUTES_PER_DAY : to;
      if (at.minute >= from && at.minute < end) return true;
    }
    if (crossesMidnight && at.minute < to && dayRuleMatches(interval.day, previousDay, holidays)) return true;
  }
  return false;
}

/**
 * isWithinSchedule at an instant, in a time zone. Fails closed: an unknown time zone or a
 * non-finite instant allows nothing (except `null` intervals, which need no clock).
 */
export function scheduleAllows(
  intervals: readonly ScheduleInterval[] | null,
  epochMs: number,
  timeZone: string,
  holidays: ReadonlySet<string>,
): boolean {
  if (intervals === null) return true;
  if (!Number.isFinite(epochMs) || !isValidTimeZone(timeZone)) return false;
  const at = localTime(epochMs, timeZone);
  return isWithinSchedule(intervals, at, holidays, previousLocalDay(at));
}
