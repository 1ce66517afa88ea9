// What the cloud mirror needs from the store. hub/cloud/store-port.ts implements it over the real
// Store; every method is synchronous and short so no transaction is ever held across an await.
import type { HubEvent, NewEvent } from '../domain.js';
import type { CloudStateStore } from '../store/cloud-state.js';
import type { RecoveredEvent, RecoveryResult } from '../store/events.js';
import type { ChangeKind } from './proto.js';

/** A record kind whose "deny" state (suspended person, revoked credential) the conflict rule protects. */
export type DenyKind = 'person' | 'credential';

export interface DenyTarget {
  kind: DenyKind;
  id: string;
}

/** The deny-relevant part of a local record, read just before a cloud change is applied. */
export interface LocalDenyState {
  /** Person suspended / credential revoked right now. */
  denied: boolean;
  /** Person key epoch (persons only); epochs never go down. */
  keyEpoch?: number;
}

/** A cloud change after schema validation and conflict resolution, ready to write. */
export type ResolvedChange =
  | { kind: ChangeKind; op: 'upsert'; id: string; data: Record<string, unknown> }
  | { kind: ChangeKind; op: 'delete'; id: string };

export interface CloudPort {
  /** The mirror's own durable state (cursors, local denies), kept by the store. */
  readonly state: CloudStateStore;
  /** Newest durable event seq (0 when the log is empty). */
  lastSeq(): number;
  /** Durable events with seq > afterSeq, oldest first, at most `limit`. */
  eventsAfter(afterSeq: number, limit: number): HubEvent[];
  /** Called after new events are durable. Returns an unsubscribe function. */
  onEventStored(listener: () => void): () => void;
  /** Is this stored event a suspension, revocation or deletion (something a cloud grant must not undo)? */
  denyTarget(event: HubEvent): DenyTarget | null;
  /** Current deny state of a person or credential, null when it does not exist. */
  denyState(target: DenyTarget): LocalDenyState | null;
  /** Writes one change (inside the mirror's transaction); throws ChangeRefusedError to refuse it. */
  write(change: ResolvedChange): void;
  /** Appends an event inside the current transaction (cloud.* audit events). */
  appendEvent(event: NewEvent): void;
  /** Runs fn in one durable (synchronous=FULL) transaction; nested calls become savepoints. */
  transaction<T>(fn: () => T): T;
  /** Hash of the event at seq (GENESIS for 0; the prune anchor's too), null when the log does not know it. */
  hashAt(seq: number): string | null;
  /** Events up to this seq were pruned from the log (0: none); hashAt still knows the last of them. */
  prunedThroughSeq(): number;
  /** Events the cloud hands back after a hub swap (docs/cloud-protocol.md, "After a restore"). */
  readonly recovery: RecoveryPort;
}

/** Staging and committing of recovered events; see EventLog.commitRecovered in hub/store/events.ts. */
export interface RecoveryPort {
  clear(): void;
  stage(events: readonly RecoveredEvent[]): void;
  /** Inserts the staged events verbatim and moves the hub's own events behind them, in one transaction. */
  commit(fromSeq: number, summary: (result: RecoveryResult) => NewEvent): RecoveryResult;
}

/**
 * Thrown by CloudPort.write for a change the store refuses (invalid, missing reference, conflict).
 * The mirror rejects that one change and moves on. Any other error (disk, busy database) aborts the
 * batch without acking it, so the cloud sends it again.
 */
export class ChangeRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChangeRefusedError';
  }
}

/**
 * Denylists one offline doorcode serial durably (the hub wires OfflineCodes here). Called inside the
 * mirror's transaction; returns false when the serial was already revoked. Throw ChangeRefusedError
 * (or any error the port maps to it) to refuse the change.
 */
export type OfflineCodeRevoker = (serial: string, reason: string | null) => boolean;

/** The offline doorcode secret as the mirror hands it to the cloud (docs/cloud-protocol.md). */
export interface SharedCodeSecret {
  version: number;
  /** Public id of the secret (safe to log). */
  fingerprint: string;
  /** 64 hex characters. Never log it. */
  secretHex: string;
  timeZone: string;
  dailyMacDigits: number;
  windowedMacDigits: number;
  graceMinutes: number;
}

/** The current secret (cheap: the mirror asks every second); null when the hub has none to share. */
export type CodeSecretProvider = () => SharedCodeSecret | null;

/** Requests from the cloud; the composition runs them through the same policy as local ones. */
export interface CloudCommandHandler {
  unlock(doorId: string, ms: number): void | Promise<void>;
  setMode(doorId: string, mode: 'normal' | 'lockdown' | 'unlocked'): void | Promise<void>;
}
