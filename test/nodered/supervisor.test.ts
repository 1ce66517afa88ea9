// The real hub running the real Node-RED 4.1 as its child process: token-only admin access on the local
// port, the hub-node-red account handed over in RED.settings.gatehouse, and doors that keep deciding
// while Node-RED is killed, stuck in a busy loop, or dies at its heap limit.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Hub } from '../../hub/app.js';
import { createLogger } from '../../hub/logger.js';
import { NODE_RED_ACCOUNT, NODE_RED_GRANTS } from '../../hub/nodered/account.js';
import type { NodeRedStatus } from '../../hub/nodered/supervisor.js';
import type { NodeRedTarget } from '../../hub/nodered/target.js';
import { succeedIn } from '../cli/helpers.js';
import { connectDoorDevice, present, removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { nodeRedAdmin as admin } from './admin-api.js';

const CARD = '04A1B2C3';
let dir: string;
let hub: Hub;
let door: MqttClient;
let probeReport: string;
const logLines: string[] = [];

/** A throwaway Node-RED module (the real Gatehouse nodes live in flows/): reports what a node sees. */
function writeProbePackage(root: string, report: string): string {
  const pkg = path.join(root, 'gh-probe');
  mkdirSync(pkg, { recursive: true });
  const mqttPath = createRequire(import.meta.url).resolve('mqtt');
  writeFileSync(
    path.join(pkg, 'package.json'),
    JSON.stringify({ name: 'gh-probe', version: '1.0.0', 'node-red': { nodes: { 'gh-probe': 'probe.js' } } }),
  );
  writeFileSync(
    path.join(pkg, 'probe.html'),
    `<script type="text/javascript">RED.nodes.registerType('gh-probe',{category:'function',defaults:{},inputs:0,outputs:0});</script>`,
  );
  writeFileSync(
    path.join(pkg, 'probe.js'),
    `module.exports = function (RED) {
  const fs = require('fs');
  const conn = RED.settings.gatehouse;
  const report = {
    secretEnv: Object.keys(process.env).filter((k) => k.startsWith('GH_NR_') || k.startsWith('GATEHOUSE_')),
    conn,
  };
  const write = () => fs.writeFileSync(${JSON.stringify(report)}, JSON.stringify(report));
  const mqtt = require(${JSON.stringify(mqttPath)});
  const client = mqtt.connect(conn.url, { username: conn.username, password: conn.password, reconnectPeriod: 0 });
  client.on('connect', () => { report.connected = true; write(); });
  client.on('error', (err) => { report.error = err.message; write(); });
  RED.nodes.registerType('gh-probe', function (config) { RED.nodes.createNode(this, config); });
};
`,
  );
  return pkg;
}

function nodeRed(): NodeRedStatus {
  return hub.status().nodeRed as NodeRedStatus;
}

async function waitFor<T>(
  what: string,
  check: () => T | null | undefined | false,
  timeoutMs = 60_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(nodeRed())}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Waits for Node-RED to run (again) after `restarts` restarts, and returns its proxy target. */
async function runningAfter(restarts: number): Promise<NodeRedTarget> {
  await waitFor(`Node-RED running after ${restarts} restarts`, () => {
    const s = nodeRed();
    return s.state === 'running' && s.restarts === restarts;
  });
  return hub.nodeRed!.target()!;
}

/** A flow whose function node runs `func` when its inject node's button is pressed (never on its own). */
function flowRunning(func: string): unknown[] {
  return [
    { id: 'tab1', type: 'tab', label: 'test' },
    {
      id: 'inject1',
      type: 'inject',
      z: 'tab1',
      once: false,
      repeat: '',
      payload: '',
      payloadType: 'date',
      wires: [['function1']],
    },
    { id: 'function1', type: 'function', z: 'tab1', func, outputs: 1, wires: [[]] },
  ];
}

/** Presses the inject node's button; a full deploy may still be starting the new nodes, so retry a little. */
async function pressInject(target: NodeRedTarget): Promise<void> {
  const until = Date.now() + 10_000;
  for (;;) {
    const res = await admin(target, 'POST', '/flows/inject/inject1');
    if (res.status === 200) return;
    if (res.status !== 404 || Date.now() > until) throw new Error(`inject answered ${res.status}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

let presented = 0;
async function cardIsGranted(): Promise<boolean> {
  const decision = await present(door, 'front', { id: `p${++presented}`, kind: 'card', value: CARD });
  return decision.granted;
}

/** Presents the card every 300 ms until `done` resolves; every answer must be a grant. */
async function decideWhile(done: Promise<unknown>): Promise<boolean[]> {
  const answers: boolean[] = [];
  let finished = false;
  void done.finally(() => {
    finished = true;
  });
  while (!finished) {
    answers.push(await cardIsGranted());
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  return answers;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

beforeAll(async () => {
  dir = tempDataDir();
  probeReport = path.join(dir, 'probe-report.json');
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  hub = await startHub(
    dir,
    {
      simulation: { door: '' },
      nodeRed: {
        enabled: true,
        probeIntervalSeconds: 1,
        probeFailures: 3,
        backoffMinMs: 200,
        maxHeapMb: 96,
        maxRssMb: 256,
      },
    },
    { logger: createLogger('debug', sink), nodeRedPackages: [writeProbePackage(dir, probeReport)] },
  );
  const { store } = hub;
  store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
  const { secret } = store.devices.add('front-reader', { role: 'door', doors: ['front'] });
  store.people.add({ id: 'p1', name: 'Anna', kind: 'resident' });
  store.groups.add({ id: 'residents', name: 'Residents' });
  store.groups.addDoor('residents', 'front');
  store.groups.addMember('residents', 'p1');
  store.credentials.addCard('p1', CARD);
  door = await connectDoorDevice(hub.addresses().mqtt.tcp!, 'front-reader', secret, ['front']);
}, 60_000);

afterAll(async () => {
  await door?.endAsync();
  await hub?.stop();
  removeDir(dir);
});

describe('Node-RED as a supervised child process', () => {
  it('decides doors at once, before Node-RED answers, then reports it running with its memory', async () => {
    // startHub resolved before Node-RED answered: the hub never waits for it.
    expect(await cardIsGranted()).toBe(true);
    await runningAfter(0);
    const status = nodeRed();
    expect(status).toMatchObject({ state: 'running', heapLimitMb: 96, restarts: 0, editor: '/flows/' });
    expect(status.rssBytes).toBeLessThan(256 * 1024 * 1024); // idle, well under the test's maxRssMb
    expect(status.pid).toEqual(expect.any(Number));
    expect(status.port).toEqual(expect.any(Number));
    expect(status.rssBytes).toBeGreaterThan(20e6);
    expect(hub.nodeRed!.target()!.origin).toBe(`http://127.0.0.1:${status.port}`);
  }, 90_000);

  it('answers the admin API and the editor WebSocket only with the token the hub injects', async () => {
    const target = await runningAfter(0);
    const bare = await fetch(`${target.origin}/flows/flows`);
    expect(bare.status).toBe(401);
    const wrong = await fetch(`${target.origin}/flows/flows`, {
      headers: { [target.header]: `${target.token.slice(0, -1)}x` },
    });
    expect(wrong.status).toBe(401);
    // A login token Node-RED might hand out does not exist: there is no login route at all.
    const login = await fetch(`${target.origin}/flows/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_id: 'node-red-editor',
        grant_type: 'password',
        username: 'admin',
        password: 'x',
      }),
    });
    expect(login.status).not.toBe(200);
    const ok = await admin(target, 'GET', '/flows/flows');
    expect(ok.status).toBe(200);
    // The editor asks for its settings first; with the header it gets them, so no login prompt is shown.
    const settings = await admin(target, 'GET', '/flows/settings');
    expect(settings.status).toBe(200);
    expect(((await settings.json()) as { user?: { permissions: string } }).user?.permissions).toBe('*');

    // WebSocket: the upgrade with the header is authenticated; without it, an auth packet must carry a
    // valid token or the socket is closed.
    const wsUrl = `${target.origin.replace('http', 'ws')}/flows/comms`;
    const withHeader = new WebSocket(wsUrl, { headers: { [target.header]: target.token } });
    await new Promise<void>((resolve, reject) => {
      withHeader.once('open', () => resolve());
      withHeader.once('error', reject);
    });
    withHeader.send(JSON.stringify({ subscribe: 'status/#' }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(withHeader.readyState).toBe(WebSocket.OPEN);
    withHeader.close();

    const badHeader = new WebSocket(wsUrl, { headers: { [target.header]: 'nope' } });
    await expect(
      new Promise((resolve, reject) => {
        badHeader.once('open', () => resolve('open'));
        badHeader.once('error', reject);
      }),
    ).rejects.toThrow();

    const noHeader = new WebSocket(wsUrl);
    await new Promise<void>((resolve) => noHeader.once('open', () => resolve()));
    const answer = new Promise<string>((resolve) =>
      noHeader.once('message', (data) => resolve(String(data))),
    );
    const closed = new Promise<void>((resolve) => noHeader.once('close', () => resolve()));
    noHeader.send(JSON.stringify({ auth: 'not-the-token' }));
    expect(JSON.parse(await answer)).toEqual({ auth: 'fail' });
    await closed;
  }, 90_000);

  it('hands the hub-node-red account to nodes in RED.settings.gatehouse, never through the environment', async () => {
    const target = await runningAfter(0);
    const account = hub.store.devices.get(NODE_RED_ACCOUNT);
    expect(account).toMatchObject({ role: 'integration', doors: [] });
    expect([...account!.grants].sort()).toEqual([...NODE_RED_GRANTS].sort());
    const report = await waitFor('the probe node report', () => {
      try {
        return JSON.parse(readFileSync(probeReport, 'utf8')) as {
          secretEnv: string[];
          conn: { url: string; username: string; password: string; baseTopic: string };
          connected?: boolean;
          error?: string;
        };
      } catch {
        return null;
      }
    });
    expect(report.error).toBeUndefined();
    expect(report.connected).toBe(true);
    expect(report.secretEnv).toEqual([]);
    expect(report.conn).toMatchObject({
      url: `mqtt://127.0.0.1:${hub.addresses().mqtt.tcp}`,
      username: NODE_RED_ACCOUNT,
      baseTopic: 'gatehouse',
    });
    expect(hub.broker.onlineDevices()).toContain(NODE_RED_ACCOUNT);
    // The module was loaded from its folder, as the Gatehouse nodes are from <package root>/flows.
    const nodes = (await (await admin(target, 'GET', '/flows/nodes')).text()) as string;
    expect(nodes).toContain('"module":"gh-probe"');
    // Core nodes that run commands or touch files are not there.
    for (const name of ['exec', 'file', 'watch']) expect(nodes).not.toContain(`"id":"node-red/${name}"`);
    // Secrets are in no file the hub wrote and in no hub log line.
    const settingsFile = readFileSync(path.join(dir, 'node-red', 'gatehouse-settings.cjs'), 'utf8');
    for (const secret of [report.conn.password, target.token]) {
      expect(settingsFile).not.toContain(secret);
      expect(logLines.join('')).not.toContain(secret);
    }
  }, 90_000);

  it('deploys a flow through the local admin API with the token', async () => {
    const target = await runningAfter(0);
    const flow = flowRunning('return msg;');
    const deployed = await admin(target, 'POST', '/flows/flows', flow);
    expect(deployed.status).toBeLessThan(300);
    const back = (await (await admin(target, 'GET', '/flows/flows')).json()) as Array<{ id: string }>;
    expect(back.map((n) => n.id).sort()).toEqual(['function1', 'inject1', 'tab1']);
    await pressInject(target);
  }, 90_000);

  it('a flow flooding its log: the hub log takes Node-RED lines within the budget and counts the rest', async () => {
    const target = await runningAfter(0);
    const flood =
      "setInterval(() => { for (let i = 0; i < 500; i++) node.warn('flood ' + i); }, 50); return null;";
    expect((await admin(target, 'POST', '/flows/flows', flowRunning(flood))).status).toBeLessThan(300);
    const before = logLines.length;
    await pressInject(target);
    const started = Date.now();
    const answers = await decideWhile(new Promise((resolve) => setTimeout(resolve, 11_000)));
    const seconds = (Date.now() - started) / 1000;
    expect(answers.every(Boolean)).toBe(true);
    const lines = logLines.slice(before);
    const floodLines = lines.filter((l) => l.includes('"part":"node-red"') && l.includes('flood '));
    // 10,000 lines a second offered; default budget 20/s with a burst of 200.
    expect(floodLines.length).toBeGreaterThan(20);
    expect(floodLines.length).toBeLessThanOrEqual(200 + 20 * (seconds + 1));
    const dropped = lines.find((l) => l.includes('Node-RED log lines over budget were dropped'));
    expect(dropped).toBeDefined();
    expect((JSON.parse(dropped!) as { dropped: number }).dropped).toBeGreaterThan(1000);
    expect(nodeRed()).toMatchObject({ state: 'running', restarts: 0 });
  }, 90_000);

  it('kill -9 of Node-RED: doors keep deciding and the supervisor brings it back', async () => {
    await runningAfter(0);
    const pid = nodeRed().pid!;
    process.kill(pid, 'SIGKILL');
    expect(await cardIsGranted()).toBe(true);
    const back = runningAfter(1);
    const answers = await decideWhile(back);
    await back;
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.every(Boolean)).toBe(true);
    expect(nodeRed().pid).not.toBe(pid);
    expect(nodeRed().lastExit).toMatchObject({ signal: 'SIGKILL', reason: 'crashed' });
    const statusLine = (await succeedIn(dir, ['status'])).split('\n').find((l) => l.startsWith('node-red:'));
    expect(statusLine).toMatch(
      /^node-red: running \(pid \d+, \d+ MB\), 1 restart, last exit crashed at \d{4}-/,
    );
    // The deployed flow survived the restart.
    const flows = (await (await admin(hub.nodeRed!.target()!, 'GET', '/flows/flows')).json()) as unknown[];
    expect(flows).toHaveLength(3);
  }, 90_000);

  it('a busy loop in a function node: Node-RED is killed and restarted, decisions granted meanwhile', async () => {
    const target = await runningAfter(1);
    expect((await admin(target, 'POST', '/flows/flows', flowRunning('while (true) {}'))).status).toBeLessThan(
      300,
    );
    await pressInject(target);
    const back = runningAfter(2);
    const answers = await decideWhile(back);
    await back;
    expect(answers.length).toBeGreaterThan(3); // the probes took seconds; the doors answered throughout
    expect(answers.every(Boolean)).toBe(true);
    expect(nodeRed().lastExit).toMatchObject({ signal: 'SIGKILL', reason: 'unresponsive' });
  }, 90_000);

  it('a flow that allocates without bound: Node-RED dies at its heap limit and is restarted, the hub is unaffected', async () => {
    const target = await runningAfter(2);
    const hubHeapBefore = process.memoryUsage().heapUsed;
    const allocate =
      'const keep = []; setInterval(() => { for (let i = 0; i < 10; i++) keep.push(new Array(250000).fill(i)); }, 20); return null;';
    expect((await admin(target, 'POST', '/flows/flows', flowRunning(allocate))).status).toBeLessThan(300);
    await pressInject(target);
    const back = runningAfter(3);
    const answers = await decideWhile(back);
    await back;
    expect(answers.every(Boolean)).toBe(true);
    expect(nodeRed().lastExit, JSON.stringify(nodeRed())).toMatchObject({ reason: 'out-of-memory' });
    // Whatever the child allocated, the hub's own heap did not take it on.
    expect(process.memoryUsage().heapUsed - hubHeapBefore).toBeLessThan(64e6);
    // The child's stderr (V8's heap report) reached the hub log, within the line budget.
    expect(logLines.some((l) => l.includes('"part":"node-red"') && /heap/i.test(l))).toBe(true);
  }, 90_000);

  it('a flow holding buffers (outside the heap limit): killed at nodeRed.maxRssMb and restarted', async () => {
    const target = await runningAfter(3);
    const hold =
      'const keep = []; setInterval(() => { for (let i = 0; i < 4; i++) keep.push(Buffer.alloc(4e6, i)); }, 50); return null;';
    expect((await admin(target, 'POST', '/flows/flows', flowRunning(hold))).status).toBeLessThan(300);
    await pressInject(target);
    const back = runningAfter(4);
    const answers = await decideWhile(back);
    await back;
    expect(answers.every(Boolean)).toBe(true);
    expect(nodeRed().lastExit).toMatchObject({ signal: 'SIGKILL', reason: 'memory-limit' });
    expect(logLines.some((l) => l.includes('Node-RED uses too much memory'))).toBe(true);
  }, 90_000);

  it('stopping the hub stops Node-RED', async () => {
    await runningAfter(4);
    const pid = nodeRed().pid!;
    const supervisor = hub.nodeRed!;
    await door.endAsync();
    await hub.stop();
    expect(alive(pid)).toBe(false);
    expect(supervisor.status()).toMatchObject({ state: 'stopped', pid: null, port: null });
    expect(supervisor.target()).toBeNull();
    expect(nodeRed().state).toBe('stopped');
  }, 30_000);
});
