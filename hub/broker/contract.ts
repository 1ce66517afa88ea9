// MQTT contract v1 (docs/mqtt.md): topic parsing and payload validation at the broker boundary.
// Everything here is pure: bytes and strings in, a typed message or a clear error out.
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';

export const CONTRACT_VERSION = 1;
/** Characters of a topic that a log line or an error reply repeats (a topic may be 64 KiB long). */
export const TOPIC_SHOWN = 200;

/** Channels a door has; the first three come from devices, the rest from the hub. */
export type DoorChannel = 'credential' | 'state' | 'event' | 'decision' | 'set' | 'sync' | 'challenge';
export type DeviceChannel = 'availability' | 'error';

export type ParsedTopic =
  | { area: 'door'; doorId: string; channel: DoorChannel; rest: string[] }
  | { area: 'device'; deviceId: string; channel: DeviceChannel }
  | { area: 'bridge'; channel: 'state' | 'event' }
  | { area: 'bridge'; channel: 'request' | 'response'; name: string };

const DOOR_CHANNELS: ReadonlySet<string> = new Set([
  'credential',
  'state',
  'event',
  'decision',
  'set',
  'sync',
  'challenge', // mobile key challenges, hub → device (docs/mqtt.md §8)
]);

/**
 * Whether an id can be one level of a topic. Ids come from the store; one with `/`, `+`, `#`
 * or control characters would let a topic pattern reach other doors, so it never maps to a topic.
 */
export function isTopicSafeId(id: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we reject
  return id.length > 0 && id.length <= 128 && !/[/+#\u0000-\u001f\u007f]/.test(id);
}

/** Splits a concrete topic (no wildcards) under `baseTopic` into its parts; null if not ours. */
export function parseTopic(baseTopic: string, topic: string): ParsedTopic | null {
  const prefix = `${baseTopic}/`;
  if (!topic.startsWith(prefix)) return null;
  const levels = topic.slice(prefix.length).split('/');
  const [area, id, channel, ...rest] = levels;
  if (area === 'door' && id !== undefined && channel !== undefined) {
    if (!isTopicSafeId(id) || !DOOR_CHANNELS.has(channel)) return null;
    if (channel !== 'sync' && rest.length > 0) return null;
    return { area: 'door', doorId: id, channel: channel as DoorChannel, rest };
  }
  if (area === 'device' && id !== undefined && channel !== undefined && rest.length === 0) {
    if (!isTopicSafeId(id) || (channel !== 'availability' && channel !== 'error')) return null;
    return { area: 'device', deviceId: id, channel };
  }
  if (area === 'bridge') {
    if ((id === 'state' || id === 'event') && channel === undefined) return { area: 'bridge', channel: id };
    if ((id === 'request' || id === 'response') && channel !== undefined && rest.length === 0) {
      if (!isTopicSafeId(channel)) return null;
      return { area: 'bridge', channel: id, name: channel };
    }
  }
  return null;
}

/** Topic builders, so every part spells topics the same way. */
export function topics(baseTopic: string) {
  return {
    doorCredential: (doorId: string) => `${baseTopic}/door/${doorId}/credential`,
    doorState: (doorId: string) => `${baseTopic}/door/${doorId}/state`,
    doorEvent: (doorId: string) => `${baseTopic}/door/${doorId}/event`,
    doorDecision: (doorId: string) => `${baseTopic}/door/${doorId}/decision`,
    doorSet: (doorId: string) => `${baseTopic}/door/${doorId}/set`,
    doorSync: (doorId: string) => `${baseTopic}/door/${doorId}/sync/#`,
    // Mobile key challenges and door-side sync (docs/mqtt.md §8).
    doorChallenge: (doorId: string) => `${baseTopic}/door/${doorId}/challenge`,
    doorSyncAck: (doorId: string) => `${baseTopic}/door/${doorId}/sync/ack`,
    doorAll: (doorId: string) => `${baseTopic}/door/${doorId}/#`,
    deviceAvailability: (deviceId: string) => `${baseTopic}/device/${deviceId}/availability`,
    deviceError: (deviceId: string) => `${baseTopic}/device/${deviceId}/error`,
    bridgeState: () => `${baseTopic}/bridge/state`,
    bridgeEvent: () => `${baseTopic}/bridge/event`,
    bridgeRequest: (name: string) => `${baseTopic}/bridge/request/${name}`,
    bridgeResponse: (name: string) => `${baseTopic}/bridge/response/${name}`,
  };
}

// ---- payload schemas (device → hub) ----

export const CredentialPayload = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 64 }),
    kind: Type.Enum(['card', 'keypad', 'mobile']),
    value: Type.String({ minLength: 1, maxLength: 4096 }),
    reader: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  },
  { additionalProperties: false },
);
export type CredentialPayload = Static<typeof CredentialPayload>;

