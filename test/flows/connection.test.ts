// The nodes' shared connection (flows/nodes/lib/connection.js) on its own, against a real MQTT broker
// (Debian's mosquitto) standing in for a hub that answers late, wrongly or not at all, and that goes away
// and comes back: requests time out, the in-flight bound answers at once, only our own answers count,
// and the connection comes back by itself. Also the settings check and the event node's type filter.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOWS_PACKAGE, waitFor } from './nodered.js';

type Answer = { ok: true; result: unknown } | { ok: false; error: { code: string; message: string } };
interface Connection {
  state: string;
  request(name: string, input: Record<string, unknown>): Promise<Answer>;
  onState(listener: (state: string, detail: string) => void): () => void;
  onEvent(listener: (payload: Record<string, unknown>) => void): () => void;
  close(): Promise<void>;
}
interface ConnectionModule {
  Connection: new (options: { settings: unknown; log: (level: string, text: string) => void }) => Connection;
  readSettings(raw: unknown): { ok: true; settings: Record<string, unknown> } | { ok: false; why: string };
  MAX_IN_FLIGHT: number;
}

const require = createRequire(import.meta.url);
const lib = require(path.join(FLOWS_PACKAGE, 'nodes/lib/connection.js')) as ConnectionModule;
const eventNode = require(path.join(FLOWS_PACKAGE, 'nodes/gatehouse-event.js')) as {
  typeMatcher(pattern: string): RegExp;
  eventName(payload: Record<string, unknown>): string | null;
};
const MOSQUITTO = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p));

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('readSettings', () => {
  const good = {
    url: 'mqtt://127.0.0.1:1883',
    username: 'hub-node-red',
    password: 's3cret',
    baseTopic: 'gatehouse',
  };

  it('accepts what the hub writes and refuses everything else, without echoing the secret', () => {
    expect(lib.readSettings(good)).toEqual({ ok: true, settings: { ...good, ca: null } });
    expect(lib.readSettings({ ...good, baseTopic: undefined })).toMatchObject({
      ok: true,
      settings: { baseTopic: 'gatehouse' },
    });
    expect(lib.readSettings(undefined)).toEqual({ ok: false, why: 'not running under Gatehouse' });
    expect(lib.readSettings(null)).toEqual({ ok: false, why: expect.stringContaining('no MQTT listener') });
    for (const bad of [
      'mqtt://x',
      [],
      { ...good, url: 'http://127.0.0.1:1883' },
      { ...good, url: 'ws://127.0.0.1:1883' },
      { ...good, url: 'mqtt://127.0.0.1:1883/../x' },
      { ...good, username: '' },
      { ...good, username: 'x'.repeat(65) },
      { ...good, password: 42 },
      { ...good, baseTopic: 'gatehouse/#' },
      { ...good, baseTopic: '' },
      { ...good, ca: 'not a certificate' },
    ]) {
      const checked = lib.readSettings(bad);
      expect(checked.ok, JSON.stringify(bad)).toBe(false);
      expect(JSON.stringify(checked)).not.toContain('s3cret');
    }
  });
});

describe('the event node names and filters', () => {
  it('names events as the alarm catalogue does', () => {
    expect(eventNode.eventName({ type: 'decision' })).toBe('decision');
    expect(eventNode.eventName({ type: 'door', doorId: 'x' })).toBe('door.state');
    expect(eventNode.eventName({ type: 'doorbell' })).toBe('door.doorbell');
    expect(eventNode.eventName({ type: 'alarm', alarm: 'alarm.held_open' })).toBe('alarm.held_open');
    expect(eventNode.eventName({ type: 'suppressed' })).toBe('suppressed');
    expect(eventNode.eventName({ type: 42 })).toBe(null);
  });

  it('takes * as any text and everything else literally', () => {
    const all = eventNode.typeMatcher('alarm.*');
    expect(['alarm.held_open', 'alarm.forced_open_cleared'].every((t) => all.test(t))).toBe(true);
    expect(['decision', 'xalarm.tamper', 'alarmXtamper'].some((t) => all.test(t))).toBe(false);
    const clears = eventNode.typeMatcher('alarm.*_cleared');
    expect(clears.test('alarm.tamper_cleared')).toBe(true);
    expect(clears.test('alarm.tamper')).toBe(false);
    expect(eventNode.typeMatcher('door.doorbell').test('doorXdoorbell')).toBe(false);
    expect(eventNode.typeMatcher('a+b').test('aab')).toBe(false);
  });
});

