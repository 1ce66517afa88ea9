// Door-side sync for LAN doors (docs/mqtt.md, "Door-side sync").
export { type ApplyResult, DoorCopy } from './copy.js';
export {
  type DeltaBody,
  openSyncMessage,
  type SignedMessage,
  type SnapshotBody,
  SYNC_CONTEXT,
  type SyncEntry,
  signSyncBody,
} from './format.js';
export { registerDoorSyncRoutes } from './http.js';
export {
  DoorSync,
  type DoorSyncDeviceStatus,
  type DoorSyncOptions,
  type DoorSyncStatus,
  type PublishSync,
  type SyncChannel,
} from './service.js';
