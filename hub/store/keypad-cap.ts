// Keypads whose codes the daily failure cap disabled (hub/offline/cap.ts), durably so a restart does not
// re-enable them. Table: migration 3.
import type { StoreContext } from './context.js';

export interface DisabledKeypad {
  /** `${doorId}/${readerId}` */
  keypad: string;
  since: number;
  failures: number;
}

/** What the keypad cap needs from the store. */
export interface KeypadCapStore {
  isDisabled(keypad: string): boolean;
  /** Disables a keypad; a keypad already disabled keeps its first record. */
  disable(keypad: string, since: number, failures: number): void;
  /** Re-enables a keypad (inside the caller's transaction, if any). False if it was not disabled. */
  enable(keypad: string): boolean;
  listDisabled(): DisabledKeypad[];
}

const LIST_SQL = 'SELECT keypad, since, failures FROM offline_keypad_disabled ORDER BY keypad';

export class KeypadCapRepo implements KeypadCapStore {
  readonly #ctx: StoreContext;

  constructor(ctx: StoreContext) {
    this.#ctx = ctx;
  }

  isDisabled(keypad: string): boolean {
    return this.#ctx.stmt('SELECT 1 FROM offline_keypad_disabled WHERE keypad = ?').get(keypad) !== undefined;
  }

  disable(keypad: string, since: number, failures: number): void {
    this.#ctx
      .stmt(
        'INSERT INTO offline_keypad_disabled (keypad, since, failures) VALUES (?, ?, ?) ON CONFLICT (keypad) DO NOTHING',
      )
      .run(keypad, since, failures);
  }

  enable(keypad: string): boolean {
    return this.#ctx.stmt('DELETE FROM offline_keypad_disabled WHERE keypad = ?').run(keypad).changes > 0;
  }

  listDisabled(): DisabledKeypad[] {
    return this.#ctx.stmt<DisabledKeypad>(LIST_SQL).all();
  }
}
