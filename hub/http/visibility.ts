// What each staff role may see of the event log and the live stream: the one place that decides it, used by
// GET /api/v1/events, /events.csv and /stream (docs/http-api.md, Events). Admin and staff see everything;
// an installer sees what provisioning needs (doors, alarms, devices, the hub) and no person data.
import type { DoorStatus } from '../bus.js';
import type { HubEvent, StaffRole } from '../domain.js';

/** Event types an installer sees: these and their sub-types ('door' → 'door.opened'). */
export const INSTALLER_EVENT_SCOPES: readonly string[] = [
  'door',
  'alarm',
  'device',
  'hub',
  'doorsync',
  'admin.door',
  'admin.device',
  'admin.keypad',
];

/**
 * Data fields that name or point to a person, a credential or a unit: removed, at any depth, from what an
 * installer sees. The staff `actor` (who changed a door) stays: it is a staff login, not a resident.
 */
const PERSON_FIELDS = new Set([
  'personId',
  'person',
  'personName',
  'people',
  'credentialId',
  'credential',
  'card',
  'cardTail',
  'pin',
  'label',
  'unitId',
  'unit',
  'serial',
  'phone',
  'holder',
]);

/** True when `type` is `scope` or one of its sub-types. */
export function inScope(type: string, scope: string): boolean {
  return type === scope || (type.startsWith(scope) && type.charAt(scope.length) === '.');
}

/** The event types a role may see, as scopes for the store query; null = every type. */
export function eventScopes(role: StaffRole): readonly string[] | null {
  if (role === 'admin' || role === 'staff') return null;
  if (role === 'installer') return INSTALLER_EVENT_SCOPES;
  return []; // a role added later sees nothing until it is decided here
}

/** Whether a role may filter the log by person (an installer may not: it would reveal who came in). */
export function mayFilterByPerson(role: StaffRole): boolean {
  return eventScopes(role) === null;
}

/** The event as `role` may see it, or null when it may not see it at all. */
export function visibleEvent(role: StaffRole, event: HubEvent): HubEvent | null {
  const scopes = eventScopes(role);
  if (scopes === null) return event;
  if (!scopes.some((scope) => inScope(event.type, scope))) return null;
  return { ...event, personId: null, credentialId: null, data: withoutPersonFields(event.data) };
}

/** Door status (lock, contact, mode, reader health) holds no person data: every staff role sees it. */
export function visibleDoorStatus(role: StaffRole, status: DoorStatus): DoorStatus | null {
  return role === 'admin' || role === 'staff' || role === 'installer' ? status : null;
}

function withoutPersonFields(data: Record<string, unknown>): Record<string, unknown> {
  return strip(data) as Record<string, unknown>;
}

function strip(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(strip);
  if (value === null || typeof value !== 'object') return value;
  const kept: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) if (!PERSON_FIELDS.has(key)) kept[key] = strip(inner);
  return kept;
}
