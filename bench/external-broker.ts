// Bench suite (#14): the device network through an external mosquitto 2 (dynamic security) against the
// embedded aedes broker and a bare mosquitto echo, measured in the same run, in bench/report.ts figures.
// Decision round trip (credential published → decision received) paced at 200/s; mosquitto's RSS with 500
// idle device connections; hub + broker RSS with BENCH_EXTERNAL_IDLE_DEVICES (500) idle door devices in
// each mode (hub child processes, as deployed); bench/isolation.ts's scenarios with the devices on
// mosquitto (BENCH_EXTERNAL_ISOLATION=0 skips them). Also the mosquitto harness the external-broker tests
// use (a real broker in a temp dir on a port found free first, killed by its pid).
// Run: `npx tsx bench/external-broker.ts [--quick]` (the hub processes need `npm run build`).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { Hub } from '../hub/app.js';
import { resolveConfig } from '../hub/config/index.js';
import { openHubStore } from '../hub/open-store.js';
import { type HubProcess, rssMiB, startHubProcess } from './hub-process.js';
import { benchIsolation, type IsolationTransport } from './isolation.js';
import type { Figure, SuiteResult } from './report.js';
import { summarize } from './stats.js';

export const MOSQUITTO = '/usr/sbin/mosquitto';
export const DYNSEC_PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';

export function mosquittoAvailable(): boolean {
  return existsSync(MOSQUITTO) && existsSync(DYNSEC_PLUGIN);
}

/** A TCP port free right now (bound and released), for a program that cannot take port 0. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface MosquittoOptions {
  dir: string;
  adminUser: string;
  adminPassword: string;
  /** TLS listener files instead of plain TCP. */
  tls?: { certFile: string; keyFile: string };
  /** The limits docs/external-broker.md §3.2 recommends (in-flight and queued messages, connections). */
  recommendedLimits?: boolean;
}

export class Mosquitto {
  readonly dir: string;
  readonly dynsecFile: string;
  readonly confFile: string;
  port = 0;
  #child: ChildProcess | null = null;
  #log = '';
  readonly #options: MosquittoOptions;

  constructor(options: MosquittoOptions) {
    this.#options = options;
    this.dir = options.dir;
    mkdirSync(this.dir, { recursive: true });
    this.dynsecFile = path.join(this.dir, 'dynamic-security.json');
    this.confFile = path.join(this.dir, 'mosquitto.conf');
    execFileSync(
      'mosquitto_ctrl',
      ['dynsec', 'init', this.dynsecFile, options.adminUser, options.adminPassword],
      {
        stdio: 'ignore',
      },
    );
  }

  get log(): string {
    return this.#log;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Starts (or restarts, on the same port) and resolves once it listens. */
  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const tls = this.#options.tls;
    writeFileSync(
      this.confFile,
      [
        // Run as root, mosquitto would switch to its own user, who cannot read this private temp dir.
        ...(process.getuid?.() === 0 ? ['user root'] : []),
        'per_listener_settings false',
        `listener ${this.port} 127.0.0.1`,
        ...(tls ? [`certfile ${tls.certFile}`, `keyfile ${tls.keyFile}`] : []),
        'allow_anonymous false',
        `plugin ${DYNSEC_PLUGIN}`,
        `plugin_opt_config_file ${this.dynsecFile}`,
        'persistence false',
        'max_packet_size 5120',
        ...(this.#options.recommendedLimits
          ? ['max_inflight_messages 20', 'max_queued_messages 100', 'max_connections 2000']
          : []),
        'set_tcp_nodelay true',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        'log_type notice',
        'log_type information',
        '',
      ].join('\n'),
    );
    const child = spawn(MOSQUITTO, ['-c', this.confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`mosquitto did not start:\n${this.#log}`)), 10_000);
      const onData = (chunk: Buffer) => {
        this.#log += chunk.toString();
        if (this.#log.length > 200_000) this.#log = this.#log.slice(-100_000);
        if (/mosquitto version [\d.]+ running/.test(this.#log)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stderr?.on('data', onData);
      child.stdout?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`mosquitto exited with ${code}:\n${this.#log}`));
      });
    });
  }

  /** Stops it by its pid and waits until it is gone. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    });
  }
}

// ---- the suite ----

const RATE = 200;
/** Idle door devices for the RSS comparison of the two modes. */
const IDLE_DEVICES = Number(process.env.BENCH_EXTERNAL_IDLE_DEVICES ?? 500);
/** 0: leave out bench/isolation.ts's scenarios on mosquitto (minutes long at default sizes). */
const WITH_ISOLATION = process.env.BENCH_EXTERNAL_ISOLATION !== '0';
const HUB_USER = 'gatehouse-hub';
const HUB_PASSWORD = 'bench-hub-password';

