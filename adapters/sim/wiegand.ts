// A simulated Wiegand reader/keypad: drives a D0/D1 pair on the sim board with real pulse trains.
// Each pulse is a low level of `pulseUs` followed by high; bits start `intervalUs` apart.
import { nowUs } from '../gpio/lines.js';
import { BUILTIN_FORMATS, encodeCard, encodeKey, type WiegandFormat } from '../wiegand/formats.js';
import type { SimLineBoard } from './lines.js';

export interface PulseTiming {
  /** Pulse width Tpw (spec 20–100 µs). */
  pulseUs: number;
  /** Bit interval Tpi, start to start (spec 200 µs–20 ms). */
  intervalUs: number;
}

export const TYPICAL_TIMING: PulseTiming = { pulseUs: 50, intervalUs: 1000 };

/** One edge of a pulse train, for tests that want to add noise or drop edges. */
export interface TrainEdge {
  line: 0 | 1;
  level: 0 | 1;
  atUs: number;
}

export function pulseTrain(bits: readonly number[], timing: PulseTiming, startUs: number): TrainEdge[] {
  const edges: TrainEdge[] = [];
  bits.forEach((bit, i) => {
    const line = bit ? 1 : 0;
    const at = startUs + i * timing.intervalUs;
    edges.push({ line, level: 0, atUs: at }, { line, level: 1, atUs: at + timing.pulseUs });
  });
  return edges;
}

export class SimWiegandTransmitter {
  readonly #board: SimLineBoard;
  readonly #d0: number;
  readonly #d1: number;

  constructor(board: SimLineBoard, d0: number, d1: number) {
    this.#board = board;
    this.#d0 = d0;
    this.#d1 = d1;
  }

  /** Plays edges at once with their timestamps (µs timing cannot be paced by timers); returns the last edge time. */
  play(edges: readonly TrainEdge[]): number {
    let last = 0;
    for (const e of edges) {
      this.#board.drive(e.line === 0 ? this.#d0 : this.#d1, e.level, e.atUs);
      last = e.atUs;
    }
    return last;
  }

  sendBits(bits: readonly number[], timing: PulseTiming = TYPICAL_TIMING, startUs = nowUs()): number {
    return this.play(pulseTrain(bits, timing, startUs));
  }

  /** Paces bits with real timers (intervals of a millisecond or more), for end-to-end runs. */
  async sendBitsRealtime(bits: readonly number[], intervalMs = 2, pulseUs = 50): Promise<void> {
    for (const bit of bits) {
      const at = nowUs();
      this.play(pulseTrain([bit], { pulseUs, intervalUs: 0 }, at));
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  sendCard(
    valueHex: string,
    format: WiegandFormat = BUILTIN_FORMATS.h10301,
    timing = TYPICAL_TIMING,
  ): number {
    return this.sendBits(encodeCard(valueHex, format), timing);
  }

  /** Types keys as separate bursts, `gapMs` apart in edge time (must exceed the frame gap). */
  sendKeys(keys: string, bitsPerKey: 4 | 8 = 4, gapMs = 40, timing = TYPICAL_TIMING): number {
    let start = nowUs();
    let last = start;
    for (const k of keys) {
      last = this.sendBits(encodeKey(k, bitsPerKey), timing, start);
      start = last + gapMs * 1000;
    }
    return last;
  }
}
