// `npm run bench`: measures the hub against a baseline taken in the same run, prints one JSON report.
// The hub and the baseline broker each run in their own process; all MQTT clients live here.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { openHubStore } from '../hub/open-store.js';
import { BUSY_CONTROLLER_BUDGET, benchHubEnv, seedResidents } from './hub-process.js';
import { summarize } from './stats.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const MAIN = path.join(here, '../hub/main.js');
const ECHO = path.join(here, 'echo-broker.js');

const SUITES: Array<[string, () => Promise<Record<string, unknown>>]> = [
  ['hardware', async () => (await import('./hardware.js')).benchHardware()],
  ['cloud', async () => (await import('./cloud.js')).benchCloud()],
  ['offline', async () => (await import('./offline.js')).benchOffline()],
  ['mobile', async () => (await import('./mobile.js')).benchMobile()],
  ['isolation', async () => (await import('./isolation.js')).benchIsolation()],
  ['ui', async () => (await import('./ui.js')).benchUi()],
  ['sdcard', async () => (await import('./sdcard.js')).benchSdcard()],
  ['nodered', async () => (await import('./nodered.js')).benchNodeRed()],
];

/**
 * `npm run bench -- --only isolation,cloud` (or BENCH_ONLY=...) runs just those suites, without the core
 * figures; name `core` among them to include the core figures (decision round trip, cold start, RSS).
 */
const ONLY = (() => {
  const at = process.argv.indexOf('--only');
  const names = at >= 0 ? process.argv[at + 1] : process.env.BENCH_ONLY;
  return names ? names.split(',').filter(Boolean) : null;
})();

const CREDENTIALS = Number(process.env.BENCH_CREDENTIALS ?? 100_000);
const RATE = 200; // presentations per second
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
/** Keep in step with package.json `start`, deploy/systemd/gatehouse.service and the Dockerfile (a test checks the last two). */
const DEPLOYED_NODE_FLAGS = ['--max-semi-space-size=4'];
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

function rssMiB(pid: number, field = 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
  return Math.round((kb / 1024) * 10) / 10;
}

function waitForLine(
  child: ChildProcess,
  match: (entry: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('child did not become ready in 60 s')), 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (match(entry)) {
          clearTimeout(timer);
          resolve(entry);
        }
      } catch {
        // not a JSON line
      }
    });
    child.on('exit', (code) => reject(new Error(`child exited with ${code}`)));
  });
}

/** Fills a fresh data dir with people and cards, in batches (one durable transaction per batch). */
function seed(dataDir: string): { secret: string; cards: string[] } {
  const opened = openHubStore(dataDir);
  const { store } = opened;
  store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
  const { secret } = store.devices.add('bench-reader', { role: 'door', doors: ['front'] });
  store.groups.add({ id: 'residents', name: 'Residents' });
  store.groups.addDoor('residents', 'front');
  const { cards } = seedResidents(store, CREDENTIALS);
  opened.close();
  return { secret, cards };
}

async function startHub(
  dataDir: string,
): Promise<{ child: ChildProcess; port: number; coldStartMs: number }> {
  const started = performance.now();
  // The hub runs with the flags it is deployed with (package.json start, systemd unit, Dockerfile);
  // BENCH_HUB_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" adds flags, e.g. to profile under load.
  const nodeArgs = [
    ...DEPLOYED_NODE_FLAGS,
    ...(process.env.BENCH_HUB_NODE_ARGS ?? '').split(' ').filter(Boolean),
  ];
  const child = spawn(process.execPath, [...nodeArgs, MAIN, 'start'], {
    // One bench device carries 200/s, far over a reader's budget: this measures the decision path,
    // not admission (bench/isolation.ts measures that with the default budgets).
    env: { ...benchHubEnv(dataDir), ...BUSY_CONTROLLER_BUDGET },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = await waitForLine(child, (e) => e.msg === 'deciding');
  const port = (ready.mqtt as { tcp: number }).tcp;
  // "Accepting connections": the first CONNACK.
  const probe = await mqtt
    .connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, username: 'x', password: 'y' })
    .catch(() => null);
  const coldStartMs = performance.now() - started;
  await probe?.endAsync();
  return { child, port, coldStartMs: Math.round(coldStartMs) };
}

