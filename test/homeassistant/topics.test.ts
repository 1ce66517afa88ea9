// The ACL with a part's extra topics (hub/broker/acl.ts) and the pure discovery helpers: deny by default,
// integration accounts only, never a way into the v1 contract.
import { describe, expect, it } from 'vitest';
import { canPublish, canSubscribe, type DeviceIdentity } from '../../hub/broker/index.js';
import {
  discoveryMessages,
  haTopics,
  objectIdOf,
  parseCommandTopic,
} from '../../hub/homeassistant/discovery.js';
import { HomeAssistant } from '../../hub/homeassistant/index.js';
import { haProblems } from './ha-schema.js';

const ha: DeviceIdentity = { id: 'home-assistant', role: 'integration', doors: [] };
const reader: DeviceIdentity = { id: 'front-reader', role: 'door', doors: ['front'] };
const extra = {
  subscribe: haTopics('gatehouse', 'homeassistant').subscribe,
  publishable: (topic: string) =>
    topic === 'homeassistant/status' || parseCommandTopic('gatehouse', topic) !== null,
};

describe('ACL with Home Assistant topics', () => {
  it('lets integration accounts read discovery and states and send door commands', () => {
    expect(canSubscribe('gatehouse', ha, 'homeassistant/#', extra).allowed).toBe(true);
    expect(canSubscribe('gatehouse', ha, 'homeassistant/+/+/+/config', extra).allowed).toBe(true);
    expect(canSubscribe('gatehouse', ha, 'gatehouse/ha/door/front/state', extra).allowed).toBe(true);
    expect(canPublish('gatehouse', ha, 'gatehouse/ha/door/front/set', extra).allowed).toBe(true);
    expect(canPublish('gatehouse', ha, 'gatehouse/ha/door/front/mode/set', extra).allowed).toBe(true);
    expect(canPublish('gatehouse', ha, 'homeassistant/status', extra).allowed).toBe(true);
  });

  it('refuses the rest: other HA topics, wildcards, the contract, and everything to door devices', () => {
    expect(canPublish('gatehouse', ha, 'homeassistant/lock/x/y/config', extra).allowed).toBe(false);
    expect(canPublish('gatehouse', ha, 'gatehouse/ha/door/front/state', extra).allowed).toBe(false);
    expect(canPublish('gatehouse', ha, 'gatehouse/ha/door/+/set', extra).allowed).toBe(false);
    expect(canPublish('gatehouse', ha, 'gatehouse/ha/door/a/b/set', extra).allowed).toBe(false);
    expect(canPublish('gatehouse', ha, 'gatehouse/door/front/set', extra).allowed).toBe(false);
    expect(canSubscribe('gatehouse', ha, '#', extra).allowed).toBe(false);
    expect(canSubscribe('gatehouse', ha, 'gatehouse/#', extra).allowed).toBe(false);
    expect(canSubscribe('gatehouse', ha, 'gatehouse/door/+/credential', extra).allowed).toBe(false);
    expect(canPublish('gatehouse', reader, 'gatehouse/ha/door/front/set', extra).allowed).toBe(false);
    expect(canPublish('gatehouse', reader, 'homeassistant/status', extra).allowed).toBe(false);
    expect(canSubscribe('gatehouse', reader, 'homeassistant/#', extra).allowed).toBe(false);
    expect(canSubscribe('gatehouse', reader, 'gatehouse/ha/#', extra).allowed).toBe(false);
    // Without the part (Home Assistant off) nothing of it is allowed.
    expect(canSubscribe('gatehouse', ha, 'homeassistant/#').allowed).toBe(false);
    expect(canPublish('gatehouse', ha, 'gatehouse/ha/door/front/set').allowed).toBe(false);
  });

  it('refuses a discovery prefix that would open the contract to integrations', () => {
    const options = { config: { enabled: true, discoveryPrefix: 'gatehouse/discovery', healthSeconds: 10 } };
    expect(() => new HomeAssistant({ ...options, baseTopic: 'gatehouse' } as never)).toThrow(
      /must not start with mqtt.baseTopic/,
    );
  });
});

describe('discovery messages (pure)', () => {
  it('are valid for HA for any door id the store accepts, with distinct object ids', () => {
    const doors = ['front', 'a.b', 'a_b', 'X-1', '0.0.0'].map((id) => ({
      id,
      name: `Door ${id}`,
      transport: 'mqtt',
    }));
    const messages = discoveryMessages({
      prefix: 'ha/custom',
      baseTopic: 'gh',
      nodeId: 'gatehouse_x',
      version: '1',
      doors,
    });
    expect(messages.flatMap((m) => haProblems(m.topic, m.payload))).toEqual([]);
    expect(new Set(messages.map((m) => m.topic)).size).toBe(messages.length);
    expect(objectIdOf('a.b')).not.toBe(objectIdOf('a_b'));
    expect(messages.every((m) => m.topic.startsWith('ha/custom/'))).toBe(true);
  });
});
