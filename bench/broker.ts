// The broker comparison (#13): the same QoS 1 publish → reply round trip through the embedded broker's
// library (aedes, bench/echo-broker.ts, its own process) and through mosquitto (Debian's package, started
// here on a free port with a generated config), paced at 200/s and in a closed loop; their RSS with
// 500 idle clients; and the hub's decision round trip next to the mosquitto echo (goal ≤ 2×).
// Rounds alternate between the three so that a noisy minute on a shared machine hits all of them.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { ECHO_BROKER } from './core.js';
import { BUSY_CONTROLLER_BUDGET, rssMiB, startHubProcess } from './hub-process.js';
import type { Figure, SuiteResult } from './report.js';
import {
  closedLoop,
  connect,
  doorDevice,
  echoPair,
  median,
  paced,
  type Requester,
  type RoundTrips,
  waitForLine,
} from './round-trip.js';
import { BENCH_DEVICE, BENCH_DOOR, randomCard, seedBenchDataDir } from './seed.js';
import { summarize } from './stats.js';

const MOSQUITTO = process.env.BENCH_MOSQUITTO ?? '/usr/sbin/mosquitto';
const RATE = 200;
const SECONDS = Number(process.env.BENCH_BROKER_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_BROKER_ROUNDS ?? 3);
const IDLE_CLIENTS = Number(process.env.BENCH_BROKER_IDLE_CLIENTS ?? 500);
const CREDENTIALS = Number(process.env.BENCH_BROKER_CREDENTIALS ?? 100_000);
const WARM_UP = 200;
/** #13: the hub's decision round trip within twice a bare mosquitto echo. */
const HUB_RATIO_GOAL = 2;

