// CloudPort over the real Store. Cloud writes go through `store.as('cloud')`, so their audit
// events carry actor 'cloud' and are never mistaken for local denies.
import type { HubEvent, NewEvent, ScheduleInterval } from '../domain.js';
import { OfflineCodeError } from '../offline/offline-codes.js';
import { StoreError } from '../store/errors.js';
import { GENESIS_HASH } from '../store/events.js';
import type { Store } from '../store/store.js';
import type { CodeRevocationData, CredentialData, OfflineCodeData, PersonData } from './changes.js';
import {
  ChangeRefusedError,
  type CloudPort,
  type DenyTarget,
  type LocalDenyState,
  type OfflineCodeRevoker,
  type RecoveryPort,
  type ResolvedChange,
} from './port.js';

export const CLOUD_ACTOR = 'cloud';

/** Event types that deny access to a record, i.e. what a stale cloud grant must not undo. */
const PERSON_DENIES = new Set(['admin.person.suspended', 'admin.person.removed']);
const CREDENTIAL_DENIES = new Set(['admin.credential.revoked']);

/**
 * Learns a doorcode the cloud issued (an `offline_code` change: its fields, never its digits). Called
 * inside the mirror's transaction; returns false when the hub already knew it as issued. Throw
 * ChangeRefusedError (or OfflineCodeError, mapped to it) to refuse the record.
 */
export type OfflineCodeLearner = (record: OfflineCodeData) => boolean;

export interface StoreCloudPortOptions {
  /** Applies `code_revocation` changes; without it the hub refuses them (no offline doorcodes here). */
  revokeOfflineCode?: OfflineCodeRevoker;
  /** Learns `offline_code` records (codes the cloud issued); without it the hub refuses them. */
  learnOfflineCode?: OfflineCodeLearner;
}

export class StoreCloudPort implements CloudPort {
  readonly state: Store['cloudState'];
  readonly #store: Store;
  readonly #cloud: Store;
  readonly #revokeOfflineCode: OfflineCodeRevoker | undefined;
  readonly #learnOfflineCode: OfflineCodeLearner | undefined;

  constructor(store: Store, options: StoreCloudPortOptions = {}) {
    this.#store = store;
    this.#cloud = store.as(CLOUD_ACTOR);
    this.state = store.cloudState;
    this.#revokeOfflineCode = options.revokeOfflineCode;
    this.#learnOfflineCode = options.learnOfflineCode;
  }

  lastSeq(): number {
    return this.#store.events.lastSeq();
  }

  eventsAfter(afterSeq: number, limit: number): HubEvent[] {
    return this.#store.events.after(afterSeq, limit);
  }

  onEventStored(listener: () => void): () => void {
    return this.#store.events.onStored(() => listener());
  }

  denyTarget(event: HubEvent): DenyTarget | null {
    if (event.data['actor'] === CLOUD_ACTOR) return null;
    if (PERSON_DENIES.has(event.type) && event.personId) return { kind: 'person', id: event.personId };
    if (event.type === 'admin.person.upserted' && event.data['suspended'] === true && event.personId) {
      return { kind: 'person', id: event.personId };
    }
    if (CREDENTIAL_DENIES.has(event.type) && event.credentialId)
      return { kind: 'credential', id: event.credentialId };
    return null;
  }

  denyState(target: DenyTarget): LocalDenyState | null {
    if (target.kind === 'person') {
      const person = this.#store.people.get(target.id);
      return person ? { denied: person.suspended, keyEpoch: person.keyEpoch } : null;
    }
    const credential = this.#store.credentials.get(target.id);
    return credential ? { denied: credential.revokedAt !== null } : null;
  }

  appendEvent(event: NewEvent): void {
    this.#store.events.insertInTransaction(event);
  }

  transaction<T>(fn: () => T): T {
    return this.#store.transaction(fn);
  }

  hashAt(seq: number): string | null {
    if (seq === 0) return GENESIS_HASH;
    const held = this.#store.events.get(seq);
    if (held) return held.hash;
    // The prune anchor (the last pruned event) is still known: the oldest kept event links to it.
    const next = this.#store.events.get(seq + 1);
    return next ? next.prevHash : null;
  }

  prunedThroughSeq(): number {
    const oldest = this.#store.events.list({ limit: 1, oldestFirst: true })[0];
    return oldest ? oldest.seq - 1 : this.#store.events.lastSeq();
  }

  get recovery(): RecoveryPort {
    const events = this.#store.events;
    return {
      clear: () => events.clearRecovered(),
      stage: (recovered) => events.stageRecovered(recovered),
      commit: (fromSeq, summary) => events.commitRecovered(fromSeq, summary),
    };
  }

  write(change: ResolvedChange): void {
    try {
      this.#write(change);
    } catch (err) {
      if (err instanceof StoreError || err instanceof OfflineCodeError)
        throw new ChangeRefusedError(err.message);
      throw err;
    }
  }

