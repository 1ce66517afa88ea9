// A real hub with Home Assistant discovery on, two simulated doors, and a real mqtt.js client logged in
// as the `home-assistant` integration account the way Home Assistant connects (birth and last will on
// `<prefix>/status`), recording every message it hears.
import mqtt, { type MqttClient } from 'mqtt';
import type { Hub } from '../../hub/app.js';
import type { Caller } from '../../hub/commands/command.js';
import { removeDir, startHub, tempDataDir } from '../helpers/hub.js';

export const ADMIN: Caller = { actor: 'cli:root', role: 'admin' };
export const PREFIX = 'homeassistant';
export const DOORS = ['front', 'back.gate'] as const;
/** Hub entities (4) and, per door, lock, mode select, contact, tamper, alarm, fire and controller (7). */
export const CONFIGS_PER_DOOR = 7;
export const HUB_CONFIGS = 4;

export interface HaRig {
  hub: Hub;
  dir: string;
  port: number;
  haSecret: string;
  readerSecret: string;
  /** Clients to close at stop. */
  clients: MqttClient[];
  stop(): Promise<void>;
}

export async function startRig(extra: Record<string, unknown> = {}): Promise<HaRig> {
  const dir = tempDataDir();
  const hub = await startHub(dir, { homeAssistant: { enabled: true }, ...extra });
  for (const id of DOORS) {
    await hub.commands.execute(
      'door.add',
      { id, name: id === 'front' ? 'Front door' : 'Back gate', transport: 'sim', unlockMs: 1500 },
      ADMIN,
    );
  }
  const store = hub.store.as('cli:test');
  const haSecret = store.devices.add('home-assistant', { role: 'integration', doors: [] }).secret;
  const readerSecret = store.devices.add('front-reader', { role: 'door', doors: ['front'] }).secret;
  await until('doors running', () => DOORS.every((d) => hub.simDoors.has(d)));
  const clients: MqttClient[] = [];
  return {
    hub,
    dir,
    port: hub.addresses().mqtt.tcp!,
    haSecret,
    readerSecret,
    clients,
    stop: async () => {
      for (const c of clients) c.end(true);
      await hub.stop();
      removeDir(dir);
    },
  };
}

/** Every message one client heard, in order, and the last payload per topic. */
export class Heard {
  readonly all: Array<{ topic: string; payload: string; retain: boolean; at: number }> = [];
  readonly last = new Map<string, string>();

  readonly client: MqttClient;

  constructor(client: MqttClient) {
    this.client = client;
    client.on('message', (topic, payload, packet) => {
      const text = payload.toString('utf8');
      this.all.push({ topic, payload: text, retain: packet.retain, at: Date.now() });
      this.last.set(topic, text);
    });
  }

  configs(): Map<string, Record<string, unknown>> {
    const out = new Map<string, Record<string, unknown>>();
    for (const [topic, payload] of this.last) {
      if (topic.startsWith(`${PREFIX}/`) && topic.endsWith('/config') && payload !== '') {
        out.set(topic, JSON.parse(payload) as Record<string, unknown>);
      }
    }
    return out;
  }

  json(topic: string): Record<string, unknown> | null {
    const payload = this.last.get(topic);
    return payload ? (JSON.parse(payload) as Record<string, unknown>) : null;
  }

  /** Messages on the account's error topic. */
  errors(device: string): string[] {
    return this.all
      .filter((m) => m.topic === `gatehouse/device/${device}/error`)
      .map((m) => (JSON.parse(m.payload) as { error: string }).error);
  }
}

/** Connects as Home Assistant does: birth/will on <prefix>/status, discovery and state subscriptions. */
export async function connectHomeAssistant(rig: HaRig, id = 'home-assistant'): Promise<Heard> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rig.port}`, {
    username: id,
    password: rig.haSecret,
    clientId: `ha-${Math.random().toString(16).slice(2, 8)}`,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    will: { topic: `${PREFIX}/status`, payload: Buffer.from('offline'), qos: 0, retain: false },
  });
  rig.clients.push(client);
  const heard = new Heard(client);
  await client.subscribeAsync(
    [`${PREFIX}/#`, 'gatehouse/ha/#', 'gatehouse/bridge/state', `gatehouse/device/${id}/error`],
    { qos: 1 },
  );
  await client.publishAsync(`${PREFIX}/status`, 'online', { qos: 0 });
  return heard;
}

export async function until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function doorTopic(door: string, tail: string): string {
  return `gatehouse/ha/door/${door}/${tail}`;
}
