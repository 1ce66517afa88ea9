// Cloud → hub changes: the record shapes the hub accepts (one schema per kind) and the conflict
// rule "deny wins". Pure functions, no I/O; the mirror feeds them the local state.
import Type, { type Static, type TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
import { Value } from 'typebox/value';
import { WEEKDAYS } from '../domain.js';
import { type CodeSpec, checkCodeSpec, codeSerial, MAX_HOURS } from '../offline/codes.js';
import { printable } from '../text.js';
import type { LocalDenyState, ResolvedChange } from './port.js';
import { CHANGE_KINDS, type ChangeKind, MAX_CHANGE_DATA_BYTES, type WireChange } from './proto.js';

const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' });
const Name = Type.String({ minLength: 1, maxLength: 200 });
const EpochMs = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
const Time = Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$' });

export const PersonDataSchema = Type.Object({
  name: Name,
  kind: Type.Union([Type.Literal('resident'), Type.Literal('staff'), Type.Literal('guest')], {
    default: 'resident',
  }),
  unitId: Type.Union([Id, Type.Null()], { default: null }),
  suspended: Type.Boolean({ default: false }),
  keyEpoch: Type.Integer({ minimum: 0, default: 0 }),
  /** Access groups the person belongs to (replaces the current list); absent = unchanged. */
  groupIds: Type.Optional(Type.Array(Id, { maxItems: 1000 })),
});
export type PersonData = Static<typeof PersonDataSchema>;

export const UnitDataSchema = Type.Object({ name: Name });

export const CredentialDataSchema = Type.Object({
  personId: Id,
  kind: Type.Union([Type.Literal('card'), Type.Literal('pin'), Type.Literal('mobile')]),
  /** Card UID (hex), PIN digits or mobile key id. A secret: hashed by the store, never logged. */
  value: Type.String({ minLength: 1, maxLength: 200 }),
  label: Type.Optional(Type.String({ maxLength: 200 })),
  validFrom: Type.Union([EpochMs, Type.Null()], { default: null }),
  validUntil: Type.Union([EpochMs, Type.Null()], { default: null }),
  revoked: Type.Boolean({ default: false }),
});
export type CredentialData = Static<typeof CredentialDataSchema>;

export const GroupDataSchema = Type.Object({
  name: Name,
  scheduleId: Type.Union([Id, Type.Null()], { default: null }),
  doorIds: Type.Array(Id, { default: [], maxItems: 10000 }),
  /** Members (replaces the current list); absent = unchanged. */
  memberIds: Type.Optional(Type.Array(Id, { maxItems: 100000 })),
});

export const ScheduleDataSchema = Type.Object({
  name: Name,
  intervals: Type.Array(
    Type.Object({
      day: Type.Union([...WEEKDAYS, 'hol'].map((day) => Type.Literal(day))),
      from: Time,
      to: Time,
    }),
    { maxItems: 500 },
  ),
});

export const DoorDataSchema = Type.Object({
  name: Name,
  transport: Type.Optional(Type.Union([Type.Literal('mqtt'), Type.Literal('wired'), Type.Literal('sim')])),
  failMode: Type.Optional(Type.Union([Type.Literal('secure'), Type.Literal('safe')])),
  unlockMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 60000 })),
  heldOpenMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 3600000 })),
});

export const HolidayDataSchema = Type.Object({ name: Name });

/** Offline doorcode serial, as printed by `gatehouse code list` (hub/offline/codes.ts). */
const CODE_SERIAL = /^oc-[a-z2-7]{12}$/;

/** Denylists an offline doorcode on the hub. `serial` repeats the change id (checked to match). */
export const CodeRevocationDataSchema = Type.Object({
  serial: Type.String({ pattern: CODE_SERIAL.source }),
  reason: Type.Optional(Type.String({ maxLength: 200 })),
});
export type CodeRevocationData = Static<typeof CodeRevocationDataSchema>;

