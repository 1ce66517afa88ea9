'use strict';
// gatehouse-door: unlock once, keep unlocked, lockdown or normal for a door, as bridge requests (door.unlock,
// door.set_mode; docs/mqtt.md §6). The hub decides with the same policy as for staff: a lockdown is
// never lifted from a flow, fire release and lockdown refuse an unlock, a door outside the account's
// doors is forbidden. The output is the hub's answer.
const { attach, failure, ID } = require('./lib/connection.js');

const ACTIONS = {
  unlock: { command: 'door.unlock' },
  'keep-unlocked': { command: 'door.set_mode', mode: 'unlocked' },
  lockdown: { command: 'door.set_mode', mode: 'lockdown' },
  normal: { command: 'door.set_mode', mode: 'normal' },
};
const MIN_MS = 1000;
const MAX_MS = 60_000;

function reasonOf(text) {
  return typeof text === 'string' && text.trim() !== '' ? text.trim().slice(0, 200) : null;
}

module.exports = function register(RED) {
  function GatehouseDoorNode(config) {
    RED.nodes.createNode(this, config);
    const connection = attach(RED, this, config.server);
    const configuredMs = config.ms === '' || config.ms === undefined ? null : Number(config.ms);

    this.on('input', (msg, send, done) => {
      const door = config.door ? config.door : msg.door;
      const action = config.action === 'msg' || !config.action ? msg.action : config.action;
      const out = (answer) => {
        msg.payload = answer;
        msg.door = door;
        msg.action = action;
        this.status(
          answer.ok
            ? { fill: 'green', shape: 'dot', text: `${door}: ${action} done` }
            : { fill: 'red', shape: 'ring', text: `${String(door).slice(0, 64)}: ${answer.error.code}` },
        );
        send(msg);
        done();
      };
      if (typeof door !== 'string' || !ID.test(door)) {
        return out(failure('invalid', 'no door: set one in the node or give msg.door (a door id)'));
      }
      const spec = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : null;
      if (!spec) {
        return out(failure('invalid', `no action: one of ${Object.keys(ACTIONS).join(', ')}`));
      }
      if (!connection) return out(failure('unavailable', 'no connection to the hub: see the node status'));
      const reason =
        reasonOf(config.reason) ??
        reasonOf(msg.reason) ??
        `Node-RED: ${(this.name || this.id).slice(0, 150)}`;
      const input = { id: door, reason };
      if (spec.mode) input.mode = spec.mode;
      else {
        const ms = configuredMs ?? (msg.ms === undefined ? null : msg.ms);
        if (ms !== null) {
          if (!Number.isInteger(ms) || ms < MIN_MS || ms > MAX_MS) {
            return out(failure('invalid', `'ms' must be a whole number from ${MIN_MS} to ${MAX_MS}`));
          }
          input.ms = ms;
        }
      }
      connection.request(spec.command, input).then(out);
    });
  }
  RED.nodes.registerType('gatehouse-door', GatehouseDoorNode);
};
