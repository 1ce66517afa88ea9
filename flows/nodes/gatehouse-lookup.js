'use strict';
// gatehouse-lookup: read-only information for a flow: a person (person.lookup, the account's people.read
// grant: name, unit, status, groups, access window; never PINs, card numbers or keys) or the doors
// (door.list: mode and live state). The output is the hub's answer.
const { attach, failure, ID } = require('./lib/connection.js');

module.exports = function register(RED) {
  function GatehouseLookupNode(config) {
    RED.nodes.createNode(this, config);
    const connection = attach(RED, this, config.server);

    this.on('input', (msg, send, done) => {
      const what = config.what === 'doors' ? 'doors' : 'person';
      const out = (answer) => {
        msg.payload = answer;
        if (what === 'person' && answer.ok && Array.isArray(answer.result?.people) && request?.id) {
          msg.person = answer.result.people[0];
        }
        this.status(
          answer.ok
            ? {
                fill: 'green',
                shape: 'dot',
                text: what === 'doors' ? 'doors' : `${answer.result.people.length} found`,
              }
            : { fill: 'red', shape: 'ring', text: answer.error.code },
        );
        send(msg);
        done();
      };
      let request = null;
      if (what === 'person') {
        const id = config.person ? config.person : msg.personId;
        if (typeof id === 'string' && id !== '') {
          if (!ID.test(id)) return out(failure('invalid', "'personId' is not a person id"));
          request = { id };
        } else if (typeof msg.query === 'string' && msg.query.trim() !== '') {
          request = { query: msg.query.slice(0, 80) };
          if (msg.limit !== undefined) request.limit = msg.limit;
        } else {
          return out(failure('invalid', 'give msg.personId (or a person in the node) or msg.query'));
        }
      }
      if (!connection) return out(failure('unavailable', 'no connection to the hub: see the node status'));
      const pending =
        what === 'doors' ? connection.request('door.list', {}) : connection.request('person.lookup', request);
      pending.then(out);
    });
  }
  RED.nodes.registerType('gatehouse-lookup', GatehouseLookupNode);
};
