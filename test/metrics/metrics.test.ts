// /metrics on a real hub (docs/monitoring.md): cards presented at the simulated door, over MQTT and at a wired
// reader, then scraped over real HTTP(S) with the token and read with a Prometheus text-format parser.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimDoorHardware } from '../../adapters/factory.js';
import { isSimDoorHardware } from '../../adapters/factory.js';
import { Hub } from '../../hub/app.js';
import { createLogger } from '../../hub/logger.js';
import { createMetricsToken, disableMetricsToken } from '../../hub/metrics/token.js';
import { connectDoorDevice, present, removeDir, tempDataDir, testConfig } from '../helpers/hub.js';
import { call } from '../http/client.js';
import { rawRequest } from '../http/raw.js';
import { family, type Scrape, sample, scrape, value } from './scrape.js';

let dir: string;
let hub: Hub;
let port: number;
let staff: string;
let token: string;
let device: MqttClient | null = null;
let wired: SimDoorHardware;
const logLines: string[] = [];

const CARD = '04A22B1C';

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function simCard(value: string): Promise<{ granted: boolean; reason: string }> {
  const answer = await call(port, 'POST', '/sim/doors/sim-front/card', { body: { value }, token: staff });
  expect(answer.status).toBe(200);
  return answer.json.decision as { granted: boolean; reason: string };
}

function metrics(headers: Record<string, string> = {}, from?: string) {
  return rawRequest(port, '/metrics', { headers, ...(from ? { from } : {}) });
}

const decisions = (s: Scrape, labels: Record<string, string>) =>
  value(s, 'gatehouse_decisions_total', labels);

beforeAll(async () => {
  dir = tempDataDir();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  hub = new Hub({
    config: testConfig(dir, {
      simulation: { door: 'sim-front' },
      metrics: { requestsPerMinute: 40 },
      hardware: {
        driver: 'sim',
        doors: [
          {
            door: 'garage',
            lock: { gpio: 17 },
            readers: [{ id: 'garage-nfc', type: 'pn532', path: '/dev/serial0', pollMs: 20, timeoutMs: 200 }],
          },
        ],
      },
    }),
    logger: createLogger('info', sink),
  });
  await hub.start();
  port = hub.addresses().http.http!;
  const found = hub.wiredHardware('garage');
  if (!found || !isSimDoorHardware(found)) throw new Error('expected simulated wired hardware');
  wired = found;

  const store = hub.store;
  store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
  store.people.add({ id: 'ada', name: 'Ada', kind: 'resident' });
  store.credentials.addCard('ada', CARD);
  store.groups.add({ id: 'residents', name: 'Residents' });
  for (const door of ['sim-front', 'front', 'garage']) store.groups.addDoor('residents', door);
  store.groups.addMember('residents', 'ada');
  await store.users.add('alice', 'correct horse battery', 'admin');
  const login = await call(port, 'POST', '/session', {
    body: { username: 'alice', password: 'correct horse battery' },
  });
  staff = login.json.token as string;
}, 60_000);

afterAll(async () => {
  await device?.endAsync();
  await hub?.stop();
  removeDir(dir);
});

