// A PN532 NFC reader (HSU) as a CardReader: polls for ISO14443A cards, reports each card once per presentation,
// re-initialises on a stall, reopens the port after an unplug, and reports health as a state machine:
// starting → online ⇄ offline. Listeners hear each change once; the retries of a dead reader are silent
// apart from one summary log line a minute (an SD card must not fill with "reader offline").
import type { Logger } from 'pino';
import { Summarizer } from '../../hub/budget.js';
import { maskCard } from '../../hub/logger.js';
import type { CardReader, ReaderHealth, ReaderState } from '../types.js';
import { Pn532Client, Pn532Error } from './client.js';
import { openSerialPort, type SerialLink, type SerialOpener } from './serial.js';

/** Error lines a minute from a reader that is still online; the rest are counted in one summary line. */
const HICCUP_LINES_PER_MINUTE = 5;

export interface Pn532ReaderOptions {
  id: string;
  path: string;
  baudRate?: number;
  /** Pause between polls. */
  pollMs?: number;
  /** A command without an answer in this time is an error. */
  timeoutMs?: number;
  /** Consecutive failed polls before the reader is reported offline. */
  offlineAfterFailures?: number;
  /** Pause before reopening a port that went away. */
  reopenMs?: number;
  open?: SerialOpener;
  logger?: Logger;
  /** Clock for health times and the once-a-minute summary lines (tests step it). */
  now?: () => number;
}

export interface Pn532ReaderStats {
  cards: number;
  timeouts: number;
  opens: number;
  initialisations: number;
  discardedBytes: number;
  badChecksums: number;
}

export class Pn532Reader implements CardReader {
  readonly id: string;
  readonly #path: string;
  readonly #baudRate: number;
  readonly #pollMs: number;
  readonly #timeoutMs: number;
  readonly #offlineAfter: number;
  readonly #reopenMs: number;
  readonly #open: SerialOpener;
  readonly #logger: Logger | undefined;
  readonly #now: () => number;
  readonly #cardListeners = new Set<(valueHex: string) => void>();
  readonly #healthListeners = new Set<(h: ReaderHealth) => void>();
  readonly stats: Pn532ReaderStats = {
    cards: 0,
    timeouts: 0,
    opens: 0,
    initialisations: 0,
    discardedBytes: 0,
    badChecksums: 0,
  };
  #health: ReaderHealth = { online: false, state: 'starting', since: null, lastSeen: null, errors: 0 };
  /** Errors of a reader that is still online (a lost frame, line noise): a few lines a minute, then a count. */
  readonly #hiccups: Summarizer;
  /** Failed retries while offline: no line each, one count a minute. */
  readonly #offlineRetries: Summarizer;
  #running = false;
  #loop: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  #link: SerialLink | null = null;
  #client: Pn532Client | null = null;
  #initialised = false;
  #failures = 0;
  #cardInField: string | null = null;
  firmware: string | null = null;

