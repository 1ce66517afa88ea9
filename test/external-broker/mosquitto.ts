// The mosquitto harness lives with the bench suite that uses it too (bench/external-broker.ts).
export {
  DYNSEC_PLUGIN,
  freePort,
  MOSQUITTO,
  Mosquitto,
  type MosquittoOptions,
  mosquittoAvailable,
} from '../../bench/external-broker.js';

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { Mosquitto as Broker } from '../../bench/external-broker.js';
import type { Hub, HubOptions } from '../../hub/app.js';
import { removeDir, startHub, tempDataDir } from '../helpers/hub.js';

export const HUB_USER = 'gatehouse-hub';
const HUB_PASSWORD = 'hub-password-for-tests';

export interface ExternalRig {
  hub: Hub;
  mosquitto: Broker;
  dir: string;
  /** mosquitto's port: where devices and integrations connect. */
  port: number;
  stop(): Promise<void>;
}

export function externalState(hub: Hub): string | undefined {
  return (hub.status()['mqttExternal'] as { state?: string } | undefined)?.state;
}

/** A mosquitto with dynsec and a hub in external mode with `config` added; resolves once it is connected. */
export async function startExternalHub(
  config: Record<string, unknown> = {},
  options: Omit<HubOptions, 'config'> = {},
): Promise<ExternalRig> {
  const dir = tempDataDir();
  const mosquitto = new Broker({
    dir: path.join(dir, 'mosquitto'),
    adminUser: HUB_USER,
    adminPassword: HUB_PASSWORD,
  });
  await mosquitto.start();
  writeFileSync(path.join(dir, 'mqtt-broker.password'), `${HUB_PASSWORD}\n`, { mode: 0o600 });
  const hub = await startHub(
    dir,
    {
      mqtt: {
        broker: 'external',
        external: { url: `mqtt://127.0.0.1:${mosquitto.port}`, reconnectMinMs: 200, reconnectMaxMs: 2000 },
      },
      ...config,
    },
    process.env.GH_TEST_LOG ? { logger: pino({ level: 'debug' }), ...options } : options,
  );
  const deadline = Date.now() + 15_000;
  while (externalState(hub) !== 'connected') {
    if (Date.now() > deadline) {
      await hub.stop();
      await mosquitto.stop();
      throw new Error(`the hub did not connect to mosquitto:\n${mosquitto.log.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    hub,
    mosquitto,
    dir,
    port: mosquitto.port,
    stop: async () => {
      await hub.stop();
      await mosquitto.stop();
      removeDir(dir);
    },
  };
}
