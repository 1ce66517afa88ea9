import type { Scenario } from '../scenario.js';

// Not written yet: see the scenario list in docs/proof.md.
export const cloudDown: Scenario = {
  name: 'cloud-down',
  title: 'not written yet',
  async run() {
    throw new Error('scenario cloud-down is not written yet');
  },
};
