// A simulated wired door: a relay and four input lines that a demo, the CLI or a test can drive
// like a person at the door would.
import { SimInput, SimOutput } from '../../adapters/sim/gpio.js';
import type { FailMode } from '../domain.js';
import { type DoorIo, relayEnergised, WiredDoorIo } from './io.js';

export interface SimDoorOptions {
  failMode: FailMode;
  /** Used in line names, e.g. "front.relay". */
  name?: string;
  /** Relay level before the hub drives it (default false = unpowered, as after a reboot). */
  relayInitial?: boolean;
  /** Door open when the hub starts. */
  startOpen?: boolean;
}

export class SimDoor {
  readonly failMode: FailMode;
  /** Observe `relay.read()` and `relay.history` to see what the lock did. */
  readonly relay: SimOutput;
  readonly contact: SimInput;
  readonly rex: SimInput;
  readonly tamper: SimInput;
  readonly fire: SimInput;

  constructor(options: SimDoorOptions) {
    const name = options.name ?? 'sim';
    this.failMode = options.failMode;
    this.relay = new SimOutput(`${name}.relay`, options.relayInitial ?? false);
    this.contact = new SimInput(`${name}.contact`, options.startOpen ?? false);
    this.rex = new SimInput(`${name}.rex`);
    this.tamper = new SimInput(`${name}.tamper`);
    this.fire = new SimInput(`${name}.fire`);
  }

  /** A fresh I/O for a controller. The lines outlive it, so a rebuilt controller can take them again. */
  createIo(): DoorIo {
    return new WiredDoorIo({
      failMode: this.failMode,
      relay: this.relay,
      contact: this.contact,
      rex: this.rex,
      tamper: this.tamper,
      fire: this.fire,
      ownsLines: false,
      transport: 'sim',
    });
  }

  /** True when the relay level means "lock released" for this door's fail mode. */
  isUnlocked(): boolean {
    return this.relay.read() === relayEnergised(true, this.failMode);
  }

  isOpen(): boolean {
    return this.contact.read();
  }

  open(): void {
    this.contact.set(true);
  }

  close(): void {
    this.contact.set(false);
  }

  /** Press and release the request-to-exit button. */
  pressRex(): void {
    this.rex.set(true);
    this.rex.set(false);
  }

  setTamper(tripped: boolean): void {
    this.tamper.set(tripped);
  }

  setFire(active: boolean): void {
    this.fire.set(active);
  }
}
