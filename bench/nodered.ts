// Node-RED beside the hub (issue #11): what an installer's flow costs the doors. The hub runs as a real
// child process with the real Node-RED child (nodeRed.enabled); a door device here presents a granted card
// at 20/s and its decision round trip is measured idle (Node-RED running, no flow) and then while a flow
// deployed through the hub's /flows/ proxy floods the hub with bridge requests (door.list, as fast as a
// function node in a loop can send them, through its own integration account and Node-RED's MQTT node).
// Also: RSS of the hub and of Node-RED idle, Node-RED's start (hub spawned → editor answering), and a
// restart of the whole hub with that flow saved (hub spawned → the flow's first request answered), after
// which a flow sends a steady 150 requests/s under a budget lifted to 200/s (by default the hub
// disconnects an account past 20 requests/s, so the first flood mostly measures that guard).
// `benchNodeRed()` is called by bench/run.ts (`npm run bench -- --only nodered`);
// `node dist/bench/nodered.js` runs it alone.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { openHubStore } from '../hub/open-store.js';
import { type HubProcess, rssMiB, seedResidents, startHubProcess } from './hub-process.js';
import type { Figure, SuiteResult } from './report.js';
import { summarize } from './stats.js';

const CREDENTIALS = Number(process.env.BENCH_NODERED_CREDENTIALS ?? 10_000);
const PHASE_SECONDS = Number(process.env.BENCH_NODERED_SECONDS ?? 20);
/** A reader with one person in front of it presents a few cards a second; 20/s is generous. */
const DOOR_RATE = 20;
const ANSWER_TIMEOUT_MS = 5000;
const NODE_RED_START_TIMEOUT_MS = 180_000;
/** After a restart, the saved flow's first request should be answered well within this. */
const RESTART_TIMEOUT_MS = 90_000;
/** Bridge requests the flood flow sends per 10 ms tick of its inject node (a tight loop, not a schedule). */
const FLOOD_PER_TICK = 50;
/** The flow account's budget for the second flood (mqtt.limits; the default is 20/s, burst 100). */
const LIFTED_BRIDGE_BUDGET = {
  GATEHOUSE_MQTT_LIMITS_BRIDGE_REQUESTS_PER_SECOND: '200',
  GATEHOUSE_MQTT_LIMITS_BRIDGE_REQUEST_BURST: '1000',
  // The saved flood flow trips it at the restart; the steady flow that replaces it must not wait a minute.
  GATEHOUSE_MQTT_LIMITS_BACKOFF_SECONDS: '3',
};
/** The steady flow under that budget: 15 requests every 100 ms. */
const STEADY_PER_TICK = 15;
const STEADY_TICK_SECONDS = 0.1;
const P99_RATIO_GOAL = 2;
const P99_GOAL_MS = 10;
const RSS_GOAL_MIB = 250;

const started = performance.now();
function log(message: string): void {
  const at = Math.round((performance.now() - started) / 1000);
  process.stderr.write(`[bench:nodered +${at}s] ${message}\n`);
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (v: number, digits = 1) => Math.round(v * 10 ** digits) / 10 ** digits;

interface Seeded {
  dataDir: string;
  readerSecret: string;
  floodSecret: string;
  watchSecret: string;
  adminSession: string;
  granted: string[];
}

async function seed(dataDir: string): Promise<Seeded> {
  const opened = openHubStore(dataDir);
  const { store } = opened;
  store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
  store.groups.add({ id: 'residents', name: 'Residents' });
  store.groups.addDoor('residents', 'front');
  const readerSecret = store.devices.add('front-reader', { role: 'door', doors: ['front'] }).secret;
  // The flow's own account (an installer would make one, or use the one the hub provisions for Node-RED),
  // and one for the bench to watch the hub's answers on bridge/response with.
  const floodSecret = store.devices.add('flood-flow', { role: 'integration', doors: [] }).secret;
  const watchSecret = store.devices.add('bench-watch', { role: 'integration', doors: [] }).secret;
  const admin = await store.users.add('bench-admin', 'bench admin password 1', 'installer');
  const adminSession = store.users.createSession(admin.id, 6 * 3_600_000);
  const { granted } = seedResidents(store, CREDENTIALS);
  opened.close();
  return { dataDir, readerSecret, floodSecret, watchSecret, adminSession, granted };
}

async function connect(port: number, username: string, password: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    reconnectPeriod: 0,
    username,
    password,
    clientId: `bench-${username}-${Math.random().toString(16).slice(2, 8)}`,
  });
  (client.stream as unknown as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
  return client;
}

