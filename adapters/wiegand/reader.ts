// Wiegand readers and keypads on a D0/D1 line pair. One link per pair; a reader and a keypad in the same housing
// share it: 4/8-bit bursts are keys, longer frames are cards.
import type { Logger } from 'pino';
import { Summarizer } from '../../hub/budget.js';
import { maskCard } from '../../hub/logger.js';
import type { Level, RawInputLine } from '../gpio/lines.js';
import { nowUs } from '../gpio/lines.js';
import type { CardReader, Keypad, ReaderHealth } from '../types.js';
import { type FrameResult, WiegandFrameAssembler } from './decoder.js';
import { decodeCard, decodeKey, type WiegandFormat } from './formats.js';

export interface WiegandLinkOptions {
  frameGapMs?: number;
  minIntervalUs?: number;
}

/** Counts bits at the end of each low pulse (see EdgeMode 'pulse-end') and cuts frames at the gap. */
export class WiegandLink {
  readonly d0: RawInputLine;
  readonly d1: RawInputLine;
  readonly #assembler: WiegandFrameAssembler;
  readonly #gapUs: number;
  readonly #listeners = new Set<(frame: FrameResult) => void>();
  #unwatch: Array<() => void> = [];
  #timer: NodeJS.Timeout | null = null;
  #low: [boolean, boolean] = [false, false];
  #users = 0;

