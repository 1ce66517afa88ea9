// Mobile keys and door sync, measured in-process on loopback with the real parts:
// - LAN challenge–response round trip (HTTP: challenge + respond, the phone signing in between),
//   against a baseline of two bare HTTP round trips to the same server in the same run;
// - the same exchange through an MQTT reader (credential 'challenge' → challenge → credential → decision);
// - a CLI revocation (another connection) until an emulated door controller's copy refuses the card.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import rateLimit from '@fastify/rate-limit';
import Fastify from 'fastify';
import mqtt, { type MqttClient } from 'mqtt';
import { MqttBroker } from '../hub/broker/index.js';
import { EventBus } from '../hub/bus.js';
import { DoorCopy } from '../hub/doorsync/copy.js';
import { DoorSync } from '../hub/doorsync/service.js';
import { registerMobileRoutes } from '../hub/mobile/http.js';
import { IssuerKey, issueMobileKey, trustedIssuers } from '../hub/mobile/issuer.js';
import { httpRequester, Phone, presentOverApi } from '../hub/mobile/phone.js';
import { MobileAccess } from '../hub/mobile/service.js';
import { MobileVerifier } from '../hub/mobile/verifier.js';
import { openHubStore } from '../hub/open-store.js';
import { CARD_HASH_PURPOSE } from '../hub/store/migrations.js';
import { BUSY_CONTROLLER_LIMITS } from './hub-process.js';
import { type Figure, formatNumber, type SuiteResult } from './report.js';
import { summarize } from './stats.js';

const EXCHANGES = Number(process.env.BENCH_MOBILE_EXCHANGES ?? 300);
const REVOCATIONS = Number(process.env.BENCH_MOBILE_REVOCATIONS ?? 20);
const WARMUP = 20;

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