async function connect(port: number, username?: string, password?: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    reconnectPeriod: 0,
    ...(username ? { username, password } : {}),
    clientId: `bench-${Math.random().toString(16).slice(2, 10)}`,
  });
  // TCP_NODELAY on the client side too (see docs/benchmarks.md).
  (client.stream as unknown as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
  return client;
}

/** Open-loop: send at RATE/s for SECONDS, measure publish → matching reply. */
async function paced(
  send: (id: string) => void,
  subscribe: (onReply: (id: string) => void) => void,
  count: number,
): Promise<{ samples: number[]; lost: number }> {
  const sentAt = new Map<string, number>();
  const samples: number[] = [];
  subscribe((id) => {
    const t0 = sentAt.get(id);
    if (t0 === undefined) return;
    samples.push(performance.now() - t0);
    sentAt.delete(id);
  });
  const interval = 1000 / RATE;
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const id = `r${i}`;
    sentAt.set(id, performance.now());
    send(id);
  }
  await new Promise((r) => setTimeout(r, 2000));
  return { samples, lost: sentAt.size };
}

async function echoBaseline(count: number) {
  const child = spawn(process.execPath, [ECHO], { stdio: ['ignore', 'pipe', 'inherit'] });
  const { port } = (await waitForLine(child, (e) => typeof e.port === 'number')) as { port: number };
  const echo = await connect(port);
  const requester = await connect(port);
  await echo.subscribeAsync('bench/req', { qos: 1 });
  echo.on('message', (_t, payload) => echo.publish('bench/resp', payload, { qos: 1 }));
  await requester.subscribeAsync('bench/resp', { qos: 1 });
  // Warm up, then measure.
  const warm = await paced(
    (id) => requester.publish('bench/req', JSON.stringify({ id, pad: 'x'.repeat(60) }), { qos: 1 }),
    (onReply) => requester.on('message', (_t, p) => onReply((JSON.parse(p.toString()) as { id: string }).id)),
    200,
  );
  requester.removeAllListeners('message');
  void warm;
  const result = await paced(
    (id) => requester.publish('bench/req', JSON.stringify({ id, pad: 'x'.repeat(60) }), { qos: 1 }),
    (onReply) => requester.on('message', (_t, p) => onReply((JSON.parse(p.toString()) as { id: string }).id)),
    count,
  );
  await echo.endAsync();
  await requester.endAsync();
  child.kill('SIGTERM');
  return result;
}

async function decisionRoundTrip(port: number, secret: string, cards: string[], count: number) {
  const reader = await connect(port, 'bench-reader', secret);
  await reader.subscribeAsync('gatehouse/door/front/decision', { qos: 1 });
  let granted = 0;
  const run = (n: number, prefix: string) =>
    paced(
      (id) => {
        const value = Math.random() < 0.9 ? cards[Math.floor(Math.random() * cards.length)]! : 'DEADBEEF00';
        reader.publish(
          'gatehouse/door/front/credential',
          JSON.stringify({ id: `${prefix}${id}`, kind: 'card', value }),
          { qos: 1 },
        );
      },
      (onReply) =>
        reader.on('message', (_t, p) => {
          const d = JSON.parse(p.toString()) as { id: string; granted: boolean };
          if (!d.id.startsWith(prefix)) return;
          if (d.granted) granted++;
          onReply(d.id.slice(prefix.length));
        }),
      n,
    );
  await run(200, 'w');
  reader.removeAllListeners('message');
  granted = 0;
  const result = await run(count, 'm');
  await reader.endAsync();
  return { ...result, granted };
}

/** Each area's own benchmark, each with its baseline measured in the same run. */
async function runSuites(report: Record<string, unknown>, only: string[] | null): Promise<void> {
  const unknown = (only ?? []).filter((name) => name !== 'core' && !SUITES.some(([known]) => known === name));
  if (unknown.length > 0)
    throw new Error(`unknown suite ${unknown.join(', ')}; known: ${SUITES.map(([n]) => n).join(', ')}`);
  for (const [name, load] of SUITES) {
    if (only && !only.includes(name)) continue;
    log(`suite: ${name}`);
    try {
      report[name] = await load();
    } catch (err) {
      report[name] = { error: (err as Error).message };
    }
  }
}