describe('/metrics', () => {
  it('is off (404) until a token is made, and refuses any request without that token (401)', async () => {
    const off = await metrics({ authorization: 'Bearer anything' });
    expect(off.status).toBe(404);
    expect(off.text).toMatch(/gatehouse metrics token/);

    token = createMetricsToken(dir).token;
    expect((await metrics()).status).toBe(401);
    expect((await metrics({ authorization: 'Bearer wrong-token' })).status).toBe(401);
    expect((await metrics({ authorization: `Bearer ${token}x` })).status).toBe(401);
    expect(
      (await metrics({ authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` })).status,
    ).toBe(401);
    const refused = await metrics({ authorization: 'Bearer wrong-token' });
    expect(refused.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(refused.text).not.toMatch(/gatehouse_/);

    const ok = await metrics({ authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    // The scheme is case-insensitive (RFC 9110); the token is not.
    expect((await metrics({ authorization: `bearer ${token}` })).status).toBe(200);
    expect((await metrics({ authorization: `Bearer ${token.toUpperCase()}` })).status).toBe(401);
  });

  it('counts every decision at the simulated door by door, result, reason and kind, exactly', async () => {
    const before = await scrape(port, token);
    expect((await simCard(CARD)).granted).toBe(true);
    expect((await simCard(CARD)).granted).toBe(true);
    for (const unknown of ['0A0B0C0D', '0A0B0C0E', '0A0B0C0F'])
      expect((await simCard(unknown)).granted).toBe(false);
    const after = await scrape(port, token);

    const labels = { door: 'sim-front', kind: 'card' };
    expect(
      decisions(after, { ...labels, result: 'granted', reason: 'granted' }) -
        decisions(before, { ...labels, result: 'granted', reason: 'granted' }),
    ).toBe(2);
    expect(
      decisions(after, { ...labels, result: 'denied', reason: 'unknown_credential' }) -
        decisions(before, { ...labels, result: 'denied', reason: 'unknown_credential' }),
    ).toBe(3);
    const total = (s: Scrape) =>
      (family(s, 'gatehouse_decisions_total')?.metrics ?? []).reduce((sum, m) => sum + Number(m.value), 0);
    expect(total(after) - total(before)).toBe(5);
    expect(family(after, 'gatehouse_decisions_total')?.type).toBe('COUNTER');
  });

  it('times decisions that arrive over MQTT in the latency histogram, one observation each', async () => {
    const secret = hub.store.devices.add('front-reader', { role: 'door', doors: ['front'] }).secret;
    device = await connectDoorDevice(hub.addresses().mqtt.tcp!, 'front-reader', secret, ['front']);
    await until('the device online', () => hub.broker.onlineDevices().includes('front-reader'));
    const before = await scrape(port, token);
    for (let i = 0; i < 4; i++) {
      const decision = await present(device, 'front', {
        id: `r${i}`,
        kind: 'card',
        value: i < 3 ? CARD : 'FFFF0001',
      });
      expect(decision.granted).toBe(i < 3);
    }
    const after = await scrape(port, token);
    expect(decisions(after, { door: 'front', result: 'granted', kind: 'card' })).toBe(3);
    expect(decisions(after, { door: 'front', result: 'denied', reason: 'unknown_credential' })).toBe(1);

    const latency = family(after, 'gatehouse_decision_latency_seconds');
    expect(latency?.type).toBe('HISTOGRAM');
    // One histogram without labels (docs/monitoring.md: the latency is the hub's, not a door's).
    const h = sample(after, 'gatehouse_decision_latency_seconds')!;
    const hBefore = sample(before, 'gatehouse_decision_latency_seconds');
    expect(Number(h.count) - Number(hBefore?.count ?? 0)).toBe(4);
    // Cumulative buckets: never decreasing, +Inf is the count, the sum is positive and below count × 2.5 s.
    // (Sorted by bound: an object puts the key "1" first.)
    const bounds = Object.keys(h.buckets!).sort(
      (a, b) => Number(a.replace('+Inf', 'Infinity')) - Number(b.replace('+Inf', 'Infinity')),
    );
    expect(bounds).toContain('+Inf');
    expect(bounds).toContain('0.001');
    const counts = bounds.map((b) => Number(h.buckets![b]));
    for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThanOrEqual(counts[i - 1]!);
    expect(Number(h.buckets!['+Inf'])).toBe(Number(h.count));
    expect(Number(h.sum)).toBeGreaterThan(0);
    expect(Number(h.sum)).toBeLessThan(Number(h.count) * 2.5);

    // Broker clients and devices, from the status at scrape time.
    expect(value(after, 'gatehouse_mqtt_clients', { state: 'authenticated' })).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'gatehouse_mqtt_clients', { state: 'connecting' })).toBeDefined();
    expect(value(after, 'gatehouse_mqtt_connections_shed', { reason: 'loopbackBudget' })).toBe(0);
    expect(value(after, 'gatehouse_mqtt_devices_online')).toBe(1);
    expect(value(after, 'gatehouse_door_online', { door: 'front' })).toBe(1);
  });

  it('counts a presentation at a door the hub does not have under door="unknown", not a new label', async () => {
    const before = await scrape(port, token);
    hub.bus.emit('presented', { doorId: 'no-such-door-4711', kind: 'card', value: CARD, readerId: 'x' });
    const after = await scrape(port, token);
    expect(
      decisions(after, { door: 'unknown', reason: 'invalid_request' }) -
        decisions(before, { door: 'unknown' }),
    ).toBe(1);
    expect(after.response.text).not.toContain('no-such-door-4711');
    const doorsLabelled = new Set(
      family(after, 'gatehouse_decisions_total')!.metrics.map((m) => m.labels!.door),
    );
    expect([...doorsLabelled].sort()).toEqual(['front', 'sim-front', 'unknown']);
  });

  it('shows reader health per reader, the door modes, the cloud link one-hot, memory and event-loop delay', async () => {
    const reader = () => hub.status().doors as Array<{ doorId: string; readers?: Array<{ state: string }> }>;
    await until(
      'reader online',
      () => reader().find((d) => d.doorId === 'garage')?.readers?.[0]?.state === 'online',
    );
    let s = await scrape(port, token);
    expect(value(s, 'gatehouse_reader_ok', { door: 'garage', reader: 'garage-nfc' })).toBe(1);

    wired.pn532('garage-nfc')!.emulator.silent = true;
    await until(
      'reader offline',
      () => reader().find((d) => d.doorId === 'garage')?.readers?.[0]?.state === 'offline',
    );
    s = await scrape(port, token);
    expect(value(s, 'gatehouse_reader_ok', { door: 'garage', reader: 'garage-nfc' })).toBe(0);
    wired.pn532('garage-nfc')!.emulator.silent = false;

    expect(value(s, 'gatehouse_door_mode', { door: 'sim-front', mode: 'normal' })).toBe(1);
    expect(value(s, 'gatehouse_door_mode', { door: 'sim-front', mode: 'lockdown' })).toBe(0);
    const cloud = family(s, 'gatehouse_cloud_link_state')!.metrics;
    expect(cloud.filter((m) => m.value === '1').map((m) => m.labels!.state)).toEqual(['disabled']);
    expect(cloud.length).toBe(5);
    expect(value(s, 'gatehouse_cloud_backlog_events')).toBe(0);
    expect(value(s, 'gatehouse_part_up', { part: 'decisions' })).toBe(1);
    expect(value(s, 'gatehouse_health_check', { check: 'overall' })).toBeLessThanOrEqual(1);
    expect(value(s, 'gatehouse_info', { version: hub.status().version as string })).toBe(1);
    expect(value(s, 'process_resident_memory_bytes')).toBeGreaterThan(10_000_000);
    const loop = family(s, 'gatehouse_event_loop_delay_seconds')!.metrics;
    expect(loop.map((m) => m.labels!.quantile).sort()).toEqual(['0.5', '0.99', 'max']);
    for (const m of loop) expect(Number(m.value)).toBeGreaterThan(0);
    // Node-RED is off in this hub: its state says so.
    const nodeRed = s.families.find((f) => f.name === 'gatehouse_nodered_state');
    expect(nodeRed!.metrics.filter((m) => m.value === '1').map((m) => m.labels!.state)).toEqual(['disabled']);
  }, 60_000);

  it('is served on the HTTPS listener too', async () => {
    const ca = readFileSync(path.join(dir, 'certs', 'ca.crt'), 'utf8');
    const s = await scrape(hub.addresses().http.https!, token, { ca });
    expect(family(s, 'gatehouse_decisions_total')).toBeDefined();
    const refused = await rawRequest(hub.addresses().http.https!, '/metrics', { ca });
    expect(refused.status).toBe(401);
  });

  it('refuses hostile Authorization headers and keeps serving', async () => {
    const from = '127.0.0.31';
    // Long but within Node's header limit: refused before hashing, 401.
    expect((await metrics({ authorization: `Bearer ${'a'.repeat(8_000)}` }, from)).status).toBe(401);
    // Beyond Node's 16 KB header limit: the HTTP parser answers 431 itself.
    const huge = await metrics({ authorization: `Bearer ${'a'.repeat(40_000)}` }, from).catch(() => null);
    expect(huge === null || huge.status === 431).toBe(true);
    // Non-ASCII bytes and control characters around a real token.
    const raw = (head: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port, localAddress: from });
        let text = '';
        socket.on('data', (d) => {
          text += d.toString('latin1');
        });
        socket.on('end', () => resolve(text));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
        socket.end(
          Buffer.from(`GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${head}\r\n`, 'latin1'),
        );
      });
    expect(await raw(`Authorization: Bearer ${token}\u00e9\r\n`)).toMatch(/^HTTP\/1\.1 401/);
    expect(await raw(`Authorization: Bearer \u00ff\u00fe${token}\r\n`)).toMatch(/^HTTP\/1\.1 401/);
    // Many Authorization headers: Node keeps the first; a wrong first one is refused whatever follows.
    const many = Array.from({ length: 50 }, (_, i) => `Authorization: Bearer wrong-${i}\r\n`).join('');
    expect(await raw(`${many}Authorization: Bearer ${token}\r\n`)).toMatch(/^HTTP\/1\.1 401/);
    // Two tokens in one header.
    expect((await metrics({ authorization: `Bearer ${token} ${token}` }, from)).status).toBe(401);
    // Still serving the right token.
    expect((await scrape(port, token)).families.length).toBeGreaterThan(10);
    // The token never reaches the log, nor the wrong ones.
    const log = logLines.join('');
    expect(log).not.toContain(token);
    expect(log).not.toContain('wrong-1');
    expect(log).toMatch(/\/metrics refused/);
  });

  it('limits requests per address (429 past metrics.requestsPerMinute) without starving other addresses', async () => {
    const from = '127.0.0.47';
    const statuses: number[] = [];
    for (let i = 0; i < 42; i++)
      statuses.push((await metrics({ authorization: 'Bearer nope' }, from)).status);
    expect(statuses.slice(0, 40).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(40)).toEqual([429, 429]);
    // The right token from that address is limited too (the budget is the address's, not the token's).
    expect((await metrics({ authorization: `Bearer ${token}` }, from)).status).toBe(429);
    expect((await metrics({ authorization: `Bearer ${token}` }, '127.0.0.48')).status).toBe(200);
  });

  it('follows the token file: a new token replaces the old at once, --disable turns it off (404)', async () => {
    const second = createMetricsToken(dir).token;
    expect((await metrics({ authorization: `Bearer ${token}` }, '127.0.0.51')).status).toBe(401);
    expect((await metrics({ authorization: `Bearer ${second}` }, '127.0.0.51')).status).toBe(200);
    expect(disableMetricsToken(dir)).toBe(true);
    expect((await metrics({ authorization: `Bearer ${second}` }, '127.0.0.51')).status).toBe(404);
    token = createMetricsToken(dir).token;
  });
});
