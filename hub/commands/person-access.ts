// "What would each door answer for this person right now, and why?" (person.access): the real rules
// kernel (hub/access) asked once per door, credential and granting group with what the decision
// service would pass it. This module only builds the engine's input and words its answer for staff;
// it never decides anything itself.
import { type DecisionInput, decide, REFUSAL_ORDER } from '../access/index.js';
import { formatLocalMinute } from '../access/localtime.js';
import type { Credential, CredentialKind, Door, Person, PresentationKind, Reason } from '../domain.js';
import type { Grant } from '../store/access.js';
import type { StoredCredential } from '../store/credentials.js';
import type { Store } from '../store/store.js';

/** At most this many credentials of one person are explained (doors × credentials stays small). */
export const MAX_EXPLAINED_CREDENTIALS = 50;

/** A door's answer when the person holds no credential at all (not a kernel reason: nothing was presented). */
export const NO_CREDENTIAL = 'no_credential';

export interface CredentialAnswer {
  credentialId: string;
  kind: CredentialKind;
  label: string;
  granted: boolean;
  reason: Reason;
}

export interface DoorAnswer {
  doorId: string;
  name: string;
  granted: boolean;
  /** The kernel's reason code for the door's best credential, or `no_credential`. */
  reason: Reason | typeof NO_CREDENTIAL;
  /** One sentence for staff. */
  why: string;
  credentials: CredentialAnswer[];
}

export interface AccessExplanation {
  at: number;
  person: Person;
  doors: DoorAnswer[];
}

const PRESENTED_AS: Readonly<Record<CredentialKind, PresentationKind>> = {
  card: 'card',
  pin: 'keypad',
  mobile: 'mobile',
};

/** How far a refusal got through the kernel's checks: a later one is closer to a grant. */
function progress(reason: Reason): number {
  return reason === 'granted'
    ? Number.POSITIVE_INFINITY
    : (REFUSAL_ORDER as readonly Reason[]).indexOf(reason);
}

/**
 * Every door, with what each of the person's unrevoked credentials (at most 50) would get there at
 * `now`. A door is granted when any credential is; otherwise it shows the refusal that got furthest.
 */
export function explainAccess(
  store: Store,
  person: Person,
  now: number,
  timeZone: string,
): AccessExplanation {
  const credentials = store.credentials.activeForPerson(person.id, MAX_EXPLAINED_CREDENTIALS);
  const holidays = store.holidays.dates();
  const scheduleOf = new Map(store.groups.list().map((g) => [g.id, g.scheduleId]));
  const words = new Wording(store, person, timeZone, scheduleOf);
  const doors = store.doors.list().map((door): DoorAnswer => {
    const grants = store.access.grantsFor(person.id, door.id);
    const base = { door, grants, holidays, now, timeZone };
    const answers = credentials.map((credential) => ({
      credential,
      decision: decide(inputFor({ ...base, credential, person })),
    }));
    const rows: CredentialAnswer[] = answers.map(({ credential, decision }) => ({
      credentialId: credential.id,
      kind: credential.kind,
      label: credential.label,
      granted: decision.granted,
      reason: decision.reason,
    }));
    const common = { doorId: door.id, name: door.name, credentials: rows };
    const best = answers.reduce<(typeof answers)[number] | null>(
      (top, a) => (top === null || progress(a.decision.reason) > progress(top.decision.reason) ? a : top),
      null,
    );
    if (best === null) {
      return { ...common, granted: false, reason: NO_CREDENTIAL, why: 'Denied: no card, PIN or key' };
    }
    const { credential, decision } = best;
    if (decision.granted) {
      // Which group opens it: the kernel asked with one grant at a time; the first that grants.
      const opening = grants.find(
        (grant) => decide(inputFor({ ...base, grants: [grant], credential, person })).granted,
      );
      return { ...common, granted: true, reason: 'granted', why: words.granted(opening) };
    }
    return {
      ...common,
      granted: false,
      reason: decision.reason,
      why: words.denied(decision.reason, credential, grants),
    };
  });
  return { at: now, person, doors };
}

function inputFor(o: {
  door: Door;
  grants: Grant[];
  holidays: ReadonlySet<string>;
  now: number;
  timeZone: string;
  credential: Credential;
  person: Person;
}): DecisionInput {
  return {
    now: o.now,
    timeZone: o.timeZone,
    door: { id: o.door.id, mode: o.door.mode, unlockMs: o.door.unlockMs },
    kind: PRESENTED_AS[o.credential.kind],
    match: { credential: o.credential, person: o.person },
    grants: o.grants,
    holidays: o.holidays,
    // A keypad lockout lasts minutes and lives in the running hub's memory: not part of this answer.
    keypadLocked: false,
  };
}

/** The sentences staff read, e.g. "Granted: group residents, schedule business-hours". */
class Wording {
  readonly #store: Store;
  readonly #person: Person;
  readonly #timeZone: string;
  readonly #scheduleOf: ReadonlyMap<string, string | null>;

  constructor(
    store: Store,
    person: Person,
    timeZone: string,
    scheduleOf: ReadonlyMap<string, string | null>,
  ) {
    this.#store = store;
    this.#person = person;
    this.#timeZone = timeZone;
    this.#scheduleOf = scheduleOf;
  }

  granted(grant: Grant | undefined): string {
    if (!grant) return 'Granted';
    const schedule = this.#scheduleOf.get(grant.groupId) ?? null;
    return `Granted: group ${grant.groupId}${schedule === null ? '' : `, schedule ${schedule}`}`;
  }

  denied(reason: Reason, credential: StoredCredential, grants: Grant[]): string {
    switch (reason) {
      case 'lockdown':
        return 'Denied: the door is in lockdown';
      case 'suspended':
        return `Denied: suspended${this.#because('admin.person.suspended')}`;
      case 'person_outside_window':
        return `Denied: outside the access window (${this.#window()})${this.#because('admin.person.window_set')}`;
      case 'not_yet_valid':
        return `Denied: ${credential.label} is valid from ${this.#time(credential.validFrom)}`;
      case 'expired':
        return `Denied: ${credential.label} expired ${this.#time(credential.validUntil)}`;
      case 'no_access':
        return 'Denied: no group gives this door';
      case 'outside_schedule': {
        const list = grants.map((g) => `${this.#scheduleOf.get(g.groupId) ?? 'none'} (group ${g.groupId})`);
        return `Denied: outside schedule ${list.join(', ')}`;
      }
      case 'revoked':
        return `Denied: ${credential.label} is revoked`;
      default:
        return `Denied: ${reason.replaceAll('_', ' ')}`;
    }
  }

  /** " (reason: arrears)" from the newest audit event of that type, or "". */
  #because(type: string): string {
    const reason = this.#store.events.latestForPerson(this.#person.id, type)?.data['reason'];
    return typeof reason === 'string' && reason !== '' ? ` (reason: ${reason})` : '';
  }

  #window(): string {
    const { accessFrom: from, accessUntil: until } = this.#person;
    const parts = [
      ...(from === null ? [] : [`from ${this.#time(from)}`]),
      ...(until === null ? [] : [`until ${this.#time(until)}`]),
    ];
    return parts.join(' ') || 'none';
  }

  #time(ms: number | null): string {
    if (ms === null || !Number.isFinite(ms)) return '-';
    try {
      return formatLocalMinute(ms, this.#timeZone);
    } catch {
      return new Date(ms).toISOString();
    }
  }
}
