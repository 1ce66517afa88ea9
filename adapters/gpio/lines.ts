// Raw GPIO lines (physical levels) and the logic that turns them into the DigitalOutput/DigitalInput contract.
// The same logic runs on real lines (onoff) and on simulated ones, so polarity and debounce are tested once.
import type { DigitalInput, DigitalOutput } from '../types.js';

export type Level = 0 | 1;

/** Monotonic microseconds, the clock of every edge timestamp. */
export function nowUs(): number {
  return Number(process.hrtime.bigint()) / 1000;
}

export interface RawOutputLine {
  readonly bcm: number;
  write(level: Level): Promise<void>;
  read(): Level;
  close(): Promise<void>;
}

export interface RawInputLine {
  readonly bcm: number;
  read(): Level;
  /** Every level change the driver sees, with its timestamp in µs (see nowUs). */
  watch(listener: (level: Level, atUs: number) => void): () => void;
  close(): Promise<void>;
}

/**
 * 'both': every change (contacts, buttons). 'pulse-end': only the rising edge that ends a low pulse (Wiegand);
 * with sysfs interrupts the level read after a 50 µs pulse is already high again, so the end is what can be seen.
 */
export type EdgeMode = 'both' | 'pulse-end';

export interface LineDriver {
  readonly kind: 'gpio' | 'sim';
  /** The output is created at `initial` in one step, so it never glitches through the other level. */
  output(bcm: number, initial: Level, label: string): Promise<RawOutputLine>;
  input(bcm: number, label: string, mode: EdgeMode): Promise<RawInputLine>;
  close(): Promise<void>;
}

/**
 * A relay: `write(true)` energises the coil whatever the board's polarity. `close()` releases the line and
 * leaves the relay as it is: the door controller has relocked it on stop, or holds it released during a
 * fire alarm, and that decision must survive the hub shutting down.
 */
export class RelayOutput implements DigitalOutput {
  readonly #line: RawOutputLine;
  readonly #activeLow: boolean;
  #closed = false;

  constructor(line: RawOutputLine, activeLow: boolean) {
    this.#line = line;
    this.#activeLow = activeLow;
  }

  levelFor(energised: boolean): Level {
    return energised !== this.#activeLow ? 1 : 0;
  }

  async write(on: boolean): Promise<void> {
    if (this.#closed) throw new Error(`GPIO ${this.#line.bcm} is closed`);
    await this.#line.write(this.levelFor(on));
  }

  read(): boolean {
    return (this.#line.read() === 1) !== this.#activeLow;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#line.close();
  }
}

/** A debounced input: a change is reported once the level has been stable for `debounceMs`. */
export class DebouncedInput implements DigitalInput {
  readonly #line: RawInputLine;
  readonly #activeLow: boolean;
  readonly #debounceMs: number;
  readonly #listeners = new Set<(active: boolean) => void>();
  readonly #unwatch: () => void;
  #active: boolean;
  #timer: NodeJS.Timeout | null = null;

  constructor(line: RawInputLine, activeLow: boolean, debounceMs: number) {
    this.#line = line;
    this.#activeLow = activeLow;
    this.#debounceMs = debounceMs;
    this.#active = this.#isActive(line.read());
    this.#unwatch = line.watch((level) => this.#onChange(level));
  }

  #isActive(level: Level): boolean {
    return (level === 1) !== this.#activeLow;
  }

  #onChange(level: Level): void {
    if (this.#debounceMs <= 0) {
      this.#settle(level);
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#settle(this.#line.read());
    }, this.#debounceMs);
  }

  #settle(level: Level): void {
    const active = this.#isActive(level);
    if (active === this.#active) return;
    this.#active = active;
    for (const l of [...this.#listeners]) {
      try {
        l(active);
      } catch {
        // A listener's bug must not stop the others from hearing the door.
      }
    }
  }

  read(): boolean {
    return this.#active;
  }

  watch(listener: (active: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#unwatch();
    this.#listeners.clear();
    await this.#line.close();
  }
}
