// Test harness: a real hub (in-process or as a child process) on a temp data dir with free ports.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import mqtt, { type MqttClient } from 'mqtt';
import { Hub, type HubOptions } from '../../hub/app.js';
import { type Config, resolveConfig } from '../../hub/config/index.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const MAIN = path.join(ROOT, 'dist/hub/main.js');

export function tempDataDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'gh-'));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function testConfig(dataDir: string, extra: Record<string, unknown> = {}): Config {
  return resolveConfig({
    dataDir,
    simulation: { door: '' },
    mqtt: { tcp: { port: 0 }, tls: { port: 0, host: '127.0.0.1' } },
    http: { http: { port: 0 }, https: { port: 0, host: '127.0.0.1' } },
    nodeRed: { enabled: false }, // on where a test needs it (test/nodered/)
    ...extra,
  });
}

export async function startHub(
  dataDir: string,
  extra: Record<string, unknown> = {},
  options: Omit<HubOptions, 'config'> = {},
): Promise<Hub> {
  const hub = new Hub({ ...options, config: testConfig(dataDir, extra) });
  await hub.start();
  return hub;
}

/** Environment for a child hub/CLI process on `dataDir` with free ports. */
export function hubEnv(dataDir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GATEHOUSE_DATA: dataDir,
    GATEHOUSE_SIMULATION_DOOR: '',
    GATEHOUSE_MQTT_TCP_PORT: '0',
    GATEHOUSE_MQTT_TLS_PORT: '0',
    GATEHOUSE_MQTT_TLS_HOST: '127.0.0.1',
    GATEHOUSE_HTTP_HTTP_PORT: '0',
    GATEHOUSE_HTTP_HTTPS_PORT: '0',
    GATEHOUSE_HTTP_HTTPS_HOST: '127.0.0.1',
    GATEHOUSE_NODE_RED_ENABLED: 'false',
  };
}

/** Runs `gatehouse <args>` as the operator would (the compiled CLI in a child process). */
export function cli(
  dataDir: string,
  args: string[],
  input?: string,
  timeoutMs = 20_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [MAIN, ...args],
      { env: hubEnv(dataDir), timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

export interface HubProcess {
  child: ChildProcess;
  mqttPort: number;
  logs: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

/** Starts `gatehouse start` in a child process and waits for "deciding". */
export async function spawnHub(dataDir: string, env: NodeJS.ProcessEnv = {}): Promise<HubProcess> {
  const child = spawn(process.execPath, [MAIN, 'start'], {
    env: { ...hubEnv(dataDir), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const ready = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hub did not start in 20 s:\n${stderr}`)), 20_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.msg === 'deciding') {
        clearTimeout(timer);
        resolve((entry.mqtt as { tcp: number }).tcp);
      }
    });
    void exited.then((code) => reject(new Error(`hub exited with ${code} before deciding:\n${stderr}`)));
  });
  const mqttPort = await ready;
  return { child, mqttPort, logs, exited };
}

/** A door device: connected and subscribed to the decisions and lock commands of its doors. */
export async function connectDoorDevice(
  port: number,
  username: string,
  password: string,
  doors: string[],
): Promise<MqttClient> {
  const client = await connectDevice(port, username, password);
  await client.subscribeAsync(
    doors.flatMap((d) => [`gatehouse/door/${d}/decision`, `gatehouse/door/${d}/set`]),
    { qos: 1 },
  );
  return client;
}

export async function connectDevice(port: number, username: string, password: string): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    username,
    password,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    clientId: `${username}-${Math.random().toString(16).slice(2, 8)}`,
  });
}

/** Sends a credential and resolves with the decision that echoes its id. */
export function present(
  client: MqttClient,
  doorId: string,
  body: { id: string; kind: string; value: string; reader?: string },
  timeoutMs = 5000,
): Promise<{ id: string; granted: boolean; reason: string; unlockMs?: number }> {
  return new Promise((resolve, reject) => {
    const topic = `gatehouse/door/${doorId}/decision`;
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`no decision for ${body.id} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (t: string, payload: Buffer) => {
      if (t !== topic) return;
      const d = JSON.parse(payload.toString()) as { id: string; granted: boolean; reason: string };
      if (d.id !== body.id) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve(d);
    };
    client.on('message', onMessage);
    client.publish(`gatehouse/door/${doorId}/credential`, JSON.stringify(body), { qos: 1 });
  });
}
