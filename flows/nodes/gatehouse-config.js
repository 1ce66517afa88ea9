'use strict';
// gatehouse-config: the connection to the hub. Nothing is typed by a user: the hub provisions an
// integration account for its Node-RED and writes it into Node-RED's settings as `gatehouse`
// (docs/installer-flows.md). Outside Gatehouse the nodes say so in their status and do nothing.
const { Connection, readSettings } = require('./lib/connection.js');

module.exports = function register(RED) {
  function GatehouseConfigNode(config) {
    RED.nodes.createNode(this, config);
    this.name = config.name;
    const checked = readSettings(RED.settings.gatehouse);
    if (!checked.ok) {
      this.gatehouse = { connection: null, why: checked.why };
      this.warn(checked.why);
      return;
    }
    const connection = new Connection({
      settings: checked.settings,
      // The password never reaches a log line: mqtt.js errors do not carry it, and nothing here prints it.
      log: (level, text) => (level === 'warn' ? this.warn(text) : this.log(text)),
    });
    this.gatehouse = { connection, why: null, baseTopic: checked.settings.baseTopic };
    this.on('close', (_removed, done) => {
      connection.close().then(
        () => done(),
        () => done(),
      );
    });
  }
  RED.nodes.registerType('gatehouse-config', GatehouseConfigNode);
};
