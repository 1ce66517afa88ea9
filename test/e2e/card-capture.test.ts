// Issue #10 scenario 1, "add a card by presenting it at a chosen reader", and the hub health fields of
// scenario 4, on a real hub over real HTTP: a simulated door and a LAN door over real MQTT.
import { request } from 'node:http';
import path from 'node:path';
import { Command } from 'commander';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hub } from '../../hub/app.js';
import { registerHubCommands } from '../../hub/cli/commands/hub.js';
import type { CliContext } from '../../hub/cli/context.js';
import { runCommand } from '../../hub/cli/run-command.js';
import { ALL_COMMANDS } from '../../hub/commands/index.js';
import { createLogger } from '../../hub/logger.js';
import { connectDoorDevice, present, removeDir, tempDataDir, testConfig } from '../helpers/hub.js';
import { type CallResult, call } from '../http/client.js';

const PASSWORD = 'correct horse battery';
const DOOR_NAME = 'Simulated front door';

let dir: string;
let hub: Hub;
let port: number;
let device: MqttClient;
let staff: string;
let installer: string;
const logLines: string[] = [];

async function login(username: string): Promise<string> {
  const res = await call(port, 'POST', '/session', { body: { username, password: PASSWORD } });
  expect(res.status).toBe(200);
  return res.json.token as string;
}

function capture(doorId: string, body: Record<string, unknown> = {}, token = staff): Promise<CallResult> {
  return call(port, 'POST', `/doors/${doorId}/capture-card`, { token, body });
}

/** Presents a card at the simulated door the way `gatehouse sim card` does. */
async function presentAtSim(value: string): Promise<{ granted: boolean; reason: string }> {
  const res = await call(port, 'POST', '/sim/doors/front/card', { token: staff, body: { value } });
  expect(res.status).toBe(200);
  return res.json.decision as { granted: boolean; reason: string };
}

/** Settles within `ms`, or 'pending'. */
function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  return Promise.race([promise, new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms))]);
}

/** A capture whose client hangs up: resolves once the request is on its way, with a function to cut it. */
function abandonedCapture(): { cut: () => void } {
  const payload = JSON.stringify({ timeoutS: 25 });
  const req = request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/api/v1/doors/front/capture-card',
    headers: {
      authorization: `Bearer ${staff}`,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
    },
    agent: false,
  });
  req.on('error', () => undefined);
  req.end(payload);
  return { cut: () => req.destroy() };
}

beforeAll(async () => {
  dir = tempDataDir();
  const logger = createLogger('debug', {
    write: (line: string) => {
      logLines.push(line);
    },
  });
  hub = new Hub({
    config: testConfig(dir, { simulation: { door: 'front' }, doorSync: { enabled: true } }),
    logger,
  });
  await hub.start();
  port = hub.addresses().http.http!;
  await hub.store.users.add('sam', PASSWORD, 'staff');
  await hub.store.users.add('ian', PASSWORD, 'installer');
  staff = await login('sam');
  installer = await login('ian');
  hub.store.doors.add({ id: 'lan', name: 'Garden gate', transport: 'mqtt' });
  const { secret } = hub.store.devices.add('gate-reader', { role: 'door', doors: ['lan'] });
  device = await connectDoorDevice(hub.addresses().mqtt.tcp!, 'gate-reader', secret, ['lan']);
}, 60_000);

afterAll(async () => {
  await device?.endAsync();
  await hub?.stop();
  removeDir(dir);
});

