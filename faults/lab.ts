import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { seedResidents } from '../bench/hub-process.js';
import { summarize } from '../bench/stats.js';
import { openHubStore } from '../hub/open-store.js';
import { DB_FILE_NAME } from '../hub/store/db.js';
import type { Store } from '../hub/store/store.js';

const _here = path.dirname(fileURLToPath(import.meta.url));

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

/** A presentation not answered within this is lost. */
export const ANSWER_TIMEOUT_MS = 5000;

export interface LabSeed {
  /** Door id → the secret of its reader device `<door>-reader`. */
  secrets: Record<string, string>;
  /** Cards granted at every door (residents group). */
  granted: string[];
  /** Integration account name → secret. */
  integrations: Record<string, string>;
  /** A staff session token for the HTTP API (Authorization: Bearer). */
  adminSession: string;
}

/**
 * A fresh data dir: the given MQTT doors, each with its reader device, all in group `residents` with
 * `residents` people (every tenth granted), plus integration accounts; `extra` adds what a scenario needs.
 */
export async function seedLab(
  dataDir: string,
  options: {
    doors: string[];
    residents: number;
    integrations?: string[];
    extra?: (store: Store) => void;
  },
): Promise<LabSeed> {
  const opened = openHubStore(dataDir);
  try {
    const { store } = opened;
    const secrets: Record<string, string> = {};
    store.groups.add({ id: 'residents', name: 'Residents' });
    for (const door of options.doors) {
      store.doors.add({ id: door, name: door, transport: 'mqtt' });
      store.groups.addDoor('residents', door);
      secrets[door] = store.devices.add(`${door}-reader`, { role: 'door', doors: [door] }).secret;
    }
    const integrations: Record<string, string> = {};
    for (const name of options.integrations ?? [])
      integrations[name] = store.devices.add(name, { role: 'integration', doors: [] }).secret;
    const admin = await store.users.add('faults-admin', 'faults admin password 1', 'admin');
    const adminSession = store.users.createSession(admin.id, 6 * 3_600_000);
    const { granted } = seedResidents(store, options.residents);
    options.extra?.(store);
    return { secrets, granted, integrations, adminSession };
  } finally {
    opened.close();
  }
}

export interface Answer {
  granted: boolean;
  reason: string;
  ms: number;
}

/** A well-behaved door device: QoS 1, TCP_NODELAY, reconnects (and counts it) when the hub drops it. */
export class LabDevice {
  disconnects = 0;
  /** `set` messages the hub sent this door (unlock commands), with their time. */
  readonly sets: Array<{ at: number; body: Record<string, unknown> }> = [];
  readonly #waiting = new Map<string, { at: number; resolve: (a: Answer | null) => void }>();
  #closing = false;
  #next = 0;

  readonly client: MqttClient;
  readonly door: string;

  private constructor(client: MqttClient, door: string) {
    this.client = client;
    this.door = door;
    client.on('message', (topic, payload) => {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(payload.toString()) as Record<string, unknown>;
      } catch {
        return;
      }
      if (topic.endsWith('/set')) {
        this.sets.push({ at: Date.now(), body });
        return;
      }
      const waiting = this.#waiting.get(String(body.id));
      if (!waiting) return;
      this.#waiting.delete(String(body.id));
      waiting.resolve({
        granted: body.granted === true,
        reason: String(body.reason),
        ms: performance.now() - waiting.at,
      });
    });
    client.on('close', () => {
      if (!this.#closing) this.disconnects++;
    });
    client.on('connect', () => (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true));
  }

