// Trusted time for time-bound decisions (docs/trusted-time.md). The hub keeps a persisted
// high-water mark and refuses to follow the system clock backwards by more than a minute: it keeps
// counting from the last good reading on the monotonic clock instead, and raises alarm.clock_jump.
// Trust comes from a battery-backed RTC (config) or a recent NTP / cloud confirmation.
import { execFile } from 'node:child_process';
import type { Logger } from 'pino';
import type { NewEvent } from '../domain.js';

export type ClockReason =
  | 'rtc'
  | 'ntp'
  | 'cloud'
  | 'clock_jump'
  | 'unconfirmed'
  | 'confirmation_stale'
  | 'cloud_disagrees';

export interface ClockReading {
  /** Epoch ms to decide with. */
  ms: number;
  trusted: boolean;
  reason: ClockReason;
}

export interface ClockStatus extends ClockReading {
  systemMs: number;
  highWaterMark: number;
  lastConfirmedAt: number | null;
  lastConfirmedBy: 'ntp' | 'cloud' | null;
  /** Set while a backward jump is being refused: the system time we did not follow. */
  refusedSystemMs: number | null;
}

export interface ClockPolicy {
  rtc: boolean;
  maxBackwardJumpMs: number;
  confirmMaxAgeMs: number;
  cloudToleranceMs: number;
}

export const DEFAULT_CLOCK_POLICY: Readonly<ClockPolicy> = {
  rtc: false,
  maxBackwardJumpMs: 60_000,
  confirmMaxAgeMs: 168 * 3_600_000,
  cloudToleranceMs: 120_000,
};

/** Where the high-water mark lives: the store's kv table (`store.kv`). */
export interface ClockKv {
  get(key: string): string | null;
  set(key: string, value: string): void;
}

export interface TrustedClockOptions {
  kv: ClockKv;
  policy?: Partial<ClockPolicy>;
  /** Appends an event (alarm.clock_jump ...); usually `(e) => store.events.append(e)`. */
  emitEvent: (e: NewEvent) => void;
  systemNow?: () => number;
  monotonicNow?: () => number;
  /** Resolves true when NTP has synchronised the system clock; polled every `ntpPollMs`. */
  ntpSynchronized?: () => Promise<boolean>;
  ntpPollMs?: number;
  /** How often the high-water mark is saved while running (default 10 min; also at stop). */
  persistEveryMs?: number;
  logger?: Logger;
}

const HWM_KEY = 'offline.clock.hwm';
/**
 * Every save is a durable commit on the SD card (docs/storage.md): once a minute cost 35 MB a day on an
 * idle hub. Every 10 minutes (and at every stop) costs a tenth; the price is that after a power cut or a
 * kill the hub may trust a time up to 10 minutes older than the last it saw (docs/trusted-time.md).
 */
export const DEFAULT_PERSIST_EVERY_MS = 600_000;
const CONFIRMED_KEY = 'offline.clock.confirmed';
/**
 * NTP confirms every 5 minutes; saving each one would be 288 commits a day on the card. A confirmation
 * is saved when its source changes, once an hour, and at stop: after a power cut the hub may remember it up
 * to an hour older than it was, so trust (7 days by default) can only end that much sooner, never later.
 */
export const CONFIRMATION_SAVE_EVERY_MS = 3_600_000;

export class TrustedClock {
  readonly policy: Readonly<ClockPolicy>;
  readonly #o: TrustedClockOptions;
  readonly #systemNow: () => number;
  readonly #monoNow: () => number;
  #anchorWall = 0;
  #anchorMono = 0;
  #highWater = 0;
  #persistedHighWater = 0;
  #refusedSystemMs: number | null = null;
  #confirmedAt: number | null = null;
  #confirmedBy: 'ntp' | 'cloud' | null = null;
  /** The confirmation as last saved: what a restart would read. */
  #savedConfirmation: { at: number; by: 'ntp' | 'cloud' } | null = null;
  #cloudDisagrees = false;
  #timers: NodeJS.Timeout[] = [];
  #loaded = false;

  constructor(options: TrustedClockOptions) {
    this.#o = options;
    this.policy = Object.freeze({ ...DEFAULT_CLOCK_POLICY, ...options.policy });
    this.#systemNow = options.systemNow ?? Date.now;
    this.#monoNow = options.monotonicNow ?? (() => performance.now());
  }

