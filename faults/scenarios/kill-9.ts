import type { Scenario } from '../scenario.js';

// Not written yet: see the scenario list in docs/proof.md.
export const kill9: Scenario = {
  name: 'kill-9',
  title: 'not written yet',
  async run() {
    throw new Error('scenario kill-9 is not written yet');
  },
};
