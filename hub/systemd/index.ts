// The hub's side of systemd supervision (Type=notify, WatchdogSec=): hub/main.ts calls started() after
// hub.start() and stopping() when a signal arrives. Outside systemd every call does nothing.
import type { Logger } from '../logger.js';
import { SystemdNotifier } from './notify.js';
import { type CheckedHub, HubHealth, lagBoundMs, Watchdog } from './watchdog.js';

export class SystemdLink {
  readonly #notifier: SystemdNotifier;
  readonly #logger: Logger;
  #health: HubHealth | null = null;
  #watchdog: Watchdog | null = null;

  constructor(notifier: SystemdNotifier, logger: Logger) {
    this.#notifier = notifier;
    this.#logger = logger;
  }

  /** Reads (and removes) NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the process environment. */
  static async fromEnvironment(logger: Logger): Promise<SystemdLink> {
    return new SystemdLink(await SystemdNotifier.fromEnvironment(logger), logger);
  }

  /** Every part runs: READY=1, then watchdog pings every half period while the hub is healthy. */
  started(hub: CheckedHub): void {
    if (!this.#notifier.active) return;
    const periodMs = this.#notifier.watchdogMs;
    if (periodMs !== null) {
      const health = new HubHealth(hub, { maxLagMs: lagBoundMs(periodMs) });
      this.#health = health;
      this.#watchdog = new Watchdog({
        notifier: this.#notifier,
        check: () => health.check(),
        intervalMs: Math.max(1, Math.floor(periodMs / 2)),
        logger: this.#logger,
      });
    }
    this.#notifier.ready('deciding');
    this.#watchdog?.tick(); // the first ping and STATUS line at once, not half a period later
    this.#watchdog?.start();
    this.#logger.info(
      { watchdogSeconds: periodMs === null ? null : periodMs / 1000 },
      'told systemd the hub is ready',
    );
  }

  /** A stop began: no more pings (a stopping hub is not "healthy"), and systemd knows why. */
  stopping(): void {
    this.#watchdog?.stop();
    this.#health?.stop();
    this.#notifier.stopping();
  }
}
