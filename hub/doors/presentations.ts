// Wired doors on the bus: every card a door's readers read and every code its keypads deliver becomes a
// presentation. Here, not in adapters/, so the hardware layer never depends on the hub (docs/architecture.md).
import type { WiredDoorHardware } from '../../adapters/factory.js';
import type { ReaderHealth } from '../../adapters/types.js';
import type { EventBus } from '../bus.js';

export interface AttachOptions {
  /** Reader went offline/online or its error count changed (for reader-health events). */
  onReaderHealth?: (doorId: string, readerId: string, health: ReaderHealth) => void;
}

/**
 * Wires a door's readers and keypads to the bus as presentations.
 * Returns a function that detaches them. Readers and keypads are started/stopped by the caller.
 */
export function attachToBus(hw: WiredDoorHardware, bus: EventBus, options: AttachOptions = {}): () => void {
  const offs: Array<() => void> = [];
  for (const reader of hw.readers) {
    offs.push(
      reader.onCard((value) =>
        bus.emit('presented', { doorId: hw.doorId, kind: 'card', value, readerId: reader.id }),
      ),
    );
    const onHealth = options.onReaderHealth;
    if (onHealth) offs.push(reader.onHealth((h) => onHealth(hw.doorId, reader.id, h)));
  }
  for (const keypad of hw.keypads) {
    offs.push(
      keypad.onCode((value) =>
        bus.emit('presented', { doorId: hw.doorId, kind: 'keypad', value, readerId: keypad.id }),
      ),
    );
  }
  return () => {
    for (const off of offs) off();
  };
}
