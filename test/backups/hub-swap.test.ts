// docs/replace-a-hub.md, end to end: a scheduled backup taken while a real hub answers a door over MQTT
// (TLS, the hub's CA), restored with the compiled CLI onto a "new hub" (a fresh data dir), and the
// cloud link of the new hub against the development cloud.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import type { BackupsStatus } from '../../hub/backups/index.js';
import type { Store } from '../../hub/store/store.js';
import { HUB_ID, startCloud, type TestCloud } from '../cloud/helpers.js';
import { present, removeDir, cli as runCli, startHub, tempDataDir } from '../helpers/hub.js';

const PASS = 'lighthouse keeper 1904 plum';
const CARD = '04A22B1C9F';

const dirs: string[] = [];
const hubs: Hub[] = [];
const clients: MqttClient[] = [];
const clouds: TestCloud[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.endAsync(true);
  for (const hub of hubs.splice(0)) await hub.stop();
  for (const c of clouds.splice(0)) await c.cloud.stop();
  for (const dir of dirs.splice(0)) removeDir(dir);
});

function newDir(): string {
  const dir = tempDataDir();
  dirs.push(dir);
  return dir;
}

function cloudConfig(cloud: TestCloud) {
  return {
    enabled: true,
    address: `127.0.0.1:${cloud.port}`,
    hubId: HUB_ID,
    token: cloud.token,
    caFile: cloud.caFile,
    serverName: 'localhost',
    backoff: { minMs: 50, maxMs: 400 },
    keepaliveMs: 300,
    ackTimeoutMs: 2000,
    connectTimeoutMs: 2000,
    maxEventsPerSecond: 1_000_000,
  };
}

const hubConfig = (cloud: TestCloud) => ({
  timeZone: 'UTC',
  offline: { clock: { rtc: true, ntpCheck: false } },
  cloud: cloudConfig(cloud),
  backups: { enabled: true },
});

