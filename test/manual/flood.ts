// Manual check for issue #8 §1 (not part of `npm test`): a hub in its own process, one device flooding
// credentials as fast as TCP takes them while another presents at 20/s on another door.
//   npm run build && npx tsx test/manual/flood.ts [floodSeconds=5]
//   OVERLOAD=1 npx tsx test/manual/flood.ts   20 devices on 20 doors offering OFFERED/s (default 8000) in total
// Prints one JSON report: the neighbour's answers and latency (idle, then under the flood), the
// flooder's answers by reason, and the hub's RSS.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import mqtt, { type MqttClient } from 'mqtt';
import { openHubStore } from '../../hub/open-store.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MAIN = process.env.HUB_MAIN ?? path.join(ROOT, 'dist/hub/main.js');
const FLOOD_SECONDS = Number(process.argv[2] ?? 5);
const CARD = '04A22B1C';
const DOORS = 20;

function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN);
  return Math.round(kb / 102.4) / 10;
}

/** CPU seconds the process has used (user + system). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! * 100) / 100;
}

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: percentile(sorted, 100),
  };
}

async function device(port: number, name: string, secret: string, door: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    username: name,
    password: secret,
    clientId: name,
    reconnectPeriod: 0,
  });
  (client.stream as unknown as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
  await client.subscribeAsync(`gatehouse/door/${door}/decision`, { qos: 0 });
  return client;
}

/** Presents at `rate`/s for `seconds` and measures each answer's latency by request id. */
async function paced(client: MqttClient, door: string, rate: number, seconds: number, prefix: string) {
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const reasons: Record<string, number> = {};
  const onMessage = (_t: string, payload: Buffer) => {
    const d = JSON.parse(payload.toString()) as { id: string; reason: string };
    const t0 = sentAt.get(d.id);
    if (t0 === undefined) return;
    sentAt.delete(d.id);
    latencies.push(performance.now() - t0);
    reasons[d.reason] = (reasons[d.reason] ?? 0) + 1;
  };
  client.on('message', onMessage);
  const start = performance.now();
  const count = Math.round(rate * seconds);
  for (let i = 0; i < count; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const id = `${prefix}${i}`;
    sentAt.set(id, performance.now());
    client.publish(`gatehouse/door/${door}/credential`, `{"id":"${id}","kind":"card","value":"${CARD}"}`, {
      qos: 0,
    });
  }
  await new Promise((r) => setTimeout(r, 1000));
  client.off('message', onMessage);
  return { sent: count, lost: sentAt.size, reasons, latencyMs: stats(latencies) };
}

/** QoS 0 PUBLISH packets, encoded once: the flooder spends no time per message, the hub all of it. */
function floodBuffer(door: string): { chunk: Buffer; packets: number } {
  const topic = Buffer.from(`gatehouse/door/${door}/credential`);
  const payload = Buffer.from(`{"id":"f","kind":"card","value":"${CARD}"}`);
  const body = Buffer.concat([Buffer.from([topic.length >> 8, topic.length & 0xff]), topic, payload]);
  const one = Buffer.concat([Buffer.from([0x30, body.length]), body]);
  const packets = Math.floor(65536 / one.length);
  return { chunk: Buffer.concat(Array(packets).fill(one)), packets };
}