async function main(): Promise<void> {
  if (ONLY && !ONLY.includes('core')) {
    const report: Record<string, unknown> = {
      when: new Date().toISOString(),
      node: process.version,
      only: ONLY,
    };
    await runSuites(report, ONLY);
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gh-bench-'));
  const report: Record<string, unknown> = {
    when: new Date().toISOString(),
    node: process.version,
    credentials: CREDENTIALS,
    ratePerSecond: RATE,
  };
  try {
    log(`seeding ${CREDENTIALS} credentials`);
    const t0 = performance.now();
    const { secret, cards } = seed(dataDir);
    report.seedSeconds = Math.round((performance.now() - t0) / 100) / 10;

    // First boot generates the hub CA and certificates; measure an ordinary boot after it.
    log('first boot (certificates)');
    const first = await startHub(dataDir);
    first.child.kill('SIGTERM');
    await new Promise((r) => first.child.on('exit', r));
    log('cold start');
    const hub = await startHub(dataDir);
    report.coldStartToAcceptingMs = hub.coldStartMs;
    await new Promise((r) => setTimeout(r, 3000));
    report.idleRssMiB = rssMiB(hub.child.pid!);
    // Anonymous memory is the hub's own; file-backed pages (node binary, native modules) are shared and reclaimable.
    report.idleRssBreakdownMiB = {
      anon: rssMiB(hub.child.pid!, 'RssAnon'),
      file: rssMiB(hub.child.pid!, 'RssFile'),
    };

    const count = RATE * SECONDS;
    // Alternate baseline and hub rounds and report the medians: on a shared machine one round can be
    // off by a factor of two in either direction.
    const rounds: Array<{ baseline: ReturnType<typeof summarize>; decision: ReturnType<typeof summarize> }> =
      [];
    let lost = 0;
    let granted = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      log(`round ${round}/${ROUNDS}: baseline (bare aedes publish→echo), ${count} at ${RATE}/s`);
      const baseline = await echoBaseline(count);
      log(`round ${round}/${ROUNDS}: decision round trip over MQTT, ${count} at ${RATE}/s`);
      const decisions = await decisionRoundTrip(hub.port, secret, cards, count);
      lost += baseline.lost + decisions.lost;
      granted += decisions.granted;
      rounds.push({ baseline: summarize(baseline.samples), decision: summarize(decisions.samples) });
    }
    const median = (values: number[]) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;
    const b = {
      p50: median(rounds.map((r) => r.baseline.p50)),
      p99: median(rounds.map((r) => r.baseline.p99)),
    };
    const d = {
      p50: median(rounds.map((r) => r.decision.p50)),
      p99: median(rounds.map((r) => r.decision.p99)),
    };
    report.rounds = rounds;
    report.baselineEchoMs = { ...b, roundsMedian: true };
    report.decisionRoundTripMs = { ...d, roundsMedian: true, lost, granted };
    report.ratioP50 = Math.round((d.p50 / b.p50) * 100) / 100;
    report.ratioP99 = Math.round((d.p99 / b.p99) * 100) / 100;
    report.rssAfterLoadMiB = rssMiB(hub.child.pid!);
    report.goals = {
      'decision p50 / echo p50 <= 1.5': (report.ratioP50 as number) <= 1.5,
      'decision p99 <= 5 ms': d.p99 <= 5,
      'cold start <= 2000 ms': hub.coldStartMs <= 2000,
      'idle RSS <= 120 MiB': (report.idleRssMiB as number) <= 120,
    };
    hub.child.kill('SIGTERM');
    await new Promise((r) => hub.child.on('exit', r));

    // `--only core,isolation`: the core figures, then just those suites.
    await runSuites(report, ONLY ? ONLY.filter((name) => name !== 'core') : null);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

await main();
