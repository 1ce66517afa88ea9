// Home Assistant MQTT discovery (docs/home-assistant.md): pure functions from the hub's doors to the
// retained config messages Home Assistant reads under its discovery prefix, and the topics the hub
// publishes states on and takes commands from. Every payload uses HA's full key names (no abbreviations).
import { createHash } from 'node:crypto';
import type { DoorMode } from '../domain.js';

/** What one discovery message announces. */
export interface DiscoveryMessage {
  /** `<prefix>/<component>/<nodeId>/<objectId>/config` */
  topic: string;
  payload: Record<string, unknown>;
}

export interface DiscoveryDoor {
  id: string;
  name: string;
  transport: string;
}

export interface DiscoveryInput {
  prefix: string;
  baseTopic: string;
  nodeId: string;
  version: string;
  doors: readonly DiscoveryDoor[];
}

/** Modes Home Assistant's mode select offers: the door modes of docs/doors.md. */
export const HA_MODES: readonly DoorMode[] = ['normal', 'unlocked', 'lockdown'];

/** Text payloads of the lock's command topic. */
export const LOCK_PAYLOADS = { lock: 'LOCK', unlock: 'UNLOCK' } as const;

/** The topics of the hub's Home Assistant side (besides the discovery prefix). */
export function haTopics(baseTopic: string, prefix: string) {
  const door = (id: string) => `${baseTopic}/ha/door/${id}`;
  return {
    /** Home Assistant's birth and last will (`online` / `offline`). */
    haStatus: `${prefix}/status`,
    bridgeState: `${baseTopic}/bridge/state`,
    hubState: `${baseTopic}/ha/hub/state`,
    doorState: (id: string) => `${door(id)}/state`,
    doorAvailability: (id: string) => `${door(id)}/availability`,
    doorLockSet: (id: string) => `${door(id)}/set`,
    doorModeSet: (id: string) => `${door(id)}/mode/set`,
    /** Filters an integration account may subscribe to. */
    subscribe: [`${prefix}/#`, `${baseTopic}/ha/#`],
  };
}

/** A door command topic → which door and which command; null for any other topic. */
export function parseCommandTopic(
  baseTopic: string,
  topic: string,
): { doorId: string; command: 'lock' | 'mode' } | null {
  const prefix = `${baseTopic}/ha/door/`;
  if (!topic.startsWith(prefix)) return null;
  const [doorId, ...rest] = topic.slice(prefix.length).split('/');
  if (doorId === undefined || !isSafeLevel(doorId)) return null;
  const tail = rest.join('/');
  if (tail === 'set') return { doorId, command: 'lock' };
  if (tail === 'mode/set') return { doorId, command: 'mode' };
  return null;
}

