import type { Scenario } from '../scenario.js';

// Not written yet: see the scenario list in docs/proof.md.
export const keypadBruteForce: Scenario = {
  name: 'keypad-brute-force',
  title: 'not written yet',
  async run() {
    throw new Error('scenario keypad-brute-force is not written yet');
  },
};
