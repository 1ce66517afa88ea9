'use strict';
// gatehouse-code: issue a daily or temporary doorcode for a person (code.issue with the account's
// codes.issue grant; docs/offline-codes.md). The hub issues codes only for a person who is not suspended,
// for doors their groups already give them. The digits are in the output once: they never appear in the
// node status or in a log line from this node.
const { attach, failure, ID } = require('./lib/connection.js');

const KINDS = ['daily', 'window', 'once', 'first-use'];
const SCOPE = /^((door|group):)?[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const DATE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/;

module.exports = function register(RED) {
  function GatehouseCodeNode(config) {
    RED.nodes.createNode(this, config);
    const connection = attach(RED, this, config.server);

    this.on('input', (msg, send, done) => {
      const out = (answer) => {
        msg.payload = answer;
        this.status(
          answer.ok
            ? { fill: 'green', shape: 'dot', text: `issued ${answer.result?.code?.serial ?? ''}` }
            : { fill: 'red', shape: 'ring', text: answer.error.code },
        );
        send(msg);
        done();
      };
      const personId = config.person ? config.person : msg.personId;
      const doors = config.doors ? config.doors : msg.doors;
      const kind = KINDS.includes(config.kind) ? config.kind : msg.kind;
      if (typeof personId !== 'string' || !ID.test(personId)) {
        return out(failure('invalid', 'no person: set one in the node or give msg.personId'));
      }
      if (typeof doors !== 'string' || !SCOPE.test(doors)) {
        return out(
          failure('invalid', "no doors: a door id, 'door:<id>' or 'group:<id>' in the node or msg.doors"),
        );
      }
      if (!KINDS.includes(kind)) return out(failure('invalid', `'kind' must be one of: ${KINDS.join(', ')}`));
      const input = { personId, doors, kind };
      if (kind === 'daily') {
        if (msg.date !== undefined) {
          if (typeof msg.date !== 'string' || !DATE.test(msg.date)) {
            return out(failure('invalid', "'msg.date' must be a date YYYY-MM-DD"));
          }
          input.date = msg.date;
        }
      } else {
        const hours =
          msg.hours !== undefined ? msg.hours : config.hours === '' ? undefined : Number(config.hours);
        if (hours !== undefined) input.hours = hours;
        if (msg.from !== undefined) input.from = msg.from;
      }
      if (!connection) return out(failure('unavailable', 'no connection to the hub: see the node status'));
      connection.request('code.issue', input).then(out);
    });
  }
  RED.nodes.registerType('gatehouse-code', GatehouseCodeNode);
};
