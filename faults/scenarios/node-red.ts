import type { Scenario } from '../scenario.js';

// Not written yet: see the scenario list in docs/proof.md.
export const nodeRed: Scenario = {
  name: 'node-red',
  title: 'not written yet',
  async run() {
    throw new Error('scenario node-red is not written yet');
  },
};