export const StatePayload = Type.Object(
  {
    contact: Type.Optional(Type.Enum(['open', 'closed'])),
    lock: Type.Optional(Type.Enum(['locked', 'unlocked'])),
    tamper: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type StatePayload = Static<typeof StatePayload>;

export const EventPayload = Type.Object(
  {
    type: Type.String({ minLength: 1, maxLength: 32, pattern: '^[a-z][a-z0-9_]*$' }),
  },
  { additionalProperties: true },
);
export type EventPayload = Static<typeof EventPayload> & Record<string, unknown>;

export const BridgeRequestPayload = Type.Object(
  {
    transaction: Type.Optional(Type.Union([Type.String({ maxLength: 128 }), Type.Number()])),
  },
  { additionalProperties: true },
);
export type BridgeRequestPayload = Static<typeof BridgeRequestPayload> & Record<string, unknown>;

/** A door device acknowledges the door sync version it applied (docs/mqtt.md §8.2). */
export const SyncAckPayload = Type.Object(
  { version: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }) },
  { additionalProperties: false },
);
export type SyncAckPayload = Static<typeof SyncAckPayload>;

const credentialValidator = Compile(CredentialPayload);
const syncAckValidator = Compile(SyncAckPayload);
const stateValidator = Compile(StatePayload);
const eventValidator = Compile(EventPayload);
const bridgeRequestValidator = Compile(BridgeRequestPayload);

/** Event types the hub produces itself (availability; sync acks have their own topic); a device may not forge them. */
const RESERVED_EVENT_TYPES: ReadonlySet<string> = new Set(['availability', 'sync_ack']);

// ---- payload schemas (hub → device), for documentation and tests ----

export interface DecisionMessage {
  id: string;
  granted: boolean;
  reason: string;
  unlockMs?: number;
}

export type SetMessage = { lock: 'unlock'; ms: number } | { lock: 'lock' };

export interface ErrorMessage {
  topic: string;
  error: string;
}

export type BridgeState = { state: 'online' | 'offline' };

// ---- parsing ----

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

interface SchemaErrorLike {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

interface Validator {
  Check(value: unknown): boolean;
  Errors(value: unknown): readonly unknown[];
}

/**
 * Reads a JSON object from an MQTT payload. The size is checked before parsing so an oversized
 * payload costs nothing; the error says what was wrong in words a firmware developer can act on.
 */
export function readJson(payload: Buffer | string, maxBytes: number): ParseResult<unknown> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > maxBytes) return { ok: false, error: `payload too large: ${size} bytes, limit ${maxBytes}` };
  const text = typeof payload === 'string' ? payload : payload.toString('utf8');
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    // V8's message can quote the payload (a PIN, a card UID): report only the position.
    const position = /at position (\d+)/.exec((error as Error).message)?.[1];
    return { ok: false, error: position ? `malformed JSON at position ${position}` : 'malformed JSON' };
  }
}

function validate<T>(validator: Validator, value: unknown, what: string): ParseResult<T> {
  if (validator.Check(value)) return { ok: true, value: value as T };
  return {
    ok: false,
    error: `invalid ${what}: ${describeErrors(validator.Errors(value) as SchemaErrorLike[])}`,
  };
}

function describeErrors(errors: SchemaErrorLike[]): string {
  const messages: string[] = [];
  for (const error of errors) {
    const field = error.instancePath === '' ? '' : `'${error.instancePath.slice(1).replaceAll('/', '.')}'`;
    let message: string | null;
    switch (error.keyword) {
      case 'required': {
        const missing = error.params['requiredProperties'];
        message = `missing field ${Array.isArray(missing) ? missing.map((m) => `'${String(m)}'`).join(', ') : ''}`;
        break;
      }
      case 'additionalProperties': {
        const extra = error.params['additionalProperties'];
        message = `unknown field ${Array.isArray(extra) ? extra.map((m) => `'${String(m)}'`).join(', ') : ''}`;
        break;
      }
      case 'enum': {
        const allowed = error.params['allowedValues'];
        message = `${field} must be one of ${Array.isArray(allowed) ? allowed.join(', ') : '?'}`;
        break;
      }
      case 'type':
        message =
          field === ''
            ? `payload must be a JSON ${String(error.params['type'])}`
            : `${field} ${error.message}`;
        break;
      case 'boolean': // the per-property echo of additionalProperties: false
        message = null;
        break;
      default:
        message = field === '' ? error.message : `${field} ${error.message}`;
    }
    if (message !== null && !messages.includes(message)) messages.push(message);
  }
  return messages.slice(0, 3).join('; ') || 'does not match the contract';
}

