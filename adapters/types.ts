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

export interface ReaderHealth {
  online: boolean;
  lastSeen: number | null;
  errors: number;
}

/** Anything that turns a card into its canonical uppercase hex value (PN532 UID, Wiegand payload). */
export interface CardReader {
  readonly id: string;
  onCard(listener: (valueHex: string) => void): () => void;
  /** Health changes (online/offline, error counts) for reader-health events. */
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
