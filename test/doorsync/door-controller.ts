// An emulated LAN door controller: a real MQTT client that keeps its door's copy (DoorCopy), acks
// each version it applies, and decides locally from the copy, e.g. while the hub is unreachable.
import type { KeyObject } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { DoorCopy } from '../../hub/doorsync/copy.js';

export interface AppliedVersion {
  version: number;
  at: number;
}

export class EmulatedDoorController {
  readonly copy: DoorCopy;
  readonly applied: AppliedVersion[] = [];
  readonly refused: string[] = [];
  #client: MqttClient | null = null;
  readonly #doorId: string;

  constructor(doorId: string, hubPublicKey: KeyObject) {
    this.#doorId = doorId;
    this.copy = new DoorCopy(doorId, hubPublicKey);
  }

  async connect(port: number, username: string, secret: string): Promise<void> {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      username,
      password: secret,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      clientId: `${username}-${Math.random().toString(16).slice(2, 8)}`,
    });
    this.#client = client;
    const base = `gatehouse/door/${this.#doorId}/sync`;
    client.on('message', (topic, payload) => {
      if (topic !== `${base}/snapshot` && topic !== `${base}/delta`) return;
      const result = this.copy.apply(payload);
      if (!result.applied) {
        this.refused.push(result.reason);
        return;
      }
      this.applied.push({ version: result.version, at: Date.now() });
      client.publish(`${base}/ack`, JSON.stringify({ version: result.version }), { qos: 1 });
    });
    await client.subscribeAsync(`${base}/#`, { qos: 1 });
  }

  /** Local decision from the copy, as the controller would make it without the hub. */
  decide(kind: 'card' | 'keypad', value: string, now = Date.now()) {
    return this.copy.decide(kind, value, now);
  }

  async disconnect(): Promise<void> {
    // Forced: after the hub is gone a graceful DISCONNECT would wait forever.
    await this.#client?.endAsync(true);
    this.#client = null;
  }
}
