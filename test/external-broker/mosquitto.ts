// The mosquitto harness lives with the bench suite that uses it too (bench/external-broker.ts).
export {
  DYNSEC_PLUGIN,
  freePort,
  MOSQUITTO,
  Mosquitto,
  type MosquittoOptions,
  mosquittoAvailable,
} from '../../bench/external-broker.js';
