// The door side of door sync, as a reference for firmware: keep a verified copy of one door's
// credentials and decide from it when the hub is unreachable. Used by the emulated door controller
// in the tests; a real controller implements the same rules (docs/mqtt.md).
import { createHmac, type KeyObject } from 'node:crypto';
import { credentialKindFor, decide, validatePresentationValue } from '../access/index.js';
import type { Credential, Person, Reason } from '../domain.js';
import { fromBase64url } from '../mobile/certificate.js';
import { type DeltaBody, openSyncMessage, type SnapshotBody, type SyncEntry } from './format.js';

export type ApplyResult =
  | { applied: true; version: number }
  | { applied: false; reason: 'invalid' | 'other_door' | 'old' | 'gap'; error?: string };

export class DoorCopy {
  readonly doorId: string;
  readonly #hubKey: KeyObject;
  #version = 0;
  #settings: Omit<
    SnapshotBody,
    'entries' | 'v' | 'type' | 'door' | 'version' | 'issuedAt' | 'pinKey' | 'cardKey'
  > | null = null;
  #holidays: ReadonlySet<string> = new Set();
  #pinKey: Buffer | null = null;
  #cardKey: Buffer | null = null;
  readonly #entries = new Map<string, SyncEntry>();
  /** kind:lookup → ref, for one probe per presentation. */
  readonly #index = new Map<string, string>();

  constructor(doorId: string, hubPublicKey: KeyObject) {
    this.doorId = doorId;
    this.#hubKey = hubPublicKey;
  }

  get version(): number {
    return this.#version;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Verifies and applies a snapshot or delta payload exactly as received from MQTT. */
  apply(payload: Buffer | string): ApplyResult {
    const opened = openSyncMessage(payload, this.#hubKey);
    if (!opened.ok) return { applied: false, reason: 'invalid', error: opened.error };
    const body = opened.body;
    if (body.door !== this.doorId) return { applied: false, reason: 'other_door' };
    if (body.type === 'snapshot') {
      if (body.version <= this.#version) return { applied: false, reason: 'old' };
      this.#replace(body);
      return { applied: true, version: this.#version };
    }
    if (body.version <= this.#version) return { applied: false, reason: 'old' };
    if (body.prev !== this.#version || this.#settings === null) return { applied: false, reason: 'gap' };
    this.#patch(body);
    return { applied: true, version: this.#version };
  }

  /**
   * A local decision from the copy (cards and PINs; mobile keys need the hub), by the hub's own rules
   * (hub/access): the copy only builds the engine's input. Revoked and suspended credentials and people
   * without a group for this door are not in the copy, so the door answers `unknown_credential` for them.
   */
  decide(kind: 'card' | 'keypad', value: string, now: number): { granted: boolean; reason: Reason } {
    const settings = this.#settings;
    if (!settings) return { granted: false, reason: 'unknown_credential' };
    const checked = validatePresentationValue(kind, value);
    const entry = checked.ok ? this.#find(kind, checked.value) : undefined;
    const decision = decide({
      now,
      timeZone: settings.timeZone,
      door: { id: this.doorId, mode: settings.mode, unlockMs: settings.unlockMs },
      kind,
      match: entry ? copiedMatch(entry) : null,
      // The entry's intervals are already the union of every group that opens this door.
      grants: entry ? [{ groupId: COPY_GRANT, intervals: entry.intervals }] : [],
      holidays: this.#holidays,
      keypadLocked: false,
      malformed: !checked.ok,
    });
    return { granted: decision.granted, reason: decision.reason };
  }

  /** The entry a canonical value matches: the copy holds keyed hashes, never UIDs or PINs (docs/mqtt.md §8). */
  #find(kind: 'card' | 'keypad', canonical: string): SyncEntry | undefined {
    const key = kind === 'card' ? this.#cardKey : this.#pinKey;
    if (!key) return undefined;
    const lookup = createHmac('sha256', key).update(canonical).digest('hex');
    const ref = this.#index.get(`${credentialKindFor(kind)}:${lookup}`);
    return ref === undefined ? undefined : this.#entries.get(ref);
  }

  #replace(body: SnapshotBody): void {
    this.#entries.clear();
    this.#index.clear();
    for (const entry of body.entries) this.#put(entry);
    const { mode, unlockMs, timeZone, holidays } = body;
    this.#settings = { mode, unlockMs, timeZone, holidays };
    this.#holidays = new Set(holidays);
    this.#pinKey = body.pinKey ? fromBase64url(body.pinKey) : null;
    this.#cardKey = body.cardKey ? fromBase64url(body.cardKey) : null;
    this.#version = body.version;
  }

  #patch(body: DeltaBody): void {
    for (const ref of body.del) this.#remove(ref);
    for (const entry of body.put) this.#put(entry);
    const settings = this.#settings!;
    if (body.mode !== undefined) settings.mode = body.mode;
    if (body.unlockMs !== undefined) settings.unlockMs = body.unlockMs;
    if (body.timeZone !== undefined) settings.timeZone = body.timeZone;
    if (body.holidays !== undefined) {
      settings.holidays = body.holidays;
      this.#holidays = new Set(body.holidays);
    }
    this.#version = body.version;
  }

  #put(entry: SyncEntry): void {
    this.#remove(entry.ref);
    this.#entries.set(entry.ref, entry);
    this.#index.set(`${entry.kind}:${entry.lookup.toLowerCase()}`, entry.ref);
  }

  #remove(ref: string): void {
    const old = this.#entries.get(ref);
    if (!old) return;
    this.#entries.delete(ref);
    const key = `${old.kind}:${old.lookup.toLowerCase()}`;
    if (this.#index.get(key) === ref) this.#index.delete(key);
  }
}

const COPY_GRANT = 'door-copy';
const COPY_HOLDER: Person = {
  id: 'door-copy',
  name: '',
  kind: 'resident',
  unitId: null,
  suspended: false,
  keyEpoch: 0,
  // The holder's access window is folded into each entry's validFrom/validUntil (hub/store/door-sync.ts).
  accessFrom: null,
  accessUntil: null,
  createdAt: 0,
};

/** An entry as the engine's match: in the copy means active, unrevoked and its holder not suspended. */
function copiedMatch(entry: SyncEntry): { credential: Credential; person: Person } {
  return {
    credential: {
      id: entry.ref,
      personId: COPY_HOLDER.id,
      kind: entry.kind,
      label: '',
      validFrom: entry.validFrom,
      validUntil: entry.validUntil,
      revokedAt: null,
      createdAt: 0,
    },
    person: COPY_HOLDER,
  };
}
