// Topic access control for MQTT accounts. Deny by default: an account may use only the topics
// listed here for its role, with its own device id and the doors it serves filled in.
import type { IntegrationGrant } from '../store/devices.js';
import { shorten } from '../text.js';
import { isTopicSafeId, parseTopic, TOPIC_SHOWN, topics } from './contract.js';

/** An authenticated MQTT account, as the device store knows it. */
export interface DeviceIdentity {
  id: string;
  role: 'door' | 'integration';
  /** Doors this device serves (empty for integrations). */
  doors: string[];
  /** What an integration account may do beyond door state and modes (hub/store/devices.ts). */
  grants?: readonly IntegrationGrant[];
}

/** Checks a device's username and secret (the composition backs it with the device store). */
export interface DeviceDirectory {
  authenticate(username: string, secret: string): DeviceIdentity | null;
}

export type AclDecision = { allowed: true } | { allowed: false; reason: string };

/**
 * Topics outside the v1 contract that integration accounts may use while a part offers them (Home
 * Assistant discovery, docs/home-assistant.md). Door devices never get them; without them nothing
 * changes (deny by default).
 */
export interface ExtraTopics {
  /** Filters an integration may subscribe to (and anything narrower). */
  readonly subscribe: readonly string[];
  /** Whether an integration may publish on this concrete topic (the part then handles it). */
  publishable(topic: string): boolean;
}

const ALLOWED: AclDecision = { allowed: true };

function deny(reason: string): AclDecision {
  return { allowed: false, reason: `not allowed: ${reason}` };
}

/** Doors of a device that can safely appear in a topic (see isTopicSafeId). */
function servedDoors(identity: DeviceIdentity): string[] {
  return identity.doors.filter(isTopicSafeId);
}

export function canPublish(
  baseTopic: string,
  identity: DeviceIdentity,
  topic: string,
  extra?: ExtraTopics | null,
): AclDecision {
  if (topic.startsWith('$')) return deny('$ topics are reserved for the broker');
  if (identity.role === 'integration' && extra?.publishable(topic)) return ALLOWED;
  const parsed = parseTopic(baseTopic, topic);
  if (!parsed)
    return deny(`'${shorten(topic, TOPIC_SHOWN)}' is not a topic of the ${baseTopic} MQTT contract v1`);

  if (identity.role === 'integration') {
    if (parsed.area === 'bridge' && parsed.channel === 'request') return ALLOWED;
    return deny(`integration '${identity.id}' may only publish ${topics(baseTopic).bridgeRequest('{name}')}`);
  }

  switch (parsed.area) {
    case 'door': {
      // Of the sync topics a device publishes only its ack (docs/mqtt.md §8.2).
      const isSyncAck = parsed.channel === 'sync' && parsed.rest.length === 1 && parsed.rest[0] === 'ack';
      if (
        parsed.channel !== 'credential' &&
        parsed.channel !== 'state' &&
        parsed.channel !== 'event' &&
        !isSyncAck
      ) {
        return deny(`only the hub publishes to '${shorten(topic, TOPIC_SHOWN)}'`);
      }
      if (!servedDoors(identity).includes(parsed.doorId)) {
        return deny(`door '${parsed.doorId}' is not served by device '${identity.id}'`);
      }
      return ALLOWED;
    }
    case 'device':
      if (parsed.channel !== 'availability')
        return deny(`only the hub publishes to '${shorten(topic, TOPIC_SHOWN)}'`);
      if (parsed.deviceId !== identity.id) {
        return deny(
          `device '${identity.id}' may only publish its own availability, not '${parsed.deviceId}'`,
        );
      }
      return ALLOWED;
    case 'bridge':
      return deny(`device '${identity.id}' may not publish to the bridge topics`);
  }
}

/** The topic filters an account may subscribe to; any narrower filter is allowed too. */
export function subscribePatterns(
  baseTopic: string,
  identity: DeviceIdentity,
  extra?: ExtraTopics | null,
): string[] {
  const t = topics(baseTopic);
  if (identity.role === 'integration') {
    const patterns = [`${baseTopic}/bridge/#`, t.doorState('+'), t.doorEvent('+'), t.doorDecision('+')];
    if (isTopicSafeId(identity.id)) patterns.push(t.deviceError(identity.id));
    patterns.push(...(extra?.subscribe ?? []));
    return patterns;
  }
  const patterns: string[] = [];
  for (const door of servedDoors(identity)) {
    // door/{d}/# covers decision, set, sync/# and the device's own reports for that door.
    patterns.push(t.doorAll(door));
  }
  if (isTopicSafeId(identity.id)) patterns.push(t.deviceError(identity.id));
  return patterns;
}

export function canSubscribe(
  baseTopic: string,
  identity: DeviceIdentity,
  filter: string,
  extra?: ExtraTopics | null,
): AclDecision {
  if (filter.startsWith('$')) return deny('$ topics are reserved for the broker');
  const patterns = subscribePatterns(baseTopic, identity, extra);
  if (patterns.some((pattern) => filterCovers(pattern, filter))) return ALLOWED;
  if (identity.role === 'integration') {
    return deny(`integration '${identity.id}' may not subscribe to '${shorten(filter, TOPIC_SHOWN)}'`);
  }
  const parsed = filter.includes('+') || filter.includes('#') ? null : parseTopic(baseTopic, filter);
  if (parsed?.area === 'door')
    return deny(`door '${parsed.doorId}' is not served by device '${identity.id}'`);
  return deny(
    `device '${identity.id}' may not subscribe to '${shorten(filter, TOPIC_SHOWN)}' ` +
      `(allowed: ${patterns.map((p) => `'${p}'`).join(', ') || 'nothing'})`,
  );
}

/** Whether some topic matches both filters (`+` and `#` on either side). */
export function filtersOverlap(a: string, b: string): boolean {
  const aLevels = a.split('/');
  const bLevels = b.split('/');
  for (let i = 0; ; i++) {
    const x = aLevels[i];
    const y = bLevels[i];
    if (x === '#' || y === '#') return true;
    if (x === undefined || y === undefined) return x === y;
    if (x !== '+' && y !== '+' && x !== y) return false;
  }
}

/**
 * True when every topic that `filter` can match is also matched by `pattern`
 * (both MQTT topic filters). `a/#` covers `a`, `a/b` and `a/+/c`; `a/+` covers `a/b` but not `a/#`.
 */
export function filterCovers(pattern: string, filter: string): boolean {
  const patternLevels = pattern.split('/');
  const filterLevels = filter.split('/');
  for (let i = 0; ; i++) {
    const p = patternLevels[i];
    const f = filterLevels[i];
    if (p === '#') return true;
    if (p === undefined || f === undefined) return p === f;
    if (f === '#') return false;
    if (p === '+') continue;
    if (f === '+' || f !== p) return false;
  }
}
