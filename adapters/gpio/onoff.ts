// Real GPIO lines through onoff (sysfs + epoll). onoff is loaded only when a gpio driver is created, so a
// machine without GPIO (or without the optional native module) never loads it.
import type { Logger } from 'pino';
import type { EdgeMode, Level, LineDriver, RawInputLine, RawOutputLine } from './lines.js';
import { nowUs } from './lines.js';
import {
  assertGpioAccess,
  DEFAULT_SYSFS_ROOT,
  explainFsError,
  GpioSetupError,
  resolveSysfsLine,
} from './sysfs.js';

type OnoffModule = typeof import('onoff');
type OnoffGpio = InstanceType<OnoffModule['Gpio']>;

async function loadOnoff(): Promise<OnoffModule['Gpio']> {
  try {
    const mod = (await import('onoff')) as OnoffModule & { default?: OnoffModule };
    return mod.Gpio ?? mod.default?.Gpio;
  } catch (err) {
    throw new GpioSetupError(
      `cannot load the onoff GPIO module: ${err instanceof Error ? err.message : String(err)}`,
      'install it on the Pi with `npm install onoff@6.0.3` (it needs python3, make and g++ to build epoll)',
    );
  }
}

class OnoffOutputLine implements RawOutputLine {
  readonly bcm: number;
  readonly #gpio: OnoffGpio;
  #level: Level;

  constructor(bcm: number, gpio: OnoffGpio, initial: Level) {
    this.bcm = bcm;
    this.#gpio = gpio;
    this.#level = initial;
  }

  async write(level: Level): Promise<void> {
    await this.#gpio.write(level);
    this.#level = level;
  }

  read(): Level {
    return this.#level;
  }

  #closed = false;

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Unexport leaves the pin driven at its last level (the door controller's decision).
    this.#gpio.unexport();
  }
}

class OnoffInputLine implements RawInputLine {
  readonly bcm: number;
  readonly #gpio: OnoffGpio;
  readonly #mode: EdgeMode;
  readonly #listeners = new Set<(level: Level, atUs: number) => void>();
  #level: Level;
  #logger: Logger | undefined;

  constructor(bcm: number, gpio: OnoffGpio, mode: EdgeMode, logger: Logger | undefined) {
    this.bcm = bcm;
    this.#gpio = gpio;
    this.#mode = mode;
    this.#logger = logger;
    this.#level = gpio.readSync();
    gpio.watch((err, value) => {
      const at = nowUs();
      if (err) {
        this.#logger?.warn({ bcm, err: err.message }, 'gpio watch error');
        return;
      }
      // In pulse-end mode each interrupt is one completed low pulse; report it as low-then-high.
      if (this.#mode === 'pulse-end') {
        this.#emit(0, at);
        this.#emit(1, at);
        return;
      }
      this.#emit(value, at);
    });
  }

  #emit(level: Level, at: number): void {
    this.#level = level;
    for (const l of this.#listeners) l(level, at);
  }

  read(): Level {
    try {
      this.#level = this.#gpio.readSync();
    } catch {
      // Keep the last known level; the watcher reports the error.
    }
    return this.#level;
  }

  watch(listener: (level: Level, atUs: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #closed = false;

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    this.#gpio.unwatchAll();
    this.#gpio.unexport();
  }
}

export interface OnoffDriverOptions {
  sysfsRoot?: string;
  logger?: Logger;
}

/** Real lines. BCM numbers are translated to sysfs numbers using the chip base under `sysfsRoot`. */
export class OnoffLineDriver implements LineDriver {
  readonly kind = 'gpio' as const;
  readonly #sysfsRoot: string;
  readonly #logger: Logger | undefined;
  readonly #open = new Set<RawInputLine | RawOutputLine>();
  #Gpio: OnoffModule['Gpio'] | null = null;

  constructor(options: OnoffDriverOptions = {}) {
    this.#sysfsRoot = options.sysfsRoot ?? DEFAULT_SYSFS_ROOT;
    this.#logger = options.logger;
  }

  async #gpioClass(): Promise<OnoffModule['Gpio']> {
    if (!this.#Gpio) {
      await assertGpioAccess(this.#sysfsRoot);
      this.#Gpio = await loadOnoff();
    }
    return this.#Gpio;
  }

  async output(bcm: number, initial: Level, label: string): Promise<RawOutputLine> {
    const Gpio = await this.#gpioClass();
    const line = await resolveSysfsLine(bcm, this.#sysfsRoot);
    let gpio: OnoffGpio;
    try {
      // 'high'/'low' set direction and level in one write: the relay never sees the other level.
      gpio = new Gpio(line, initial === 1 ? 'high' : 'low');
    } catch (err) {
      throw explainFsError(err, `${this.#sysfsRoot}/gpio${line}`, bcm);
    }
    this.#logger?.info({ bcm, line, label, level: initial }, 'gpio output ready');
    const out = new OnoffOutputLine(bcm, gpio, initial);
    this.#open.add(out);
    return out;
  }

  async input(bcm: number, label: string, mode: EdgeMode): Promise<RawInputLine> {
    const Gpio = await this.#gpioClass();
    const line = await resolveSysfsLine(bcm, this.#sysfsRoot);
    let gpio: OnoffGpio;
    try {
      gpio = new Gpio(line, 'in', mode === 'pulse-end' ? 'rising' : 'both');
    } catch (err) {
      throw explainFsError(err, `${this.#sysfsRoot}/gpio${line}`, bcm);
    }
    this.#logger?.info({ bcm, line, label }, 'gpio input ready');
    const input = new OnoffInputLine(bcm, gpio, mode, this.#logger);
    this.#open.add(input);
    return input;
  }

  async close(): Promise<void> {
    for (const l of this.#open) {
      try {
        await l.close();
      } catch {
        // Releasing one line must not keep the others exported.
      }
    }
    this.#open.clear();
  }
}
