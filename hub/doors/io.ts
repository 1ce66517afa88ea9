// Door I/O: how a controller drives a lock and hears the door. Two kinds behind one interface:
// MQTT doors (lock commands on the bus, reports routed in by the manager) and wired doors (GPIO lines).
import { DOOR_INPUTS, type DoorInputName } from '../../adapters/config.js';
import type { WiredDoorHardware } from '../../adapters/factory.js';
import type { DigitalInput, DigitalOutput } from '../../adapters/types.js';
import type { EventBus } from '../bus.js';
import type { FailMode } from '../domain.js';
import { type DoorClock, systemClock, type TimerHandle } from './clock.js';

/** What a door tells its controller, whatever the transport. */
export type DoorSignal =
  | { kind: 'contact'; open: boolean }
  | { kind: 'lock'; unlocked: boolean }
  | { kind: 'rex' }
  | { kind: 'doorbell' }
  | { kind: 'tamper'; active: boolean }
  | { kind: 'fire'; active: boolean }
  | { kind: 'online'; online: boolean };

export interface DoorIo {
  readonly transport: 'mqtt' | 'wired' | 'sim';
  /**
   * Drive the lock. `pulseMs` is set for a timed unlock (MQTT devices time it themselves as a
   * backstop); an unlock without it is held until the next `driveLock`. Rejects when the write fails.
   */
  driveLock(unlocked: boolean, pulseMs?: number): Promise<void>;
  /** Start delivering signals. Wired doors report their current input levels first (see `initial`). */
  start(onSignal: (signal: DoorSignal) => void): Promise<void>;
  /** Input levels at start, read before any edge is delivered; empty for MQTT doors. */
  initial(): DoorSignal[];
  stop(): Promise<void>;
}

/**
 * Relay energised for a lock state. Fail-secure strikes are energised to unlock; fail-safe maglocks
 * are energised to lock (power loss releases them).
 */
export function relayEnergised(unlocked: boolean, failMode: FailMode): boolean {
  return unlocked !== (failMode === 'safe');
}

/** A held unlock (keep-unlocked, fire) is sent as a long pulse... */
export const HELD_UNLOCK_MS = 60_000;
/** ...and repeated this often, so the device never runs out while the hub still wants it open. */
export const HELD_REFRESH_MS = 20_000;

/**
 * An MQTT door: the broker turns `lockCommand` into `gatehouse/door/{door}/set`. Every unlock carries
 * `ms` (the contract requires it), so a device that loses the hub relocks on its own.
 */
export class MqttDoorIo implements DoorIo {
  readonly transport = 'mqtt' as const;
  readonly #bus: EventBus;
  readonly #doorId: string;
  readonly #clock: DoorClock;
  #refresh: TimerHandle | null = null;

  constructor(bus: EventBus, doorId: string, clock: DoorClock = systemClock) {
    this.#bus = bus;
    this.#doorId = doorId;
    this.#clock = clock;
  }

  async driveLock(unlocked: boolean, pulseMs?: number): Promise<void> {
    this.#stopRefresh();
    if (!unlocked) {
      this.#bus.emit('lockCommand', { doorId: this.#doorId, lock: 'lock' });
    } else if (pulseMs !== undefined) {
      this.#bus.emit('lockCommand', { doorId: this.#doorId, lock: 'unlock', ms: pulseMs });
    } else {
      this.#holdUnlocked();
    }
  }

  // Reports arrive on the bus and the manager routes them to the controller by door id.
  async start(): Promise<void> {}

  initial(): DoorSignal[] {
    return [];
  }

  async stop(): Promise<void> {
    this.#stopRefresh();
  }

  #holdUnlocked(): void {
    this.#bus.emit('lockCommand', { doorId: this.#doorId, lock: 'unlock', ms: HELD_UNLOCK_MS });
    this.#refresh = this.#clock.setTimeout(() => this.#holdUnlocked(), HELD_REFRESH_MS);
  }

  #stopRefresh(): void {
    if (this.#refresh !== null) this.#clock.clearTimeout(this.#refresh);
    this.#refresh = null;
  }
}

export interface WiredDoorLines {
  /** The lock relay. */
  relay: DigitalOutput;
  /** Door position switch: active = open. */
  contact?: DigitalInput;
  /** Request-to-exit button: active = pressed. */
  rex?: DigitalInput;
  /** Enclosure or reader tamper: active = tripped. */
  tamper?: DigitalInput;
  /** Fire alarm panel release: active = fire. */
  fire?: DigitalInput;
  /** Doorbell button: active = pressed. */
  doorbell?: DigitalInput;
}

/** The lines of a wired door's hardware (adapters/factory.ts), as WiredDoorIo takes them. */
export function wiredLines(hw: Pick<WiredDoorHardware, 'lock' | DoorInputName>): WiredDoorLines {
  const lines: WiredDoorLines = { relay: hw.lock };
  for (const name of DOOR_INPUTS) {
    const line = hw[name];
    if (line) lines[name] = line;
  }
  return lines;
}

export interface WiredDoorIoOptions extends WiredDoorLines {
  failMode: FailMode;
  /** Close the lines on stop (default true). False when the lines outlive the controller (simulator). */
  ownsLines?: boolean;
  /** 'sim' for a simulated door (SimDoor), so logs and status say so; default 'wired'. */
  transport?: 'wired' | 'sim';
}

/** A door wired to the hub: a relay and up to five inputs (adapters/types.ts). */
export class WiredDoorIo implements DoorIo {
  readonly transport: 'wired' | 'sim';
  readonly #options: WiredDoorIoOptions;
  readonly #unwatch: Array<() => void> = [];

  constructor(options: WiredDoorIoOptions) {
    this.#options = options;
    this.transport = options.transport ?? 'wired';
  }

  async driveLock(unlocked: boolean): Promise<void> {
    await this.#options.relay.write(relayEnergised(unlocked, this.#options.failMode));
  }

  initial(): DoorSignal[] {
    const { contact, tamper, fire } = this.#options;
    const signals: DoorSignal[] = [{ kind: 'online', online: true }];
    if (contact) signals.push({ kind: 'contact', open: contact.read() });
    if (tamper) signals.push({ kind: 'tamper', active: tamper.read() });
    if (fire) signals.push({ kind: 'fire', active: fire.read() });
    return signals;
  }

  async start(onSignal: (signal: DoorSignal) => void): Promise<void> {
    const { contact, rex, tamper, fire, doorbell } = this.#options;
    if (contact) this.#unwatch.push(contact.watch((open) => onSignal({ kind: 'contact', open })));
    // A REX is the press, not the release; a button stuck at boot does not unlock.
    if (rex) this.#unwatch.push(rex.watch((pressed) => pressed && onSignal({ kind: 'rex' })));
    if (tamper) this.#unwatch.push(tamper.watch((active) => onSignal({ kind: 'tamper', active })));
    if (fire) this.#unwatch.push(fire.watch((active) => onSignal({ kind: 'fire', active })));
    if (doorbell) this.#unwatch.push(doorbell.watch((pressed) => pressed && onSignal({ kind: 'doorbell' })));
  }

  async stop(): Promise<void> {
    for (const unwatch of this.#unwatch.splice(0)) unwatch();
    if (this.#options.ownsLines === false) return;
    const { relay, contact, rex, tamper, fire, doorbell } = this.#options;
    for (const line of [contact, rex, tamper, fire, doorbell, relay]) await line?.close();
  }
}
