'use strict';
// gatehouse-event: what happens at the doors, as messages (docs/mqtt.md §2.8, docs/alarms.md). Each bridge
// event becomes one message whose topic is the event's name: `decision`, `door.state`, `door.doorbell`,
// an alarm by its catalogue name (`alarm.held_open`, `alarm.forced_open_cleared`…) or `suppressed`.
const { attach, words, ID } = require('./lib/connection.js');

/** At most this many messages a second leave one event node (a burst of 200); the rest are counted. */
const MESSAGES_PER_SECOND = 100;
const MESSAGE_BURST = 200;
const TYPE_PATTERN = /^[A-Za-z0-9_.*-]{1,64}$/;

/** The name a flow filters on and finds in msg.topic. */
function eventName(payload) {
  switch (payload.type) {
    case 'decision':
      return 'decision';
    case 'door':
      return 'door.state';
    case 'doorbell':
      return 'door.doorbell';
    case 'alarm':
      return typeof payload.alarm === 'string' ? payload.alarm : 'alarm';
    default:
      // `suppressed`, and any type a newer hub adds, by its own name.
      return typeof payload.type === 'string' ? payload.type : null;
  }
}

function doorOf(payload) {
  const door = payload.type === 'door' ? payload.doorId : payload.door;
  return typeof door === 'string' ? door : null;
}

/** `alarm.*` → /^alarm\..*$/ : `*` stands for any text, everything else is literal. */
function typeMatcher(pattern) {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`);
}

module.exports = function register(RED) {
  function GatehouseEventNode(config) {
    RED.nodes.createNode(this, config);
    const doors = words(config.doors);
    const types = words(config.types);
    const badDoor = doors.find((d) => !ID.test(d));
    const badType = types.find((t) => !TYPE_PATTERN.test(t));
    if (badDoor !== undefined || badType !== undefined) {
      const what =
        badDoor !== undefined ? `door '${badDoor.slice(0, 64)}'` : `type '${badType.slice(0, 64)}'`;
      this.error(`invalid filter: ${what}`);
      this.status({ fill: 'red', shape: 'ring', text: `invalid filter: ${what}` });
      return;
    }
    const matchers = types.map(typeMatcher);
    const connection = attach(RED, this, config.server);
    if (!connection) return;

    let tokens = MESSAGE_BURST;
    let refilledAt = Date.now();
    let dropped = 0;
    let warnedAt = 0;
    const stop = connection.onEvent((payload) => {
      const name = eventName(payload);
      if (name === null) return;
      const door = doorOf(payload);
      if (doors.length > 0 && (door === null || !doors.includes(door))) return;
      if (matchers.length > 0 && !matchers.some((m) => m.test(name))) return;
      const now = Date.now();
      tokens = Math.min(MESSAGE_BURST, tokens + ((now - refilledAt) / 1000) * MESSAGES_PER_SECOND);
      refilledAt = now;
      if (tokens < 1) {
        dropped += 1;
        if (now - warnedAt > 60_000) {
          warnedAt = now;
          this.warn(
            `over ${MESSAGES_PER_SECOND} events a second: ${dropped} dropped so far (the hub's event log keeps them)`,
          );
        }
        return;
      }
      tokens -= 1;
      this.send({ topic: name, door, payload });
    });
    this.on('close', () => stop());
  }
  RED.nodes.registerType('gatehouse-event', GatehouseEventNode);
};

module.exports.eventName = eventName;
module.exports.typeMatcher = typeMatcher;
