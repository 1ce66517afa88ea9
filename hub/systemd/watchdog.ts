// The systemd watchdog (WatchdogSec= in deploy/systemd/gatehouse.service): the hub sends WATCHDOG=1 every
// half period only while its decision loop is healthy, so systemd restarts a hub that hangs or rots.
// Healthy means, at each ping:
//   1. the event loop is alive (a hung loop runs no timer, so the pings simply stop) and has not lagged
//      beyond a bound since the last ping (a loop that still turns but answers doors seconds late);
//   2. the parts on the access path — store, doors, decisions — are running (hub.status().parts);
//   3. the store answers a trivial read (the last event's sequence number: one index lookup).
// An unhealthy check is logged once per reason and shown in `systemctl status`; the missing pings make
// systemd abort and restart the hub after WatchdogSec.
import { performance } from 'node:perf_hooks';
import type { Logger } from '../logger.js';

/** The parts a door's answer depends on (docs/architecture.md, "Start and stop order"). */
export const ACCESS_PATH_PARTS = ['store', 'doors', 'decisions'] as const;

/** What the health check needs of the hub (hub/app.ts Hub). */
export interface CheckedHub {
  status(): Record<string, unknown>;
  readonly store: { events: { lastSeq(): number } };
}

export type HealthVerdict = { healthy: true; summary: string } | { healthy: false; reason: string };

/**
 * The event-loop lag bound for a watchdog period: a third of it (a 30 s watchdog tolerates a 10 s
 * stall before it counts), at least 250 ms so timer jitter on a busy Pi never counts.
 */
export function lagBoundMs(watchdogMs: number): number {
  return Math.max(250, Math.floor(watchdogMs / 3));
}

/** How often the lag sampler expects to run; its lateness is the event loop's lag. */
const LAG_SAMPLE_MS = 100;

export class HubHealth {
  readonly maxLagMs: number;
  readonly #hub: CheckedHub;
  readonly #sampler: NodeJS.Timeout;
  #lastBeat = performance.now();
  #worstLagMs = 0;

  constructor(hub: CheckedHub, options: { maxLagMs: number }) {
    this.#hub = hub;
    this.maxLagMs = options.maxLagMs;
    // A timer's lateness, not perf_hooks' monitorEventLoopDelay: on Node 20 that histogram does not see a
    // long synchronous stall (it recorded ~20 ms for an 800 ms busy loop).
    this.#sampler = setInterval(() => this.#beat(), LAG_SAMPLE_MS);
    this.#sampler.unref();
  }

  #beat(): void {
    const now = performance.now();
    this.#worstLagMs = Math.max(this.#worstLagMs, now - this.#lastBeat - LAG_SAMPLE_MS);
    this.#lastBeat = now;
  }

  /** The verdict since the previous check (the lag window restarts at each call). */
  check(): HealthVerdict {
    this.#beat(); // a stall that just ended counts even if the sampler has not run since
    const lagMs = Math.round(this.#worstLagMs);
    this.#worstLagMs = 0;
    if (lagMs > this.maxLagMs) {
      return { healthy: false, reason: `event loop stalled ${lagMs} ms (bound ${this.maxLagMs} ms)` };
    }
    let status: Record<string, unknown>;
    try {
      status = this.#hub.status();
    } catch (err) {
      return { healthy: false, reason: `status failed: ${(err as Error).message}` };
    }
    const parts = (status.parts ?? {}) as Record<string, string>;
    for (const name of ACCESS_PATH_PARTS) {
      if (parts[name] !== 'running')
        return { healthy: false, reason: `part ${name} is ${parts[name] ?? 'missing'}` };
    }
    try {
      this.#hub.store.events.lastSeq();
    } catch (err) {
      return { healthy: false, reason: `store read failed: ${(err as Error).message}` };
    }
    return { healthy: true, summary: summarise(status) };
  }

  stop(): void {
    clearInterval(this.#sampler);
  }
}

/** `deciding; 3 doors; cloud connected`: what a person checking `systemctl status` wants first. */
function summarise(status: Record<string, unknown>): string {
  const doors = Array.isArray(status.doors) ? status.doors.length : 0;
  const cloud = (status.cloud as { state?: unknown } | undefined)?.state;
  const words = [`deciding; ${doors} door${doors === 1 ? '' : 's'}`];
  if (typeof cloud === 'string' && cloud !== 'disabled') words.push(`cloud ${cloud}`);
  return words.join('; ');
}

export interface WatchdogNotifier {
  watchdog(): void;
  status(text: string): void;
}

/** Pings systemd every `intervalMs` while `check` says healthy; also keeps the STATUS= line current. */
export class Watchdog {
  readonly #notifier: WatchdogNotifier;
  readonly #check: () => HealthVerdict;
  readonly #intervalMs: number;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | null = null;
  #lastStatus = '';
  #lastReason: string | null = null;

  constructor(options: {
    notifier: WatchdogNotifier;
    check: () => HealthVerdict;
    intervalMs: number;
    logger: Logger;
  }) {
    this.#notifier = options.notifier;
    this.#check = options.check;
    this.#intervalMs = options.intervalMs;
    this.#logger = options.logger;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.tick(), this.#intervalMs);
    this.#timer.unref(); // the hub's listeners keep the process alive, not the watchdog
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** One check: a ping when healthy, one log line per new reason when not. */
  tick(): void {
    const verdict = this.#check();
    if (verdict.healthy) {
      this.#notifier.watchdog();
      if (this.#lastReason !== null) this.#logger.info('healthy again; watchdog pings resumed');
      this.#lastReason = null;
      this.#setStatus(verdict.summary);
      return;
    }
    if (verdict.reason !== this.#lastReason) {
      this.#logger.error(
        { reason: verdict.reason },
        'unhealthy: not pinging the systemd watchdog (systemd restarts the hub if this lasts)',
      );
    }
    this.#lastReason = verdict.reason;
    this.#setStatus(`unhealthy: ${verdict.reason}`);
  }

  #setStatus(text: string): void {
    if (text === this.#lastStatus) return;
    this.#lastStatus = text;
    this.#notifier.status(text);
  }
}
