// The access decision: credential + person + grants + door + time -> grant or deny with a reason.
// Pure: the caller looks everything up and passes the current time in. Deny wins.
import type { Decision } from '../bus.js';
import type {
  Credential,
  CredentialKind,
  DoorMode,
  Person,
  PresentationKind,
  Reason,
  ScheduleInterval,
} from '../domain.js';
import { isValidTimeZone, type LocalTime, localTime, previousLocalDay } from './localtime.js';
import { isWithinSchedule } from './schedule.js';

export interface AccessGrant {
  groupId: string;
  /** null = at any time. */
  intervals: ScheduleInterval[] | null;
}

export interface DecisionInput {
  /** Epoch ms of the presentation. */
  now: number;
  /** IANA zone of the building, e.g. "Europe/Berlin". */
  timeZone: string;
  door: { id: string; mode: DoorMode; unlockMs: number };
  kind: PresentationKind;
  /** The stored credential the presented value matched, with its owner; null if nothing matched. */
  match: { credential: Credential; person: Person } | null;
  /** The person's access groups that include this door. */
  grants: AccessGrant[];
  /** Holiday dates "YYYY-MM-DD" in the building's zone. */
  holidays: ReadonlySet<string>;
  /** KeypadLockout.isLocked(...) for this door's keypad; only consulted for keypad entries. */
  keypadLocked: boolean;
  /** The presented value failed validatePresentationValue (nothing was looked up). */
  malformed?: boolean;
}

const CREDENTIAL_KIND_FOR: Readonly<Record<PresentationKind, CredentialKind>> = {
  card: 'card',
  keypad: 'pin',
  mobile: 'mobile',
};

/** Which stored credential kind a presentation is looked up as (a keypad entry is a `pin`). */
export function credentialKindFor(kind: PresentationKind): CredentialKind {
  return CREDENTIAL_KIND_FOR[kind];
}

function isPresentationKind(kind: unknown): kind is PresentationKind {
  return kind === 'card' || kind === 'keypad' || kind === 'mobile';
}

function isValidityBound(value: unknown): value is number | null {
  return value === null || (typeof value === 'number' && Number.isFinite(value));
}

/**
 * The refusals in the order decide() checks them; when several apply, the earliest is the answer.
 * Explanations that compare refusals (person.access) rank them by this list; a test holds decide() to it.
 */
export const REFUSAL_ORDER = [
  'lockdown',
  'invalid_request',
  'locked_out',
  'unknown_credential',
  'revoked',
  'suspended',
  'person_outside_window',
  'not_yet_valid',
  'expired',
  'no_access',
  'outside_schedule',
] as const satisfies readonly Reason[];

/**
 * Grant or deny. Checked in REFUSAL_ORDER, first refusal wins: lockdown, invalid_request, locked_out
 * (keypad only), unknown_credential, revoked, suspended, person_outside_window, not_yet_valid, expired,
 * no_access, outside_schedule. Denials carry personId/credentialId when known, for the audit log.
 * The only statement of this order: the decision service, the door-side copy (hub/doorsync),
 * offline codes and mobile keys each build this input and call it (docs/access-rules.md).
 */
