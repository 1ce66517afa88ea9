// The nouns of the system, shared by every part. Types only: no behaviour, no I/O.

/** Why a presentation was granted or denied. The MQTT contract (docs/mqtt.md) publishes these verbatim. */
export const REASONS = [
  'granted',
  'unknown_credential',
  'revoked',
  'suspended',
  // The person's access window (from/until) does not include now.
  'person_outside_window',
  'not_yet_valid',
  'expired',
  'outside_schedule',
  'no_access',
  'locked_out',
  'lockdown',
  'invalid_request',
  // Not decided: the device or the hub was over its budget (docs/mqtt.md "Limits and budgets").
  'rate_limited',
] as const;
export type Reason = (typeof REASONS)[number];

/** How a credential reached a door: a card UID / Wiegand payload, digits on a keypad, or a phone. */
export type PresentationKind = 'card' | 'keypad' | 'mobile';

/** What the store keeps. A keypad entry is looked up as a `pin`. */
export type CredentialKind = 'card' | 'pin' | 'mobile';

export type PersonKind = 'resident' | 'staff' | 'guest';

export type StaffRole = 'admin' | 'staff' | 'installer';

/** Normal: credentials decide. Lockdown: every credential is refused. Unlocked: held open on purpose ("keep unlocked"). */
export type DoorMode = 'normal' | 'lockdown' | 'unlocked';

/** Fail-secure stays locked without power (strikes); fail-safe unlocks without power (maglocks). */
export type FailMode = 'secure' | 'safe';

/** Where a door's lock and sensors live. */
export type DoorTransport = 'mqtt' | 'wired' | 'sim';

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];
/** `hol` intervals apply instead of the weekday's on a holiday date. */
export type ScheduleDay = Weekday | 'hol';

/**
 * One interval of a weekly schedule, in the hub's time zone, minute granularity.
 * `to` <= `from` means the interval crosses midnight into the next day ("22:00"–"06:00").
 * `to` may be "24:00" for the end of the day.
 */
export interface ScheduleInterval {
  day: ScheduleDay;
  from: string; // "HH:MM"
  to: string; // "HH:MM"
}

export interface Person {
  id: string;
  name: string;
  kind: PersonKind;
  unitId: string | null;
  suspended: boolean;
  /** Bumped by "log out everywhere": mobile keys issued under an older epoch stop working. */
  keyEpoch: number;
  /** Access window set by staff (epoch ms; from inclusive, until exclusive; null = open): outside it every credential is refused. */
  accessFrom: number | null;
  accessUntil: number | null;
  createdAt: number;
}

export interface Credential {
  id: string;
  personId: string;
  kind: CredentialKind;
  /** A short, safe description for staff: masked card UID, "PIN", phone label. Never the secret. */
  label: string;
  validFrom: number | null; // epoch ms, inclusive
  validUntil: number | null; // epoch ms, exclusive
  revokedAt: number | null;
  createdAt: number;
}

export interface Door {
  id: string;
  name: string;
  transport: DoorTransport;
  mode: DoorMode;
  failMode: FailMode;
  unlockMs: number;
  heldOpenMs: number;
  createdAt: number;
}

/** Events are the audit log and the cloud outbox. `type` namespaces: decision, alarm, door.*, admin.*, device.*, hub.*. */
export interface HubEvent {
  seq: number;
  ts: number; // epoch ms
  type: string;
  doorId: string | null;
  personId: string | null;
  credentialId: string | null;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export type NewEvent = Omit<HubEvent, 'seq' | 'prevHash' | 'hash' | 'ts'> & { ts?: number };
