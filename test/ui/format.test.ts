// The UI's relative times read like a person would say them.
import { describe, expect, it } from 'vitest';
import { formatAgo } from '../../ui/src/format.js';

const NOW = Date.UTC(2026, 11, 2, 12);
const ago = (seconds: number) => formatAgo(NOW - seconds * 1000, NOW);

describe('formatAgo', () => {
  it('says just now, minutes, hours and days, singular for one day', () => {
    expect(ago(10)).toBe('just now');
    expect(ago(5 * 60)).toBe('5 min ago');
    expect(ago(3 * 3600)).toBe('3 h ago');
    expect(ago(26 * 3600)).toBe('1 day ago');
    expect(ago(3 * 86_400)).toBe('3 days ago');
  });

  it('never says 60 min or 24 h: it moves to the next unit', () => {
    expect(ago(3590)).toBe('1 h ago');
    expect(ago(86_000)).toBe('1 day ago');
  });

  it('treats a time in the future (a skewed clock) as just now', () => {
    expect(ago(-600)).toBe('just now');
  });
});
