// Card capture for enrolment: staff pick a door ("waiting for a card at Front entrance…"), a card is
// presented there and its UID goes back to the one who asked, to be added with credential.add_card.
// The presentation itself is decided as always, so the door is never left unanswered: the capture only
// listens to the bus `decided`, which every path emits — wired readers and LAN (MQTT) doors through
// `presented`, simulated doors decided directly. Waiting captures are bounded per door and hub-wide
// (docs/architecture.md invariant 7); each presentation answers the capture that waited longest.
import { canonicalCardValue } from '../access/index.js';
import type { EventBus, Presentation } from '../bus.js';
import type { CaptureResult, LiveCardCapture } from '../commands/command.js';
import { type Logger, maskCard } from '../logger.js';

export const MAX_CAPTURES_PER_DOOR = 3;
export const MAX_CAPTURES = 10;

interface Waiter {
  doorId: string;
  finish(result: CaptureResult): void;
}

export class CardCapture implements LiveCardCapture {
  readonly #bus: EventBus;
  readonly #logger: Logger | undefined;
  readonly #waiters: Waiter[] = [];

  constructor(options: { bus: EventBus; logger?: Logger }) {
    this.#bus = options.bus;
    this.#logger = options.logger;
  }

  /** Captures waiting now (for tests and status). */
  waiting(doorId?: string): number {
    return this.#waiters.filter((w) => doorId === undefined || w.doorId === doorId).length;
  }

  next(doorId: string, timeoutMs: number, signal?: AbortSignal): Promise<CaptureResult> {
    if (signal?.aborted) return Promise.resolve({ ok: false, why: 'cancelled' });
    if (this.#waiters.length >= MAX_CAPTURES || this.waiting(doorId) >= MAX_CAPTURES_PER_DOOR) {
      return Promise.resolve({ ok: false, why: 'busy' });
    }
    return new Promise<CaptureResult>((resolve) => {
      const waiter: Waiter = {
        doorId,
        finish: (result) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          this.#remove(waiter);
          resolve(result);
        },
      };
      const timer = setTimeout(() => waiter.finish({ ok: false, why: 'timeout' }), timeoutMs);
      const onAbort = () => waiter.finish({ ok: false, why: 'cancelled' });
      signal?.addEventListener('abort', onAbort, { once: true });
      // Listen only while someone waits: the access path pays nothing otherwise.
      if (this.#waiters.length === 0) this.#bus.on(this, 'decided', (p) => this.#onDecided(p));
      this.#waiters.push(waiter);
    });
  }

  #remove(waiter: Waiter): void {
    const index = this.#waiters.indexOf(waiter);
    if (index >= 0) this.#waiters.splice(index, 1);
    if (this.#waiters.length === 0) this.#bus.removeAll(this);
  }

  #onDecided(p: Presentation): void {
    if (p.kind !== 'card') return;
    const waiter = this.#waiters.find((w) => w.doorId === p.doorId);
    const card = waiter ? canonicalCardValue(p.value) : null;
    if (!waiter || card === null) return;
    this.#logger?.info(
      { door: p.doorId, reader: p.readerId, card: maskCard(card) },
      'card captured for enrolment',
    );
    waiter.finish({ ok: true, card, readerId: p.readerId });
  }
}