export function decide(input: DecisionInput): Decision {
  const { now, door, kind, match } = input;
  const credential = match?.credential;
  const person = match?.person;
  const personId = person?.id ?? null;
  const credentialId = credential?.id ?? null;
  const deny = (reason: Reason): Decision => ({ granted: false, reason, personId, credentialId });

  if (door.mode === 'lockdown') return deny('lockdown');
  // A broken value, clock or kind would make every comparison below false and could grant: refuse.
  if (input.malformed === true || !Number.isFinite(now) || !isPresentationKind(kind)) {
    return deny('invalid_request');
  }
  if (kind === 'keypad' && input.keypadLocked) return deny('locked_out');
  if (credential === undefined || person === undefined) return deny('unknown_credential');
  // A match that does not fit the presentation is no match (defence against a bad lookup).
  if (credential.kind !== credentialKindFor(kind) || credential.personId !== person.id) {
    return { granted: false, reason: 'unknown_credential', personId: null, credentialId: null };
  }
  if (credential.revokedAt !== null) return deny('revoked');
  if (person.suspended !== false) return deny('suspended');
  // The person's access window (staff set it: a contractor between jobs); damaged bounds refuse too.
  if (!isValidityBound(person.accessFrom) || !isValidityBound(person.accessUntil)) {
    return deny('person_outside_window');
  }
  if (person.accessFrom !== null && now < person.accessFrom) return deny('person_outside_window');
  if (person.accessUntil !== null && now >= person.accessUntil) return deny('person_outside_window');
  // Damaged validity dates cannot prove the credential is valid now.
  if (!isValidityBound(credential.validFrom) || !isValidityBound(credential.validUntil)) {
    return deny('expired');
  }
  if (credential.validFrom !== null && now < credential.validFrom) return deny('not_yet_valid');
  if (credential.validUntil !== null && now >= credential.validUntil) return deny('expired');
  if (input.grants.length === 0) return deny('no_access');
  if (!scheduledGrantAllows(input)) return deny('outside_schedule');
  return { granted: true, reason: 'granted', unlockMs: door.unlockMs, personId, credentialId };
}

/** Whether any grant allows `now`; the local time is computed once, and only if a schedule needs it. */
function scheduledGrantAllows({ grants, now, timeZone, holidays }: DecisionInput): boolean {
  let at: LocalTime | null | undefined;
  for (const grant of grants) {
    if (grant.intervals === null) return true;
    if (at === undefined) at = isValidTimeZone(timeZone) ? localTime(now, timeZone) : null;
    // An unknown time zone cannot place `now` in a schedule: fail closed.
    if (at !== null && isWithinSchedule(grant.intervals, at, holidays, previousLocalDay(at))) return true;
  }
  return false;
}

export type PresentationValueCheck = { ok: true; value: string } | { ok: false; error: string };

const MAX_MOBILE_TOKEN_CHARS = 4096;
const MAX_CARD_INPUT_CHARS = 256;
const CARD_HEX = /^[0-9A-F]{2,64}$/;
const PIN_DIGITS = /^[0-9]{4,12}$/;

/** A card UID as stored and compared: uppercase hex without ":" or spaces; null when it is no card value. */
export function canonicalCardValue(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > MAX_CARD_INPUT_CHARS) return null;
  const canonical = value.replace(/[:\s]/g, '').toUpperCase();
  return CARD_HEX.test(canonical) ? canonical : null;
}

/** Whether digits have the shape of a keypad entry (4–12 digits): personal PINs and offline codes. */
export function isKeypadValue(value: unknown): value is string {
  return typeof value === 'string' && PIN_DIGITS.test(value);
}

/**
 * Validate and canonicalise a presented value before any lookup. Card UIDs become uppercase hex
 * without separators. Error messages never echo the value (it may be a PIN).
 */
export function validatePresentationValue(kind: unknown, value: unknown): PresentationValueCheck {
  if (typeof value !== 'string') return { ok: false, error: 'value must be a string' };
  switch (kind) {
    case 'card': {
      if (value.length > MAX_CARD_INPUT_CHARS) return { ok: false, error: 'card value is too long' };
      const canonical = canonicalCardValue(value);
      if (canonical === null) {
        return { ok: false, error: 'card value must be 2–64 hex digits (":" and spaces allowed)' };
      }
      return { ok: true, value: canonical };
    }
    case 'keypad':
      if (!isKeypadValue(value)) return { ok: false, error: 'keypad value must be 4–12 digits' };
      return { ok: true, value };
    case 'mobile':
      if (value.length === 0) return { ok: false, error: 'mobile value must not be empty' };
      if (value.length > MAX_MOBILE_TOKEN_CHARS) {
        return { ok: false, error: `mobile value must be at most ${MAX_MOBILE_TOKEN_CHARS} characters` };
      }
      return { ok: true, value };
    default:
      return { ok: false, error: 'kind must be one of card, keypad, mobile' };
  }
}