  static async connect(port: number, door: string, secret: string): Promise<LabDevice> {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      username: `${door}-reader`,
      password: secret,
      clientId: `faults-${door}-${Math.random().toString(16).slice(2, 8)}`,
      reconnectPeriod: 500,
      connectTimeout: 10_000,
    });
    (client.stream as unknown as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    const device = new LabDevice(client, door);
    // Re-subscribe after a reconnect: the hub keeps no sessions.
    const subscribe = () =>
      client.subscribeAsync([`gatehouse/door/${door}/decision`, `gatehouse/door/${door}/set`], { qos: 1 });
    await subscribe();
    client.on('connect', () => void subscribe().catch(() => undefined));
    return device;
  }

  /** Presents a credential; null when no answer came within `timeoutMs`. */
  present(
    kind: 'card' | 'keypad',
    value: string,
    timeoutMs = ANSWER_TIMEOUT_MS,
    idPrefix = 'lab',
  ): Promise<Answer | null> {
    const id = `${idPrefix}${this.#next++}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        resolve(null);
      }, timeoutMs);
      this.#waiting.set(id, {
        at: performance.now(),
        resolve: (answer) => {
          clearTimeout(timer);
          resolve(answer);
        },
      });
      this.client.publish(`gatehouse/door/${this.door}/credential`, JSON.stringify({ id, kind, value }), {
        qos: 1,
      });
    });
  }

  async close(): Promise<void> {
    this.#closing = true;
    await this.client.endAsync(true).catch(() => undefined);
  }
}

export interface PhaseFigures {
  presented: number;
  /** Slots not presented: this process was late, or MAX_UNANSWERED were still unanswered (a slow hub). */
  skipped: number;
  /** Answered as expected. */
  correct: number;
  /** Answered, but not as expected (e.g. a granted card denied or rate_limited). */
  wrong: number;
  lost: number;
  byReason: Record<string, number>;
  /** Round trips of the answered ones, ms. */
  ms: ReturnType<typeof summarize>;
  /** p99 counting each lost one as ANSWER_TIMEOUT_MS. */
  p99WithLostMs: number;
}

/**
 * A door where people keep presenting: `rate` per second, each answer checked against `expect`, the
 * figures kept per named phase (switch with `phase(name)`) so one run gives idle and under-fault numbers.
 */
/** Presentations a Presenter leaves unanswered at most (one under mqtt.limits.maxUnansweredPerDevice). */
const MAX_UNANSWERED = 3;

export class Presenter {
  #phase = 'idle';
  #running = true;
  readonly #samples = new Map<
    string,
    {
      ms: number[];
      byReason: Record<string, number>;
      wrong: number;
      lost: number;
      presented: number;
      skipped: number;
    }
  >();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #loop: Promise<void>;

  readonly device: LabDevice;

  constructor(
    device: LabDevice,
    kind: 'card' | 'keypad',
    values: string[],
    rate: number,
    expect: (answer: Answer) => boolean,
  ) {
    this.device = device;
    const interval = 1000 / rate;
    this.#loop = (async () => {
      let due = performance.now();
      for (let n = 0; this.#running; n++) {
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        if (!this.#running) break;
        const phase = this.#bucket(this.#phase);
        due += interval;
        // Like a reader, never a burst: slots missed while this process was busy are skipped, not sent
        // at once, and no more than MAX_UNANSWERED are outstanding (the hub's per-device bound is 4).
        const behind = performance.now() - due;
        if (behind > interval) {
          phase.skipped += Math.floor(behind / interval);
          due = performance.now();
        }
        if (this.#inFlight.size >= MAX_UNANSWERED) {
          phase.skipped++;
          continue;
        }
        phase.presented++;
        const asked = device.present(kind, values[n % values.length]!).then((answer) => {
          if (answer === null) {
            phase.lost++;
            return;
          }
          phase.ms.push(answer.ms);
          phase.byReason[answer.reason] = (phase.byReason[answer.reason] ?? 0) + 1;
          if (!expect(answer)) phase.wrong++;
        });
        this.#inFlight.add(asked);
        void asked.then(() => this.#inFlight.delete(asked));
      }
    })();
  }

  #bucket(name: string) {
    let bucket = this.#samples.get(name);
    if (!bucket) {
      bucket = { ms: [], byReason: {}, wrong: 0, lost: 0, presented: 0, skipped: 0 };
      this.#samples.set(name, bucket);
    }
    return bucket;
  }

  phase(name: string): void {
    this.#phase = name;
  }

  figures(name: string): PhaseFigures {
    const b = this.#bucket(name);
    const answered = b.ms.length;
    return {
      presented: b.presented,
      skipped: b.skipped,
      correct: answered - b.wrong,
      wrong: b.wrong,
      lost: b.lost,
      byReason: b.byReason,
      ms: summarize(b.ms),
      p99WithLostMs: summarize([...b.ms, ...Array<number>(b.lost).fill(ANSWER_TIMEOUT_MS)]).p99,
    };
  }

  /** Every phase together. */
  total(): { presented: number; skipped: number; correct: number; wrong: number; lost: number } {
    let presented = 0;
    let skipped = 0;
    let wrong = 0;
    let lost = 0;
    let answered = 0;
    for (const b of this.#samples.values()) {
      presented += b.presented;
      skipped += b.skipped;
      wrong += b.wrong;
      lost += b.lost;
      answered += b.ms.length;
    }
    return { presented, skipped, correct: answered - wrong, wrong, lost };
  }

  /** Stops presenting and waits for the answers still on their way. */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
    await Promise.all([...this.#inFlight]);
  }
}

/** A presentation is correct when a granted card is granted. */
export const grantedAnswer = (a: Answer) => a.granted && a.reason === 'granted';

/** The bench's abuser process (bench/isolation.ts), shared so both measure the same attack. */
export { startAbuser } from '../bench/isolation.js';

/** The hub's HTTP API with a staff session. */
export async function api(
  httpPort: number,
  session: string,
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${httpPort}${url}`, {
    method,
    headers: {
      authorization: `Bearer ${session}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    json = { text };
  }
  return { status: response.status, json };
}

/** Read-only look at the hub's event log while it runs (or after): rows of one query. */
export function queryEvents<T>(dataDir: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(path.join(dataDir, DB_FILE_NAME), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

/** One check: what must hold, whether it did, and the numbers that say so. */
export function check(
  what: string,
  ok: boolean,
  detail?: string,
): { what: string; ok: boolean; detail?: string } {
  return detail === undefined ? { what, ok } : { what, ok, detail };
}

/** "p99 a ms idle, b ms under fault (ratio r)". */
export function ratio(during: number, idle: number): number {
  return idle > 0 ? round(during / idle, 2) : Number.NaN;
}

/** An integration account asking the hub for commands over MQTT (docs/mqtt.md §6): one answer per request. */
export class BridgeClient {
  readonly client: MqttClient;
  disconnects = 0;
  readonly #waiting = new Map<string, (answer: Record<string, unknown>) => void>();
  #next = 0;
  #closing = false;

  private constructor(client: MqttClient) {
    this.client = client;
    client.on('message', (_topic, payload) => {
      try {
        const body = JSON.parse(payload.toString()) as Record<string, unknown>;
        const waiting = this.#waiting.get(String(body.transaction));
        if (waiting) {
          this.#waiting.delete(String(body.transaction));
          waiting(body);
        }
      } catch {
        // not JSON
      }
    });
    client.on('close', () => {
      if (!this.#closing) this.disconnects++;
    });
  }

  static async connect(
    port: number,
    username: string,
    password: string,
    reconnect = false,
  ): Promise<BridgeClient> {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      username,
      password,
      clientId: `faults-${username}-${Math.random().toString(16).slice(2, 8)}`,
      reconnectPeriod: reconnect ? 1000 : 0,
      connectTimeout: 10_000,
    });
    const subscribe = () => client.subscribeAsync('gatehouse/bridge/response/#', { qos: 1 });
    await subscribe();
    if (reconnect) client.on('connect', () => void subscribe().catch(() => undefined));
    return new BridgeClient(client);
  }

  /** Sends without waiting (a flood); the answer is dropped. */
  fire(command: string, input: Record<string, unknown>): void {
    this.client.publish(
      `gatehouse/bridge/request/${command}`,
      JSON.stringify({ transaction: `fire-${this.#next++}`, ...input }),
      { qos: 0 },
    );
  }

  request(
    command: string,
    input: Record<string, unknown>,
    timeoutMs = ANSWER_TIMEOUT_MS,
  ): Promise<Record<string, unknown> | null> {
    const transaction = `t${this.#next++}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(transaction);
        resolve(null);
      }, timeoutMs);
      this.#waiting.set(transaction, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      this.client.publish(`gatehouse/bridge/request/${command}`, JSON.stringify({ transaction, ...input }), {
        qos: 1,
      });
    });
  }

  async close(): Promise<void> {
    this.#closing = true;
    await this.client.endAsync(true).catch(() => undefined);
  }
}