/**
 * A doorcode the cloud issued (docs/offline-codes.md): its fields, never its digits. The hub derives
 * the digits with its own secret and remembers the code (serial, person, scope, window), so staff see
 * it in `code list` and a suspended holder is refused. The cloud's indexes: daily 0-49, windowed 0.
 */
export const OfflineCodeDataSchema = Type.Object({
  serial: Type.String({ pattern: CODE_SERIAL.source }),
  type: Type.Union([
    Type.Literal('daily'),
    Type.Literal('hourly'),
    Type.Literal('once'),
    Type.Literal('first-use'),
  ]),
  scope: Type.String({ pattern: '^(site|(door|group):[A-Za-z0-9][A-Za-z0-9_.-]{0,63})$' }),
  /** Daily codes: the local date. */
  date: Type.Optional(Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' })),
  /** Hour-window codes: whole hours since 1970-01-01T00:00Z, and the length. */
  startHour: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000_000 })),
  hours: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_HOURS })),
  index: Type.Integer({ minimum: 0, maximum: 49 }),
  personId: Type.Union([Id, Type.Null()], { default: null }),
  label: Type.Optional(
    Type.Union([Type.String({ maxLength: 80, pattern: '^[^\\x00-\\x1f\\x7f]*$' }), Type.Null()]),
  ),
  /** The window the cloud computed (epoch ms, before any daily grace); the hub checks it agrees. */
  validFrom: EpochMs,
  validUntil: EpochMs,
  /** CodeSecret.version the code was made with: a code made with an older secret no longer works. */
  secretVersion: Type.Integer({ minimum: 1, maximum: 4294967295 }),
  issuedAt: Type.Optional(EpochMs),
});
export type OfflineCodeData = Static<typeof OfflineCodeDataSchema>;

/** Fields an issued-code record must never carry: the code itself, or the secret. */
const SECRET_FIELDS = ['digits', 'code', 'pin', 'secret', 'secretHex', 'secret_hex'];