/** Canonical presentation value: card UIDs uppercase hex, keypad entries digits only. */
function canonicalValue(credential: CredentialPayload): ParseResult<string> {
  switch (credential.kind) {
    case 'card': {
      // Readers print UIDs as 04:a2:2b:1c or 04-A2-2B-1C; the store knows them as 04A22B1C.
      const hex = credential.value.replace(/[:\-\s]/g, '');
      if (!/^[0-9A-Fa-f]{2,128}$/.test(hex)) {
        return {
          ok: false,
          error: "invalid credential: 'value' of a card must be 2-128 hex digits, e.g. 04A1B2C3",
        };
      }
      return { ok: true, value: hex.toUpperCase() };
    }
    case 'keypad':
      if (!/^[0-9]{1,32}$/.test(credential.value)) {
        return { ok: false, error: "invalid credential: 'value' of a keypad entry must be 1-32 digits" };
      }
      return { ok: true, value: credential.value };
    default:
      return { ok: true, value: credential.value };
  }
}

export function parseCredential(payload: Buffer | string, maxBytes: number): ParseResult<CredentialPayload> {
  const json = readJson(payload, maxBytes);
  if (!json.ok) return json;
  const checked = validate<CredentialPayload>(credentialValidator, json.value, 'credential');
  if (!checked.ok) return checked;
  const value = canonicalValue(checked.value);
  if (!value.ok) return value;
  return { ok: true, value: { ...checked.value, value: value.value } };
}

export function parseState(payload: Buffer | string, maxBytes: number): ParseResult<StatePayload> {
  const json = readJson(payload, maxBytes);
  if (!json.ok) return json;
  return validate<StatePayload>(stateValidator, json.value, 'state');
}

export function parseEvent(payload: Buffer | string, maxBytes: number): ParseResult<EventPayload> {
  const json = readJson(payload, maxBytes);
  if (!json.ok) return json;
  const checked = validate<EventPayload>(eventValidator, json.value, 'event');
  if (checked.ok && RESERVED_EVENT_TYPES.has(checked.value.type)) {
    return { ok: false, error: `invalid event: type '${checked.value.type}' is reserved for the hub` };
  }
  return checked;
}

export function parseAvailability(payload: Buffer | string): ParseResult<'online' | 'offline'> {
  const text = (typeof payload === 'string' ? payload : payload.toString('utf8')).trim();
  if (text === 'online' || text === 'offline') return { ok: true, value: text };
  return { ok: false, error: "invalid availability: payload must be the text 'online' or 'offline'" };
}

export function parseSyncAck(payload: Buffer | string, maxBytes: number): ParseResult<SyncAckPayload> {
  const json = readJson(payload, maxBytes);
  if (!json.ok) return json;
  return validate<SyncAckPayload>(syncAckValidator, json.value, 'sync ack');
}

export function parseBridgeRequest(
  payload: Buffer | string,
  maxBytes: number,
): ParseResult<BridgeRequestPayload> {
  const json = readJson(payload, maxBytes);
  if (!json.ok) return json;
  return validate<BridgeRequestPayload>(bridgeRequestValidator, json.value, 'request');
}

/**
 * Best-effort request id of a credential that failed validation, so the hub can still answer
 * `invalid_request` and the device is not left waiting. Bounded work: never parses more than
 * `maxBytes`, and only accepts an id that would itself be valid.
 */
export function salvageRequestId(payload: Buffer | string, maxBytes: number): string | null {
  const text =
    typeof payload === 'string' ? payload.slice(0, maxBytes) : payload.subarray(0, maxBytes).toString('utf8');
  let id: unknown;
  try {
    const parsed: unknown = JSON.parse(text);
    id =
      typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)['id'] : undefined;
  } catch {
    // Malformed or cut off: look for a plain "id":"..." member near the start.
    id = /"id"\s*:\s*"([^"\\]{1,64})"/.exec(text.slice(0, 1024))?.[1];
  }
  return typeof id === 'string' && id.length >= 1 && id.length <= 64 ? id : null;
}
