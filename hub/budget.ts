// Budgets for every input channel (docs/architecture.md, invariant 7): what one device, address, session
// or cloud message may cost is bounded; past the bound it is answered or shed, and repeated log lines or
// events are summarised once per window instead of written once per occurrence.

/** Milliseconds; injectable so tests can step time. */
export type Clock = () => number;

/**
 * A token bucket: `ratePerSecond` tokens refill continuously up to `burst`. `take()` spends one and says
 * whether the caller is within budget.
 */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  readonly #now: Clock;
  #tokens: number;
  #at: number;

  constructor(ratePerSecond: number, burst: number, now: Clock = Date.now) {
    if (!(ratePerSecond >= 0) || !(burst >= 1)) throw new RangeError('TokenBucket: rate ≥ 0 and burst ≥ 1');
    this.#rate = ratePerSecond;
    this.#burst = burst;
    this.#now = now;
    this.#tokens = burst;
    this.#at = now();
  }

  take(count = 1): boolean {
    this.#refill();
    if (this.#tokens < count) return false;
    this.#tokens -= count;
    return true;
  }

  /** Tokens available now (fractional). */
  available(): number {
    this.#refill();
    return this.#tokens;
  }

  /** Milliseconds until `count` tokens are available (0 when they are now). */
  waitMs(count = 1): number {
    this.#refill();
    if (this.#tokens >= count) return 0;
    if (this.#rate === 0) return Number.POSITIVE_INFINITY;
    return Math.ceil(((count - this.#tokens) / this.#rate) * 1000);
  }

  #refill(): void {
    const now = this.#now();
    const elapsed = now - this.#at;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#rate) / 1000);
      this.#at = now;
    }
  }
}

/**
 * A map that holds at most `maxKeys` entries and forgets the least recently used one beyond that, so a
 * budget keyed by address, username or device cannot itself grow without bound.
 */
export class BoundedMap<K, V> {
  readonly #max: number;
  readonly #map = new Map<K, V>();
  readonly #onEvict: ((key: K, value: V) => void) | undefined;
  /** How many entries were forgotten to stay within the bound. */
  evicted = 0;

  /** `onEvict` hears about every entry forgotten to stay within the bound. */
  constructor(maxKeys: number, onEvict?: (key: K, value: V) => void) {
    if (!(maxKeys >= 1)) throw new RangeError('BoundedMap: maxKeys ≥ 1');
    this.#max = maxKeys;
    this.#onEvict = onEvict;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    const value = this.#map.get(key);
    if (value !== undefined) {
      // Re-insert: Map keeps insertion order, so the first key is the least recently used.
      this.#map.delete(key);
      this.#map.set(key, value);
    }
    return value;
  }

  /** The value for `key`, made with `create` (and stored) when absent. */
  getOrCreate(key: K, create: () => V): V {
    let value = this.get(key);
    if (value === undefined) {
      value = create();
      this.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    while (this.#map.size > this.#max) {
      const [oldest, value] = this.#map.entries().next().value as [K, V];
      this.#map.delete(oldest);
      this.evicted++;
      this.#onEvict?.(oldest, value);
    }
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }

  entries(): IterableIterator<[K, V]> {
    return this.#map.entries();
  }
}

export interface KeyedBucketsOptions {
  ratePerSecond: number;
  burst: number;
  /** Keys tracked at once; beyond it the least recently used key starts again with a full bucket. */
  maxKeys: number;
  now?: Clock;
}

/**
 * One token bucket per key (an address, a username, a door), all with the same rate and burst, in a
 * bounded map: the budget of "each source" that the HTTP, MQTT and mobile limits all need.
 */
export class KeyedBuckets {
  readonly #options: KeyedBucketsOptions;
  readonly #buckets: BoundedMap<string, TokenBucket>;

  constructor(options: KeyedBucketsOptions) {
    this.#options = options;
    this.#buckets = new BoundedMap(options.maxKeys);
  }

  /** Spends one token of `key`'s bucket: 0 when it was there, else the milliseconds until one is. */
  take(key: string): number {
    const { ratePerSecond, burst, now } = this.#options;
    const bucket = this.#buckets.getOrCreate(key, () => new TokenBucket(ratePerSecond, burst, now));
    return bucket.take() ? 0 : Math.max(1, bucket.waitMs());
  }

  get size(): number {
    return this.#buckets.size;
  }
}

export interface Suppressed {
  /** The source (device id, address, reader…) the occurrences came from. */
  key: string;
  /** Occurrences in the window that were not passed through. */
  suppressed: number;
  /** Length of the window they fall in, ms. */
  windowMs: number;
}

export interface SummarizerOptions {
  /** Occurrences passed through per key per window. Default 5. */
  perWindow?: number;
  /** Default 60,000 ms. */
  windowMs?: number;
  /** Keys tracked at once; beyond it the least recently seen is forgotten. Default 1,000. */
  maxKeys?: number;
  /** Called once per key and window in which something was suppressed: write the "…and N more" line. */
  onSuppressed: (summary: Suppressed) => void;
  now?: Clock;
}

interface Window {
  since: number;
  passed: number;
  suppressed: number;
}

/**
 * Lets the first few occurrences per key and window through and counts the rest. When a key's window
 * ends (at its next occurrence, or at `flush()` from a timer or on stop) the count is reported once
 * through `onSuppressed`: one summary line or event instead of thousands.
 */
export class Summarizer {
  readonly #perWindow: number;
  readonly #windowMs: number;
  readonly #onSuppressed: (summary: Suppressed) => void;
  readonly #now: Clock;
  readonly #windows: BoundedMap<string, Window>;

  constructor(options: SummarizerOptions) {
    this.#perWindow = options.perWindow ?? 5;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#onSuppressed = options.onSuppressed;
    this.#now = options.now ?? Date.now;
    // A forgotten key still reports what it suppressed: counts are never dropped silently.
    this.#windows = new BoundedMap(options.maxKeys ?? 1000, (key, window) => this.#report(key, window));
  }

  /** True when this occurrence should be logged/recorded; false when it is only counted. */
  allow(key: string): boolean {
    const now = this.#now();
    let window = this.#windows.get(key);
    if (!window || now - window.since >= this.#windowMs) {
      if (window) this.#report(key, window);
      window = { since: now, passed: 0, suppressed: 0 };
      this.#windows.set(key, window);
    }
    if (window.passed < this.#perWindow) {
      window.passed++;
      return true;
    }
    window.suppressed++;
    return false;
  }

  /** Reports every window that has ended (all of them with `all`), e.g. from a timer or at shutdown. */
  flush(all = false): void {
    const now = this.#now();
    for (const [key, window] of [...this.#windows.entries()]) {
      if (all || now - window.since >= this.#windowMs) {
        this.#report(key, window);
        this.#windows.delete(key);
      }
    }
  }

  #report(key: string, window: Window): void {
    if (window.suppressed > 0) {
      this.#onSuppressed({ key, suppressed: window.suppressed, windowMs: this.#windowMs });
      window.suppressed = 0;
    }
  }
}