/** One topic level without wildcards or control characters (as the broker's contract requires of ids). */
export function isSafeLevel(id: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what we reject
  return id.length > 0 && id.length <= 128 && !/[/+#\u0000-\u001f\u007f]/.test(id);
}

/**
 * HA's object ids are `[a-zA-Z0-9_-]+`; door ids may hold dots. Anything else becomes `_`, and a short
 * hash of the original keeps `a.b` and `a_b` apart.
 */
export function objectIdOf(id: string): string {
  const clean = id.replace(/[^A-Za-z0-9_-]/g, '_');
  if (clean === id) return id;
  return `${clean}_${createHash('sha256').update(id).digest('hex').slice(0, 6)}`;
}

/** The default node id: stable for one hub (its CA), different for two hubs in one Home Assistant. */
export function defaultNodeId(caCertPem: string): string {
  return `gatehouse_${createHash('sha256').update(caCertPem).digest('hex').slice(0, 8)}`;
}

/** A template that reads one field of the hub's JSON state payloads. */
const field = (name: string) => `{{ value_json.${name} }}`;

/**
 * Every discovery message for the hub and its doors. Doors whose id cannot be a topic level are left
 * out (the store never makes one).
 */
export function discoveryMessages(input: DiscoveryInput): DiscoveryMessage[] {
  const { prefix, baseTopic, nodeId, version } = input;
  const t = haTopics(baseTopic, prefix);
  const origin = { name: 'Gatehouse', sw_version: version };
  const hubAvailability = { topic: t.bridgeState, value_template: field('state') };
  const hubDevice = {
    identifiers: [nodeId],
    name: 'Gatehouse hub',
    manufacturer: 'Gatehouse',
    model: 'Access-control hub',
    sw_version: version,
  };
  const messages: DiscoveryMessage[] = [];
  const add = (component: string, objectId: string, payload: Record<string, unknown>) =>
    messages.push({
      topic: `${prefix}/${component}/${nodeId}/${objectId}/config`,
      payload: { ...payload, unique_id: `${nodeId}_${objectId}`, origin },
    });

  // The hub: its health, available while the hub's broker says online (its retained bridge state).
  const hubCommon = { device: hubDevice, availability: [hubAvailability], state_topic: t.hubState };
  add('binary_sensor', 'hub_problem', {
    ...hubCommon,
    name: 'Problem',
    device_class: 'problem',
    value_template: field('problem'),
  });
  add('sensor', 'hub_active_alarms', {
    ...hubCommon,
    name: 'Active alarms',
    state_class: 'measurement',
    icon: 'mdi:alarm-light',
    value_template: field('alarms'),
  });
  add('sensor', 'hub_devices_online', {
    ...hubCommon,
    name: 'Devices online',
    state_class: 'measurement',
    entity_category: 'diagnostic',
    icon: 'mdi:lan-connect',
    value_template: field('devicesOnline'),
  });
  add('sensor', 'hub_cloud_link', {
    ...hubCommon,
    name: 'Cloud link',
    entity_category: 'diagnostic',
    icon: 'mdi:cloud-sync',
    value_template: field('cloud'),
  });

  for (const door of input.doors) {
    if (!isSafeLevel(door.id)) continue;
    const object = `door_${objectIdOf(door.id)}`;
    const device = {
      identifiers: [`${nodeId}_${object}`],
      name: door.name,
      manufacturer: 'Gatehouse',
      model: `Door (${door.transport})`,
      via_device: nodeId,
    };
    const state = t.doorState(door.id);
    // The hub must be up and the door's controller online for its lock and sensors to mean anything.
    const availability = [hubAvailability, { topic: t.doorAvailability(door.id) }];
    const common = { device, availability, availability_mode: 'all', state_topic: state };
    add('lock', `${object}_lock`, {
      ...common,
      name: null,
      command_topic: t.doorLockSet(door.id),
      payload_lock: LOCK_PAYLOADS.lock,
      payload_unlock: LOCK_PAYLOADS.unlock,
      state_locked: 'LOCKED',
      state_unlocked: 'UNLOCKED',
      value_template: field('lock'),
      optimistic: false,
      qos: 1,
    });
    add('select', `${object}_mode`, {
      ...common,
      name: 'Mode',
      icon: 'mdi:door-closed-lock',
      command_topic: t.doorModeSet(door.id),
      options: [...HA_MODES],
      value_template: field('mode'),
      optimistic: false,
      qos: 1,
    });
    add('binary_sensor', `${object}_contact`, {
      ...common,
      name: 'Door',
      device_class: 'door',
      value_template: field('contact'),
    });
    add('binary_sensor', `${object}_tamper`, {
      ...common,
      name: 'Tamper',
      device_class: 'tamper',
      value_template: field('tamper'),
    });
    add('binary_sensor', `${object}_alarm`, {
      ...common,
      name: 'Alarm',
      device_class: 'problem',
      value_template: field('alarm'),
      // Its attributes list the door's active alarm types (`alarms`) beside the other state fields.
      json_attributes_topic: state,
    });
    add('binary_sensor', `${object}_fire`, {
      ...common,
      name: 'Fire release',
      device_class: 'safety',
      value_template: field('fire'),
    });
    // Connectivity stays readable while the door is offline: it only needs the hub.
    add('binary_sensor', `${object}_online`, {
      device,
      availability: [hubAvailability],
      state_topic: state,
      name: 'Controller',
      device_class: 'connectivity',
      entity_category: 'diagnostic',
      value_template: field('online'),
    });
  }
  return messages;
}