  constructor(options: Pn532ReaderOptions) {
    this.id = options.id;
    this.#path = options.path;
    this.#baudRate = options.baudRate ?? 115200;
    this.#pollMs = options.pollMs ?? 100;
    this.#timeoutMs = options.timeoutMs ?? 1000;
    this.#offlineAfter = options.offlineAfterFailures ?? 2;
    this.#reopenMs = options.reopenMs ?? 1000;
    this.#open = options.open ?? openSerialPort;
    this.#logger = options.logger?.child({ reader: options.id });
    this.#now = options.now ?? Date.now;
    this.#hiccups = new Summarizer({
      perWindow: HICCUP_LINES_PER_MINUTE,
      now: this.#now,
      onSuppressed: (s) =>
        this.#logger?.warn(
          { suppressed: s.suppressed },
          `pn532 errors: …and ${s.suppressed} more in the last minute`,
        ),
    });
    this.#offlineRetries = new Summarizer({
      perWindow: 0,
      now: this.#now,
      onSuppressed: (s) =>
        this.#logger?.warn(
          { suppressed: s.suppressed, lastError: this.#health.lastError },
          `pn532 reader still offline: …and ${s.suppressed} more failed retries in the last minute`,
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
    return { ...this.#health };
  }

  /** Returns at once; the reader comes online in the background (a missing reader never blocks the hub). */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run().catch((err: unknown) => {
      // Defensive: the loop handles its own errors; this only guards against a bug killing the process.
      this.#logger?.error({ err: String(err) }, 'pn532 loop stopped');
    });
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#wake?.();
    await this.#closeLink();
    await this.#loop;
    this.#loop = null;
    this.#hiccups.flush(true);
    this.#offlineRetries.flush(true);
    // A stopped reader starts over; stopping is not "going offline", so nobody is told.
    this.#failures = 0;
    this.#health = { ...this.#health, online: false, state: 'starting', since: this.#now() };
    delete this.#health.lastError;
  }

  /** Moves to `state` and tells the listeners, once per change. */
  #setState(state: ReaderState, lastError?: string): void {
    if (this.#health.state === state) return;
    const next: ReaderHealth = { ...this.#health, state, online: state === 'online', since: this.#now() };
    if (lastError === undefined) delete next.lastError;
    else next.lastError = lastError;
    this.#health = next;
    for (const l of [...this.#healthListeners]) {
      try {
        l({ ...next });
      } catch {
        // A listener's bug must not stop polling.
      }
    }
  }

  #goOffline(message: string): void {
    this.#logger?.warn(
      { err: message, failures: this.#failures, was: this.#health.state },
      'pn532 reader offline (retrying quietly; one summary line a minute)',
    );
    this.#setState('offline', message);
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#wake = null;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(t);
        this.#wake = null;
        resolve();
      };
    });
  }

  async #closeLink(): Promise<void> {
    const link = this.#link;
    const client = this.#client;
    this.#link = null;
    this.#client = null;
    this.#initialised = false;
    if (client) {
      this.stats.discardedBytes += client.decoder.stats.discardedBytes;
      this.stats.badChecksums += client.decoder.stats.badChecksums;
      client.close();
    }
    if (link) await link.close().catch(() => undefined);
  }

  #fail(err: unknown, what: string): void {
    this.#failures++;
    if (err instanceof Pn532Error && (err.kind === 'timeout' || err.kind === 'no-ack')) this.stats.timeouts++;
    const message = `${what} failed: ${err instanceof Error ? err.message : String(err)}`;
    this.#initialised = false;
    this.#health.errors++;
    if (this.#health.state === 'offline') {
      this.#health.lastError = message;
      this.#offlineRetries.allow(this.id);
    } else if (this.#failures >= this.#offlineAfter) {
      this.#goOffline(message);
    } else if (this.#hiccups.allow(this.id)) {
      this.#logger?.warn({ err: message, failures: this.#failures }, `pn532 ${what} failed`);
    }
  }

  #succeed(): void {
    this.#failures = 0;
    this.#health.lastSeen = this.#now();
    if (this.#health.state === 'online') return;
    const offlineSince = this.#health.state === 'offline' ? this.#health.since : null;
    this.#offlineRetries.flush(true);
    this.#logger?.info(
      {
        firmware: this.firmware,
        ...(offlineSince !== null ? { offlineMs: this.#now() - offlineSince } : {}),
      },
      'pn532 reader online',
    );
    this.#setState('online');
  }

  async #ensureOpen(): Promise<Pn532Client | null> {
    if (this.#client) return this.#client;
    try {
      const link = await this.#open(this.#path, this.#baudRate);
      if (!this.#running) {
        await link.close();
        return null;
      }
      this.stats.opens++;
      this.#link = link;
      this.#client = new Pn532Client(link, { timeoutMs: this.#timeoutMs });
      link.onClose((err) => {
        if (this.#link !== link) return;
        void this.#closeLink();
        this.#failures = this.#offlineAfter;
        this.#health.errors++;
        const message = `serial port went away${err?.message ? `: ${err.message}` : ''}`;
        if (this.#health.state === 'offline') {
          this.#health.lastError = message;
          this.#offlineRetries.allow(this.id);
        } else {
          this.#goOffline(message);
        }
        this.#wake?.();
      });
      return this.#client;
    } catch (err) {
      this.#failures = Math.max(this.#failures + 1, this.#offlineAfter);
      this.#fail(err, 'open');
      return null;
    }
  }

  async #initialise(client: Pn532Client): Promise<void> {
    await client.wakeUp();
    await client.samConfiguration();
    await client.setMaxRetries();
    const fw = await client.getFirmwareVersion();
    this.firmware = `PN5${fw.ic.toString(16)} v${fw.version}.${fw.revision}`;
    this.stats.initialisations++;
    this.#initialised = true;
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const client = await this.#ensureOpen();
      if (!client) {
        if (this.#running) await this.#sleep(this.#reopenMs);
        continue;
      }
      try {
        if (!this.#initialised) await this.#initialise(client);
        const target = await client.listPassiveTarget();
        this.#succeed();
        this.#onTarget(target ? target.uid.toString('hex').toUpperCase() : null);
      } catch (err) {
        if (!this.#running || this.#client !== client) continue;
        this.#fail(err, this.#initialised ? 'poll' : 'initialisation');
      }
      if (this.#running) await this.#sleep(this.#pollMs);
    }
  }

  #onTarget(uid: string | null): void {
    if (uid === this.#cardInField) return;
    this.#cardInField = uid;
    if (!uid) return;
    this.stats.cards++;
    this.#logger?.debug({ card: maskCard(uid) }, 'pn532 card');
    for (const l of [...this.#cardListeners]) {
      try {
        l(uid);
      } catch (err) {
        this.#logger?.error({ err: String(err) }, 'card listener failed');
      }
    }
  }
}
