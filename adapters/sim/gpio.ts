// Simulated GPIO lines: the same interfaces as real ones, driven and watched from tests, the CLI and the UI.
import type { DigitalInput, DigitalOutput } from '../types.js';

export class SimOutput implements DigitalOutput {
  #on: boolean;
  readonly #watchers = new Set<(on: boolean) => void>();
  /** Every write with its time, so tests can assert what a person would have seen on the relay. */
  readonly history: Array<{ at: number; on: boolean }> = [];

  readonly name: string;

  constructor(name: string, initial = false) {
    this.name = name;
    this.#on = initial;
  }

  async write(on: boolean): Promise<void> {
    this.history.push({ at: Date.now(), on });
    if (on === this.#on) return;
    this.#on = on;
    for (const w of this.#watchers) w(on);
  }

  read(): boolean {
    return this.#on;
  }

  watch(listener: (on: boolean) => void): () => void {
    this.#watchers.add(listener);
    return () => this.#watchers.delete(listener);
  }

  async close(): Promise<void> {
    this.#watchers.clear();
  }
}

export class SimInput implements DigitalInput {
  #active: boolean;
  readonly #watchers = new Set<(active: boolean) => void>();

  readonly name: string;

  constructor(name: string, initial = false) {
    this.name = name;
    this.#active = initial;
  }

  /** Drive the line, as a door contact, button or alarm panel would. */
  set(active: boolean): void {
    if (active === this.#active) return;
    this.#active = active;
    for (const w of this.#watchers) w(active);
  }

  read(): boolean {
    return this.#active;
  }

  watch(listener: (active: boolean) => void): () => void {
    this.#watchers.add(listener);
    return () => this.#watchers.delete(listener);
  }

  async close(): Promise<void> {
    this.#watchers.clear();
  }
}