  #write(change: ResolvedChange): void {
    const store = this.#cloud;
    const id = change.id;
    if (change.op === 'delete') {
      this.#delete(change.kind, id);
      return;
    }
    const data = change.data;
    switch (change.kind) {
      case 'person': {
        const person = data as PersonData;
        store.people.upsert({
          id,
          name: person.name,
          kind: person.kind,
          unitId: person.unitId,
          suspended: person.suspended,
          keyEpoch: person.keyEpoch,
        });
        if (person.groupIds !== undefined) this.#setGroups(id, person.groupIds);
        return;
      }
      case 'unit': {
        const name = data['name'] as string;
        const existing = store.units.get(id);
        if (!existing) store.units.add({ id, name });
        else if (existing.name !== name)
          throw new StoreError('unsupported', 'renaming a unit is not supported yet');
        return;
      }
      case 'credential': {
        const credential = data as CredentialData;
        const existing = store.credentials.get(id);
        // Revoking an active credential goes through revoke() for a clear 'admin.credential.revoked' event.
        const revokeActive = credential.revoked && existing !== null && existing.revokedAt === null;
        store.credentials.upsert({
          id,
          personId: credential.personId,
          kind: credential.kind,
          value: credential.value,
          label: credential.label,
          validFrom: credential.validFrom,
          validUntil: credential.validUntil,
          revokedAt: credential.revoked && !revokeActive ? Date.now() : null,
          revokedReason: credential.revoked && !revokeActive ? 'revoked in the cloud' : null,
        });
        if (revokeActive) store.credentials.revoke(id, 'revoked in the cloud');
        return;
      }
      case 'group':
        store.groups.upsert({
          id,
          name: data['name'] as string,
          scheduleId: (data['scheduleId'] as string | null) ?? null,
          doorIds: data['doorIds'] as string[],
          memberIds: data['memberIds'] as string[] | undefined,
        });
        return;
      case 'schedule':
        store.schedules.set(id, data['name'] as string, data['intervals'] as ScheduleInterval[]);
        return;
      case 'door': {
        const existing = store.doors.get(id);
        store.doors.upsert({
          id,
          name: data['name'] as string,
          transport:
            (data['transport'] as 'mqtt' | 'wired' | 'sim' | undefined) ?? existing?.transport ?? 'mqtt',
          mode: existing?.mode ?? 'normal',
          failMode: (data['failMode'] as 'secure' | 'safe' | undefined) ?? existing?.failMode ?? 'secure',
          unlockMs: (data['unlockMs'] as number | undefined) ?? existing?.unlockMs ?? 5000,
          heldOpenMs: (data['heldOpenMs'] as number | undefined) ?? existing?.heldOpenMs ?? 60_000,
        });
        return;
      }
      case 'holiday':
        store.holidays.add(id, data['name'] as string);
        return;
      case 'code_revocation': {
        if (!this.#revokeOfflineCode)
          throw new ChangeRefusedError('this hub does not take offline doorcode revocations');
        const revocation = data as CodeRevocationData;
        this.#revokeOfflineCode(revocation.serial, revocation.reason ?? null);
        return;
      }
      case 'offline_code':
        if (!this.#learnOfflineCode)
          throw new ChangeRefusedError('this hub does not take doorcodes issued by the cloud');
        this.#learnOfflineCode(data as OfflineCodeData);
        return;
    }
  }

  /** Deletes are idempotent: deleting what is already gone is not an error. */
  #delete(kind: ResolvedChange['kind'], id: string): void {
    const store = this.#cloud;
    switch (kind) {
      case 'person':
        if (store.people.get(id)) store.people.remove(id);
        return;
      case 'unit':
        if (store.units.get(id)) store.units.remove(id);
        return;
      case 'credential': {
        // Credentials are never erased (the audit trail and the 'revoked' answer need them): revoke.
        const credential = store.credentials.get(id);
        if (credential && credential.revokedAt === null) store.credentials.revoke(id, 'deleted in the cloud');
        return;
      }
      case 'group':
        if (store.groups.get(id)) store.groups.remove(id);
        return;
      case 'schedule':
        if (store.schedules.get(id)) store.schedules.remove(id);
        return;
      case 'door':
        if (store.doors.get(id)) store.doors.remove(id);
        return;
      case 'holiday':
        if (store.holidays.list().some((holiday) => holiday.date === id)) store.holidays.remove(id);
        return;
      case 'code_revocation':
        // parseChange refuses these; a revoked doorcode is never un-revoked.
        throw new ChangeRefusedError('a doorcode revocation cannot be deleted');
      case 'offline_code':
        throw new ChangeRefusedError('an issued doorcode is taken back with a code_revocation');
    }
  }

  #setGroups(personId: string, groupIds: string[]): void {
    const groups = this.#cloud.groups;
    const current = new Set(groups.groupsOf(personId));
    const wanted = new Set(groupIds);
    for (const groupId of wanted) if (!current.has(groupId)) groups.addMember(groupId, personId);
    for (const groupId of current) if (!wanted.has(groupId)) groups.removeMember(groupId, personId);
  }
}