  constructor(d0: RawInputLine, d1: RawInputLine, options: WiegandLinkOptions = {}) {
    this.d0 = d0;
    this.d1 = d1;
    this.#gapUs = (options.frameGapMs ?? 25) * 1000;
    this.#assembler = new WiegandFrameAssembler((f) => this.#emit(f), {
      frameGapUs: this.#gapUs,
      ...(options.minIntervalUs !== undefined ? { minIntervalUs: options.minIntervalUs } : {}),
    });
  }

  onFrame(listener: (frame: FrameResult) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Reference-counted: the reader and keypad sharing a pair each start and stop it. */
  start(): void {
    this.#users++;
    if (this.#users > 1) return;
    this.#low = [this.d0.read() === 0, this.d1.read() === 0];
    this.#unwatch = [
      this.d0.watch((level, at) => this.#onLevel(0, level, at)),
      this.d1.watch((level, at) => this.#onLevel(1, level, at)),
    ];
  }

  stop(): void {
    if (this.#users === 0) return;
    this.#users--;
    if (this.#users > 0) return;
    for (const u of this.#unwatch) u();
    this.#unwatch = [];
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#assembler.end();
  }

  #onLevel(line: 0 | 1, level: Level, atUs: number): void {
    if (level === 0) {
      this.#low[line] = true;
      return;
    }
    if (!this.#low[line]) return;
    this.#low[line] = false;
    this.#assembler.edge(line, atUs);
    this.#arm();
  }

  #arm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    const waitMs = Math.max(1, (this.#assembler.lastEdgeUs + this.#gapUs - nowUs()) / 1000);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      // Edge timestamps may run ahead of this timer (emulated trains); wait until the gap really passed.
      if (nowUs() - this.#assembler.lastEdgeUs >= this.#gapUs) this.#assembler.end();
      else this.#arm();
    }, waitMs);
  }

  #emit(frame: FrameResult): void {
    for (const l of [...this.#listeners]) l(frame);
  }
}

export interface WiegandStats {
  accepted: number;
  rejected: { length: number; parity: number; timing: number };
}

export interface WiegandReaderOptions {
  id: string;
  link: WiegandLink;
  formats: WiegandFormat[];
  logger?: Logger;
}

const isKeyBurst = (n: number) => n === 4 || n === 8;

/** A Wiegand card reader. Wiegand is one-way and unsupervised: it is "online" by definition; errors count rejects. */
export class WiegandReader implements CardReader {
  readonly id: string;
  readonly #link: WiegandLink;
  readonly #formats: WiegandFormat[];
  readonly #logger: Logger | undefined;
  readonly #cardListeners = new Set<(valueHex: string) => void>();
  readonly #healthListeners = new Set<(h: ReaderHealth) => void>();
  readonly stats: WiegandStats = { accepted: 0, rejected: { length: 0, parity: 0, timing: 0 } };
  #lastSeen: number | null = null;
  #startedAt: number | null = null;
  #off: (() => void) | null = null;
  /** Line noise can reject frames back to back: a few lines a minute, then one count. */
  readonly #rejectLog: Summarizer;

  constructor(options: WiegandReaderOptions) {
    this.id = options.id;
    this.#link = options.link;
    this.#formats = options.formats;
    this.#logger = options.logger;
    this.#rejectLog = new Summarizer({
      perWindow: 5,
      onSuppressed: (s) =>
        this.#logger?.warn(
          { reader: this.id, suppressed: s.suppressed },
          `wiegand frames rejected: …and ${s.suppressed} more in the last minute`,
        ),
    });
  }

  onCard(listener: (valueHex: string) => void): () => void {
    this.#cardListeners.add(listener);
    return () => this.#cardListeners.delete(listener);
  }

  onHealth(listener: (health: ReaderHealth) => void): () => void {
    this.#healthListeners.add(listener);
    return () => this.#healthListeners.delete(listener);
  }

  health(): ReaderHealth {
    const r = this.stats.rejected;
    return {
      online: true,
      state: 'unsupervised',
      since: this.#startedAt,
      lastSeen: this.#lastSeen,
      errors: r.length + r.parity + r.timing,
    };
  }

  async start(): Promise<void> {
    if (this.#off) return;
    this.#startedAt = Date.now();
    this.#off = this.#link.onFrame((f) => this.#onFrame(f));
    this.#link.start();
  }

  async stop(): Promise<void> {
    if (!this.#off) return;
    this.#off();
    this.#off = null;
    this.#link.stop();
    this.#rejectLog.flush(true);
  }

  /** A rejected frame is counted (health().errors), not announced: a Wiegand reader's state never changes. */
  #reject(kind: keyof WiegandStats['rejected'], detail: Record<string, unknown>): void {
    this.stats.rejected[kind]++;
    if (this.#rejectLog.allow(this.id))
      this.#logger?.warn({ reader: this.id, ...detail }, 'wiegand frame rejected');
  }

  #onFrame(frame: FrameResult): void {
    if (!frame.ok) {
      if (!isKeyBurst(frame.bitCount)) this.#reject('timing', { reason: frame.reason, bits: frame.bitCount });
      return;
    }
    if (isKeyBurst(frame.bits.length)) return;
    const card = decodeCard(frame.bits, this.#formats);
    if (!card.ok) {
      this.#reject(card.reason, { reason: card.reason, bits: card.bits });
      return;
    }
    this.stats.accepted++;
    this.#lastSeen = Date.now();
    this.#logger?.debug(
      { reader: this.id, format: card.format, card: maskCard(card.valueHex) },
      'wiegand card',
    );
    for (const l of [...this.#cardListeners]) l(card.valueHex);
  }
}

export interface WiegandKeypadOptions {
  id: string;
  link: WiegandLink;
  interDigitTimeoutMs?: number;
  onTimeout?: 'submit' | 'discard';
  maxDigits?: number;
  logger?: Logger;
}

/** Collects key bursts into a code: `#` submits, `*` clears, silence ends the entry. */
export class WiegandKeypad implements Keypad {
  readonly id: string;
  readonly #link: WiegandLink;
  readonly #timeoutMs: number;
  readonly #onTimeout: 'submit' | 'discard';
  readonly #maxDigits: number;
  readonly #logger: Logger | undefined;
  readonly #listeners = new Set<(digits: string) => void>();
  readonly stats = { codes: 0, rejectedKeys: 0, discardedEntries: 0 };
  #digits = '';
  #timer: NodeJS.Timeout | null = null;
  #off: (() => void) | null = null;
  /** Line noise can reject bursts back to back: a few lines a minute, then one count. */
  readonly #rejectLog: Summarizer;

  constructor(options: WiegandKeypadOptions) {
    this.id = options.id;
    this.#link = options.link;
    this.#timeoutMs = options.interDigitTimeoutMs ?? 5000;
    this.#onTimeout = options.onTimeout ?? 'submit';
    this.#maxDigits = options.maxDigits ?? 12;
    this.#logger = options.logger;
    this.#rejectLog = new Summarizer({
      perWindow: 5,
      onSuppressed: (s) =>
        this.#logger?.warn(
          { keypad: this.id, suppressed: s.suppressed },
          `keypad bursts rejected: …and ${s.suppressed} more in the last minute`,
        ),
    });
  }

  onCode(listener: (digits: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async start(): Promise<void> {
    if (this.#off) return;
    this.#off = this.#link.onFrame((f) => this.#onFrame(f));
    this.#link.start();
  }

  async stop(): Promise<void> {
    if (!this.#off) return;
    this.#off();
    this.#off = null;
    this.#link.stop();
    this.#clear();
    this.#rejectLog.flush(true);
  }

  #clear(): void {
    this.#digits = '';
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #submit(): void {
    const code = this.#digits;
    this.#clear();
    if (code.length === 0) return;
    this.stats.codes++;
    // Never log the digits: they are a PIN.
    this.#logger?.debug({ keypad: this.id, length: code.length }, 'keypad code');
    for (const l of [...this.#listeners]) l(code);
  }

  #onFrame(frame: FrameResult): void {
    const bits = frame.ok ? frame.bits.length : frame.bitCount;
    if (!isKeyBurst(bits)) return;
    const key = frame.ok ? decodeKey(frame.bits) : ({ ok: false, reason: 'timing' } as const);
    if (!key.ok) {
      // A lost key would shift the code; drop the whole entry so the person types it again.
      this.stats.rejectedKeys++;
      if (this.#rejectLog.allow(this.id))
        this.#logger?.warn({ keypad: this.id, reason: key.reason }, 'keypad burst rejected, entry cleared');
      this.#clear();
      return;
    }
    if (key.key === '*') {
      this.#clear();
      return;
    }
    if (key.key === '#') {
      this.#submit();
      return;
    }
    this.#digits += key.key;
    if (this.#digits.length > this.#maxDigits) {
      this.stats.discardedEntries++;
      this.#clear();
      return;
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#onTimeout === 'submit') this.#submit();
      else {
        this.stats.discardedEntries++;
        this.#clear();
      }
    }, this.#timeoutMs);
  }
}
