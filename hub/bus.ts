// Typed in-process event bus. Parts talk through it instead of importing each other;
// listeners are registered per owner so `removeAll(owner)` cleans up a part in one call.

import { EventEmitter } from 'node:events';
import type { DoorMode, HubEvent, PresentationKind, Reason } from './domain.js';
import type { ReaderStatus } from './doors/readers.js';

export interface Presentation {
  doorId: string;
  kind: PresentationKind;
  value: string;
  /** Which reader or keypad on the door: keypad lockout is counted per reader. */
  readerId: string;
  /** MQTT request id, echoed in the decision. */
  requestId?: string;
  /** Device that asked, for MQTT doors. */
  deviceId?: string;
}

export interface Decision {
  granted: boolean;
  reason: Reason;
  unlockMs?: number;
  personId?: string | null;
  credentialId?: string | null;
}

export interface DoorStatus {
  doorId: string;
  contact: 'open' | 'closed' | 'unknown';
  lock: 'locked' | 'unlocked' | 'unknown';
  mode: DoorMode;
  tamper: boolean;
  online: boolean;
  /** Wired doors: each reader's state (a door can be online while its reader is unplugged). */
  readers?: ReaderStatus[];
}

export interface BusEvents {
  /** A credential arrived at a door (from MQTT or a wired reader). */
  presented: [p: Presentation];
  /** The hub decided; door controllers unlock on a grant. */
  decided: [p: Presentation, d: Decision];
  /** A door controller wants the lock driven (MQTT doors publish `set`). */
  lockCommand: [cmd: { doorId: string; lock: 'unlock' | 'lock'; ms?: number }];
  /** Door state as reported by a device or wired inputs. */
  doorReport: [
    r: { doorId: string; contact?: 'open' | 'closed'; lock?: 'locked' | 'unlocked'; tamper?: boolean },
  ];
  /** A door event from a device or input: rex, tamper, fire, ... */
  doorInput: [r: { doorId: string; type: string; data?: Record<string, unknown> }];
  doorStatus: [s: DoorStatus];
  /** Every event after it is stored durably (this process or another, e.g. the CLI). */
  event: [e: HubEvent];
  /**
   * The broker refused a device message (ACL or contract). `requestId` is set for refused credentials;
   * `budgeted` marks a record the broker already rate-limits itself (back-offs, summaries): always audited.
   */
  deviceRejected: [
    r: {
      deviceId: string;
      topic: string;
      error: string;
      doorId?: string;
      requestId?: string | null;
      budgeted?: boolean;
    },
  ];
  /** The store changed outside this process (CLI, restore); parts re-read what they cache. */
  storeChanged: [];
}

type Listener<K extends keyof BusEvents> = (...args: BusEvents[K]) => void;

export class EventBus {
  readonly #emitter = new EventEmitter();
  readonly #owners = new Map<object, Array<[keyof BusEvents, (...args: unknown[]) => void]>>();

  constructor() {
    this.#emitter.setMaxListeners(100);
  }

  /** `first`: run before listeners registered earlier (e.g. the answer to a door before side effects). */
  on<K extends keyof BusEvents>(
    owner: object,
    event: K,
    listener: Listener<K>,
    options: { first?: boolean } = {},
  ): void {
    const wrapped = listener as unknown as (...args: unknown[]) => void;
    if (options.first) this.#emitter.prependListener(event, wrapped);
    else this.#emitter.on(event, wrapped);
    const list = this.#owners.get(owner) ?? [];
    list.push([event, wrapped]);
    this.#owners.set(owner, list);
  }

  emit<K extends keyof BusEvents>(event: K, ...args: BusEvents[K]): void {
    this.#emitter.emit(event, ...args);
  }

  removeAll(owner: object): void {
    for (const [event, listener] of this.#owners.get(owner) ?? []) this.#emitter.off(event, listener);
    this.#owners.delete(owner);
  }
}
