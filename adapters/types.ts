// One interface per hardware capability. Door controllers and readers depend on these only;
// implementations live one folder per technology (gpio/, wiegand/, pn532/) with twins in sim/.

/** A relay or other digital output. `true` = energised (the adapter applies active-low wiring). */
export interface DigitalOutput {
  write(on: boolean): Promise<void>;
  read(): boolean;
  close(): Promise<void>;
}

/** A debounced digital input. `true` = active (contact open, button pressed, tamper tripped, fire alarm). */
export interface DigitalInput {
  read(): boolean;
  /** Returns an unsubscribe function. */
  watch(listener: (active: boolean) => void): () => void;
  close(): Promise<void>;
}

/**
 * starting: not answered yet since start. online / offline: a supervised reader (PN532) that answers or
 * stopped answering. unsupervised: a one-way reader (Wiegand) that cannot say whether it is alive.
 */
export type ReaderState = 'starting' | 'online' | 'offline' | 'unsupervised';

export interface ReaderHealth {
  /** True while the reader can read cards, as far as the hub can tell (also for unsupervised readers). */
  online: boolean;
  state: ReaderState;
  /** When `state` last changed (ms), null before the first change. */
  since: number | null;
  lastSeen: number | null;
  /** Errors since start (count only: one is not an event). */
  errors: number;
  /** The last error while offline, for the alarm and `gatehouse status`. */
  lastError?: string;
}

/** Anything that turns a card into its canonical uppercase hex value (PN532 UID, Wiegand payload). */
export interface CardReader {
  readonly id: string;
  onCard(listener: (valueHex: string) => void): () => void;
  /** State changes only (starting → online ⇄ offline), never one call per failed retry. */
  onHealth(listener: (health: ReaderHealth) => void): () => void;
  health(): ReaderHealth;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A keypad that delivers a submitted code (digits only, after `#` or the inter-digit timeout). */
export interface Keypad {
  readonly id: string;
  onCode(listener: (digits: string) => void): () => void;
  start(): Promise<void>;
  stop(): Promise<void>;
}