async function connect(port: number, username?: string, password?: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ...(username ? { username, password } : {}),
    clientId: `${username ?? 'c'}-${Math.random().toString(16).slice(2, 10)}`,
  });
  // TCP_NODELAY on the client side too (docs/benchmarks.md).
  (client.stream as unknown as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  return client;
}

/** Paced request → answer round trips; `answerTopic` carries the request id back. */
async function roundTrips(
  client: MqttClient,
  count: number,
  send: (id: string) => void,
  answerTopic: string,
  idOf: (payload: Buffer) => string,
): Promise<number[]> {
  const started = new Map<string, number>();
  const samples: number[] = [];
  let done: () => void = () => {};
  const all = new Promise<void>((resolve) => {
    done = resolve;
  });
  client.on('message', (topic, payload) => {
    if (topic !== answerTopic) return;
    const at = started.get(idOf(payload));
    if (at === undefined) return;
    samples.push(performance.now() - at);
    if (samples.length === count) done();
  });
  for (let i = 0; i < count; i++) {
    const id = `r-${i}`;
    started.set(id, performance.now());
    send(id);
    await new Promise((r) => setTimeout(r, 1000 / RATE));
  }
  await Promise.race([all, new Promise((r) => setTimeout(r, 10_000))]);
  return samples;
}

async function decisionTrips(hub: Hub, port: number, count: number): Promise<number[]> {
  const { store } = hub;
  store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
  store.people.add({ id: 'ada', name: 'Ada', kind: 'resident' });
  store.credentials.addCard('ada', '04A22B1C');
  store.groups.add({ id: 'g', name: 'G' });
  store.groups.addDoor('g', 'front');
  store.groups.addMember('g', 'ada');
  const secret = store.devices.add('front-reader', { role: 'door', doors: ['front'] }).secret;
  let reader: MqttClient | null = null;
  for (let attempt = 0; !reader; attempt++) {
    try {
      reader = await connect(port, 'front-reader', secret);
    } catch (error) {
      if (attempt > 50) throw error;
      await new Promise((r) => setTimeout(r, 200)); // the account is on its way to the broker
    }
  }
  await reader.subscribeAsync('gatehouse/door/front/decision', { qos: 1 });
  const samples = await roundTrips(
    reader,
    count,
    (id) =>
      reader.publish(
        'gatehouse/door/front/credential',
        JSON.stringify({ id, kind: 'card', value: '04A22B1C' }),
        {
          qos: 1,
        },
      ),
    'gatehouse/door/front/decision',
    (payload) => (JSON.parse(payload.toString()) as { id: string }).id,
  );
  await reader.endAsync();
  return samples;
}

