// The building's door controllers as the hub sees them: each one its own MQTT client over TLS, trusting
// only the hub's CA, speaking the device contract (docs/mqtt.md): credential → decision, REX events,
// retained door state, availability with a last will. Phones use the LAN API (docs/mobile-keys.md §3).
import mqtt, { type MqttClient } from 'mqtt';
import { httpRequester, type Phone, presentOverApi } from '../hub/mobile/phone.js';
import type { DoorAccount } from './population.js';

/** A door controller gives up on an answer after this and keeps the door locked (docs/mqtt.md §2.2). */
const ANSWER_TIMEOUT_MS = 15_000;
const FLOOD_BURST = 50;
/** The hub drops what is over a device's budget; the flooder does not wait long for those. */
const FLOOD_ANSWER_TIMEOUT_MS = 2000;

export interface Answer {
  granted: boolean;
  reason: string;
  latencyMs: number;
}

interface Pending {
  sentAt: number;
  resolve: (answer: Answer) => void;
  timer: NodeJS.Timeout;
}

export class DoorClient {
  readonly #pending = new Map<string, Pending>();
  #next = 0;
  /** Answers to our own ids that came when nothing was waiting (a second answer to one request). */
  duplicateAnswers = 0;
  /** Requests that got no answer within ANSWER_TIMEOUT_MS. */
  unanswered = 0;

  readonly door: DoorAccount;
  readonly client: MqttClient;

  private constructor(door: DoorAccount, client: MqttClient) {
    this.door = door;
    this.client = client;
    client.on('message', (topic, payload) => {
      if (!topic.endsWith('/decision')) return;
      let message: { id?: unknown; granted?: unknown; reason?: unknown };
      try {
        message = JSON.parse(payload.toString('utf8')) as typeof message;
      } catch {
        return;
      }
      if (typeof message.id !== 'string' || !message.id.startsWith(`${door.device}.`)) return; // another device's
      const pending = this.#pending.get(message.id);
      if (!pending) {
        this.duplicateAnswers++;
        return;
      }
      this.#pending.delete(message.id);
      clearTimeout(pending.timer);
      pending.resolve({
        granted: message.granted === true,
        reason: typeof message.reason === 'string' ? message.reason.slice(0, 40) : 'invalid_answer',
        latencyMs: performance.now() - pending.sentAt,
      });
    });
  }

  static async connect(door: DoorAccount, port: number, caPem: string): Promise<DoorClient> {
    const availability = `gatehouse/device/${door.device}/availability`;
    const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
      username: door.device,
      password: door.secret,
      clientId: door.device,
      ca: caPem,
      rejectUnauthorized: true,
      protocolVersion: 4,
      clean: true,
      keepalive: 30,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      will: { topic: availability, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    // TCP_NODELAY, as docs/mqtt.md §1.3 asks of every controller.
    (client.stream as unknown as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    await client.subscribeAsync(`gatehouse/door/${door.id}/decision`, { qos: 1 });
    await client.publishAsync(availability, 'online', { qos: 1, retain: true });
    return new DoorClient(door, client);
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  present(kind: 'card' | 'keypad' | 'mobile', value: string, timeoutMs = ANSWER_TIMEOUT_MS): Promise<Answer> {
    const id = `${this.door.device}.${++this.#next}`;
    return new Promise<Answer>((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        this.unanswered++;
        resolve({ granted: false, reason: 'no_answer', latencyMs: timeoutMs });
      }, timeoutMs);
      this.#pending.set(id, { sentAt: performance.now(), resolve, timer });
      this.client.publish(`gatehouse/door/${this.door.id}/credential`, JSON.stringify({ id, kind, value }), {
        qos: 1,
      });
    });
  }

  rex(): void {
    this.client.publish(`gatehouse/door/${this.door.id}/event`, '{"type":"rex"}', { qos: 1 });
  }

  async contact(state: 'open' | 'closed'): Promise<void> {
    await this.client.publishAsync(
      `gatehouse/door/${this.door.id}/state`,
      JSON.stringify({ contact: state, lock: 'locked', tamper: false }),
      { qos: 1, retain: true },
    );
  }

  /** `force` drops unacknowledged publishes instead of waiting for them (a flooding controller's). */
  async close(force = false): Promise<void> {
    for (const p of this.#pending.values()) clearTimeout(p.timer);
    await this.client.endAsync(force);
  }
}

/** A phone on the building Wi-Fi: challenge, sign, respond, over the hub's LAN API. */
export async function presentPhone(phone: Phone, doorId: string, apiBase: string): Promise<Answer> {
  const started = performance.now();
  try {
    const result = await presentOverApi(phone, doorId, httpRequester(apiBase));
    return { granted: result.granted, reason: result.reason, latencyMs: performance.now() - started };
  } catch {
    return { granted: false, reason: 'http_error', latencyMs: performance.now() - started };
  }
}

export interface FloodResult {
  sent: number;
  /** Real seconds spent sending (the flood itself). */
  sendSeconds: number;
  answered: Record<string, number>;
  realSeconds: number;
}

/**
 * A controller gone wrong: it publishes credentials on its door's topic as fast as its socket takes
 * them, for `realMs`. The hub's per-device budget (docs/mqtt.md §9) should turn most away.
 */
export async function flood(
  door: DoorAccount,
  port: number,
  caPem: string,
  realMs: number,
): Promise<FloodResult> {
  const client = await DoorClient.connect(door, port, caPem);
  const answered: Record<string, number> = {};
  let sent = 0;
  let sendSeconds = 0;
  const started = performance.now();
  try {
    const stopAt = started + realMs;
    while (performance.now() < stopAt) {
      // Bursts of 50 every 25 ms: 2,000 a second, a tight firmware loop on a LAN link.
      for (let i = 0; i < FLOOD_BURST; i++) {
        sent++;
        const value = (0xf1000000 + sent).toString(16).toUpperCase();
        void client.present('card', value, FLOOD_ANSWER_TIMEOUT_MS).then((a) => {
          answered[a.reason] = (answered[a.reason] ?? 0) + 1;
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    sendSeconds = Math.round(performance.now() - started) / 1000;
    // Every request ends answered or timed out (FLOOD_ANSWER_TIMEOUT_MS), so this wait is bounded.
    while (client.inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    await client.close(true);
  }
  return { sent, answered, sendSeconds, realSeconds: Math.round(performance.now() - started) / 1000 };
}