/** The code spec of an issued-code record, or why it is not one the cloud may send. */
export function offlineCodeSpec(
  data: OfflineCodeData,
): { ok: true; spec: CodeSpec } | { ok: false; reason: string } {
  let spec: CodeSpec;
  if (data.type === 'daily') {
    if (data.date === undefined) return { ok: false, reason: 'a daily code needs date' };
    if (data.startHour !== undefined || data.hours !== undefined)
      return { ok: false, reason: 'a daily code has no startHour or hours' };
    spec = { type: 'daily', date: data.date, index: data.index, scope: data.scope };
  } else {
    if (data.startHour === undefined || data.hours === undefined)
      return { ok: false, reason: `a ${data.type} code needs startHour and hours` };
    if (data.date !== undefined) return { ok: false, reason: `a ${data.type} code has no date` };
    if (data.index !== 0)
      return { ok: false, reason: 'the cloud issues hour-window codes with index 0 only' };
    spec = { type: data.type, startHour: data.startHour, hours: data.hours, index: 0, scope: data.scope };
  }
  try {
    checkCodeSpec(spec);
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
  if (codeSerial(spec) !== data.serial)
    return { ok: false, reason: 'serial does not match the code fields (type, window, index, scope)' };
  if (data.validUntil <= data.validFrom) return { ok: false, reason: 'validUntil must be after validFrom' };
  return { ok: true, spec };
}

const DATA_SCHEMAS: Record<ChangeKind, TSchema> = {
  person: PersonDataSchema,
  unit: UnitDataSchema,
  credential: CredentialDataSchema,
  group: GroupDataSchema,
  schedule: ScheduleDataSchema,
  door: DoorDataSchema,
  holiday: HolidayDataSchema,
  code_revocation: CodeRevocationDataSchema,
  offline_code: OfflineCodeDataSchema,
};

const validators = new Map<ChangeKind, Validator>(
  CHANGE_KINDS.map((kind) => [kind, Compile(DATA_SCHEMAS[kind])] as const),
);

const HOLIDAY_ID = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/;
const RECORD_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export interface ParsedChange {
  changeNo: number;
  basedOnSeq: number;
  kind: ChangeKind;
  op: 'upsert' | 'delete';
  id: string;
  data: Record<string, unknown>;
  /** Field names the hub does not know; ignored (the cloud may be newer), logged once per change. */
  ignoredFields: string[];
}

export type ParseResult = { ok: true; change: ParsedChange } | { ok: false; reason: string };

/** Checks one change from the wire. Never throws. */
export function parseChange(wire: WireChange): ParseResult {
  // Before anything else touches it: a 10 MB record is refused without being parsed.
  const dataBytes = Buffer.byteLength(wire.data_json, 'utf8');
  if (dataBytes > MAX_CHANGE_DATA_BYTES) {
    return {
      ok: false,
      reason: `${printable(wire.kind)} ${printable(wire.id)}: data_json is ${dataBytes} bytes, over the limit of ${MAX_CHANGE_DATA_BYTES} bytes per change`,
    };
  }
  if (!(CHANGE_KINDS as readonly string[]).includes(wire.kind)) {
    return { ok: false, reason: `unknown change kind '${printable(wire.kind)}'` };
  }
  const kind = wire.kind as ChangeKind;
  if (wire.op !== 'upsert' && wire.op !== 'delete') {
    return { ok: false, reason: `unknown change op '${printable(wire.op)}'` };
  }
  const idPattern =
    kind === 'holiday'
      ? HOLIDAY_ID
      : kind === 'code_revocation' || kind === 'offline_code'
        ? CODE_SERIAL
        : RECORD_ID;
  if (!idPattern.test(wire.id)) return { ok: false, reason: `invalid ${kind} id '${printable(wire.id)}'` };
  if (kind === 'code_revocation' && wire.op === 'delete') {
    // A revoked doorcode stays revoked: the hub has no "un-revoke", locally or from the cloud.
    return { ok: false, reason: `code_revocation ${wire.id}: a revocation cannot be deleted` };
  }
  if (kind === 'offline_code' && wire.op === 'delete') {
    // Taking a code back is a revocation (code_revocation), which the hub keeps for ever.
    return { ok: false, reason: `offline_code ${wire.id}: send a code_revocation to take a code back` };
  }
  const base = { changeNo: wire.change_no, basedOnSeq: wire.based_on_seq, kind, id: wire.id };
  if (wire.op === 'delete')
    return { ok: true, change: { ...base, op: 'delete', data: {}, ignoredFields: [] } };

  let raw: unknown;
  try {
    raw = JSON.parse(wire.data_json);
  } catch {
    return { ok: false, reason: `${kind} ${wire.id}: data_json is not valid JSON` };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, reason: `${kind} ${wire.id}: data_json must be a JSON object` };
  }
  if (kind === 'offline_code') {
    const leaked = SECRET_FIELDS.find((field) => Object.hasOwn(raw as object, field));
    if (leaked !== undefined)
      return {
        ok: false,
        reason: `offline_code ${wire.id}: must not carry '${leaked}' (never send the code itself)`,
      };
  }
  const schema = DATA_SCHEMAS[kind];
  const withDefaults = Value.Default(schema, raw) as Record<string, unknown>;
  const validator = validators.get(kind)!;
  if (!validator.Check(withDefaults)) {
    const problems = validator
      .Errors(withDefaults)
      .slice(0, 3)
      .map((e) => `${e.instancePath || '/'} ${e.message}`);
    return { ok: false, reason: `${kind} ${wire.id}: ${problems.join('; ')}` };
  }
  const known = new Set(Object.keys((schema as { properties?: object }).properties ?? {}));
  const ignoredFields = Object.keys(withDefaults).filter((key) => !known.has(key));
  const data = Value.Clean(schema, withDefaults) as Record<string, unknown>;
  if (kind === 'code_revocation' && data['serial'] !== wire.id) {
    return { ok: false, reason: `code_revocation ${wire.id}: data.serial does not match the change id` };
  }
  if (kind === 'offline_code') {
    if (data['serial'] !== wire.id)
      return { ok: false, reason: `offline_code ${wire.id}: data.serial does not match the change id` };
    const spec = offlineCodeSpec(data as OfflineCodeData);
    if (!spec.ok) return { ok: false, reason: `offline_code ${wire.id}: ${spec.reason}` };
  }
  return { ok: true, change: { ...base, op: 'upsert', data, ignoredFields } };
}

