// Shared test rig: a real broker on 127.0.0.1 port 0, an in-memory device directory,
// real mqtt.js clients and mosquitto's command-line clients spawned asynchronously.
import { spawn } from 'node:child_process';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { DeviceDirectory, DeviceIdentity } from '../../hub/broker/index.js';
import { MqttBroker, type MqttBrokerOptions } from '../../hub/broker/index.js';
import { type BusEvents, EventBus } from '../../hub/bus.js';

export class MemoryDirectory implements DeviceDirectory {
  readonly #devices = new Map<string, { secret: string; identity: DeviceIdentity }>();

  add(identity: DeviceIdentity, secret: string): void {
    this.#devices.set(identity.id, { secret, identity });
  }

  authenticate(username: string, secret: string): DeviceIdentity | null {
    const device = this.#devices.get(username);
    return device && device.secret === secret
      ? { ...device.identity, doors: [...device.identity.doors] }
      : null;
  }
}

export const FRONT = { id: 'front-reader', secret: 'front-secret', doors: ['front'] };
export const BACK = { id: 'back-reader', secret: 'back-secret', doors: ['back'] };
export const NODE_RED = { id: 'node-red', secret: 'integration-secret' };

export interface Rig {
  broker: MqttBroker;
  bus: EventBus;
  directory: MemoryDirectory;
  port: number;
  /** Every bus event the broker emitted, in order. */
  seen: Array<{ event: keyof BusEvents; args: unknown[] }>;
  stop(): Promise<void>;
}

export async function startRig(overrides: Partial<MqttBrokerOptions> = {}): Promise<Rig> {
  const bus = new EventBus();
  const directory = new MemoryDirectory();
  directory.add({ id: FRONT.id, role: 'door', doors: FRONT.doors }, FRONT.secret);
  directory.add({ id: BACK.id, role: 'door', doors: BACK.doors }, BACK.secret);
  directory.add({ id: NODE_RED.id, role: 'integration', doors: [] }, NODE_RED.secret);
  const broker = new MqttBroker({
    baseTopic: 'gatehouse',
    tcp: { host: '127.0.0.1', port: 0 },
    tls: null,
    directory,
    bus,
    ...overrides,
    // The rig has no decision service: presentations stay unanswered, so that bound must not bite.
    limits: { maxUnansweredPerDevice: 10_000, maxUnanswered: 10_000, ...overrides.limits },
  });
  const seen: Rig['seen'] = [];
  const owner = {};
  for (const event of ['presented', 'doorReport', 'doorInput'] as const) {
    bus.on(owner, event, (...args: unknown[]) => seen.push({ event, args }));
  }
  await broker.start();
  const port = broker.addresses().tcp;
  if (port === undefined) throw new Error('no tcp port');
  return {
    broker,
    bus,
    directory,
    port,
    seen,
    stop: async () => {
      bus.removeAll(owner);
      await broker.stop();
    },
  };
}

const openClients = new Set<MqttClient>();

export async function connect(
  port: number,
  account: { id: string; secret: string } | null,
  options: IClientOptions = {},
): Promise<MqttClient> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...(account ? { username: account.id, password: account.secret } : {}),
    ...options,
  });
  openClients.add(client);
  return client;
}

/** Closes every client opened with connect(); call in afterEach. */
export async function closeClients(): Promise<void> {
  await Promise.all([...openClients].map((c) => c.endAsync(true).catch(() => {})));
  openClients.clear();
}

/** Connect and expect a refusal; resolves with the CONNACK return code mqtt.js reports. */
export async function connectRefused(
  port: number,
  options: IClientOptions,
): Promise<number | string | undefined> {
  try {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...options,
    });
    await client.endAsync(true);
  } catch (error) {
    return (error as { code?: number | string }).code;
  }
  throw new Error('connection was accepted');
}

export interface Received {
  topic: string;
  text: string;
  json: unknown;
  retain: boolean;
}

/** Waits for the next message on `topic` at `client` (subscribe first). */
export function nextMessage(client: MqttClient, topic: string, timeoutMs = 5000): Promise<Received> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`no message on ${topic} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (t: string, payload: Buffer, packet: { retain?: boolean }) => {
      if (t !== topic) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      const text = payload.toString('utf8');
      let json: unknown = null;
      try {
        json = JSON.parse(text);
      } catch {}
      resolve({ topic: t, text, json, retain: packet.retain === true });
    };
    client.on('message', onMessage);
  });
}

/** Collects messages on a topic until stopped. */
export function collect(client: MqttClient, topic: string): { messages: Received[]; stop(): void } {
  const messages: Received[] = [];
  const onMessage = (t: string, payload: Buffer, packet: { retain?: boolean }) => {
    if (t !== topic) return;
    const text = payload.toString('utf8');
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {}
    messages.push({ topic: t, text, json, retain: packet.retain === true });
  };
  client.on('message', onMessage);
  return { messages, stop: () => client.off('message', onMessage) };
}

/** Resolves when the bus has emitted `event` `count` times in total (in `seen`). */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface Spawned {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command asynchronously (never execFileSync: the broker lives in this process). */
export function run(command: string, args: string[], timeoutMs = 10_000): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Starts mosquitto_sub in debug mode and resolves once its SUBACK arrived, so a test can publish
 * knowing the subscriber is in place. `done` resolves when it exits.
 */
export function startMosquittoSub(
  args: string[],
  timeoutMs = 10_000,
): Promise<{ done: Promise<Spawned>; kill(): void }> {
  return new Promise((resolveReady, rejectReady) => {
    // stdbuf: mosquitto_sub block-buffers stdout into a pipe; the SUBACK line must arrive at once.
    const child = spawn('stdbuf', ['-oL', 'mosquitto_sub', '-d', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let ready = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const done = new Promise<Spawned>((resolve) => {
      child.on('close', (code) => {
        clearTimeout(timer);
        if (!ready) rejectReady(new Error(`mosquitto_sub exited early: ${stdout}${stderr}`));
        resolve({ code, stdout, stderr });
      });
    });
    child.on('error', rejectReady);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!ready && stdout.includes('SUBACK')) {
        ready = true;
        resolveReady({ done, kill: () => child.kill('SIGKILL') });
      }
    });
  });
}

/** The payload lines of mosquitto_sub -d output (debug lines start with "Client "). */
export function payloadLines(stdout: string): string[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('Client ') && !line.startsWith('Subscribed'));
}

/** SUBSCRIBE and return the granted codes from the SUBACK (128 = refused), refused or not. */
export async function subscribeGranted(client: MqttClient, filters: string[]): Promise<number[]> {
  try {
    const granted = await client.subscribeAsync(filters, { qos: 1 });
    return granted.map((g) => g.qos);
  } catch (error) {
    const packet = (error as { packet?: { granted?: Array<number | { qos: number }> } }).packet;
    if (!packet?.granted) throw error;
    return packet.granted.map((g) => (typeof g === 'number' ? g : g.qos));
  }
}
