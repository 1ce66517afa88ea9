import { describe, expect, it } from 'vitest';
import { BoundedMap, KeyedBuckets, Summarizer, type Suppressed, TokenBucket } from '../../hub/budget.js';

describe('TokenBucket', () => {
  it('lets a burst through, then refills at its rate', () => {
    let t = 0;
    const bucket = new TokenBucket(10, 3, () => t);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    expect(bucket.waitMs()).toBe(100);
    t += 100;
    expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
    t += 10_000;
    expect(bucket.available()).toBe(3);
  });
});

describe('KeyedBuckets', () => {
  it('gives every key its own bucket and says how long an empty one must wait', () => {
    let t = 0;
    const buckets = new KeyedBuckets({ ratePerSecond: 2, burst: 2, maxKeys: 100, now: () => t });
    expect([buckets.take('a'), buckets.take('a'), buckets.take('a')]).toEqual([0, 0, 500]);
    expect(buckets.take('b')).toBe(0); // another address is not slowed down by the first
    t += 500;
    expect(buckets.take('a')).toBe(0);
  });

  it('holds at most maxKeys buckets however many sources there are', () => {
    const buckets = new KeyedBuckets({ ratePerSecond: 1, burst: 1, maxKeys: 50 });
    for (let i = 0; i < 10_000; i++) buckets.take(`10.0.${i >> 8}.${i & 255}`);
    expect(buckets.size).toBe(50);
  });
});

describe('BoundedMap', () => {
  it('forgets the least recently used key beyond its bound', () => {
    const map = new BoundedMap<string, number>(2);
    map.set('a', 1);
    map.set('b', 2);
    map.get('a');
    map.set('c', 3);
    expect(map.get('b')).toBeUndefined();
    expect(map.get('a')).toBe(1);
    expect(map.evicted).toBe(1);
    for (let i = 0; i < 10_000; i++) map.set(`k${i}`, i);
    expect(map.size).toBe(2);
  });
});

describe('Summarizer', () => {
  it('passes the first occurrences per window and reports the rest once', () => {
    let t = 0;
    const summaries: Suppressed[] = [];
    const s = new Summarizer({
      perWindow: 2,
      windowMs: 1000,
      onSuppressed: (x) => summaries.push(x),
      now: () => t,
    });
    const passed = Array.from({ length: 1000 }, () => s.allow('dev-1')).filter(Boolean).length;
    expect(passed).toBe(2);
    expect(s.allow('dev-2')).toBe(true);
    expect(summaries).toEqual([]);
    t = 1000;
    expect(s.allow('dev-1')).toBe(true);
    expect(summaries).toEqual([{ key: 'dev-1', suppressed: 998, windowMs: 1000 }]);
    s.allow('dev-1');
    s.allow('dev-1');
    s.flush(true);
    expect(summaries.at(-1)).toEqual({ key: 'dev-1', suppressed: 1, windowMs: 1000 });
  });

  it('reports what a forgotten key suppressed', () => {
    const summaries: Suppressed[] = [];
    const s = new Summarizer({ perWindow: 1, maxKeys: 2, onSuppressed: (x) => summaries.push(x) });
    for (const key of ['a', 'a', 'a', 'b', 'c']) s.allow(key);
    expect(summaries).toEqual([{ key: 'a', suppressed: 2, windowMs: 60_000 }]);
  });
});