export async function benchMobile(): Promise<SuiteResult> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gh-bench-mobile-'));
  const opened = openHubStore(dataDir);
  const { store } = opened;
  const bus = new EventBus();
  store.events.onStored((events) => {
    for (const e of events) bus.emit('event', e);
  });
  store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
  store.people.add({ id: 'anna', name: 'Anna', kind: 'resident' });
  store.groups.add({ id: 'residents', name: 'Residents' });
  store.groups.addDoor('residents', 'front');
  store.groups.addMember('residents', 'anna');
  const { secret } = store.devices.add('front-reader', { role: 'door', doors: ['front'] });
  const issuer = IssuerKey.loadOrCreate(dataDir);
  const phone = Phone.generate();
  phone.install(
    issueMobileKey(store, issuer, { personId: 'anna', phonePublicKey: phone.publicKey, doors: ['front'] })
      .certificate,
  );

  const broker = new MqttBroker({
    tcp: { host: '127.0.0.1', port: 0 },
    tls: null,
    directory: { authenticate: (u, s) => store.devices.verify(u, s) },
    bus,
    limits: BUSY_CONTROLLER_LIMITS, // the bench measures the exchange, not a reader's budget
  });
  const verifier = new MobileVerifier({
    store,
    issuers: trustedIssuers(issuer),
    timeZone: 'UTC',
    maxOutstandingChallenges: 100_000,
  });
  const mobile = new MobileAccess({
    store,
    bus,
    verifier,
    publishToDoor: (d, c, p, r) => broker.publishToDoor(d, c, p, r),
    // The bench measures the exchange itself, not the budgets of a LAN flood.
    limits: {
      challengesPerMinutePerAddress: 1_000_000,
      responsesPerMinutePerAddress: 1_000_000,
      perAddressBurst: 1_000_000,
      challengesPerSecondPerDoor: 1_000_000,
    },
  });
  const doorSync = new DoorSync({
    store,
    bus,
    signingKey: issuer.privateKey,
    publish: (d, c, m, r) => broker.publishToDoor(d, c, m, r),
    pinKey: opened.keys.subkey('pin'),
    cardKey: opened.keys.subkey(CARD_HASH_PURPOSE),
    timeZone: 'UTC',
  });
  const app = Fastify();
  await app.register(rateLimit, { global: false });
  await app.register(async (api) => registerMobileRoutes(api, { mobile, store }), { prefix: '/api/v1' });
  app.post('/api/v1/echo', async (request) => request.body);
  await broker.start();
  await mobile.start();
  await doorSync.start();
  // The hub's store watch: how CLI changes reach the running parts (200 ms, as in hub/app.ts).
  const unwatch = store.watch(200, (events) => {
    for (const e of events) bus.emit('event', e);
    bus.emit('storeChanged');
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const request = httpRequester(base);
  let reader: MqttClient | null = null;
  try {
    // --- LAN (HTTP), with a baseline of two bare round trips on the same server.
    const lan: number[] = [];
    const baseline: number[] = [];
    const fields = { door: 'front' };
    for (let i = 0; i < EXCHANGES + WARMUP; i++) {
      let start = process.hrtime.bigint();
      await request('/echo', fields);
      await request('/echo', fields);
      if (i >= WARMUP) baseline.push(ms(start));
      start = process.hrtime.bigint();
      const result = await presentOverApi(phone, 'front', request);
      if (!result.granted) throw new Error(`bench exchange refused: ${result.reason}`);
      if (i >= WARMUP) lan.push(ms(start));
    }

    // --- MQTT reader.
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.addresses().tcp}`, {
      username: 'front-reader',
      password: secret,
      reconnectPeriod: 0,
    });
    reader = client;
    // TCP_NODELAY: without it every QoS 1 round trip waits on delayed ACKs (docs/mqtt.md §1.3).
    (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    await client.subscribeAsync('gatehouse/door/front/#', { qos: 1 });
    const waiting = new Map<string, (body: Record<string, unknown>) => void>();
    client.on('message', (topic, payload) => {
      if (!topic.endsWith('/challenge') && !topic.endsWith('/decision')) return;
      const body = JSON.parse(payload.toString()) as Record<string, unknown>;
      waiting.get(String(body.id))?.(body);
    });
    const send = (id: string, value: string) =>
      new Promise<Record<string, unknown>>((resolve) => {
        waiting.set(id, (body) => {
          waiting.delete(id);
          resolve(body);
        });
        client.publish('gatehouse/door/front/credential', JSON.stringify({ id, kind: 'mobile', value }), {
          qos: 1,
        });
      });
    const overMqtt: number[] = [];
    for (let i = 0; i < EXCHANGES + WARMUP; i++) {
      const start = process.hrtime.bigint();
      const { challenge } = (await send(`c${i}`, 'challenge')) as { challenge: string };
      const decision = await send(`r${i}`, phone.answer(challenge, 'front'));
      if (decision.granted !== true)
        throw new Error(`bench MQTT exchange refused: ${String(decision.reason)}`);
      if (i >= WARMUP) overMqtt.push(ms(start));
    }

    // --- CLI revocation → emulated door controller's copy.
    const copy = new DoorCopy('front', issuer.publicKey);
    const door = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.addresses().tcp}`, {
      username: 'front-reader',
      password: secret,
      reconnectPeriod: 0,
      clientId: 'bench-door-copy',
    });
    door.on('message', (_t, payload) => copy.apply(payload));
    await door.subscribeAsync('gatehouse/door/front/sync/#', { qos: 1 });
    await waitUntil(() => copy.version > 0, 5000);
    const revocation: number[] = [];
    for (let i = 0; i < REVOCATIONS; i++) {
      const card = `04AB${String(i).padStart(4, '0')}`;
      const id = store.credentials.addCard('anna', card).id;
      await waitUntil(() => copy.decide('card', card, Date.now()).granted, 5000);
      const cli = openHubStore(dataDir);
      const start = process.hrtime.bigint();
      cli.store.credentials.revoke(id, 'bench');
      cli.close();
      await waitUntil(() => !copy.decide('card', card, Date.now()).granted, 5000);
      revocation.push(ms(start));
    }
    await door.endAsync(true);

    const lanSummary = summarize(lan);
    const baseSummary = summarize(baseline);
    const overMqttSummary = summarize(overMqtt);
    const revocationSummary = summarize(revocation);
    const figures: Figure[] = [
      {
        name: 'mobile key over the LAN (challenge + respond) p50',
        value: lanSummary.p50,
        unit: 'ms',
        baseline: { name: 'two bare HTTP round trips p50', value: baseSummary.p50 },
        note: `p99 ${formatNumber(lanSummary.p99)} ms`,
      },
      {
        name: 'mobile key through an MQTT reader p99',
        value: overMqttSummary.p99,
        unit: 'ms',
        note: `p50 ${formatNumber(overMqttSummary.p50)} ms`,
      },
      {
        name: 'CLI revocation → door-side copy refuses p99',
        value: revocationSummary.p99,
        unit: 'ms',
        goal: { op: '<=', value: 1000, source: 'docs/benchmarks.md' },
      },
    ];
    return {
      figures,
      mobileLanRoundTripMs: lanSummary,
      httpBaselineTwoRoundTripsMs: baseSummary,
      mobileLanP50VsBaseline: Math.round((lanSummary.p50 / baseSummary.p50) * 100) / 100,
      mobileMqttRoundTripMs: overMqttSummary,
      cliRevocationToDoorCopyMs: { ...revocationSummary, budgetMs: 1000 },
    };
  } finally {
    await reader?.endAsync(true);
    unwatch();
    await app.close();
    await doorSync.stop();
    await mobile.stop();
    await broker.stop();
    await store.stop();
    opened.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// `node dist/bench/mobile.js` runs it alone.
if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  benchMobile().then(
    (report) => process.stdout.write(`${JSON.stringify(report, null, 2)}\n`),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
