import type { Scenario } from '../scenario.js';

// Not written yet: see the scenario list in docs/proof.md.
export const wanFlapping: Scenario = {
  name: 'wan-flapping',
  title: 'not written yet',
  async run() {
    throw new Error('scenario wan-flapping is not written yet');
  },
};
