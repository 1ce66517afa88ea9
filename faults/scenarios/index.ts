// Every fault scenario, in the order `npm run faults` runs them.
import type { Scenario } from '../scenario.js';
import { cloudDown } from './cloud-down.js';
import { keypadBruteForce } from './keypad-brute-force.js';
import { kill9 } from './kill-9.js';
import { mqttAbuse } from './mqtt-abuse.js';
import { nodeRed } from './node-red.js';
import { powerCut } from './power-cut.js';
import { relayRestart } from './relay-restart.js';
import { wanFlapping } from './wan-flapping.js';

export const SCENARIOS: Scenario[] = [
  cloudDown,
  kill9,
  powerCut,
  wanFlapping,
  mqttAbuse,
  keypadBruteForce,
  nodeRed,
  relayRestart,
];
