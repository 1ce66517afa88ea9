// The running hub's parts as the commands see them (LiveHub), built once by the composition.
import type { DoorStatus, EventBus } from '../bus.js';
import { CardCapture } from '../doors/capture.js';
import type { DoorManager } from '../doors/manager.js';
import type { Logger } from '../logger.js';
import type { OfflineParts } from '../offline/index.js';
import type { Store } from '../store/store.js';
import { type LiveHub, offlineCodesPort } from './command.js';

export function liveHubOf(parts: {
  store: Store;
  doors: DoorManager;
  /** Card capture for enrolment listens to decisions on it. */
  bus: EventBus;
  offline: OfflineParts;
  timeZone: string;
  logger?: Logger;
  /** Each door's live state as the API shows it (with its readers); default: the door manager's. */
  doorStatus?: () => DoorStatus[];
}): LiveHub {
  const { doors, offline } = parts;
  return {
    doors: {
      unlock: (doorId, ms) => doors.unlock(doorId, ms),
      setMode: (doorId, mode) => doors.setMode(doorId, mode),
      fireRelease: (doorId) => doors.get(doorId)?.fireRelease ?? null,
      status: parts.doorStatus ?? (() => doors.status()),
    },
    codes: offlineCodesPort(offline.codes, parts.timeZone),
    clock: {
      acceptSystemTime: (actor) => offline.clock.acceptSystemTime(actor),
      status: () => offline.clock.status(),
    },
    cards: new CardCapture({ bus: parts.bus, ...(parts.logger ? { logger: parts.logger } : {}) }),
  };
}
