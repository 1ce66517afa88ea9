// Issue #9, "How it is proven": one scenario driven through the three routes into the command table —
// the CLI (the compiled CLI in a child process, as an operator runs it), the HTTP API (a staff login) and
// an MQTT bridge request (real broker, mqtt.js, an integration account). Every admin.* event names who
// did it, and the same command refused in lockdown is refused on all three routes with the same reason.
import os from 'node:os';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { cli, removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { call } from '../http/client.js';

const PASSWORD = 'correct horse battery';

/** The actor the CLI records: `cli:` and the operating-system user (reduced to safe characters). */
const CLI_ACTOR = `cli:${
  os
    .userInfo()
    .username.replace(/[^A-Za-z0-9_.@-]/g, '')
    .slice(0, 64) || 'local'
}`;

let dir: string;
let hub: Hub;
let httpPort: number;
let token: string;
let integration: MqttClient;

async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return cli(dir, args, undefined, 30_000);
}

/** A bridge request and its response (matched by transaction). */
function bridge(name: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
  const transaction = `t-${name}-${Math.random().toString(36).slice(2)}`;
  return new Promise((resolve, reject) => {
    const topic = `gatehouse/bridge/response/${name}`;
    const timer = setTimeout(() => reject(new Error(`no answer on ${topic} within 10 s`)), 10_000);
    const onMessage = (t: string, payload: Buffer) => {
      if (t !== topic) return;
      const answer = JSON.parse(payload.toString()) as Record<string, unknown>;
      if (answer.transaction !== transaction) return;
      clearTimeout(timer);
      integration.off('message', onMessage);
      resolve(answer);
    };
    integration.on('message', onMessage);
    void integration.publishAsync(
      `gatehouse/bridge/request/${name}`,
      JSON.stringify({ ...input, transaction }),
      {
        qos: 1,
      },
    );
  });
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  dir = tempDataDir();
  hub = await startHub(dir);
  httpPort = hub.addresses().http.http!;
}, 60_000);

afterAll(async () => {
  await integration?.endAsync();
  await hub?.stop();
  removeDir(dir);
});

describe('one command layer behind the CLI, HTTP and MQTT', () => {
  it('records the actor of every change and refuses an unlock in lockdown the same way on every route', async () => {
    // CLI: the staff login, the door and the integration account.
    const user = await cli(dir, ['user', 'add', 'alice', '--role', 'admin'], `${PASSWORD}\n`, 30_000);
    expect(user.code, user.stderr).toBe(0);
    const door = await run('door', 'add', 'front', '--transport', 'sim');
    expect(door.code, door.stderr).toBe(0);
    const device = await run('device', 'add', 'node-red', '--integration');
    expect(device.code, device.stderr).toBe(0);
    const secret = /MQTT password: (\S+)/.exec(device.stdout)?.[1];
    expect(secret).toBeDefined();
    await waitFor(
      () => (hub.status().doors as Array<{ doorId: string }>).some((d) => d.doorId === 'front'),
      'the hub to run door front',
    );

    // HTTP: a staff login adds a person and a card.
    const login = await call(httpPort, 'POST', '/session', {
      body: { username: 'alice', password: PASSWORD },
    });
    expect(login.status).toBe(200);
    token = login.json.token as string;
    const person = await call(httpPort, 'POST', '/people', {
      token,
      body: { id: 'ada', name: 'Ada', kind: 'resident' },
    });
    expect(person.status, JSON.stringify(person.json)).toBe(201);
    const card = await call(httpPort, 'POST', '/credentials', {
      token,
      body: { personId: 'ada', card: '04A22B1C' },
    });
    expect(card.status, JSON.stringify(card.json)).toBe(201);

    // MQTT: the integration account puts the door in lockdown.
    integration = await mqtt.connectAsync(`mqtt://127.0.0.1:${hub.addresses().mqtt.tcp}`, {
      username: 'node-red',
      password: secret!,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    await integration.subscribeAsync('gatehouse/bridge/response/+', { qos: 1 });
    const lockdown = await bridge('door.set_mode', { id: 'front', mode: 'lockdown' });
    expect(lockdown, JSON.stringify(lockdown)).toMatchObject({ ok: true });

    // The same unlock, refused on all three routes with the same reason.
    const viaHttp = await call(httpPort, 'POST', '/doors/front/unlock', { token, body: {} });
    expect(viaHttp.status).toBe(409);
    expect(viaHttp.json.code).toBe('refused');
    const reason = viaHttp.json.error as string;
    expect(reason).toMatch(/lockdown/);
    const viaMqtt = await bridge('door.unlock', { id: 'front' });
    expect(viaMqtt).toMatchObject({ ok: false, error: { code: 'refused', message: reason } });
    const viaCli = await run('door', 'unlock', 'front');
    expect(viaCli.code).not.toBe(0);
    expect(viaCli.stderr).toContain(reason);
    expect(hub.simDoors.get('front')!.isUnlocked()).toBe(false);

    // Lifted by staff; then each route unlocks once.
    const normal = await call(httpPort, 'PUT', '/doors/front/mode', { token, body: { mode: 'normal' } });
    expect(normal.status, JSON.stringify(normal.json)).toBe(200);
    expect(await bridge('door.unlock', { id: 'front', ms: 1000 })).toMatchObject({ ok: true });
    const cliUnlock = await run('door', 'unlock', 'front', '--ms', '1000');
    expect(cliUnlock.code, cliUnlock.stderr).toBe(0);
    expect((await call(httpPort, 'POST', '/doors/front/unlock', { token, body: { ms: 1000 } })).status).toBe(
      200,
    );

    // Every admin.* event names its actor, and each route's changes name the right one.
    await waitFor(
      () => hub.store.events.list({ limit: 10, type: 'admin.door.unlocked' }).length >= 3,
      'three unlock events',
    );
    const admin = hub.store.events.list({ limit: 1000, type: 'admin.*' });
    const unnamed = admin.filter((e) => typeof e.data?.actor !== 'string');
    expect(unnamed.map((e) => e.type)).toEqual([]);
    const seen = admin.map((e) => `${e.type} ${String(e.data?.actor)}`);
    expect(seen).toEqual(
      expect.arrayContaining([
        `admin.user.added ${CLI_ACTOR}`,
        `admin.door.added ${CLI_ACTOR}`,
        `admin.device.added ${CLI_ACTOR}`,
        'admin.person.added user:alice',
        'admin.credential.added user:alice',
        'admin.door.mode_changed device:node-red',
        'admin.door.mode_changed user:alice',
        'admin.door.unlocked device:node-red',
        `admin.door.unlocked ${CLI_ACTOR}`,
        'admin.door.unlocked user:alice',
      ]),
    );
    const actors = new Set(admin.map((e) => String(e.data?.actor)));
    expect([...actors].sort()).toEqual([CLI_ACTOR, 'device:node-red', 'user:alice'].sort());
  }, 120_000);
});