describe.skipIf(!MOSQUITTO)('the connection against a broker that is not a good hub', () => {
  let dir: string;
  let port: number;
  let broker: ChildProcess | null = null;
  let hub: MqttClient;
  let connection: Connection;
  const logs: string[] = [];

  async function startBroker(): Promise<void> {
    broker = spawn(MOSQUITTO!, ['-c', path.join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
    await waitFor(
      () =>
        new Promise<boolean>((resolve) => {
          const socket = net.connect(port, '127.0.0.1', () => {
            socket.destroy();
            resolve(true);
          });
          socket.on('error', () => resolve(false));
        }),
      'mosquitto listening',
    );
  }

  async function stopBroker(): Promise<void> {
    const child = broker;
    broker = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'gh-mosquitto-'));
    port = await freePort();
    writeFileSync(
      path.join(dir, 'mosquitto.conf'),
      `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`,
    );
    await startBroker();
    // Stands in for the hub: answers what the test tells it to.
    hub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'fake-hub', reconnectPeriod: 0 });
    await hub.subscribeAsync('gatehouse/bridge/request/#', { qos: 1 });
    const checked = lib.readSettings({
      url: `mqtt://127.0.0.1:${port}`,
      username: 'flow-test',
      password: 'never-logged',
      baseTopic: 'gatehouse',
    });
    if (!checked.ok) throw new Error(checked.why);
    connection = new lib.Connection({
      settings: checked.settings,
      log: (_level, text) => logs.push(text),
    });
    await waitFor(() => connection.state === 'connected', 'connected');
  }, 60_000);

  afterAll(async () => {
    await connection?.close();
    await hub?.endAsync(true).catch(() => undefined);
    await stopBroker();
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes only its own answer to the command it asked, and hears bridge events', async () => {
    const events: Array<Record<string, unknown>> = [];
    const stop = connection.onEvent((e) => events.push(e));
    const onRequest = (topic: string, body: Buffer) => {
      const { transaction } = JSON.parse(body.toString()) as { transaction: string };
      // Someone else's answer, an answer on another command's topic, garbage, then ours.
      hub.publish(
        'gatehouse/bridge/response/door.list',
        JSON.stringify({ ok: true, result: 'other', transaction: 'x-1' }),
      );
      hub.publish(
        'gatehouse/bridge/response/door.unlock',
        JSON.stringify({ ok: true, result: 'wrong', transaction }),
      );
      hub.publish('gatehouse/bridge/response/door.list', '{not json');
      hub.publish(
        topic.replace('request', 'response'),
        JSON.stringify({ ok: true, result: { doors: [] }, transaction }),
      );
    };
    hub.on('message', onRequest);
    try {
      expect(await connection.request('door.list', {})).toEqual({ ok: true, result: { doors: [] } });
    } finally {
      hub.off('message', onRequest);
    }
    await hub.publishAsync(
      'gatehouse/bridge/event',
      JSON.stringify({ type: 'doorbell', door: 'front', seq: 1, ts: 2 }),
    );
    await hub.publishAsync('gatehouse/bridge/event', '[1,2]');
    await waitFor(() => events.length > 0, 'the bridge event');
    expect(events).toEqual([{ type: 'doorbell', door: 'front', seq: 1, ts: 2 }]);
    stop();
  });

  it('times out after 5 s when the hub does not answer, and answers busy at once over 50 waiting', async () => {
    const started = Date.now();
    const waiting = Array.from({ length: lib.MAX_IN_FLIGHT }, () => connection.request('door.list', {}));
    let settled = false;
    const all = Promise.all(waiting).then((answers) => {
      settled = true;
      return answers;
    });
    const over = await connection.request('door.list', {});
    expect(over).toEqual({ ok: false, error: { code: 'busy', message: expect.stringContaining('waiting') } });
    expect(settled).toBe(false); // answered before any of the 50 waiting ones
    const answers = await all;
    expect(Date.now() - started).toBeGreaterThanOrEqual(4900);
    expect(new Set(answers.map((a) => (a.ok ? 'ok' : a.error.code)))).toEqual(new Set(['timeout']));
  }, 20_000);

  it('answers waiting requests when the connection drops, and comes back by itself', async () => {
    await new Promise((resolve) => setTimeout(resolve, 5000)); // the request budget refills
    const states: string[] = [];
    const stop = connection.onState((state) => states.push(state));
    const pending = connection.request('door.list', {});
    await stopBroker();
    expect(await pending).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    expect(await connection.request('door.list', {})).toMatchObject({
      ok: false,
      error: { code: 'unavailable' },
    });
    await startBroker();
    await waitFor(() => connection.state === 'connected', 'reconnected', 30_000);
    expect(states).toEqual(expect.arrayContaining(['connected', 'disconnected', 'connecting']));
    stop();
    expect(logs.join('\n')).not.toContain('never-logged');
  }, 60_000);
});
