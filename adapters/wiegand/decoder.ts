// Turns timestamped falling edges on D0/D1 into frames. Timing is judged from the edge timestamps, never from
// when JavaScript happened to run, so a frame with merged or missed edges is rejected rather than misread.

export interface WiegandTiming {
  /** Silence after the last bit that ends a frame (spec max bit interval is 20 ms). */
  frameGapUs: number;
  /** Bits closer than this are a glitch or two merged edges (spec min interval is 200 µs). */
  minIntervalUs: number;
  /** More bits than this is noise, not a card. */
  maxBits: number;
}

export const DEFAULT_TIMING: WiegandTiming = { frameGapUs: 25_000, minIntervalUs: 120, maxBits: 64 };

export type FrameResult =
  | { ok: true; bits: number[]; startUs: number; endUs: number }
  | { ok: false; reason: 'too-fast' | 'both-lines' | 'too-long'; bitCount: number; endUs: number };

export class WiegandFrameAssembler {
  readonly #timing: WiegandTiming;
  readonly #onFrame: (frame: FrameResult) => void;
  #bits: number[] = [];
  #startUs = 0;
  #lastUs = Number.NEGATIVE_INFINITY;
  #fault: 'too-fast' | 'both-lines' | 'too-long' | null = null;

  constructor(onFrame: (frame: FrameResult) => void, timing: Partial<WiegandTiming> = {}) {
    this.#timing = { ...DEFAULT_TIMING, ...timing };
    this.#onFrame = onFrame;
  }

  get pending(): boolean {
    return this.#bits.length > 0 || this.#fault !== null;
  }

  get lastEdgeUs(): number {
    return this.#lastUs;
  }

  /** A falling edge on D0 (bit 0) or D1 (bit 1) at `atUs` (monotonic microseconds). */
  edge(line: 0 | 1, atUs: number): void {
    const sinceLast = atUs - this.#lastUs;
    if (this.pending && sinceLast > this.#timing.frameGapUs) this.#finish();
    if (!this.pending) this.#startUs = atUs;
    else if (sinceLast < 1) this.#fault ??= 'both-lines';
    else if (sinceLast < this.#timing.minIntervalUs) this.#fault ??= 'too-fast';
    this.#lastUs = atUs;
    if (this.#bits.length >= this.#timing.maxBits) this.#fault ??= 'too-long';
    else this.#bits.push(line);
  }

  /** Called by the owner's timer: ends the frame if the line has been quiet for the frame gap. */
  flush(nowUs: number): void {
    if (this.pending && nowUs - this.#lastUs >= this.#timing.frameGapUs) this.#finish();
  }

  /** Ends the current frame whatever the time (stop, tests). */
  end(): void {
    if (this.pending) this.#finish();
  }

  #finish(): void {
    const frame: FrameResult = this.#fault
      ? { ok: false, reason: this.#fault, bitCount: this.#bits.length, endUs: this.#lastUs }
      : { ok: true, bits: this.#bits, startUs: this.#startUs, endUs: this.#lastUs };
    this.#bits = [];
    this.#fault = null;
    this.#onFrame(frame);
  }
}
