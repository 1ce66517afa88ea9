// What the cloud, crash and disk scenarios share: a seeded data dir, the development cloud with its own CA,
// a door controller on MQTT that remembers every answer, a TCP proxy we can cut, and the checks that read
// the hub's files the way an operator would (PRAGMA integrity_check, `gatehouse events verify`).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { BUSY_CONTROLLER_BUDGET, HUB_MAIN, type HubProcess, startHubProcess } from '../bench/hub-process.js';
import { DevCloud } from '../deploy/dev-cloud/server.js';
import { callHub } from '../hub/cli/hub-client.js';
import { openHubStore } from '../hub/open-store.js';
import { ensureCertificates } from '../hub/pki/certificates.js';
import { DB_FILE_NAME } from '../hub/store/db.js';
import type { ScenarioResult } from './scenario.js';

export type Check = ScenarioResult['checks'][number];
export const HUB_ID = 'faults-hub';
export const DOOR = 'front';
const DEVICE = 'faults-reader';

export function check(what: string, ok: boolean, detail?: string): Check {
  return detail === undefined ? { what, ok } : { what, ok, detail };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function waitFor<T>(
  probe: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** A random integer in [low, high]. */
export function between(low: number, high: number): number {
  return low + Math.floor(Math.random() * (high - low + 1));
}

// ------------------------------------------------------------------ the hub's data

export interface SeededHub {
  dataDir: string;
  dbFile: string;
  /** The door controller's MQTT password. */
  secret: string;
  /** Cards that open the front door (one resident each, in the residents group). */
  cards: string[];
}

/** People with one card each, all allowed at the front door; one door controller account. */
export function seedHub(dataDir: string, residents: number): SeededHub {
  const opened = openHubStore(dataDir);
  try {
    const store = opened.store.as('cli:faults');
    store.doors.add({ id: DOOR, name: 'Front', transport: 'mqtt' });
    const { secret } = store.devices.add(DEVICE, { role: 'door', doors: [DOOR] });
    store.groups.add({ id: 'residents', name: 'Residents' });
    store.groups.addDoor('residents', DOOR);
    const cards: string[] = [];
    store.transaction(() => {
      for (let i = 0; i < residents; i++) {
        const personId = `r${i}`;
        store.people.add({ id: personId, name: `Resident ${i}`, kind: 'resident' });
        const card = (0x04100000 + i).toString(16).toUpperCase();
        store.credentials.addCard(personId, card);
        store.groups.addMember('residents', personId);
        cards.push(card);
      }
    });
    return { dataDir, dbFile: path.join(dataDir, DB_FILE_NAME), secret, cards };
  } finally {
    opened.close();
  }
}

/** Starts the compiled hub on `dataDir` with a door controller's budget big enough for a busy test door. */
export function startHub(dataDir: string, env: NodeJS.ProcessEnv = {}): Promise<HubProcess> {
  return startHubProcess(dataDir, { ...BUSY_CONTROLLER_BUDGET, ...env });
}

/** Opens the hub's database file for reading; the caller closes it. */
export function openReadOnly(dbFile: string): BetterSqlite3.Database {
  const db = new BetterSqlite3(dbFile, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  return db;
}

export function integrityCheck(dbFile: string): string {
  const db = openReadOnly(dbFile);
  try {
    const rows = db.pragma('integrity_check') as Array<{ integrity_check: string }>;
    return rows.map((r) => r.integrity_check).join('; ');
  } finally {
    db.close();
  }
}

export interface LoggedEvent {
  seq: number;
  type: string;
  hash: string;
  prevHash: string;
  data: Record<string, unknown>;
}

/** The hub's event log, oldest first (read straight from the database file). */
export function readEvents(dbFile: string, afterSeq = 0): LoggedEvent[] {
  const db = openReadOnly(dbFile);
  try {
    const rows = db
      .prepare('SELECT seq, type, hash, prev_hash, data FROM events WHERE seq > ? ORDER BY seq')
      .all(afterSeq) as Array<{ seq: number; type: string; hash: string; prev_hash: string; data: string }>;
    return rows.map((r) => ({
      seq: r.seq,
      type: r.type,
      hash: r.hash,
      prevHash: r.prev_hash,
      data: JSON.parse(r.data) as Record<string, unknown>,
    }));
  } finally {
    db.close();
  }
}

/** The last seq of the hub's event log. */
export function lastSeq(dbFile: string): number {
  const db = openReadOnly(dbFile);
  try {
    return (db.prepare('SELECT MAX(seq) FROM events').pluck().get() as number | null) ?? 0;
  } finally {
    db.close();
  }
}

/** Request ids of the decisions in the log (docs/data.md: `data.request`). */
export function loggedRequestIds(dbFile: string): Set<string> {
  const ids = new Set<string>();
  for (const e of readEvents(dbFile)) {
    if (e.type === 'decision' && typeof e.data.request === 'string') ids.add(e.data.request);
  }
  return ids;
}

/** Credential ids revoked in the database. */
export function revokedCredentialIds(dbFile: string): Set<string> {
  const db = openReadOnly(dbFile);
  try {
    const rows = db.prepare('SELECT id FROM credentials WHERE revoked_at IS NOT NULL').all() as Array<{
      id: string;
    }>;
    return new Set(rows.map((r) => r.id));
  } finally {
    db.close();
  }
}

/** Every credential id in the database. */
export function credentialIds(dbFile: string): Set<string> {
  const db = openReadOnly(dbFile);
  try {
    const rows = db.prepare('SELECT id FROM credentials').all() as Array<{ id: string }>;
    return new Set(rows.map((r) => r.id));
  } finally {
    db.close();
  }
}

/** The card credential of resident `r<i>` (seedHub gives each one card). */
export function cardCredentialIds(dbFile: string): Map<string, string> {
  const db = openReadOnly(dbFile);
  try {
    const rows = db
      .prepare("SELECT id, person_id FROM credentials WHERE kind = 'card' AND revoked_at IS NULL")
      .all() as Array<{ id: string; person_id: string }>;
    return new Map(rows.map((r) => [r.person_id, r.id]));
  } finally {
    db.close();
  }
}

/** The compiled CLI on `dataDir`, as an installer types it. */
export function gatehouseCli(
  dataDir: string,
  args: string[],
  timeoutMs = 60_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [HUB_MAIN, ...args],
      { env: { ...process.env, GATEHOUSE_DATA: dataDir }, timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `gatehouse events verify --json`: the hash chain of the whole log. */
export async function verifyChain(
  dataDir: string,
): Promise<{ ok: boolean; checked: number; detail: string }> {
  const result = await gatehouseCli(dataDir, ['--json', 'events', 'verify']);
  try {
    const parsed = JSON.parse(result.stdout) as { ok: boolean; checked: number; brokenAt?: number };
    return {
      ok: parsed.ok && result.code === 0,
      checked: parsed.checked,
      detail: parsed.ok ? `${parsed.checked} events` : `broken at seq ${parsed.brokenAt}`,
    };
  } catch {
    return { ok: false, checked: 0, detail: `exit ${result.code}: ${result.stderr.slice(0, 200)}` };
  }
}

/**
 * The check `gatehouse events verify` runs (store.events.verify), in this process: the CLI costs a Node
 * start per call, which a loop of restarts pays once, at its end, through verifyChain.
 */
export function verifyChainHere(dataDir: string): { ok: boolean; checked: number; detail: string } {
  const opened = openHubStore(dataDir);
  try {
    const result = opened.store.events.verify();
    return {
      ok: result.ok,
      checked: result.checked,
      detail: result.ok ? `${result.checked} events` : `broken at seq ${result.brokenAt}`,
    };
  } finally {
    opened.close();
  }
}

/**
 * A staff change through the running hub's command path (its control socket, as `gatehouse` uses for
 * commands that run in the hub): resolves with the HTTP status once the hub has answered.
 */
export async function hubCommand(
  dataDir: string,
  method: 'POST' | 'GET' | 'DELETE',
  url: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  if (!existsSync(path.join(dataDir, 'hub.sock'))) throw new Error('no control socket');
  return callHub(dataDir, method, url, body, { 'x-gatehouse-actor': 'faults' }, 10_000);
}

// ------------------------------------------------------------------ the door

export interface Answer {
  id: string;
  granted: boolean;
  reason: string;
}

/** A door controller on the hub's MQTT broker that remembers every decision it was given. */
export class Door {
  readonly answers = new Map<string, Answer>();
  readonly #client: MqttClient;
  readonly #waiting = new Map<string, (answer: Answer) => void>();
  readonly #abandon = new Map<string, () => void>();
  readonly prefix: string;
  #counter = 0;

  private constructor(client: MqttClient, prefix: string) {
    this.#client = client;
    this.prefix = prefix;
    client.on('message', (topic, payload) => {
      if (!topic.endsWith('/decision')) return;
      let answer: Answer;
      try {
        answer = JSON.parse(payload.toString()) as Answer;
      } catch {
        return;
      }
      this.answers.set(answer.id, answer);
      this.#waiting.get(answer.id)?.(answer);
      this.#waiting.delete(answer.id);
    });
    client.on('error', () => {}); // a killed hub closes the socket; present() times out instead
  }

  static async connect(mqttPort: number, secret: string, prefix = 'd'): Promise<Door> {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
      username: DEVICE,
      password: secret,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      clientId: `${DEVICE}-${prefix}-${Math.random().toString(16).slice(2, 8)}`,
    });
    (client.stream as unknown as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    await client.subscribeAsync(`gatehouse/door/${DOOR}/decision`, { qos: 1 });
    return new Door(client, prefix);
  }

  /** Presents a card; resolves with the decision, or null when none came within `timeoutMs`. */
  present(
    card: string,
    timeoutMs = 10_000,
    id = `${this.prefix}-${++this.#counter}`,
  ): Promise<Answer | null> {
    return new Promise((resolve) => {
      const giveUp = () => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        this.#abandon.delete(id);
        resolve(null);
      };
      const timer = setTimeout(giveUp, timeoutMs);
      this.#abandon.set(id, giveUp);
      this.#waiting.set(id, (answer) => {
        clearTimeout(timer);
        this.#abandon.delete(id);
        resolve(answer);
      });
      this.#client.publish(
        `gatehouse/door/${DOOR}/credential`,
        JSON.stringify({ id, kind: 'card', value: card }),
        { qos: 1 },
        () => {},
      );
    });
  }

  /** Gives up on every presentation still waiting (the hub was killed): they resolve null at once. */
  abandonAll(): void {
    for (const resolve of this.#abandon.values()) resolve();
    this.#abandon.clear();
  }

  async close(): Promise<void> {
    this.abandonAll();
    await this.#client.endAsync(true).catch(() => {});
  }
}

// ------------------------------------------------------------------ the cloud

export interface FaultCloud {
  cloud: DevCloud;
  port: number;
  caFile: string;
  token: string;
}

/** The development cloud on 127.0.0.1 with its own CA, the hub registered. */
export async function startCloud(dir: string): Promise<FaultCloud> {
  const tlsDir = path.join(dir, 'cloud-tls');
  const certs = await ensureCertificates(tlsDir, { hostnames: ['localhost'] });
  const cloud = new DevCloud({
    dbFile: path.join(dir, 'cloud.db'),
    listen: '127.0.0.1:0',
    tls: { certPem: certs.serverCertPem, keyPem: certs.serverKeyPem },
  });
  const { port } = await cloud.start();
  const token = cloud.addHub(HUB_ID);
  return { cloud, port, caFile: path.join(tlsDir, 'ca.crt'), token };
}

export interface LinkTimings {
  /** Reconnect back-off (hub/cloud/backoff.ts). */
  minMs: number;
  maxMs: number;
  keepaliveMs: number;
  ackTimeoutMs: number;
  connectTimeoutMs: number;
}

/** The hub's `cloud` section as environment variables (docs/configuration.md). */
export function cloudEnv(cloud: FaultCloud, timings: LinkTimings, address?: string): NodeJS.ProcessEnv {
  return {
    GATEHOUSE_CLOUD_ENABLED: 'true',
    GATEHOUSE_CLOUD_ADDRESS: address ?? `127.0.0.1:${cloud.port}`,
    GATEHOUSE_CLOUD_HUB_ID: HUB_ID,
    GATEHOUSE_CLOUD_TOKEN: cloud.token,
    GATEHOUSE_CLOUD_CA_FILE: cloud.caFile,
    GATEHOUSE_CLOUD_SERVER_NAME: 'localhost',
    GATEHOUSE_CLOUD_BACKOFF_MIN_MS: String(timings.minMs),
    GATEHOUSE_CLOUD_BACKOFF_MAX_MS: String(timings.maxMs),
    GATEHOUSE_CLOUD_KEEPALIVE_MS: String(timings.keepaliveMs),
    GATEHOUSE_CLOUD_ACK_TIMEOUT_MS: String(timings.ackTimeoutMs),
    GATEHOUSE_CLOUD_CONNECT_TIMEOUT_MS: String(timings.connectTimeoutMs),
  };
}

export interface CloudComparison {
  hubLastSeq: number;
  cloudStored: number;
  /** Seqs the hub has and the cloud does not. */
  missing: number;
  /** Seqs stored at the cloud with another hash than the hub's, or out of order, or twice. */
  mismatched: number;
  /** Stored seqs are exactly 1..n. */
  contiguous: boolean;
}

/** What the cloud holds for the hub, against the hub's own log: every seq once, in order, same hash. */
export function compareWithCloud(cloud: DevCloud, dbFile: string): CloudComparison {
  const mine = readEvents(dbFile);
  const theirs: Array<{ seq: number; hash: string }> = [];
  for (let after = 0; ; ) {
    const page = cloud.store.events(HUB_ID, after, 1000);
    if (page.length === 0) break;
    theirs.push(...page);
    after = page[page.length - 1]!.seq;
  }
  const hashes = new Map(mine.map((e) => [e.seq, e.hash]));
  const seen = new Set<number>();
  let mismatched = 0;
  let contiguous = true;
  theirs.forEach((e, i) => {
    if (e.seq !== i + 1) contiguous = false;
    if (seen.has(e.seq) || hashes.get(e.seq) !== e.hash) mismatched++;
    seen.add(e.seq);
  });
  return {
    hubLastSeq: mine[mine.length - 1]?.seq ?? 0,
    cloudStored: theirs.length,
    missing: mine.filter((e) => !seen.has(e.seq)).length,
    mismatched,
    contiguous,
  };
}

// ------------------------------------------------------------------ the WAN

export interface ProxyConnection {
  /** When the hub's connection arrived (ms since the proxy started). */
  openedAt: number;
  closedAt: number | null;
  /** It reached the cloud (the link was up when it arrived). */
  forwarded: boolean;
  /** Bytes the cloud sent back on it (a welcome means the TLS + gRPC link came up). */
  bytesFromCloud: number;
}

/**
 * A TCP proxy between the hub and the cloud that plays the building's internet link. Up: connections
 * are piped to the cloud. Down: new connections are either reset at once ('reset', a router that
 * answers) or held without a byte ('blackhole', a line that is simply dead), and open links are cut
 * the same way. Every connection the hub makes is recorded: the cloud side of the back-off.
 */
export class WanProxy {
  readonly connections: ProxyConnection[] = [];
  readonly #server: net.Server;
  readonly #target: number;
  readonly #started = performance.now();
  readonly #open = new Map<ProxyConnection, { hub: net.Socket; cloud: net.Socket | null }>();
  #down: 'reset' | 'blackhole' | null = null;
  port = 0;
  /** When the link went down or up, and how (ms since the proxy started). */
  readonly changes: Array<{ at: number; state: 'up' | 'reset' | 'blackhole' }> = [];

  constructor(targetPort: number) {
    this.#target = targetPort;
    this.#server = net.createServer((socket) => this.#accept(socket));
  }

  now(): number {
    return performance.now() - this.#started;
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as net.AddressInfo).port;
    return this.port;
  }

  get isUp(): boolean {
    return this.#down === null;
  }

  up(): void {
    this.#down = null;
    this.changes.push({ at: this.now(), state: 'up' });
  }

  /** Cuts the link: open connections and new ones fail the given way until up(). */
  down(how: 'reset' | 'blackhole'): void {
    this.#down = how;
    this.changes.push({ at: this.now(), state: how });
    for (const [conn, sockets] of this.#open) {
      if (how === 'reset') {
        sockets.hub.resetAndDestroy();
        sockets.cloud?.destroy();
        this.#closed(conn);
      } else {
        // The line goes silent: nothing more is passed either way; the hub notices by its own timers.
        sockets.hub.unpipe();
        sockets.hub.on('data', () => {}); // read and drop, so the hub's own close is still seen
        sockets.cloud?.unpipe();
        sockets.cloud?.destroy();
        sockets.cloud = null;
      }
    }
  }

  #closed(conn: ProxyConnection): void {
    if (conn.closedAt === null) conn.closedAt = this.now();
    this.#open.delete(conn);
  }

  #accept(hub: net.Socket): void {
    const conn: ProxyConnection = {
      openedAt: this.now(),
      closedAt: null,
      forwarded: false,
      bytesFromCloud: 0,
    };
    this.connections.push(conn);
    hub.on('error', () => {});
    hub.on('close', () => {
      const sockets = this.#open.get(conn);
      sockets?.cloud?.destroy();
      this.#closed(conn);
    });
    if (this.#down === 'reset') {
      hub.resetAndDestroy();
      this.#closed(conn);
      return;
    }
    if (this.#down === 'blackhole') {
      hub.on('data', () => {}); // read and drop: the hub's TLS hello goes nowhere
      this.#open.set(conn, { hub, cloud: null });
      return;
    }
    conn.forwarded = true;
    const cloud = net.connect(this.#target, '127.0.0.1');
    cloud.setNoDelay(true);
    hub.setNoDelay(true);
    cloud.on('error', () => hub.destroy());
    cloud.on('close', () => {
      if (this.#open.get(conn)?.cloud === cloud) hub.destroy();
    });
    cloud.on('data', (chunk: Buffer) => {
      conn.bytesFromCloud += chunk.length;
    });
    hub.pipe(cloud);
    cloud.pipe(hub);
    this.#open.set(conn, { hub, cloud });
  }

  async close(): Promise<void> {
    for (const [conn, sockets] of this.#open) {
      sockets.hub.destroy();
      sockets.cloud?.destroy();
      this.#closed(conn);
    }
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

// ------------------------------------------------------------------ figures

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const round1 = (n: number) => Math.round(n * 10) / 10;