/**
 * Does this change take access away (credential revoked or deleted, person suspended or deleted, doorcode
 * revoked)? Such changes are applied ahead of grants queued before them. Cheap and never throws: a
 * change it cannot read is simply not a deny (it is then applied, or rejected, in order).
 */
export function isDenyChange(wire: WireChange): boolean {
  if (wire.kind === 'code_revocation') return wire.op === 'upsert';
  if (wire.kind !== 'person' && wire.kind !== 'credential') return false;
  if (wire.op === 'delete') return true;
  if (wire.op !== 'upsert' || wire.data_json.length > MAX_CHANGE_DATA_BYTES) return false;
  try {
    const data = JSON.parse(wire.data_json) as { suspended?: unknown; revoked?: unknown } | null;
    if (data === null || typeof data !== 'object') return false;
    return wire.kind === 'person' ? data.suspended === true : data.revoked === true;
  } catch {
    return false;
  }
}

export interface Resolution {
  /** What to write; null = skip the change (it would undo a newer local deny). */
  write: ResolvedChange | null;
  /** Why the cloud's version was changed or skipped; audited as a cloud.conflict event. */
  conflict: string | null;
}

/**
 * Deny wins. A cloud change was made knowing the hub's events up to `basedOnSeq`. When the hub
 * suspended, revoked or deleted the record locally after that (`localDenySeq > basedOnSeq`), the
 * cloud did not know, so its change may not lift the deny:
 * - person upsert: stays suspended; key epoch is the larger of both; other fields apply;
 * - credential upsert: stays revoked; other fields apply;
 * - upsert of a record deleted locally: skipped.
 * Denies from the cloud (suspend, revoke, delete, epoch bump) always apply. A change made after the
 * cloud saw the local deny is the manager's informed decision and applies as sent.
 */
export function resolveChange(
  change: ParsedChange,
  local: LocalDenyState | null,
  localDenySeq: number | null,
): Resolution {
  if (change.op === 'delete')
    return { write: { kind: change.kind, op: 'delete', id: change.id }, conflict: null };
  const staleCloud = localDenySeq !== null && localDenySeq > change.basedOnSeq;
  const data = { ...change.data };
  let conflict: string | null = null;

  if (change.kind === 'person') {
    if (staleCloud && local === null) {
      return {
        write: null,
        conflict: `person deleted on the hub (event ${localDenySeq}) after the cloud's view`,
      };
    }
    if (staleCloud && local?.denied && data['suspended'] === false) {
      data['suspended'] = true;
      conflict = `person stays suspended: suspended on the hub (event ${localDenySeq}) after the cloud's view`;
    }
    const localEpoch = local?.keyEpoch ?? 0;
    if (typeof data['keyEpoch'] === 'number' && data['keyEpoch'] < localEpoch) data['keyEpoch'] = localEpoch;
  } else if (change.kind === 'credential') {
    if (staleCloud && local === null) {
      return {
        write: null,
        conflict: `credential deleted on the hub (event ${localDenySeq}) after the cloud's view`,
      };
    }
    if (staleCloud && local?.denied && data['revoked'] === false) {
      data['revoked'] = true;
      conflict = `credential stays revoked: revoked on the hub (event ${localDenySeq}) after the cloud's view`;
    }
  }
  return { write: { kind: change.kind, op: 'upsert', id: change.id, data }, conflict };
}