  async start(): Promise<void> {
    this.load();
    const persistEvery = this.#o.persistEveryMs ?? DEFAULT_PERSIST_EVERY_MS;
    // Reading the clock here too notices a jump (and raises the alarm) even when no one is at a door.
    const persist = setInterval(() => {
      this.now();
      this.#persist();
    }, persistEvery);
    persist.unref();
    this.#timers.push(persist);
    if (this.#o.ntpSynchronized) {
      const poll = () => {
        this.#o
          .ntpSynchronized?.()
          .then((synced) => {
            if (synced) this.confirm('ntp');
          })
          .catch(() => {});
      };
      poll();
      const timer = setInterval(poll, this.#o.ntpPollMs ?? 300_000);
      timer.unref();
      this.#timers.push(timer);
    }
  }

  async stop(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    if (this.#loaded) {
      this.#persist();
      this.#saveConfirmation();
    }
  }

  /** Reads the persisted state; start() calls it, and now() does on first use. */
  load(): void {
    if (this.#loaded) return;
    this.#loaded = true;
    const stored = Number(this.#o.kv.get(HWM_KEY) ?? '0');
    this.#highWater = Number.isSafeInteger(stored) && stored > 0 ? stored : 0;
    this.#persistedHighWater = this.#highWater;
    const confirmed = parseConfirmed(this.#o.kv.get(CONFIRMED_KEY));
    if (confirmed) {
      this.#confirmedAt = confirmed.at;
      this.#confirmedBy = confirmed.by;
      this.#savedConfirmation = confirmed;
    }
    const system = this.#systemNow();
    this.#anchorMono = this.#monoNow();
    if (system < this.#highWater - this.policy.maxBackwardJumpMs) {
      // Booted behind the last time we saw (no RTC, stale fake-hwclock): refuse and count on.
      this.#anchorWall = this.#highWater;
      this.#refuse(system, this.#highWater);
    } else {
      this.#anchorWall = system;
    }
  }

  /** The time to decide with, and whether it can be trusted. Cheap: no I/O. */
  now(): ClockReading {
    if (!this.#loaded) this.load();
    const system = this.#systemNow();
    const mono = this.#monoNow();
    const expected = this.#anchorWall + (mono - this.#anchorMono);
    let ms: number;
    if (system < expected - this.policy.maxBackwardJumpMs) {
      if (this.#refusedSystemMs === null) this.#refuse(system, expected);
      this.#refusedSystemMs = system;
      ms = Math.round(expected);
    } else {
      if (this.#refusedSystemMs !== null) {
        this.#o.logger?.info({ systemMs: system }, 'system clock is back in line; following it again');
        this.#refusedSystemMs = null;
      }
      this.#anchorWall = system;
      this.#anchorMono = mono;
      ms = system;
    }
    if (ms > this.#highWater) this.#highWater = ms;
    return { ms, ...this.#trust(ms) };
  }

  /** For injection as the decision clock: `now: () => clock.nowMs()`. */
  nowMs(): number {
    return this.now().ms;
  }

  /** NTP reported sync, or the cloud sent its time (checked against ours within the tolerance). */
  confirm(source: 'ntp' | 'cloud', referenceMs?: number): boolean {
    const reading = this.now();
    if (source === 'cloud' && referenceMs !== undefined) {
      if (
        !Number.isFinite(referenceMs) ||
        Math.abs(referenceMs - reading.ms) > this.policy.cloudToleranceMs
      ) {
        if (!this.#cloudDisagrees) {
          this.#cloudDisagrees = true;
          this.#o.emitEvent({
            type: 'alarm.clock_disagrees',
            doorId: null,
            personId: null,
            credentialId: null,
            data: { hubMs: reading.ms, cloudMs: Number.isFinite(referenceMs) ? referenceMs : null },
          });
          this.#o.logger?.warn(
            { hubMs: reading.ms, cloudMs: referenceMs },
            'cloud time disagrees with the hub clock',
          );
        }
        return false;
      }
      this.#cloudDisagrees = false;
    }
    if (this.#refusedSystemMs !== null) return false;
    this.#confirmedAt = reading.ms;
    this.#confirmedBy = source;
    const saved = this.#savedConfirmation;
    if (saved === null || saved.by !== source || reading.ms - saved.at >= CONFIRMATION_SAVE_EVERY_MS)
      this.#saveConfirmation();
    return true;
  }

  /**
   * Staff accept the current system time after a refused backward jump (e.g. the clock had been set
   * into the future by mistake): the high-water mark moves back to it.
   */
  acceptSystemTime(actor = 'staff'): void {
    const system = this.#systemNow();
    const previous = this.#highWater;
    this.#anchorWall = system;
    this.#anchorMono = this.#monoNow();
    this.#highWater = system;
    this.#refusedSystemMs = null;
    this.#persist(true);
    this.#o.emitEvent({
      type: 'admin.clock.accepted',
      doorId: null,
      personId: null,
      credentialId: null,
      data: { from: previous, to: system, actor },
    });
  }

  status(): ClockStatus {
    const reading = this.now();
    return {
      ...reading,
      systemMs: this.#systemNow(),
      highWaterMark: this.#highWater,
      lastConfirmedAt: this.#confirmedAt,
      lastConfirmedBy: this.#confirmedBy,
      refusedSystemMs: this.#refusedSystemMs,
    };
  }

  #trust(ms: number): { trusted: boolean; reason: ClockReason } {
    if (this.#refusedSystemMs !== null) return { trusted: false, reason: 'clock_jump' };
    if (this.#cloudDisagrees) return { trusted: false, reason: 'cloud_disagrees' };
    if (this.policy.rtc) return { trusted: true, reason: 'rtc' };
    if (this.#confirmedAt === null || this.#confirmedBy === null)
      return { trusted: false, reason: 'unconfirmed' };
    if (ms - this.#confirmedAt > this.policy.confirmMaxAgeMs)
      return { trusted: false, reason: 'confirmation_stale' };
    return { trusted: true, reason: this.#confirmedBy };
  }

  #refuse(system: number, expected: number): void {
    this.#refusedSystemMs = system;
    const data = {
      systemMs: system,
      expectedMs: Math.round(expected),
      backwardMs: Math.round(expected - system),
    };
    this.#o.logger?.error(data, 'system clock jumped backwards; refusing it and keeping the last good time');
    try {
      this.#o.emitEvent({ type: 'alarm.clock_jump', doorId: null, personId: null, credentialId: null, data });
    } catch (err) {
      this.#o.logger?.error({ err }, 'could not record alarm.clock_jump');
    }
  }

  #saveConfirmation(): void {
    const at = this.#confirmedAt;
    const by = this.#confirmedBy;
    if (at === null || by === null) return;
    if (this.#savedConfirmation?.at === at && this.#savedConfirmation.by === by) return;
    try {
      this.#o.kv.set(CONFIRMED_KEY, JSON.stringify({ at, by }));
      this.#savedConfirmation = { at, by };
    } catch (err) {
      this.#o.logger?.error({ err }, 'could not persist clock confirmation');
    }
  }

  #persist(force = false): void {
    if (!force && this.#highWater <= this.#persistedHighWater) return;
    try {
      this.#o.kv.set(HWM_KEY, String(Math.round(this.#highWater)));
      this.#persistedHighWater = this.#highWater;
    } catch (err) {
      this.#o.logger?.error({ err }, 'could not persist the clock high-water mark');
    }
  }
}

function parseConfirmed(text: string | null): { at: number; by: 'ntp' | 'cloud' } | null {
  if (text === null) return null;
  try {
    const value = JSON.parse(text) as { at?: unknown; by?: unknown };
    if (
      typeof value.at === 'number' &&
      Number.isFinite(value.at) &&
      (value.by === 'ntp' || value.by === 'cloud')
    ) {
      return { at: value.at, by: value.by };
    }
  } catch {
    // a damaged record is no confirmation
  }
  return null;
}

/** `timedatectl show -p NTPSynchronized --value` → true on a systemd host whose clock NTP has synced. */
export function timedatectlNtpSynchronized(): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(
      'timedatectl',
      ['show', '-p', 'NTPSynchronized', '--value'],
      { timeout: 3000 },
      (err, stdout) => {
        resolve(!err && stdout.trim() === 'yes');
      },
    );
  });
}
