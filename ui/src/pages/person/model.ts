// What the person page reads from the hub (GET /people/:id, /people/:id/access, /groups, /doors, /events)
// and the small rules it derives from them.
import { api, seg } from '../../api.js';
import { formatWhen } from '../../format.js';
import { t } from '../../i18n/index.js';
import type { Door, HubEvent, Person } from '../../types.js';

export interface Credential {
  id: string;
  personId: string;
  kind: 'card' | 'pin' | 'mobile';
  label: string;
  validFrom: number | null;
  validUntil: number | null;
  revokedAt: number | null;
  createdAt: number;
  state?: 'active' | 'revoked' | 'expired' | 'not_yet_valid';
}

export interface OfflineCode {
  serial: string;
  type: string;
  scope: string;
  windowStart: number;
  windowEnd: number;
  personId: string | null;
  label: string | null;
  issuedBy: string | null;
  issuedAt: number | null;
  firstUsedAt: number | null;
  revokedAt: number | null;
}

export interface PersonDetail {
  person: Person;
  credentials: Credential[];
  mobileKeys: Credential[];
  /** null: this hub process cannot read doorcodes. */
  offlineCodes: OfflineCode[] | null;
}

export interface DoorAnswer {
  doorId: string;
  name: string;
  granted: boolean;
  reason: string;
  why: string;
  credentials?: Array<{
    credentialId: string;
    kind: string;
    label: string;
    granted: boolean;
    reason: string;
  }>;
}

export interface AccessNow {
  at: number;
  doors: DoorAnswer[];
}

export interface Group {
  id: string;
  name: string;
  scheduleId: string | null;
  doorIds: string[];
  memberIds: string[];
}

export interface Unit {
  id: string;
  name: string;
}

export interface IssuedCode {
  digits: string;
  serial: string;
  type: string;
  scope: string;
  window: { start: number; end: number };
}

/** The state of a card or PIN now (mobile keys come with theirs from the hub). */
export function stateOf(c: Credential, now = Date.now()): NonNullable<Credential['state']> {
  if (c.state) return c.state;
  if (c.revokedAt !== null) return 'revoked';
  if (c.validUntil !== null && now >= c.validUntil) return 'expired';
  if (c.validFrom !== null && now < c.validFrom) return 'not_yet_valid';
  return 'active';
}

export const isActive = (c: Credential) => stateOf(c) === 'active';

export const loadPerson = (id: string) => api.get<PersonDetail>(`/people/${seg(id)}`);
export const loadAccess = (id: string) => api.get<AccessNow>(`/people/${seg(id)}/access`);
export const loadDoors = () => api.get<{ doors: Door[] }>('/doors').then((a) => a.doors);
export const loadGroups = () => api.get<{ groups: Group[] }>('/groups').then((a) => a.groups);

/**
 * The person's last events, newest first: GET /events?person= where the hub has it, else the latest
 * page of the log filtered here (older hubs refuse the unknown query parameter with 400).
 */
export async function loadHistory(id: string, limit = 15): Promise<HubEvent[]> {
  try {
    const answer = await api.get<{ events: HubEvent[] }>('/events', { person: id, limit });
    return newestFirst(answer.events.filter((e) => mentions(e, id))).slice(0, limit);
  } catch (err) {
    if ((err as { status?: number }).status !== 400) throw err;
    const answer = await api.get<{ events: HubEvent[] }>('/events', { limit: 1000 });
    return newestFirst(answer.events.filter((e) => mentions(e, id))).slice(0, limit);
  }
}

function mentions(e: HubEvent, id: string): boolean {
  return e.personId === id || e.data.personId === id || e.data.person === id;
}

function newestFirst(events: HubEvent[]): HubEvent[] {
  return [...events].sort((a, b) => b.seq - a.seq);
}

/** A doorcode scope in words: "Front entrance", "Residents", "every door". */
export function scopeName(scope: string, doors: Door[], groups: Group[]): string {
  if (scope === 'site') return t.people.code.siteShort;
  const [kind, id] = scope.includes(':') ? (scope.split(':', 2) as [string, string]) : ['door', scope];
  if (kind === 'group') return groups.find((g) => g.id === id)?.name ?? id;
  return doors.find((d) => d.id === id)?.name ?? id;
}

const withYear = new Intl.DateTimeFormat(undefined, {
  day: 'numeric',
  month: 'short',
  year: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
});

/** Like formatWhen, with the year when it is not this year (a key valid until next December). */
export function formatStamp(ms: number): string {
  return new Date(ms).getFullYear() === new Date().getFullYear() ? formatWhen(ms) : withYear.format(ms);
}

/** "user:sam" → "sam": staff know each other by username; other actors ("cli:…", "hub") stay as they are. */
export function actorName(actor: string): string {
  return actor.startsWith('user:') ? actor.slice(5) : actor;
}
