// Everything measured during a run, in bounded memory however long it runs: latency samples go into a
// fixed-size reservoir per door type (percentiles by bench/stats.ts summarize) and into a fixed number
// of buckets over simulated time (for the plots), each with a small log-scale histogram.
import { summarize } from '../bench/stats.js';
import type { Random } from './traffic.js';

/** Uniform sample of at most `size` values out of any number offered (Vitter's algorithm R). */
export class Reservoir {
  readonly #values: number[] = [];
  #seen = 0;

  readonly size: number;
  readonly random: Random;

  constructor(size: number, random: Random) {
    this.size = size;
    this.random = random;
  }

  add(value: number): void {
    this.#seen++;
    if (this.#values.length < this.size) this.#values.push(value);
    else {
      const slot = Math.floor(this.random() * this.#seen);
      if (slot < this.size) this.#values[slot] = value;
    }
  }

  get seen(): number {
    return this.#seen;
  }

  summary(): ReturnType<typeof summarize> & { n: number } {
    return { ...summarize(this.#values), n: this.#seen };
  }
}

/** Log-scale histogram: 0.1 ms × 1.15^i, 96 bins (up to ~60 s). */
const BINS = 96;
const BASE_MS = 0.1;
const STEP = Math.log(1.15);

function binOf(ms: number): number {
  if (ms <= BASE_MS) return 0;
  return Math.min(BINS - 1, Math.floor(Math.log(ms / BASE_MS) / STEP));
}

function binUpper(bin: number): number {
  return BASE_MS * Math.exp(STEP * (bin + 1));
}

export interface BucketRow {
  /** Simulated seconds since the start of the run, at the bucket's start. */
  t: number;
  decisions: number;
  granted: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
  /** Events the hub holds that the cloud has not acknowledged (largest seen in the bucket). */
  backlog: number | null;
}

class Bucket {
  decisions = 0;
  granted = 0;
  max = 0;
  backlog = -1;
  readonly histogram = new Uint32Array(BINS);

  quantile(q: number): number | null {
    if (this.decisions === 0) return null;
    const target = Math.ceil(q * this.decisions);
    let sum = 0;
    for (let i = 0; i < BINS; i++) {
      sum += this.histogram[i]!;
      if (sum >= target) return Math.min(this.max, binUpper(i));
    }
    return this.max;
  }
}

/** A fixed number of buckets across the simulated span. */
export class Timeline {
  readonly #buckets: Bucket[];
  readonly width: number;

  constructor(spanSeconds: number, count = 288) {
    this.#buckets = Array.from({ length: count }, () => new Bucket());
    this.width = spanSeconds / count;
  }

  #at(simSeconds: number): Bucket {
    const i = Math.min(this.#buckets.length - 1, Math.max(0, Math.floor(simSeconds / this.width)));
    return this.#buckets[i]!;
  }

  decision(simSeconds: number, latencyMs: number, granted: boolean): void {
    const b = this.#at(simSeconds);
    b.decisions++;
    if (granted) b.granted++;
    if (latencyMs > b.max) b.max = latencyMs;
    b.histogram[binOf(latencyMs)]!++;
  }

  backlog(simSeconds: number, events: number): void {
    const b = this.#at(simSeconds);
    if (events > b.backlog) b.backlog = events;
  }

  rows(): BucketRow[] {
    const round = (v: number | null) => (v === null ? null : Math.round(v * 100) / 100);
    return this.#buckets.map((b, i) => ({
      t: Math.round(i * this.width),
      decisions: b.decisions,
      granted: b.granted,
      p50: round(b.quantile(0.5)),
      p99: round(b.quantile(0.99)),
      max: b.decisions ? round(b.max) : null,
      backlog: b.backlog < 0 ? null : b.backlog,
    }));
  }
}

/** Counters by name (decisions by result, REX sent, …); the key set is small and fixed by the hub. */
export class Counter {
  readonly #counts = new Map<string, number>();

  add(key: string, by = 1): void {
    // A misbehaving hub could invent reasons; cap the distinct keys so the map stays bounded.
    if (!this.#counts.has(key) && this.#counts.size >= 64) key = 'other';
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + by);
  }

  get(key: string): number {
    return this.#counts.get(key) ?? 0;
  }

  total(): number {
    let sum = 0;
    for (const v of this.#counts.values()) sum += v;
    return sum;
  }

  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.#counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
}