/** Writes credentials on the device's own socket as fast as TCP takes them. */
async function flood(client: MqttClient, door: string, seconds: number) {
  const reasons: Record<string, number> = {};
  client.on('message', (_t, payload) => {
    const reason = (JSON.parse(payload.toString()) as { reason: string }).reason;
    reasons[reason] = (reasons[reason] ?? 0) + 1;
  });
  const stream = client.stream as unknown as NodeJS.WritableStream & { writableLength: number };
  const { chunk, packets } = floodBuffer(door);
  const end = Date.now() + seconds * 1000;
  let sent = 0;
  while (Date.now() < end && client.connected) {
    sent += packets;
    if (!stream.write(chunk)) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 100);
        stream.once('drain', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
  return { sent, reasons };
}

async function main(): Promise<void> {
  if (!existsSync(MAIN)) throw new Error('run `npm run build` first');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gh-flood-'));
  const opened = openHubStore(dataDir);
  const { store } = opened;
  const secrets: string[] = [];
  store.people.add({ id: 'ada', name: 'Ada', kind: 'resident' });
  store.credentials.addCard('ada', CARD);
  store.groups.add({ id: 'residents', name: 'Residents' });
  store.groups.addMember('residents', 'ada');
  for (let d = 0; d < DOORS; d++) {
    store.doors.add({ id: `door${d}`, name: `Door ${d}`, transport: 'mqtt' });
    store.groups.addDoor('residents', `door${d}`);
    secrets.push(store.devices.add(`reader${d}`, { role: 'door', doors: [`door${d}`] }).secret);
  }
  opened.close();

  const overload = process.env.OVERLOAD === '1';
  const child = spawn(process.execPath, ['--max-semi-space-size=4', MAIN, 'start'], {
    env: {
      ...process.env,
      GATEHOUSE_DATA: dataDir,
      GATEHOUSE_LOG_LEVEL: 'info',
      GATEHOUSE_SIMULATION_DOOR: '',
      GATEHOUSE_MQTT_TCP_PORT: '0',
      GATEHOUSE_MQTT_TLS_PORT: '0',
      GATEHOUSE_HTTP_HTTP_PORT: '0',
      GATEHOUSE_HTTP_HTTPS_PORT: '0',
      // The overload run gives every device room for its share of the offered load.
      ...(overload
        ? {
            GATEHOUSE_MQTT_LIMITS_CREDENTIALS_PER_SECOND: '2000',
            GATEHOUSE_MQTT_LIMITS_CREDENTIAL_BURST: '2000',
            GATEHOUSE_MQTT_LIMITS_MAX_UNANSWERED_PER_DEVICE: '1000',
          }
        : {}),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let logLines = 0;
  const port = await new Promise<number>((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`hub exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      logLines++;
      try {
        const entry = JSON.parse(line) as { msg?: string; mqtt?: { tcp: number } };
        if (entry.msg === 'deciding' && entry.mqtt) resolve(entry.mqtt.tcp);
      } catch {}
    });
  });
  const pid = child.pid!;
  const rss = { idle: rssMiB(pid), peak: 0 };
  const sampler = setInterval(() => {
    rss.peak = Math.max(rss.peak, rssMiB(pid));
  }, 100);
  let report: Record<string, unknown>;
  try {
    if (overload) {
      const offered = Number(process.env.OFFERED ?? 8000);
      const clients = await Promise.all(secrets.map((s, d) => device(port, `reader${d}`, s, `door${d}`)));
      await Promise.all(clients.map((c, d) => paced(c, `door${d}`, 20, 1, 'w')));
      const results = await Promise.all(clients.map((c, d) => paced(c, `door${d}`, offered / DOORS, 5, 'o')));
      const reasons: Record<string, number> = {};
      for (const r of results)
        for (const [k, v] of Object.entries(r.reasons)) reasons[k] = (reasons[k] ?? 0) + v;
      const answered = results.reduce((sum, r) => sum + r.latencyMs.n, 0);
      report = {
        offeredPerSecond: offered,
        seconds: 5,
        answeredPerSecond: Math.round(answered / 5),
        decidedPerSecond: Math.round((answered - (reasons.rate_limited ?? 0)) / 5),
        lost: results.reduce((sum, r) => sum + r.lost, 0),
        reasons,
        p50PerDevice: results.map((r) => r.latencyMs.p50),
        p99PerDevice: results.map((r) => r.latencyMs.p99),
      };
      await Promise.all(clients.map((c) => c.endAsync(true)));
    } else {
      const flooder = await device(port, 'reader0', secrets[0]!, 'door0');
      const neighbour = await device(port, 'reader1', secrets[1]!, 'door1');
      await paced(neighbour, 'door1', 20, 1, 'w'); // warm-up
      const idle = await paced(neighbour, 'door1', 20, 3, 'i');
      const cpuBefore = cpuSeconds(pid);
      const [flooded, underFlood] = await Promise.all([
        flood(flooder, 'door0', FLOOD_SECONDS),
        paced(neighbour, 'door1', 20, FLOOD_SECONDS, 'n'),
      ]);
      report = {
        floodSeconds: FLOOD_SECONDS,
        neighbourIdle: idle,
        neighbourUnderFlood: underFlood,
        flooder: flooded,
        hubCpuSecondsDuringFlood: Math.round((cpuSeconds(pid) - cpuBefore) * 10) / 10,
      };
      // The flooder's socket still holds megabytes the hub has not read (TCP backpressure): drop it.
      await flooder.endAsync(true);
      await neighbour.endAsync();
    }
  } finally {
    clearInterval(sampler);
  }
  const stopStarted = performance.now();
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  console.log(
    JSON.stringify(
      {
        ...report,
        hubRssMiB: rss,
        hubLogLines: logLines,
        stopMs: Math.round(performance.now() - stopStarted),
        exitCode: code,
      },
      null,
      2,
    ),
  );
  rmSync(dataDir, { recursive: true, force: true });
}

await main();