/** The door controller: MQTT over TLS, trusting only the CA file it was given at installation. */
async function connectOverTls(hub: Hub, caPem: string, secret: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${hub.addresses().mqtt.tls}`, {
    username: 'front-reader',
    password: secret,
    ca: caPem,
    rejectUnauthorized: true,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    clientId: `front-reader-${Math.random().toString(16).slice(2, 8)}`,
  });
  clients.push(client);
  await client.subscribeAsync('gatehouse/door/front/decision', { qos: 1 });
  return client;
}

function records(store: Store) {
  return {
    people: store.people.list(),
    credentials: store.credentials.list({ limit: 1000 }),
    doors: store.doors.list(),
    devices: store.devices.list(),
    groups: store.groups.list(),
  };
}

async function waitFor<T>(probe: () => T | null | undefined | false, what: string, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** What the cloud holds for the hub, compared with the hub's own log: every seq once, same hashes. */
function cloudMatches(cloud: TestCloud, store: Store): { stored: number; mismatches: number[] } {
  const last = store.events.list({ limit: 1 })[0]!.seq;
  const mine = new Map(store.events.list({ limit: 100_000, oldestFirst: true }).map((e) => [e.seq, e.hash]));
  const theirs: Array<{ seq: number; hash: string }> = [];
  for (let after = 0; ; ) {
    const page = cloud.cloud.store.events(HUB_ID, after, 1000);
    if (page.length === 0) break;
    theirs.push(...page);
    after = page[page.length - 1]!.seq;
  }
  const mismatches = theirs.filter((e, i) => e.seq !== i + 1 || mine.get(e.seq) !== e.hash).map((e) => e.seq);
  if (theirs.length !== last) mismatches.push(-1);
  return { stored: theirs.length, mismatches };
}

describe('replacing a hub from its scheduled backup', () => {
  it('records, keys, CA and event chain come back; the cloud link resumes exactly once', async () => {
    const oldDir = newDir();
    const cloudDir = newDir();
    let cloud = await startCloud(cloudDir);
    clouds.push(cloud);
    writeFileSync(path.join(oldDir, 'backup.passphrase'), `${PASS}\n`, { mode: 0o600 });
    const oldHub = await startHub(oldDir, hubConfig(cloud));
    hubs.push(oldHub);
    const admin = oldHub.store.as('cli:test');
    admin.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
    admin.people.add({ id: 'ada', name: 'Ada', kind: 'resident' });
    admin.credentials.addCard('ada', CARD);
    admin.groups.add({ id: 'residents', name: 'Residents' });
    admin.groups.addDoor('residents', 'front');
    admin.groups.addMember('residents', 'ada');
    const { secret } = admin.devices.add('front-reader', { role: 'door', doors: ['front'] });
    // The file every door controller was given at installation.
    const caFile = readFileSync(path.join(oldDir, 'certs', 'ca.crt'), 'utf8');
    const door = await connectOverTls(oldHub, caFile, secret);
    expect((await present(door, 'front', { id: 'first', kind: 'card', value: CARD })).reason).toBe('granted');
    await waitFor(
      () => oldHub.store.events.list({ limit: 1 })[0]!.seq === cloud.cloud.store.storedSeq(HUB_ID),
      'cloud caught up',
    );

    // The building's internet goes down (the cloud is gone until after the swap).
    await cloud.cloud.stop();
    clouds.splice(0);

    // The scheduled backup, while the door keeps presenting cards.
    let presenting = true;
    const latencies: number[] = [];
    let n = 0;
    const tapping = (async () => {
      while (presenting) {
        const at = performance.now();
        const decision = await present(door, 'front', { id: `t${++n}`, kind: 'card', value: CARD });
        latencies.push(performance.now() - at);
        expect(decision.reason).toBe('granted');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    // The same presentations with no backup first, to compare (informational: speed belongs in bench/).
    const idle = monitorEventLoopDelay({ resolution: 5 });
    idle.enable();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    idle.disable();
    const idleLatencies = latencies.splice(0);
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    const run = await oldHub.backups!.runNow();
    loop.disable();
    const duringBackup = latencies.length;
    presenting = false;
    await tapping;
    expect(run).toMatchObject({ ok: true, error: null });
    expect(duringBackup).toBeGreaterThan(0); // doors were answered while the backup ran
    console.info(
      `during the backup: ${duringBackup} decisions, slowest ${Math.max(...latencies).toFixed(1)} ms; ` +
        `event loop delay max ${(loop.max / 1e6).toFixed(1)} ms, p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms; ` +
        `without a backup: slowest ${Math.max(...idleLatencies).toFixed(1)} ms, event loop delay max ` +
        `${(idle.max / 1e6).toFixed(1)} ms, p99 ${(idle.percentile(99) / 1e6).toFixed(1)} ms`,
    );
    const status = oldHub.status().backups as BackupsStatus;
    expect(status.lastSuccess).toEqual({ at: expect.any(Number), file: run.file, bytes: run.bytes });
    const before = records(oldHub.store);

    // The old Pi fails. A new one is installed; the backup is restored with the compiled CLI.
    await oldHub.stop();
    hubs.splice(0);
    const newHubDir = newDir();
    const restored = await runCli(newHubDir, ['restore', run.file!], `${PASS}\n`, 120_000);
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);

    cloud = await startCloud(cloudDir, cloud.port, cloud.token);
    clouds.push(cloud);
    const newHub = await startHub(newHubDir, hubConfig(cloud));
    hubs.push(newHub);
    expect(records(newHub.store)).toEqual(before);
    const verify = await runCli(newHubDir, ['events', 'verify'], undefined, 120_000);
    expect(verify.stdout).toMatch(/^event log OK: \d+ events, hash chain intact/);

    // The same door controller, with the same CA file and secret, is answered by the new hub.
    const sameDoor = await connectOverTls(newHub, caFile, secret);
    expect((await present(sameDoor, 'front', { id: 'after', kind: 'card', value: CARD })).reason).toBe(
      'granted',
    );

    // Every event of the new hub's log reaches the cloud once, in order, with the hashes the hub has.
    const last = newHub.store.events.list({ limit: 1 })[0]!.seq;
    await waitFor(() => cloud.cloud.store.storedSeq(HUB_ID) === last, 'the cloud caught up after the swap');
    expect(cloudMatches(cloud, newHub.store)).toEqual({ stored: last, mismatches: [] });
    expect(cloud.cloud.duplicatesIgnored).toBe(0);
  }, 180_000);

  // KNOWN DEFECT (docs/replace-a-hub.md, "The cloud after a swap"): when the cloud received events from
  // the old hub after the backup was taken — always the case when the link was up, if only the
  // backup.created event — the restored hub's new events reuse those seqs, the cloud drops them as
  // duplicates and then refuses the chain (hash_mismatch). Fixing it needs a protocol change (the
  // cloud hands the missing events back, the hub re-numbers the few it wrote meanwhile). When it is
  // fixed this test starts to fail: make it a plain `it`.
  it('with the link up until the failure, the new hub’s events still reach the cloud exactly once', async () => {
    const oldDir = newDir();
    const cloudDir = newDir();
    let cloud = await startCloud(cloudDir);
    clouds.push(cloud);
    writeFileSync(path.join(oldDir, 'backup.passphrase'), `${PASS}\n`, { mode: 0o600 });
    const oldHub = await startHub(oldDir, hubConfig(cloud));
    hubs.push(oldHub);
    oldHub.store.as('cli:test').doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
    const run = await oldHub.backups!.runNow();
    const oldLast = oldHub.store.events.list({ limit: 1 })[0]!.seq;
    await waitFor(() => cloud.cloud.store.storedSeq(HUB_ID) === oldLast, 'cloud caught up');
    await oldHub.stop();
    hubs.splice(0);
    await cloud.cloud.stop();
    clouds.splice(0);

    const newHubDir = newDir();
    expect((await runCli(newHubDir, ['restore', run.file!], `${PASS}\n`, 120_000)).code).toBe(0);
    cloud = await startCloud(cloudDir, cloud.port, cloud.token);
    clouds.push(cloud);
    const newHub = await startHub(newHubDir, hubConfig(cloud));
    hubs.push(newHub);
    newHub.store.as('cli:test').doors.add({ id: 'back', name: 'Back', transport: 'mqtt' });
    // The events the old hub sent after the backup come back into the new hub's log (same seq and hash);
    // the new hub's own events move behind them and reach the cloud once.
    await waitFor(() => {
      const { stored, mismatches } = cloudMatches(cloud, newHub.store);
      return mismatches.length === 0 && stored === newHub.store.events.lastSeq();
    }, 'the cloud caught up after the swap');
    const events = newHub.store.events.list({ limit: 1000, oldestFirst: true });
    const types = events.map((e) => e.type);
    expect(types.filter((t) => t === 'backup.created')).toHaveLength(1); // the old hub's, recovered
    expect(types).toContain('hub.events_recovered');
    expect(events.filter((e) => e.type === 'admin.door.added').map((e) => e.doorId)).toEqual([
      'front',
      'back',
    ]);
    expect(newHub.store.events.verify()).toEqual({ ok: true, checked: events.length });
    expect(cloud.cloud.duplicatesIgnored).toBe(0);
    expect(newHub.status().cloud).toMatchObject({
      eventsHeld: null,
      lastRecovery: { recovered: expect.any(Number) },
    });
  }, 180_000);
});