describe('card capture for enrolment', () => {
  it('answers the UID of the card presented at the simulated door, which is still decided', async () => {
    const waiting = capture('front', { timeoutS: 10 });
    await new Promise((r) => setTimeout(r, 200));
    const decision = await presentAtSim('04:a2:2b:1c');
    expect(decision).toEqual({ granted: false, reason: 'unknown_credential' });
    const res = await waiting;
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    expect(res.json).toEqual({ card: '04A22B1C', label: 'card …2B1C', readerId: 'front.reader' });

    // The captured UID is what credential.add_card takes: the card now opens nothing yet but is known.
    expect(
      (
        await call(port, 'POST', '/people', {
          token: staff,
          body: { id: 'ada', name: 'Ada', kind: 'resident' },
        })
      ).status,
    ).toBe(201);
    const added = await call(port, 'POST', '/credentials', {
      token: staff,
      body: { personId: 'ada', card: res.json.card },
    });
    expect(added.status).toBe(201);
    expect((await presentAtSim('04A22B1C')).reason).not.toBe('unknown_credential');
  });

  it('answers a card presented at a LAN door over MQTT, and the device gets its decision', async () => {
    const waiting = capture('lan', { timeoutS: 10 });
    await new Promise((r) => setTimeout(r, 200));
    const decision = await present(device, 'lan', {
      id: 'r-1',
      kind: 'card',
      value: '04C0FFEE',
      reader: 'gate.outer',
    });
    expect(decision).toMatchObject({ id: 'r-1', granted: false, reason: 'unknown_credential' });
    const res = await waiting;
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    expect(res.json).toEqual({ card: '04C0FFEE', label: 'card …FFEE', readerId: 'gate.outer' });
  });

  it('keeps keypad entries and other doors out of a capture', async () => {
    const waiting = capture('lan', { timeoutS: 10 });
    await new Promise((r) => setTimeout(r, 200));
    await call(port, 'POST', '/sim/doors/front/code', { token: staff, body: { value: '123456' } });
    await presentAtSim('04BBBBBB'); // another door
    expect(await settledWithin(waiting, 300)).toBe('pending');
    await present(device, 'lan', { id: 'r-2', kind: 'card', value: '04DDDDDD' });
    expect((await waiting).json.card).toBe('04DDDDDD');
  });

  it('says no card came after timeoutS, within the HTTP request timeout', async () => {
    const started = Date.now();
    const res = await capture('front', { timeoutS: 5 });
    const tookMs = Date.now() - started;
    expect(res.status).toBe(409);
    expect(res.json).toEqual({
      error: `no card was presented at ${DOOR_NAME} within 5 s`,
      code: 'refused',
    });
    expect(tookMs).toBeGreaterThanOrEqual(4500);
    expect(tookMs).toBeLessThan(20_000);
  }, 30_000);

  it('lets at most three captures wait at a door; each card answers the one that waited longest', async () => {
    const first = capture('front', { timeoutS: 15 });
    await new Promise((r) => setTimeout(r, 100));
    const second = capture('front', { timeoutS: 15 });
    await new Promise((r) => setTimeout(r, 100));
    const third = capture('front', { timeoutS: 15 });
    await new Promise((r) => setTimeout(r, 200));
    const fourth = await capture('front', { timeoutS: 15 });
    expect(fourth.status).toBe(409);
    expect(fourth.json.code).toBe('refused');
    expect(String(fourth.json.error)).toMatch(/^too many card captures are waiting/);
    // Another door still has room.
    const other = capture('lan', { timeoutS: 15 });

    await presentAtSim('04000001');
    await presentAtSim('04000002');
    await presentAtSim('04000003');
    expect((await first).json.card).toBe('04000001');
    expect((await second).json.card).toBe('04000002');
    expect((await third).json.card).toBe('04000003');
    await present(device, 'lan', { id: 'r-3', kind: 'card', value: '04000004' });
    expect((await other).json.card).toBe('04000004');
  }, 30_000);

  it('frees the place of a capture whose client hung up', async () => {
    const gone = [abandonedCapture(), abandonedCapture(), abandonedCapture()];
    await new Promise((r) => setTimeout(r, 300));
    for (const g of gone) g.cut();
    await new Promise((r) => setTimeout(r, 300));
    // Were the three still waiting, this one would be refused at once.
    const fresh = capture('front', { timeoutS: 10 });
    expect(await settledWithin(fresh, 500)).toBe('pending');
    await presentAtSim('04000005');
    expect((await fresh).json.card).toBe('04000005');
  });

  it('works from the CLI on the hub, which waits longer than its usual 10 s for the answer', async () => {
    const waiting = runCommand(
      ALL_COMMANDS,
      'door.capture_card',
      { doorId: 'front', timeoutS: 15 },
      {
        dataDir: dir,
        openStore: () => {
          throw new Error('door.capture_card runs in the hub');
        },
      },
    );
    await new Promise((r) => setTimeout(r, 10_500));
    await presentAtSim('04000006');
    expect(await waiting).toEqual({ card: '04000006', label: 'card …0006', readerId: 'front.reader' });
  }, 30_000);

  it('refuses hostile input and the roles that may not enrol', async () => {
    const unknown = await capture('nowhere', { timeoutS: 5 });
    expect(unknown.status).toBe(404);
    expect(unknown.json.code).toBe('not_found');
    for (const body of [
      { timeoutS: 4 },
      { timeoutS: 26 },
      { timeoutS: 2.5 },
      { timeoutS: 'abc' },
      { timeoutS: -1 },
      { timeoutS: 1e9 },
      { card: '04A22B1C' },
    ]) {
      const res = await capture('front', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json.code).toBe('invalid');
    }
    expect((await capture('..%2Fetc', {})).status).toBe(400);
    expect((await capture('front', {}, installer)).status).toBe(403);
    expect((await call(port, 'POST', '/doors/front/capture-card', { body: {} })).status).toBe(401);
  });

  it('never writes a captured UID to the log or the event log', async () => {
    const events = JSON.stringify(hub.store.events.list({ limit: 10_000 }));
    for (const uid of ['04A22B1C', '04C0FFEE', '04000001', '04000005']) {
      expect(events).not.toContain(uid);
      expect(logLines.join('\n')).not.toContain(uid);
    }
    expect(logLines.some((l) => l.includes('card captured for enrolment') && l.includes('…2B1C'))).toBe(true);
  });
});