/** The door device presents a granted card at DOOR_RATE for `seconds`; latency of each decision. */
async function doorRoundTrips(hub: HubProcess, seeded: Seeded, seconds: number, tag: string) {
  const reader = await connect(hub.mqttPort, 'front-reader', seeded.readerSecret);
  await reader.subscribeAsync('gatehouse/door/front/decision', { qos: 1 });
  const sentAt = new Map<string, number>();
  const samples: number[] = [];
  reader.on('message', (_topic, payload) => {
    const id = (JSON.parse(payload.toString()) as { id: string }).id;
    const t0 = sentAt.get(id);
    if (t0 === undefined) return;
    samples.push(performance.now() - t0);
    sentAt.delete(id);
  });
  const count = DOOR_RATE * seconds;
  const begin = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = begin + (i * 1000) / DOOR_RATE - performance.now();
    if (wait > 0) await sleep(wait);
    const id = `${tag}${i}`;
    sentAt.set(id, performance.now());
    const value = seeded.granted[i % seeded.granted.length]!;
    reader.publish('gatehouse/door/front/credential', JSON.stringify({ id, kind: 'card', value }), {
      qos: 1,
    });
  }
  await sleep(ANSWER_TIMEOUT_MS);
  const lost = sentAt.size;
  for (let i = 0; i < lost; i++) samples.push(ANSWER_TIMEOUT_MS);
  await reader.endAsync();
  return { ...summarize(samples.slice(0)), lost };
}