function benchConfig(dataDir: string, extra: Record<string, unknown>) {
  return resolveConfig({
    dataDir,
    simulation: { door: '' },
    // One reader presents 200 a second here: lift its per-device budget so what is measured is the path.
    mqtt: {
      tcp: { port: 0 },
      tls: { enabled: false },
      limits: { credentialsPerSecond: 1000, credentialBurst: 1000, maxUnansweredPerDevice: 100 },
      ...extra,
    },
    http: { http: { port: 0 }, https: { enabled: false } },
    nodeRed: { enabled: false },
    log: { level: 'error' },
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const suiteStarted = performance.now();
function progress(message: string): void {
  const at = Math.round((performance.now() - suiteStarted) / 1000);
  process.stderr.write(`[bench:external-broker +${at}s] ${message}\n`);
}

/** The hub process's environment for external mode; its password file is written into `dataDir`. */
function externalHubEnv(dataDir: string, mosquitto: Mosquitto): NodeJS.ProcessEnv {
  writeFileSync(path.join(dataDir, 'mqtt-broker.password'), `${HUB_PASSWORD}\n`, { mode: 0o600 });
  return {
    GATEHOUSE_MQTT_BROKER: 'external',
    GATEHOUSE_MQTT_EXTERNAL_URL: `mqtt://127.0.0.1:${mosquitto.port}`,
    GATEHOUSE_MQTT_EXTERNAL_RECONNECT_MIN_MS: '200',
  };
}

/** bench/isolation.ts's scenarios with the devices (and the misbehaving one) on mosquitto. */
export function externalTransport(mosquitto: Mosquitto): IsolationTransport {
  return {
    label: 'external mosquitto',
    hubEnv: (dataDir) => externalHubEnv(dataDir, mosquitto),
    handsOffSecrets: true,
    devicePort: () => mosquitto.port,
    // The hub connects and gives the broker its accounts after "deciding".
    async ready(_hub, answers) {
      const deadline = performance.now() + 60_000;
      while (!(await answers())) {
        if (performance.now() > deadline)
          throw new Error('the hub did not answer through mosquitto within 60 s');
      }
    },
  };
}

/** Connects as a device, retrying while its account is on its way to the broker. */
async function connectDevice(port: number, username: string, password: string): Promise<MqttClient> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    try {
      return await connect(port, username, password);
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await sleep(200);
    }
  }
}

/**
 * RSS of what holds `count` idle door devices: the hub process alone with its embedded broker, or the
 * hub process and mosquitto. Each device connects and subscribes to its door's decisions, as a reader does.
 */
async function idleDevicesRss(count: number, mosquitto: Mosquitto | null) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gh-bench-ext-idle-'));
  let hub: HubProcess | null = null;
  const clients: MqttClient[] = [];
  try {
    const opened = openHubStore(dataDir);
    const { store } = opened;
    if (mosquitto) store.kv.set('mqtt.handoff', 'on');
    const doors = Math.ceil(count / 10); // ten readers a door, as in a building
    for (let d = 0; d < doors; d++) store.doors.add({ id: `idle${d}`, name: `idle${d}`, transport: 'mqtt' });
    const devices = Array.from({ length: count }, (_, i) => ({
      id: `idle-${i}`,
      door: `idle${i % doors}`,
      secret: store.devices.add(`idle-${i}`, { role: 'door', doors: [`idle${i % doors}`] }).secret,
    }));
    opened.close();
    hub = await startHubProcess(
      dataDir,
      mosquitto
        ? externalHubEnv(dataDir, mosquitto)
        : {
            // On one loopback address here; in a building each reader has its own.
            GATEHOUSE_MQTT_LIMITS_MAX_CONNECTIONS_PER_ADDRESS: String(count + 10),
            GATEHOUSE_MQTT_LIMITS_CONNECTIONS_PER_SECOND_PER_ADDRESS: '10000',
            GATEHOUSE_MQTT_LIMITS_CONNECTION_BURST_PER_ADDRESS: '10000',
          },
    );
    const port = mosquitto ? mosquitto.port : hub.mqttPort;
    await connectDevice(port, devices[count - 1]!.id, devices[count - 1]!.secret).then((c) => c.endAsync());
    await sleep(1000);
    const hubBefore = rssMiB(hub.pid);
    const brokerBefore = mosquitto?.pid ? rssMiB(mosquitto.pid) : null;
    for (const device of devices) {
      const client = await connectDevice(port, device.id, device.secret);
      await client.subscribeAsync(`gatehouse/door/${device.door}/decision`, { qos: 1 });
      clients.push(client);
    }
    await sleep(2000);
    const hubMiB = rssMiB(hub.pid);
    const brokerMiB = mosquitto?.pid ? rssMiB(mosquitto.pid) : null;
    return { count, hubBefore, brokerBefore, hubMiB, brokerMiB };
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
    await hub?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const sum = (...values: Array<number | null>) =>
  values.some((v) => v === null)
    ? Number.NaN
    : Math.round(values.reduce<number>((a, v) => a + v!, 0) * 10) / 10;

/** A fresh mosquitto for one measurement (nothing left from the one before in its memory or accounts). */
async function withMosquitto<T>(dir: string, run: (mosquitto: Mosquitto) => Promise<T>): Promise<T> {
  const mosquitto = new Mosquitto({
    dir,
    adminUser: HUB_USER,
    adminPassword: HUB_PASSWORD,
    recommendedLimits: true,
  });
  try {
    await mosquitto.start();
    return await run(mosquitto);
  } finally {
    await mosquitto.stop();
  }
}

export async function benchExternalBroker(options: { quick?: boolean } = {}): Promise<SuiteResult> {
  const count = options.quick ? 400 : 2000;
  const idle = options.quick ? 100 : 500;
  const idleDevices = options.quick ? Math.min(IDLE_DEVICES, 100) : IDLE_DEVICES;
  const machineLoad = () => loadavg().map((v) => Math.round(v * 100) / 100);
  const loadAtStart = machineLoad();
  const dir = mkdtempSync(path.join(tmpdir(), 'gh-bench-ext-'));
  const mosquitto = new Mosquitto({
    dir: path.join(dir, 'mosquitto'),
    adminUser: HUB_USER,
    adminPassword: HUB_PASSWORD,
  });
  try {
    await mosquitto.start();
    progress(`decision round trips, embedded aedes: ${count} at ${RATE}/s`);
    const embeddedDir = path.join(dir, 'embedded');
    const embeddedHub = new Hub({ config: benchConfig(embeddedDir, {}) });
    await embeddedHub.start();
    const embedded = summarize(await decisionTrips(embeddedHub, embeddedHub.addresses().mqtt.tcp!, count));
    await embeddedHub.stop();

    const externalDir = path.join(dir, 'external');
    mkdirSync(externalDir, { recursive: true });
    writeFileSync(path.join(externalDir, 'mqtt-broker.password'), `${HUB_PASSWORD}\n`, { mode: 0o600 });
    const externalHub = new Hub({
      config: benchConfig(externalDir, {
        broker: 'external',
        external: { url: `mqtt://127.0.0.1:${mosquitto.port}`, reconnectMinMs: 200 },
      }),
    });
    await externalHub.start();
    progress('decision round trips, external mosquitto');
    const external = summarize(
      await decisionTrips(externalHub, mosquitto.port, count).catch((error: unknown) => {
        throw new Error(
          `${String(error)}\n${mosquitto.log.slice(-2000)}\n${JSON.stringify(externalHub.status()['mqttExternal'])}`,
        );
      }),
    );
    progress('bare mosquitto echo');
    // Bare mosquitto echo: the same QoS 1 request → answer path with no hub in it.
    const echoer = await connect(mosquitto.port, HUB_USER, HUB_PASSWORD);
    const asker = await connect(mosquitto.port, HUB_USER, HUB_PASSWORD);
    // The hub's account may publish under gatehouse/ once the hub gave itself its role (it is connected).
    await echoer.subscribeAsync('gatehouse/bench/req', { qos: 1 });
    echoer.on('message', (_t, payload) => echoer.publish('gatehouse/bench/resp', payload, { qos: 1 }));
    await asker.subscribeAsync('gatehouse/bench/resp', { qos: 1 });
    const echo = summarize(
      await roundTrips(
        asker,
        count,
        (id) => asker.publish('gatehouse/bench/req', id, { qos: 1 }),
        'gatehouse/bench/resp',
        (payload) => payload.toString(),
      ),
    );
    await Promise.all([echoer.endAsync(), asker.endAsync()]);

    // Idle devices held by mosquitto (the hub holds none of their sockets in external mode).
    const before = mosquitto.pid ? rssMiB(mosquitto.pid) : null;
    const idleClients: MqttClient[] = [];
    for (let i = 0; i < idle; i++) idleClients.push(await connect(mosquitto.port, HUB_USER, HUB_PASSWORD));
    await new Promise((r) => setTimeout(r, 1000));
    const withIdle = mosquitto.pid ? rssMiB(mosquitto.pid) : null;
    for (const client of idleClients) client.end(true);
    await externalHub.stop();
    await mosquitto.stop();

    progress(`RSS with ${idleDevices} idle door devices, each mode`);
    const idleEmbedded = await idleDevicesRss(idleDevices, null);
    const idleExternal = await withMosquitto(path.join(dir, 'mosquitto-idle'), (m) =>
      idleDevicesRss(idleDevices, m),
    );
    const embeddedTotal = sum(idleEmbedded.hubMiB);
    const externalTotal = sum(idleExternal.hubMiB, idleExternal.brokerMiB);
    const isolation = WITH_ISOLATION
      ? await withMosquitto(path.join(dir, 'mosquitto-isolation'), (m) =>
          benchIsolation({
            transport: externalTransport(m),
            // --quick: one flood scenario shows the path works; the full run has them all.
            ...(options.quick ? { scenarios: ['credential'] } : {}),
          }),
        )
      : null;

    const figures: Figure[] = [
      {
        name: 'decision round trip p50, external mosquitto',
        value: external.p50,
        unit: 'ms',
        baseline: { name: 'bare mosquitto echo p50', value: echo.p50 },
        goal: {
          op: '<=',
          value: 1.5,
          ofBaseline: true,
          source: 'docs/architecture.md (1.5× a bare round trip)',
        },
      },
      {
        name: 'decision round trip p99, external mosquitto',
        value: external.p99,
        unit: 'ms',
        goal: { op: '<=', value: 5, source: '#14' },
      },
      {
        name: 'decision round trip p50, embedded aedes',
        value: embedded.p50,
        unit: 'ms',
        baseline: { name: 'external mosquitto p50', value: external.p50 },
      },
      { name: 'decision round trip p99, embedded aedes', value: embedded.p99, unit: 'ms' },
      ...(withIdle !== null
        ? [
            {
              name: `mosquitto RSS with ${idle} idle connections`,
              value: withIdle,
              unit: 'MiB' as const,
              ...(before !== null ? { baseline: { name: 'mosquitto RSS with none', value: before } } : {}),
            },
          ]
        : []),
      {
        name: `hub RSS with ${idleDevices} idle door devices, embedded aedes (broker in the hub)`,
        value: embeddedTotal,
        unit: 'MiB',
        ...(idleEmbedded.hubBefore !== null
          ? { baseline: { name: 'with none', value: idleEmbedded.hubBefore } }
          : {}),
      },
      {
        name: `hub + mosquitto RSS with ${idleDevices} idle door devices, external mosquitto`,
        value: externalTotal,
        unit: 'MiB',
        baseline: { name: 'embedded: the hub alone', value: embeddedTotal },
        note: `hub ${idleExternal.hubMiB} MiB + mosquitto ${idleExternal.brokerMiB} MiB`,
      },
      {
        name: `hub RSS with ${idleDevices} idle door devices, external mosquitto (hub only)`,
        value: sum(idleExternal.hubMiB),
        unit: 'MiB',
        ...(idleExternal.hubBefore !== null
          ? { baseline: { name: 'with none', value: idleExternal.hubBefore } }
          : {}),
      },
      ...(isolation?.figures ?? []),
    ];
    return {
      figures,
      echo,
      embedded,
      external,
      idle,
      idleDevices: { embedded: idleEmbedded, external: idleExternal },
      ...(isolation ? { isolation: { ...isolation, figures: undefined } } : {}),
      machineLoad: { atStart: loadAtStart, atEnd: machineLoad() },
    };
  } finally {
    await mosquitto.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  const result = await benchExternalBroker({ quick: process.argv.includes('--quick') });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
