import type { Scenario } from '../scenario.js';

// Not written yet: see the scenario list in docs/proof.md.
export const mqttAbuse: Scenario = {
  name: 'mqtt-abuse',
  title: 'not written yet',
  async run() {
    throw new Error('scenario mqtt-abuse is not written yet');
  },
};
