import type { Scenario } from '../scenario.js';

// Not written yet: see the scenario list in docs/proof.md.
export const powerCut: Scenario = {
  name: 'power-cut',
  title: 'not written yet',
  async run() {
    throw new Error('scenario power-cut is not written yet');
  },
};
