// A simulated GPIO header: lines by BCM number at physical levels, driven and watched from tests, the CLI and
// the UI. Built from SimOutput/SimInput (true = high) plus timestamps, so Wiegand pulse trains keep real timing.
import type { EdgeMode, Level, LineDriver, RawInputLine, RawOutputLine } from '../gpio/lines.js';
import { nowUs } from '../gpio/lines.js';
import { SimInput, SimOutput } from './gpio.js';

class SimInputLine implements RawInputLine {
  readonly bcm: number;
  readonly sim: SimInput;
  readonly #listeners = new Set<(level: Level, atUs: number) => void>();

  constructor(bcm: number, sim: SimInput) {
    this.bcm = bcm;
    this.sim = sim;
  }

  drive(level: Level, atUs: number): void {
    if ((level === 1) === this.sim.read()) return;
    this.sim.set(level === 1);
    for (const l of [...this.#listeners]) l(level, atUs);
  }

  read(): Level {
    return this.sim.read() ? 1 : 0;
  }

  watch(listener: (level: Level, atUs: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}

class SimOutputLine implements RawOutputLine {
  readonly bcm: number;
  readonly sim: SimOutput;

  constructor(bcm: number, sim: SimOutput) {
    this.bcm = bcm;
    this.sim = sim;
  }

  async write(level: Level): Promise<void> {
    await this.sim.write(level === 1);
  }

  read(): Level {
    return this.sim.read() ? 1 : 0;
  }

  async close(): Promise<void> {}
}

/** The simulated header. Inputs idle high (pull-up) unless `preset` says otherwise. */
export class SimLineBoard implements LineDriver {
  readonly kind = 'sim' as const;
  readonly #inputs = new Map<number, SimInputLine>();
  readonly #outputs = new Map<number, SimOutputLine>();
  readonly #presets = new Map<number, Level>();

  /** The level an input line rests at before anything drives it (e.g. a normally-closed contact). */
  preset(bcm: number, level: Level): void {
    this.#presets.set(bcm, level);
    const line = this.#inputs.get(bcm);
    if (line) line.drive(level, nowUs());
  }

  async output(bcm: number, initial: Level, label: string): Promise<RawOutputLine> {
    if (this.#outputs.has(bcm) || this.#inputs.has(bcm)) throw new Error(`sim GPIO ${bcm} is already in use`);
    const line = new SimOutputLine(bcm, new SimOutput(label, initial === 1));
    this.#outputs.set(bcm, line);
    return line;
  }

  async input(bcm: number, label: string, _mode: EdgeMode): Promise<RawInputLine> {
    const existing = this.#inputs.get(bcm);
    if (existing) return existing;
    if (this.#outputs.has(bcm)) throw new Error(`sim GPIO ${bcm} is an output`);
    const line = new SimInputLine(bcm, new SimInput(label, (this.#presets.get(bcm) ?? 1) === 1));
    this.#inputs.set(bcm, line);
    return line;
  }

  /** Drive an input line, as a switch, button or reader would. */
  drive(bcm: number, level: Level, atUs: number = nowUs()): void {
    const line = this.#inputs.get(bcm);
    if (!line) throw new Error(`sim GPIO ${bcm} is not an input in use`);
    line.drive(level, atUs);
  }

  level(bcm: number): Level | undefined {
    return (this.#outputs.get(bcm) ?? this.#inputs.get(bcm))?.read();
  }

  /** Every write to an output line (level high = true), for asserting what the relay did. */
  outputHistory(bcm: number): ReadonlyArray<{ at: number; on: boolean }> {
    return this.#outputs.get(bcm)?.sim.history ?? [];
  }

  watchOutput(bcm: number, listener: (level: Level) => void): () => void {
    const line = this.#outputs.get(bcm);
    if (!line) throw new Error(`sim GPIO ${bcm} is not an output in use`);
    return line.sim.watch((on) => listener(on ? 1 : 0));
  }

  lines(): Array<{ bcm: number; direction: 'in' | 'out'; level: Level }> {
    return [
      ...[...this.#outputs.values()].map((l) => ({ bcm: l.bcm, direction: 'out' as const, level: l.read() })),
      ...[...this.#inputs.values()].map((l) => ({ bcm: l.bcm, direction: 'in' as const, level: l.read() })),
    ].sort((a, b) => a.bcm - b.bcm);
  }

  async close(): Promise<void> {
    for (const l of this.#inputs.values()) await l.close();
    this.#inputs.clear();
    this.#outputs.clear();
  }
}