async function api(hub: HubProcess, seeded: Seeded, method: string, url: string, body?: unknown) {
  const response = await fetch(`http://127.0.0.1:${hub.httpPort}${url}`, {
    method,
    headers: {
      authorization: `Bearer ${seeded.adminSession}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json', 'node-red-api-version': 'v2' }),
      ...(url === '/flows/flows' && method === 'POST' ? { 'node-red-deployment-type': 'full' } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

interface NodeRedStatus {
  state: string;
  pid: number | null;
  rssBytes: number | null;
}

async function nodeRedStatus(hub: HubProcess, seeded: Seeded): Promise<NodeRedStatus | null> {
  const answer = await api(hub, seeded, 'GET', '/api/v1/status').catch(() => null);
  return (answer?.json.nodeRed as NodeRedStatus | undefined) ?? null;
}

/** Milliseconds from `since` until Node-RED is running and its editor answers through the proxy. */
async function waitForEditor(hub: HubProcess, seeded: Seeded, since: number): Promise<number> {
  const until = Date.now() + NODE_RED_START_TIMEOUT_MS;
  for (;;) {
    const status = await nodeRedStatus(hub, seeded);
    if (status?.state === 'running') {
      const settings = await api(hub, seeded, 'GET', '/flows/settings').catch(() => null);
      if (settings?.status === 200) return Math.round(performance.now() - since);
    }
    if (Date.now() > until) throw new Error(`Node-RED did not start: ${JSON.stringify(status)}`);
    await sleep(100);
  }
}

/** A flow that asks for door.list as fast as it can: 50 requests every 10 ms through its own MQTT node. */
function floodFlow(
  seeded: Seeded,
  mqttPort: number,
  perTick = FLOOD_PER_TICK,
  tickSeconds = 0.01,
): unknown[] {
  return [
    { id: 'bench-tab', type: 'tab', label: 'Bench flood' },
    {
      id: 'bench-broker',
      type: 'mqtt-broker',
      name: 'hub',
      broker: '127.0.0.1',
      port: String(mqttPort),
      clientid: 'bench-flood-flow',
      autoConnect: true,
      usetls: false,
      protocolVersion: '4',
      keepalive: '15',
      cleansession: true,
      credentials: { user: 'flood-flow', password: seeded.floodSecret },
    },
    {
      id: 'bench-tick',
      type: 'inject',
      z: 'bench-tab',
      props: [{ p: 'payload' }],
      repeat: String(tickSeconds),
      once: true,
      onceDelay: 0.1,
      payload: '',
      payloadType: 'date',
      wires: [['bench-loop']],
    },
    {
      id: 'bench-loop',
      type: 'function',
      z: 'bench-tab',
      name: 'tight loop',
      func: `const n = context.get('n') || 0; for (let i = 0; i < ${perTick}; i++) node.send({ payload: JSON.stringify({ transaction: n + i }) }); context.set('n', n + ${perTick}); return null;`,
      outputs: 1,
      wires: [['bench-out']],
    },
    {
      id: 'bench-out',
      type: 'mqtt out',
      z: 'bench-tab',
      topic: 'gatehouse/bridge/request/door.list',
      qos: '0',
      retain: 'false',
      broker: 'bench-broker',
      wires: [],
    },
  ];
}

/** Counts the hub's answers on bridge/response/door.list; `first` resolves with the time of the first. */
async function watchAnswers(hub: HubProcess, seeded: Seeded) {
  const watcher = await connect(hub.mqttPort, 'bench-watch', seeded.watchSecret);
  let answers = 0;
  let refused = 0;
  let firstAt: number | null = null;
  let resolveFirst: (at: number) => void = () => {};
  const first = new Promise<number>((resolve) => {
    resolveFirst = resolve;
  });
  watcher.on('message', (_topic, payload) => {
    answers++;
    if (!(JSON.parse(payload.toString()) as { ok: boolean }).ok) refused++;
    if (firstAt === null) {
      firstAt = performance.now();
      resolveFirst(firstAt);
    }
  });
  await watcher.subscribeAsync('gatehouse/bridge/response/door.list', { qos: 0 });
  return {
    first,
    counts: () => ({ answers, refused }),
    end: () => watcher.endAsync(),
  };
}

/** A free loopback port: the flow's MQTT node names the hub's port, so it must stay the same across restarts. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function benchNodeRed(): Promise<SuiteResult> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gh-bench-nodered-'));
  const report: Record<string, unknown> = {
    credentials: CREDENTIALS,
    doorRatePerSecond: DOOR_RATE,
    phaseSeconds: PHASE_SECONDS,
    note: 'Shared 2-core machine: hub, Node-RED and these clients share the cores; compare flood with idle of the same run.',
  };
  let hub: HubProcess | null = null;
  try {
    log(`seeding ${CREDENTIALS} credentials`);
    const seeded = await seed(dataDir);
    const NODE_RED_ENV = {
      GATEHOUSE_NODE_RED_ENABLED: 'true',
      GATEHOUSE_MQTT_TCP_PORT: String(await freePort()),
    };
    // First boot creates the hub's certificates and Node-RED's user dir; not measured.
    const first = await startHubProcess(dataDir, NODE_RED_ENV);
    await waitForEditor(first, seeded, performance.now());
    await first.stop();

    log('hub + Node-RED start');
    const spawnedAt = performance.now();
    hub = await startHubProcess(dataDir, NODE_RED_ENV);
    report.hubSpawnToDecidingMs = Math.round(performance.now() - spawnedAt);
    report.hubSpawnToEditorMs = await waitForEditor(hub, seeded, spawnedAt);

    await sleep(5000); // let both settle before the idle figures
    const nodeRedPid = (await nodeRedStatus(hub, seeded))?.pid ?? null;
    const hubRss = rssMiB(hub.pid);
    const nodeRedRss = nodeRedPid === null ? null : rssMiB(nodeRedPid);
    report.idleRssMiB = {
      hub: hubRss,
      nodeRed: nodeRedRss,
      together: hubRss !== null && nodeRedRss !== null ? round(hubRss + nodeRedRss) : null,
    };

    log(`idle: ${DOOR_RATE}/s granted cards for ${PHASE_SECONDS} s, Node-RED running without flows`);
    const idle = await doorRoundTrips(hub, seeded, PHASE_SECONDS, 'i');
    report.idleDecisionMs = idle;

    log('deploying the flood flow through /flows/ (installer session)');
    const watch = await watchAnswers(hub, seeded);
    const deployAt = performance.now();
    const deployed = await api(hub, seeded, 'POST', '/flows/flows', {
      flows: floodFlow(seeded, hub.mqttPort),
    });
    if (deployed.status !== 200) throw new Error(`deploy through /flows/ answered ${deployed.status}`);
    report.deployToFirstAnswerMs = Math.round((await watch.first) - deployAt);

    log(`flood: ${DOOR_RATE}/s granted cards for ${PHASE_SECONDS} s while the flow floods`);
    const before = watch.counts().answers;
    const floodStarted = performance.now();
    const flood = await doorRoundTrips(hub, seeded, PHASE_SECONDS, 'f');
    const floodSeconds = (performance.now() - floodStarted) / 1000;
    const counts = watch.counts();
    report.floodDecisionMs = flood;
    report.floodBridgeAnswers = {
      perSecond: Math.round((counts.answers - before) / floodSeconds),
      total: counts.answers,
      refused: counts.refused,
      note: 'The hub answers what the account budget lets through (mqtt.limits bridgeRequestsPerSecond) and disconnects the flooding account for backoffSeconds beyond it; Node-RED reconnects.',
    };
    const nodeRedAfter = await nodeRedStatus(hub, seeded);
    report.nodeRedDuringFlood = {
      state: nodeRedAfter?.state,
      rssMiB: nodeRedAfter?.rssBytes ? round(nodeRedAfter.rssBytes / 1024 / 1024) : null,
    };
    report.hubRssAfterFloodMiB = rssMiB(hub.pid);
    await watch.end();
    await hub.stop();
    hub = null;

    // The restart also lifts the flow account's budget, so that a steady flow's requests are really
    // answered: the same door figures while the hub runs 150 bridge requests a second.
    log('restart with the flow saved: hub spawned → the flow’s first request answered');
    const restartAt = performance.now();
    hub = await startHubProcess(dataDir, { ...NODE_RED_ENV, ...LIFTED_BRIDGE_BUDGET });
    const rewatch = await watchAnswers(hub, seeded);
    const firstAnswer = await Promise.race([rewatch.first, sleep(RESTART_TIMEOUT_MS).then(() => null)]);
    if (firstAnswer === null) {
      report.restartSpawnToFirstFlowAnswerMs = null;
      report.restartProblem = {
        nodeRed: await nodeRedStatus(hub, seeded),
        answers: rewatch.counts(),
        hubErrors: hub.lastErrors(),
      };
    } else {
      report.restartSpawnToFirstFlowAnswerMs = Math.round(firstAnswer - restartAt);
    }
    if (firstAnswer !== null) {
      const steadyRate = STEADY_PER_TICK / STEADY_TICK_SECONDS;
      log(
        `steady ${steadyRate} bridge requests/s under a lifted budget: ${DOOR_RATE}/s granted cards for ${PHASE_SECONDS} s`,
      );
      const steady = floodFlow(seeded, hub.mqttPort, STEADY_PER_TICK, STEADY_TICK_SECONDS);
      const redeployed = await api(hub, seeded, 'POST', '/flows/flows', { flows: steady });
      if (redeployed.status !== 200) throw new Error(`deploy through /flows/ answered ${redeployed.status}`);
      await sleep(8000); // past the back-off of the flood before, and the new flow under way
      const liftedBefore = rewatch.counts().answers;
      const liftedStarted = performance.now();
      const lifted = await doorRoundTrips(hub, seeded, PHASE_SECONDS, 'u');
      const liftedSeconds = (performance.now() - liftedStarted) / 1000;
      report.steadyBridgeLoad = {
        flowRequestsPerSecond: steadyRate,
        budget: '200/s, burst 1000 (mqtt.limits; default 20/s, burst 100)',
        decisionMs: lifted,
        bridgeAnswersPerSecond: Math.round((rewatch.counts().answers - liftedBefore) / liftedSeconds),
        p99RatioToIdle: round(lifted.p99 / idle.p99, 2),
        hubRssMiB: rssMiB(hub.pid),
      };
    }
    await rewatch.end();

    const ratio = flood.p99 / idle.p99;
    report.p99RatioFloodToIdle = round(ratio, 2);
    const together = (report.idleRssMiB as { together: number | null }).together;
    report.goals = {
      [`flood p99 <= ${P99_RATIO_GOAL}x idle p99`]: ratio <= P99_RATIO_GOAL,
      [`flood p99 <= ${P99_GOAL_MS} ms`]: flood.p99 <= P99_GOAL_MS,
      'no decision lost during the flood': flood.lost === 0,
      [`hub + Node-RED idle RSS <= ${RSS_GOAL_MIB} MiB`]: together !== null && together <= RSS_GOAL_MIB,
    };
    report.met = Object.values(report.goals as Record<string, boolean>).every(Boolean);
    report.sectionSeconds = Math.round((performance.now() - started) / 1000);
    const idleP99 = { name: 'idle p99 (Node-RED without flows)', value: idle.p99 };
    const steady = report.steadyBridgeLoad as { decisionMs: { p99: number } } | undefined;
    const rss = report.idleRssMiB as { hub: number | null; nodeRed: number | null };
    const figures: Figure[] = [
      {
        name: 'decision p99 while a flow floods the hub',
        value: flood.p99,
        unit: 'ms',
        baseline: idleP99,
        goal: { op: '<=', value: P99_RATIO_GOAL, ofBaseline: true, source: '#11' },
      },
      {
        name: 'decision p99 while a flow floods the hub (absolute)',
        value: flood.p99,
        unit: 'ms',
        goal: { op: '<=', value: P99_GOAL_MS, source: '#11' },
      },
      {
        name: 'decisions lost during the flood',
        value: flood.lost,
        unit: 'count',
        goal: { op: '<=', value: 0, source: '#11' },
      },
      {
        name: 'hub + Node-RED idle RSS',
        value: together ?? Number.NaN,
        unit: 'MiB',
        goal: { op: '<=', value: RSS_GOAL_MIB, source: '#11' },
        note: `hub ${rss.hub} MiB, Node-RED ${rss.nodeRed} MiB`,
      },
      {
        name: 'hub spawned → Node-RED editor answering',
        value: report.hubSpawnToEditorMs as number,
        unit: 'ms',
      },
      {
        name: 'hub restarted → the saved flow’s first request answered',
        value: (report.restartSpawnToFirstFlowAnswerMs as number | null) ?? Number.NaN,
        unit: 'ms',
      },
    ];
    if (steady)
      figures.push({
        name: 'decision p99 with 150 bridge requests/s (budget lifted)',
        value: steady.decisionMs.p99,
        unit: 'ms',
        baseline: idleP99,
        goal: { op: '<=', value: P99_RATIO_GOAL, ofBaseline: true, source: '#11' },
      });
    return { figures, ...report };
  } finally {
    await hub?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  benchNodeRed().then(
    (report) => process.stdout.write(`${JSON.stringify(report, null, 2)}\n`),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
