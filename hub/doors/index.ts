// Door controllers: the public surface of hub/doors.
export { type DoorClock, systemClock, type TimerHandle } from './clock.js';
export {
  checkDoorSettings,
  DoorController,
  type DoorControllerOptions,
  type DoorSettings,
  DoorSettingsSchema,
  type GrantedBy,
  LOCK_RETRY_MS,
  MAX_UNLOCK_MS,
  MIN_UNLOCK_MS,
} from './controller.js';
export {
  type DoorIo,
  type DoorSignal,
  HELD_REFRESH_MS,
  HELD_UNLOCK_MS,
  MqttDoorIo,
  relayEnergised,
  WiredDoorIo,
  type WiredDoorIoOptions,
  type WiredDoorLines,
  wiredLines,
} from './io.js';
export {
  type DoorCommandResult,
  DoorManager,
  type DoorManagerOptions,
  type WiredIoFactory,
} from './manager.js';
export { SimDoor, type SimDoorOptions } from './sim-door.js';
