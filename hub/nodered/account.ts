// The integration account Node-RED's Gatehouse nodes log in to the broker with. The hub owns it: created on
// first start, its secret replaced at every hub start (nobody ever types or sees it), handed to the child as
// `RED.settings.gatehouse` (hub/nodered/settings.ts).
import type { Config } from '../config/index.js';
import type { IntegrationGrant } from '../store/devices.js';
import type { Store } from '../store/store.js';
import type { GatehouseConnection } from './settings.js';

export const NODE_RED_ACCOUNT = 'hub-node-red';
/** Person and door look-ups (never PINs, card numbers or secrets) and issuing doorcodes. */
export const NODE_RED_GRANTS: readonly IntegrationGrant[] = ['people.read', 'codes.issue'];

/**
 * Makes sure the account exists as an integration with exactly NODE_RED_GRANTS and gives it a new
 * secret, which is returned (the old one stops working at once). An account of that name in another shape
 * (changed by hand) is replaced, so Node-RED never runs with more or other rights than these.
 */
export function provisionNodeRedAccount(store: Store): string {
  const hub = store.as('hub');
  const existing = hub.devices.get(NODE_RED_ACCOUNT);
  const sameGrants =
    existing !== null &&
    existing.grants.length === NODE_RED_GRANTS.length &&
    NODE_RED_GRANTS.every((g) => existing.grants.includes(g));
  if (existing && existing.role === 'integration' && existing.doors.length === 0 && sameGrants) {
    return hub.devices.rotateSecret(NODE_RED_ACCOUNT);
  }
  if (existing) hub.devices.remove(NODE_RED_ACCOUNT);
  return hub.devices.add(NODE_RED_ACCOUNT, { role: 'integration', doors: [], grants: [...NODE_RED_GRANTS] })
    .secret;
}

/** Hosts at which a listener also accepts connections on 127.0.0.1. */
const REACHABLE_ON_LOOPBACK = new Set(['127.0.0.1', 'localhost', '0.0.0.0', '::', '']);

/**
 * Where Node-RED reaches the broker: plain MQTT on loopback when that listener is there (nothing leaves
 * the machine), else MQTT over TLS on 127.0.0.1 trusting the hub's CA (its certificate names 127.0.0.1).
 * Null when neither listens on loopback; the Gatehouse nodes then report that they have no connection.
 * With an external broker (mqtt.broker: external): the hub's own URL, trusting the CA the hub trusts
 * there (mqtt.external.caFile, else the hub's CA), read only for mqtts.
 */
export function brokerConnection(
  mqtt: Config['mqtt'],
  ports: { tcp?: number; tls?: number },
  caCertPem: string,
  options: { externalCaPem?: () => string } = {},
): GatehouseConnection | null {
  const base = { username: NODE_RED_ACCOUNT, baseTopic: mqtt.baseTopic };
  if (mqtt.broker === 'external') {
    const url = mqtt.external.url;
    if (!url.startsWith('mqtts://')) return { url, ...base };
    try {
      return { url, ...base, ca: options.externalCaPem?.() ?? caCertPem };
    } catch {
      return null; // caFile unreadable: the hub's own connection logs why, and Node-RED has none either
    }
  }
  if (mqtt.tcp.enabled && ports.tcp !== undefined && REACHABLE_ON_LOOPBACK.has(mqtt.tcp.host)) {
    return { url: `mqtt://127.0.0.1:${ports.tcp}`, ...base };
  }
  if (mqtt.tls.enabled && ports.tls !== undefined && REACHABLE_ON_LOOPBACK.has(mqtt.tls.host)) {
    return { url: `mqtts://127.0.0.1:${ports.tls}`, ...base, ca: caCertPem };
  }
  return null;
}
