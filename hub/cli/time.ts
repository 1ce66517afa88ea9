// Turns what an operator types ("2026-12-24", "2026-12-24T18:00", ISO with offset) into epoch ms,
// reading wall-clock times in the building's time zone.
import { formatLocalMinute, zonedToEpoch } from '../access/localtime.js';
import { UsageError } from './errors.js';

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
