// Door sync messages (docs/mqtt.md, "Door-side sync"): a signed, versioned copy of the credentials
// that may open one door, as a full snapshot or a delta. Pure: no I/O.
//
// Wire form: {"body": base64url(JSON body), "sig": base64url(Ed25519 signature)}
//   signature over the ASCII bytes of  "gatehouse-doorsync/v1." + body
import { type KeyObject, sign, verify } from 'node:crypto';
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { fromBase64url } from '../mobile/certificate.js';

export const SYNC_CONTEXT = 'gatehouse-doorsync/v1.';

const Interval = Type.Object(
  {
    day: Type.Enum(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'hol']),
    from: Type.String({ pattern: '^\\d{2}:\\d{2}$' }),
    to: Type.String({ pattern: '^\\d{2}:\\d{2}$' }),
  },
  { additionalProperties: false },
);

export const SyncEntrySchema = Type.Object(
  {
    /** Credential id: opaque, no name, no person. */
    ref: Type.String({ minLength: 1, maxLength: 64 }),
    kind: Type.Enum(['card', 'pin']),
    /** card: hex HMAC-SHA256(cardKey, canonical uppercase hex UID); pin: hex HMAC-SHA256(pinKey, digits). */
    lookup: Type.String({ pattern: '^[0-9A-Fa-f]{2,128}$' }),
    validFrom: Type.Union([Type.Integer(), Type.Null()]),
    validUntil: Type.Union([Type.Integer(), Type.Null()]),
    /** null: at any time. Otherwise the entry opens the door when any interval contains the local time. */
    intervals: Type.Union([Type.Array(Interval, { maxItems: 512 }), Type.Null()]),
  },
  { additionalProperties: false },
);
export type SyncEntry = Static<typeof SyncEntrySchema>;

const DoorSettings = {
  mode: Type.Enum(['normal', 'lockdown', 'unlocked']),
  unlockMs: Type.Integer({ minimum: 1000, maximum: 60000 }),
  timeZone: Type.String({ minLength: 1, maxLength: 64 }),
  holidays: Type.Array(Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' }), { maxItems: 1000 }),
};

export const SnapshotBodySchema = Type.Object(
  {
    v: Type.Literal(1),
    type: Type.Literal('snapshot'),
    door: Type.String({ minLength: 1, maxLength: 128 }),
    version: Type.Integer({ minimum: 1 }),
    issuedAt: Type.Integer(),
    ...DoorSettings,
    /** Key for PIN lookups at this door, base64url; absent when PINs are not synced. */
    pinKey: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' })),
    /** Key for card lookups at this door, base64url; absent when cards are not synced. */
    cardKey: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' })),
    entries: Type.Array(SyncEntrySchema),
  },
  { additionalProperties: false },
);
export type SnapshotBody = Static<typeof SnapshotBodySchema>;

export const DeltaBodySchema = Type.Object(
  {
    v: Type.Literal(1),
    type: Type.Literal('delta'),
    door: Type.String({ minLength: 1, maxLength: 128 }),
    version: Type.Integer({ minimum: 1 }),
    /** The version this delta applies to; a copy at any other version waits for the snapshot. */
    prev: Type.Integer({ minimum: 0 }),
    issuedAt: Type.Integer(),
    put: Type.Array(SyncEntrySchema),
    del: Type.Array(Type.String({ minLength: 1, maxLength: 64 })),
    mode: Type.Optional(DoorSettings.mode),
    unlockMs: Type.Optional(DoorSettings.unlockMs),
    timeZone: Type.Optional(DoorSettings.timeZone),
    holidays: Type.Optional(DoorSettings.holidays),
  },
  { additionalProperties: false },
);
export type DeltaBody = Static<typeof DeltaBodySchema>;

export const SignedMessageSchema = Type.Object(
  {
    body: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_-]+$' }),
    sig: Type.String({ pattern: '^[A-Za-z0-9_-]{86}$' }),
  },
  { additionalProperties: false },
);
export type SignedMessage = Static<typeof SignedMessageSchema>;

export const AckSchema = Type.Object(
  { version: Type.Integer({ minimum: 0 }) },
  { additionalProperties: true },
);

const snapshotCheck = Compile(SnapshotBodySchema);
const deltaCheck = Compile(DeltaBodySchema);
const signedCheck = Compile(SignedMessageSchema);
export const ackCheck = Compile(AckSchema);

export function signSyncBody(body: SnapshotBody | DeltaBody, key: KeyObject): SignedMessage {
  const encoded = Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
  const sig = sign(null, Buffer.from(SYNC_CONTEXT + encoded, 'ascii'), key).toString('base64url');
  return { body: encoded, sig };
}

export type OpenResult = { ok: true; body: SnapshotBody | DeltaBody } | { ok: false; error: string };

/** Checks the hub's signature and the schema; what a door controller does with every sync message. */
export function openSyncMessage(payload: Buffer | string, hubPublicKey: KeyObject): OpenResult {
  let json: unknown;
  try {
    json = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  if (!signedCheck.Check(json)) return { ok: false, error: 'not a signed sync message' };
  const sig = fromBase64url(json.sig);
  let valid = false;
  try {
    valid = sig !== null && verify(null, Buffer.from(SYNC_CONTEXT + json.body, 'ascii'), hubPublicKey, sig);
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, error: 'signature is not valid' };
  const bytes = fromBase64url(json.body);
  if (!bytes) return { ok: false, error: 'body is not base64url' };
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { ok: false, error: 'body is not JSON' };
  }
  if (snapshotCheck.Check(body) || deltaCheck.Check(body)) return { ok: true, body };
  return { ok: false, error: 'body is not a snapshot or delta v1' };
}