function log(message: string): void {
  process.stderr.write(`[bench:broker] ${message}\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Broker {
  name: string;
  pid: number;
  port: number;
  stop(): Promise<void>;
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function accepting(port: number, timeoutMs: number, child: ChildProcess): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`mosquitto did not accept connections on ${port} within ${timeoutMs} ms`);
}

/** mosquitto on a free loopback port, no persistence, TCP_NODELAY as the hub's broker sets it. */
export async function startMosquitto(dir: string): Promise<Broker> {
  if (!existsSync(MOSQUITTO))
    throw new Error(`${MOSQUITTO} not found (Debian package mosquitto; BENCH_MOSQUITTO)`);
  // A port freed here may be taken by someone else before mosquitto binds it: try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const conf = path.join(dir, `mosquitto-${port}.conf`);
    writeFileSync(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence false',
        'set_tcp_nodelay true',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        '',
      ].join('\n'),
    );
    const child = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString('utf8')).slice(-500);
    });
    try {
      await accepting(port, 10_000, child);
      return { name: 'mosquitto', pid: child.pid!, port, stop: () => stopChild(child) };
    } catch (err) {
      lastError = new Error(`${(err as Error).message}: ${stderr.trim()}`);
      await stopChild(child);
    }
  }
  throw lastError;
}

/** The embedded broker's library, bare: aedes with TCP_NODELAY and no auth, in its own process. */
export async function startAedes(): Promise<Broker> {
  const child = spawn(process.execPath, [ECHO_BROKER], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const { port } = (await waitForLine(child, (e) => typeof e.port === 'number')) as { port: number };
    return { name: 'aedes', pid: child.pid!, port, stop: () => stopChild(child) };
  } catch (err) {
    await stopChild(child);
    throw err;
  }
}

/** Broker RSS before and with `count` connected clients that do nothing (after 2 s to settle). */
async function idleClientsRss(broker: Broker, count: number) {
  const before = rssMiB(broker.pid) ?? Number.NaN;
  const clients: MqttClient[] = [];
  try {
    for (let i = 0; i < count; i += 50) {
      const batch = Array.from({ length: Math.min(50, count - i) }, () => connect(broker.port));
      clients.push(...(await Promise.all(batch)));
    }
    await sleep(2000);
    return { before, with: rssMiB(broker.pid) ?? Number.NaN, clients: clients.length };
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true)));
  }
}

type Mode = 'paced' | 'closed';
interface Side {
  name: string;
  requester: Requester;
}

async function measure(side: Side, mode: Mode): Promise<RoundTrips> {
  return mode === 'paced' ? paced(side.requester, RATE, RATE * SECONDS) : closedLoop(side.requester, SECONDS);
}

export async function benchBroker(): Promise<SuiteResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'gh-bench-broker-'));
  const stops: Array<() => Promise<void>> = [];
  try {
    log(`mosquitto (${MOSQUITTO}) and aedes, each in its own process`);
    const mosquitto = await startMosquitto(dir);
    stops.push(mosquitto.stop);
    const aedes = await startAedes();
    stops.push(aedes.stop);

    log(`seeding a hub with ${CREDENTIALS} credentials`);
    const dataDir = path.join(dir, 'hub');
    const secret = seedBenchDataDir(dataDir, CREDENTIALS);
    await (await startHubProcess(dataDir)).stop(); // the first boot makes the certificates
    const hub = await startHubProcess(dataDir, BUSY_CONTROLLER_BUDGET);
    stops.push(async () => void (await hub.stop()));

    const mosquittoPair = await echoPair(mosquitto.port);
    const aedesPair = await echoPair(aedes.port);
    const device = await doorDevice(hub.mqttPort, { username: BENCH_DEVICE, secret, door: BENCH_DOOR }, () =>
      randomCard(CREDENTIALS),
    );
    stops.unshift(async () => {
      await mosquittoPair.close();
      await aedesPair.close();
      await device.close();
    });
    const sides: Side[] = [
      { name: 'mosquitto', requester: mosquittoPair.requester },
      { name: 'aedes', requester: aedesPair.requester },
      { name: 'hub', requester: device.requester },
    ];
    for (const side of sides) await paced(side.requester, RATE, WARM_UP);

    const rounds: Array<
      Record<string, Record<Mode, ReturnType<typeof summarize> & { lost: number; perSecond: number }>>
    > = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const figures: (typeof rounds)[number] = {};
      for (const mode of ['paced', 'closed'] as const) {
        for (const side of sides) {
          log(
            `round ${round}/${ROUNDS}: ${side.name}, ${mode === 'paced' ? `${RATE}/s` : 'closed loop'}, ${SECONDS} s`,
          );
          const result = await measure(side, mode);
          figures[side.name] ??= {} as (typeof figures)[string];
          figures[side.name]![mode] = {
            ...summarize(result.samples),
            lost: result.lost,
            perSecond: Math.round(result.samples.length / result.seconds),
          };
        }
      }
      rounds.push(figures);
    }
    const of = (side: string, mode: Mode, key: 'p50' | 'p99' | 'perSecond') =>
      median(rounds.map((r) => r[side]![mode][key]));
    const lost = rounds.reduce(
      (n, r) => n + Object.values(r).reduce((m, s) => m + s.paced.lost + s.closed.lost, 0),
      0,
    );

    log(`RSS with ${IDLE_CLIENTS} idle clients`);
    const mosquittoRss = await idleClientsRss(mosquitto, IDLE_CLIENTS);
    const aedesRss = await idleClientsRss(aedes, IDLE_CLIENTS);

    const mq = (mode: Mode, key: 'p50' | 'p99') => ({
      name: `mosquitto echo ${key}`,
      value: of('mosquitto', mode, key),
    });
    const roundsNote = ROUNDS === 1 ? 'one round' : `median of ${ROUNDS} rounds`;
    const paceNote = `${RATE}/s for ${SECONDS} s, ${roundsNote}`;
    const loopNote = `one at a time for ${SECONDS} s, ${roundsNote}`;
    const figures: Figure[] = [
      {
        name: 'aedes echo p50, paced',
        value: of('aedes', 'paced', 'p50'),
        unit: 'ms',
        baseline: mq('paced', 'p50'),
        note: paceNote,
      },
      {
        name: 'aedes echo p99, paced',
        value: of('aedes', 'paced', 'p99'),
        unit: 'ms',
        baseline: mq('paced', 'p99'),
      },
      {
        name: 'aedes echo p50, closed loop',
        value: of('aedes', 'closed', 'p50'),
        unit: 'ms',
        baseline: mq('closed', 'p50'),
        note: loopNote,
      },
      {
        name: 'aedes echo p99, closed loop',
        value: of('aedes', 'closed', 'p99'),
        unit: 'ms',
        baseline: mq('closed', 'p99'),
      },
      {
        name: 'aedes round trips, closed loop',
        value: of('aedes', 'closed', 'perSecond'),
        unit: 'per s',
        baseline: { name: 'mosquitto', value: of('mosquitto', 'closed', 'perSecond') },
      },
      {
        name: `aedes RSS with ${IDLE_CLIENTS} idle clients`,
        value: aedesRss.with,
        unit: 'MiB',
        baseline: { name: 'mosquitto', value: mosquittoRss.with },
        note: `without clients: aedes ${aedesRss.before} MiB, mosquitto ${mosquittoRss.before} MiB`,
      },
      {
        name: 'hub decision round trip p50, paced',
        value: of('hub', 'paced', 'p50'),
        unit: 'ms',
        baseline: mq('paced', 'p50'),
        goal: { op: '<=', value: HUB_RATIO_GOAL, ofBaseline: true, source: '#13' },
        note: `${CREDENTIALS.toLocaleString('en-US')} credentials; ${paceNote}`,
      },
      {
        name: 'hub decision round trip p99, paced',
        value: of('hub', 'paced', 'p99'),
        unit: 'ms',
        baseline: mq('paced', 'p99'),
      },
      {
        name: 'hub decision round trip p50, closed loop',
        value: of('hub', 'closed', 'p50'),
        unit: 'ms',
        baseline: mq('closed', 'p50'),
        goal: { op: '<=', value: HUB_RATIO_GOAL, ofBaseline: true, source: '#13' },
      },
      {
        name: 'hub decisions, closed loop',
        value: of('hub', 'closed', 'perSecond'),
        unit: 'per s',
        baseline: { name: 'mosquitto echoes', value: of('mosquitto', 'closed', 'perSecond') },
      },
      { name: 'requests lost (all three)', value: lost, unit: 'count', goal: { op: '<=', value: 0 } },
    ];
    return {
      figures,
      mosquitto: MOSQUITTO,
      ratePerSecond: RATE,
      seconds: SECONDS,
      credentials: CREDENTIALS,
      rounds,
      idleClients: { count: IDLE_CLIENTS, mosquittoRssMiB: mosquittoRss, aedesRssMiB: aedesRss },
      hubGrantedInRounds: device.granted(),
    };
  } finally {
    for (const stop of stops) await stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}
