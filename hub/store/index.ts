// Public surface of the store, for the hub, the CLI and the cloud mirror.
export { type AccessGroup, checkIntervals, type Grant, type Holiday, type Schedule } from './access.js';
export {
  BackupError,
  type BackupResult,
  createBackup,
  finishPendingRestore,
  inspectBackup,
  MIN_PASSPHRASE_CHARS,
  type RestoreResult,
  restoreBackup,
} from './backup.js';
export type { CloudStateStore, LocalDeny } from './cloud-state.js';
export type { CredentialMatch, StoredCredential } from './credentials.js';
export { type Database, DB_FILE_NAME, openDatabase } from './db.js';
export type { Device, DeviceRole, VerifiedDevice } from './devices.js';
export type { DoorSyncReads, DoorSyncRow } from './door-sync.js';
export {
  canonicalCard,
  isValidPin,
  StoreError,
  type StoreErrorCode,
} from './errors.js';
export { type ChainCheck, type EventListQuery, EventLog, GENESIS_HASH, verifyEventChain } from './events.js';
export type { DisabledKeypad, KeypadCapStore } from './keypad-cap.js';
export { HubKeys, KEY_FILE_NAME } from './keys.js';
export { SCHEMA_VERSION } from './migrations.js';
export type { OfflineCodeRow, OfflineCodesStore } from './offline-codes.js';
export type { Unit } from './people.js';
export { Store, type StoreOptions } from './store.js';
export { type AuthenticatedUser, MIN_PASSWORD_LENGTH, type StaffUser } from './users.js';
