// Staff and cloud requests that act on doors. Every caller (HTTP API, cloud command, Node-RED later)
// goes through here, so the same policy applies whoever asks (docs/architecture.md, invariant 6).
import type { DoorMode } from './domain.js';
import type { Logger } from './logger.js';
import type { Store } from './store/store.js';

/** What actions need from the door manager. */
export type DoorCommandResult = { ok: true } | { ok: false; code: string; error: string };

export interface DoorCommands {
  unlock(doorId: string, ms?: number): DoorCommandResult;
  setMode(doorId: string, mode: DoorMode): DoorCommandResult;
}

export class ActionError extends Error {
  readonly statusCode: number;

  constructor(message: string, statusCode: number) {
    super(message);
    this.statusCode = statusCode;
    this.name = 'ActionError';
  }
}

export class HubActions {
  private readonly store: Store;
  private readonly doors: DoorCommands;
  private readonly logger: Logger;

  constructor(store: Store, doors: DoorCommands, logger: Logger) {
    this.store = store;
    this.doors = doors;
    this.logger = logger;
  }

  /** A remote unlock (staff button, cloud command). Refused in lockdown: lockdown means nobody gets in. */
  unlockDoor(doorId: string, ms: number | undefined, actor: string): void {
    const door = this.store.doors.get(doorId);
    if (!door) throw new ActionError(`unknown door '${doorId}'`, 404);
    if (door.mode === 'lockdown') throw new ActionError(`door '${doorId}' is in lockdown`, 409);
    const pulse = ms ?? door.unlockMs;
    if (!Number.isInteger(pulse) || pulse < 1000 || pulse > 60_000) {
      throw new ActionError('unlock time must be 1000–60000 ms', 400);
    }
    this.store.events.appendDurable({
      type: 'admin.door.unlocked',
      doorId,
      personId: null,
      credentialId: null,
      data: { actor, ms: pulse },
    });
    const result = this.doors.unlock(doorId, pulse);
    if (!result.ok) throw new ActionError(result.error, result.code === 'unknown_door' ? 404 : 409);
    this.logger.info({ door: doorId, actor, ms: pulse }, 'remote unlock');
  }

  setDoorMode(doorId: string, mode: DoorMode, actor: string): void {
    if (!this.store.doors.get(doorId)) throw new ActionError(`unknown door '${doorId}'`, 404);
    this.store.doors.setMode(doorId, mode);
    this.doors.setMode(doorId, mode);
    this.logger.warn({ door: doorId, actor, mode }, 'door mode changed');
  }

  /** Lockdown or release every door at once. */
  setAllDoorsMode(mode: DoorMode, actor: string): void {
    for (const door of this.store.doors.list()) this.setDoorMode(door.id, mode, actor);
  }
}
