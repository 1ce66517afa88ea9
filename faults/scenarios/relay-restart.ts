import type { Scenario } from '../scenario.js';

// Not written yet: see the scenario list in docs/proof.md.
export const relayRestart: Scenario = {
  name: 'relay-restart',
  title: 'not written yet',
  async run() {
    throw new Error('scenario relay-restart is not written yet');
  },
};
