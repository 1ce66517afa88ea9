// Turns what an operator types ("2026-12-24", "2026-12-24T18:00", ISO with offset) into epoch ms,
// reading wall-clock times in the building's time zone.
import { formatLocalMinute } from '../access/localtime.js';
import { UsageError } from './errors.js';

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

export function parseTimeArg(text: string, timeZone: string): number {
  const local = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}))?$/.exec(text.trim());
  if (local) {
    const [, y, mo, d, h, mi] = local;
    const value = zonedToEpoch(Number(y), Number(mo), Number(d), Number(h ?? 0), Number(mi ?? 0), timeZone);
    if (Number.isNaN(value)) throw new UsageError(`"${text}" is not a date`);
    return value;
  }
  if (/^\d{4}-\d{2}-\d{2}T.*(Z|[+-]\d{2}:?\d{2})$/.test(text.trim())) {
    const value = Date.parse(text);
    if (!Number.isNaN(value)) return value;
  }
  throw new UsageError(
    `"${text}" is not a date: use YYYY-MM-DD, YYYY-MM-DDTHH:MM (building time) or ISO 8601 with offset`,
  );
}

export function formatTime(epochMs: number | null, timeZone: string): string {
  return epochMs === null ? '-' : formatLocalMinute(epochMs, timeZone);
}
