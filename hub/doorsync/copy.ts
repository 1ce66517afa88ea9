// The door side of door sync, as a reference for firmware: keep a verified copy of one door's
// credentials and decide from it when the hub is unreachable. Used by the emulated door controller
// in the tests; a real controller implements the same rules (docs/mqtt.md).
import { createHmac, type KeyObject } from 'node:crypto';
import { isValidTimeZone, isWithinSchedule, localTime, previousLocalDay } from '../access/index.js';
import type { Reason } from '../domain.js';
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

  /** A local decision from the copy (cards and PINs; mobile keys need the hub). */
  decide(kind: 'card' | 'keypad', value: string, now: number): { granted: boolean; reason: Reason } {
    const settings = this.#settings;
    if (!settings) return { granted: false, reason: 'unknown_credential' };
    if (settings.mode === 'lockdown') return { granted: false, reason: 'lockdown' };
    let lookup: string;
    if (kind === 'card') {
      const uid = value.replace(/[:\s]/g, '').toUpperCase();
      if (!/^[0-9A-F]{2,64}$/.test(uid)) return { granted: false, reason: 'invalid_request' };
      // The copy holds keyed hashes of card UIDs, never the UIDs (docs/mqtt.md §8).
      if (!this.#cardKey) return { granted: false, reason: 'unknown_credential' };
      lookup = createHmac('sha256', this.#cardKey).update(uid).digest('hex');
    } else {
      if (!/^[0-9]{4,12}$/.test(value)) return { granted: false, reason: 'invalid_request' };
      if (!this.#pinKey) return { granted: false, reason: 'unknown_credential' };
      lookup = createHmac('sha256', this.#pinKey).update(value).digest('hex');
    }
    const ref = this.#index.get(`${kind === 'card' ? 'card' : 'pin'}:${lookup.toLowerCase()}`);
    const entry = ref === undefined ? undefined : this.#entries.get(ref);
    if (!entry) return { granted: false, reason: 'unknown_credential' };
    if (entry.validFrom !== null && now < entry.validFrom) return { granted: false, reason: 'not_yet_valid' };
    if (entry.validUntil !== null && now >= entry.validUntil) return { granted: false, reason: 'expired' };
    if (entry.intervals !== null) {
      if (!isValidTimeZone(settings.timeZone)) return { granted: false, reason: 'outside_schedule' };
      const at = localTime(now, settings.timeZone);
      if (!isWithinSchedule(entry.intervals, at, new Set(settings.holidays), previousLocalDay(at))) {
        return { granted: false, reason: 'outside_schedule' };
      }
    }
    return { granted: true, reason: 'granted' };
  }

  #replace(body: SnapshotBody): void {
    this.#entries.clear();
    this.#index.clear();
    for (const entry of body.entries) this.#put(entry);
    const { mode, unlockMs, timeZone, holidays } = body;
    this.#settings = { mode, unlockMs, timeZone, holidays };
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
    if (body.holidays !== undefined) settings.holidays = body.holidays;
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
