// Wall-clock time in the building's time zone. Pure: the instant is always an input.
import { WEEKDAYS, type Weekday } from '../domain.js';

/** A local calendar day: `date` is "YYYY-MM-DD" in the zone, `weekday` its day of the week. */
export interface LocalDay {
  date: string;
  weekday: Weekday;
}

/** A local wall-clock moment at minute granularity. `minute` is 0..1439 (hours * 60 + minutes). */
export interface LocalTime extends LocalDay {
  minute: number;
}

const MS_PER_DAY = 86_400_000;
const MS_PER_MINUTE = 60_000;
// Since 1973 every zone's UTC offset is a whole number of minutes (Africa/Monrovia used
// -00:44:30 until 1972), so one UTC minute maps to exactly one local minute.
const WHOLE_MINUTE_OFFSETS_SINCE = Date.UTC(1973, 0, 1);

const WEEKDAY_BY_SHORT_NAME: Readonly<Record<string, Weekday>> = {
  Sun: 'sun',
  Mon: 'mon',
  Tue: 'tue',
  Wed: 'wed',
  Thu: 'thu',
  Fri: 'fri',
  Sat: 'sat',
};

// Creating a DateTimeFormat costs far more than using one; the set of valid zones is finite,
// and invalid zones throw before they are cached, so this map stays small.
const formatters = new Map<string, Intl.DateTimeFormat>();
// formatToParts costs microseconds; decisions arrive many per minute, so remember the last
// minute per zone.
const lastMinuteByZone = new Map<string, { utcMinute: number; local: LocalTime }>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** True when `timeZone` is an IANA zone name this Node build knows ("Europe/Berlin", "UTC"). */
export function isValidTimeZone(timeZone: unknown): timeZone is string {
  if (typeof timeZone !== 'string' || timeZone.length === 0 || timeZone.length > 100) return false;
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/**
 * The wall clock in `timeZone` at `epochMs`. Across DST changes the minute is what a clock on
 * the wall shows: on the spring-forward day the skipped hour never appears, on the fall-back day
 * the repeated hour appears twice with the same minute values.
 * Throws a RangeError for an unknown time zone or a non-finite instant.
 */
export function localTime(epochMs: number, timeZone: string): LocalTime {
  if (!Number.isFinite(epochMs)) {
    throw new RangeError(`localTime: instant must be a finite epoch ms, got ${epochMs}`);
  }
  if (!isValidTimeZone(timeZone)) {
    throw new RangeError(`localTime: unknown time zone ${JSON.stringify(timeZone)}`);
  }
  const utcMinute = Math.floor(epochMs / MS_PER_MINUTE);
  const cached = lastMinuteByZone.get(timeZone);
  if (cached !== undefined && cached.utcMinute === utcMinute) return { ...cached.local };
  const local = formatLocalTime(epochMs, timeZone);
  if (epochMs >= WHOLE_MINUTE_OFFSETS_SINCE) {
    lastMinuteByZone.set(timeZone, { utcMinute, local: { ...local } });
  }
  return local;
}

function formatLocalTime(epochMs: number, timeZone: string): LocalTime {
  const parts = formatterFor(timeZone).formatToParts(epochMs);
  let year = '';
  let month = '';
  let day = '';
  let weekdayName = '';
  let hour = 0;
  let minute = 0;
  for (const part of parts) {
    switch (part.type) {
      case 'year':
        year = part.value;
        break;
      case 'month':
        month = part.value;
        break;
      case 'day':
        day = part.value;
        break;
      case 'weekday':
        weekdayName = part.value;
        break;
      case 'hour':
        // Some ICU versions print midnight as "24" even with h23.
        hour = Number(part.value) % 24;
        break;
      case 'minute':
        minute = Number(part.value);
        break;
    }
  }
  const weekday = WEEKDAY_BY_SHORT_NAME[weekdayName];
  if (weekday === undefined || year === '' || month === '' || day === '') {
    throw new RangeError(`localTime: cannot read local time for ${timeZone}`);
  }
  return { date: `${year.padStart(4, '0')}-${month}-${day}`, weekday, minute: hour * 60 + minute };
}

/** "YYYY-MM-DD HH:MM" on the wall clock in `timeZone`: for people reading a validity or an event time. */
export function formatLocalMinute(epochMs: number, timeZone: string): string {
  const { date, minute } = localTime(epochMs, timeZone);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date} ${pad(Math.floor(minute / 60))}:${pad(minute % 60)}`;
}

/** The calendar day before `day` (pure date arithmetic, independent of any zone). */
export function previousLocalDay(day: LocalDay): LocalDay {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day.date);
  if (match === null)
    throw new RangeError(`previousLocalDay: date must be YYYY-MM-DD, got ${JSON.stringify(day.date)}`);
  const midnightUtc = Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  const date = new Date(midnightUtc - MS_PER_DAY).toISOString().slice(0, 10);
  const weekday = WEEKDAYS[(WEEKDAYS.indexOf(day.weekday) + 6) % 7]!;
  return { date, weekday };
}

function offsetMs(epochMs: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(epochMs));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const asUtc = Date.UTC(
    get('year'),
    get('month') - 1,
    get('day'),
    get('hour'),
    get('minute'),
    get('second'),
  );
  return asUtc - Math.floor(epochMs / 1000) * 1000;
}

/** Wall-clock time in `timeZone` → epoch ms. In a DST gap the later offset wins. */
export function zonedToEpoch(
  y: number,
  mo: number,
  d: number,
  h: number,
  mi: number,
  timeZone: string,
): number {
  const guess = Date.UTC(y, mo - 1, d, h, mi);
  const first = guess - offsetMs(guess, timeZone);
  return guess - offsetMs(first, timeZone);
}