describe('hub status for the health page', () => {
  it('shows the data disk, MQTT clients and the door-side copy of each LAN door', async () => {
    const res = await call(port, 'GET', '/status', { token: staff });
    expect(res.status).toBe(200);
    const disk = res.json.disk as { path: string; freeBytes: number; totalBytes: number; low: boolean };
    expect(disk.path).toBe(path.resolve(dir));
    expect(disk.freeBytes).toBeGreaterThan(0);
    expect(disk.totalBytes).toBeGreaterThanOrEqual(disk.freeBytes);
    expect(typeof disk.low).toBe('boolean');
    expect(res.json.mqttClients).toBe(1);
    expect(res.json.devicesOnline).toBe(1);
    const doorSync = res.json.doorSync as Array<Record<string, unknown>>;
    expect(doorSync).toHaveLength(1);
    expect(doorSync[0]).toMatchObject({ doorId: 'lan', ackedVersion: null, stale: false });
    expect(typeof doorSync[0]!.version).toBe('number');
    expect(typeof doorSync[0]!.since).toBe('number');
  });

  it('`gatehouse status` shows the disk', async () => {
    const lines: string[] = [];
    const program = new Command('gatehouse').exitOverride();
    registerHubCommands(program, {
      io: { out: (line: string) => lines.push(line), err: (line: string) => lines.push(line) },
      settings: () => ({ config: hub.config, json: false }),
      print: (_json: boolean, _value: unknown, human: () => void) => human(),
    } as unknown as CliContext);
    await program.parseAsync(['status'], { from: 'user' });
    expect(lines.join('\n')).toMatch(/^disk: \d+\.\d GB free of \d+\.\d GB at \S+( \(LOW\))?$/m);
  });
});
