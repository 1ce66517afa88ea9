// The offline doorcode secret over the mirror, and the cloud's records of codes it issued: the
// secret travels only over TLS (never on a plaintext link, which is logged once), is re-sent with a
// higher version after a rotation, and never appears in a log; issued-code records the hub cannot
// trust are refused one by one with a reason; the development cloud issues daily, hour-window and
// one-time codes the hub accepts.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DevCloudAdmin } from '../../deploy/dev-cloud/admin.js';
import { buildCli, describeIssued } from '../../deploy/dev-cloud/cli.js';
import { DevCloud } from '../../deploy/dev-cloud/server.js';
import { parseCloudConfig } from '../../hub/cloud/config.js';
import { issuedCodeLearner } from '../../hub/cloud/issued-codes.js';
import { CloudMirror } from '../../hub/cloud/mirror.js';
import { StoreCloudPort } from '../../hub/cloud/store-port.js';
import {
  CodeSecret,
  type CodeSpec,
  codeWindow,
  createOffline,
  issueCode,
  type OfflineParts,
  recordSecretVersion,
  resolveOfflineConfig,
} from '../../hub/offline/index.js';
import {
  HUB_ID,
  mirrorConfig,
  openHub,
  RecordingCommands,
  removeDir,
  startCloud,
  type TestCloud,
  type TestHub,
  tempDir,
  waitFor,
} from './helpers.js';

const ZONE = 'Europe/Berlin';

describe('offline doorcode secret and cloud-issued codes over the mirror', () => {
  let dir: string;
  let hub: TestHub;
  let cloud: TestCloud | undefined;
  let plainCloud: DevCloud | undefined;
  let offline: OfflineParts;
  let mirror: CloudMirror | undefined;
  let logLines: string[];

  const logger = () =>
    pino(
      { level: 'debug' },
      new Writable({
        write(chunk, _encoding, done) {
          logLines.push(String(chunk));
          done();
        },
      }),
    );

  const linkedMirror = (config = mirrorConfig(cloud!)) =>
    new CloudMirror({
      config,
      port: new StoreCloudPort(hub.store, {
        learnOfflineCode: issuedCodeLearner({
          store: hub.store,
          codes: offline.codes,
          share: offline.share,
          timeZone: ZONE,
        }),
      }),
      commands: new RecordingCommands(),
      codeSecret: () => offline.share.current(),
      onCloudTime: (cloudMs) => void offline.clock.confirm('cloud', cloudMs),
      logger: logger(),
    });
  const secretState = () => mirror!.status().codeSecret;

  beforeEach(async () => {
    logLines = [];
    dir = tempDir();
    hub = openHub(dir);
    offline = createOffline({
      store: hub.store,
      dataDir: dir,
      timeZone: ZONE,
      config: resolveOfflineConfig({ clock: { ntpCheck: false } }),
      keypadPolicy: {},
    });
    await offline.clock.start();
    hub.store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
    hub.store.people.add({ id: 'ada', name: 'Ada', kind: 'resident' });
  });

  afterEach(async () => {
    await mirror?.stop();
    mirror = undefined;
    await cloud?.cloud.stop();
    cloud = undefined;
    await plainCloud?.stop();
    plainCloud = undefined;
    await offline.clock.stop();
    await hub.close();
    removeDir(dir);
  });

  it('never sends the secret on a plaintext link, says why once, and the cloud cannot issue', async () => {
    plainCloud = new DevCloud({ dbFile: ':memory:', listen: '127.0.0.1:0', insecure: true });
    const { port } = await plainCloud.start();
    const token = plainCloud.addHub(HUB_ID);
    mirror = linkedMirror(
      parseCloudConfig({
        enabled: true,
        address: `127.0.0.1:${port}`,
        hubId: HUB_ID,
        token,
        insecurePlaintext: true,
        backoff: { minMs: 50, maxMs: 200 },
        keepaliveMs: 300,
      }),
    );
    await mirror.start();
    await waitFor(() => mirror!.status().connected, 15_000, 'connected');
    // Two more links: still one warning.
    for (let i = 0; i < 2; i++) {
      const since = mirror.status().lastConnectedAt;
      plainCloud.disconnect(HUB_ID);
      await waitFor(
        () => mirror!.status().connected && mirror!.status().lastConnectedAt !== since,
        8000,
        're-link',
      );
    }
    expect(secretState()).toMatchObject({ state: 'refused_plaintext', cloudVersion: null });
    expect(plainCloud.codeSecret(HUB_ID)).toBeNull();
    expect(() => plainCloud!.issueCode(HUB_ID, { kind: 'daily', site: true })).toThrow(
      /has not handed over its doorcode secret/,
    );
    const warnings = logLines.filter((line) => line.includes('offline code secret NOT sent'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('no TLS');
    expect(logLines.join('')).not.toContain(offline.share.secret.exportHex());
  }, 60_000);

  it('hands the secret over TLS once, and again with a higher version after a rotation; old codes stop working', async () => {
    cloud = await startCloud(dir);
    mirror = linkedMirror();
    await mirror.start();
    await waitFor(() => secretState().state === 'acknowledged', 15_000, 'secret acknowledged');
    await waitFor(() => offline.clock.status().trusted, 15_000, 'clock confirmed by the cloud');
    expect(cloud.cloud.codeSecret(HUB_ID)).toMatchObject({
      version: 1,
      secretHex: offline.share.secret.exportHex(),
      timeZone: ZONE,
      dailyMacDigits: 7,
      windowedMacDigits: 7,
      graceMinutes: 15,
    });
    const firstReceived = cloud.cloud.codeSecret(HUB_ID)!.receivedAt;
    // A new link to a cloud that holds it: not sent again (the Welcome names its fingerprint).
    cloud.cloud.disconnect(HUB_ID);
    await waitFor(() => mirror!.status().connected, 15_000, 're-linked');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(cloud.cloud.codeSecret(HUB_ID)!.receivedAt).toBe(firstReceived);
    expect(secretState()).toMatchObject({ state: 'acknowledged', version: 1 });

    // The cloud issues a code while it cannot reach the hub; then staff rotate the secret.
    await cloud.cloud.stopListening();
    await waitFor(() => !mirror!.status().connected, 15_000, 'link down');
    const before = cloud.cloud.issueCode(HUB_ID, { kind: 'daily', doorId: 'front', personId: 'ada' });
    expect(offline.codes.verify('front', before.digits)).toMatchObject({ granted: true });
    const rotated = CodeSecret.rotate(dir);
    expect(recordSecretVersion(hub.store, rotated, 'cli')).toMatchObject({ version: 2 });
    expect(offline.share.check()).toBe(true); // what the running hub does on 'admin.code.secret_rotated'
    expect(offline.codes.verify('front', before.digits)).toBeNull();

    // Link back: version 2 goes up; the record of the old code is refused with the reason.
    await cloud.cloud.startListening();
    await waitFor(() => cloud!.cloud.codeSecret(HUB_ID)?.version === 2, 15_000, 'version 2 in the cloud');
    expect(cloud.cloud.codeSecret(HUB_ID)!.secretHex).toBe(rotated.exportHex());
    await waitFor(
      () => secretState().state === 'acknowledged' && secretState().cloudVersion === 2,
      8000,
      'ack 2',
    );
    await waitFor(() => cloud!.cloud.store.rejections(HUB_ID).length === 1, 15_000, 'old record rejected');
    expect(cloud.cloud.store.rejections(HUB_ID)[0]!.reason).toContain(
      'made with code secret version 1, but this hub uses version 2',
    );
    const after = cloud.cloud.issueCode(HUB_ID, { kind: 'daily', doorId: 'front', personId: 'ada' });
    expect(after.secretVersion).toBe(2);
    await waitFor(() => mirror!.status().changeCursor === after.changeNo, 15_000, 'new record applied');
    expect(offline.codes.list().find((c) => c.serial === after.serial)).toMatchObject({
      personId: 'ada',
      issuedBy: 'cloud',
    });
    expect(offline.codes.verify('front', after.digits)).toMatchObject({ granted: true, personId: 'ada' });
    expect(hub.store.events.list({ type: 'admin.code.secret_rotated' })).toEqual([
      expect.objectContaining({ data: expect.objectContaining({ version: 2, actor: 'cli' }) }),
    ]);
    const logs = logLines.join('');
    expect(logs).not.toContain(rotated.exportHex());
    expect(logs).not.toContain(before.digits);
  }, 60_000);

  it('refuses hostile or invalid issued-code records one by one, with a reason, and learns the valid one', async () => {
    cloud = await startCloud(dir);
    mirror = linkedMirror();
    await mirror.start();
    await waitFor(() => secretState().state === 'acknowledged', 15_000, 'secret acknowledged');
    await waitFor(() => offline.clock.status().trusted, 15_000, 'clock confirmed by the cloud');
    const secret = offline.share.secret.bytes();
    const record = (spec: CodeSpec, extra: Record<string, unknown> = {}) => {
      const issued = issueCode(secret, spec, ZONE);
      const window = codeWindow(spec, ZONE);
      return {
        serial: issued.serial,
        ...spec,
        personId: 'ada',
        validFrom: window.start,
        validUntil: window.end,
        secretVersion: 1,
        ...extra,
      };
    };
    const daily = (index: number): CodeSpec => ({
      type: 'daily',
      date: '2026-12-02',
      index,
      scope: 'door:front',
    });
    const hourly: CodeSpec = { type: 'hourly', startHour: 500_000, hours: 3, index: 0, scope: 'site' };
    const good = record(daily(1));
    const cases: Array<{ id?: string; op?: string; data: unknown; reason: string }> = [
      { data: { ...record(daily(2)), digits: '021234567' }, reason: "must not carry 'digits'" },
      {
        id: record(daily(3)).serial,
        data: { ...record(daily(3)), serial: record(daily(4)).serial },
        reason: 'does not match the change id',
      },
      {
        id: record(daily(4)).serial,
        data: { ...record(daily(5)), serial: record(daily(4)).serial },
        reason: 'serial does not match the code fields',
      },
      { data: record(daily(60)), reason: '/index' },
      { data: record({ ...hourly, index: 1 }), reason: 'index 0 only' },
      { data: { ...record(hourly), hours: 0 }, reason: '/hours' },
      { data: { ...record(daily(6)), scope: 'door:../../etc' }, reason: '/scope' },
      { data: record(daily(7), { label: 'bell\u0007' }), reason: '/label' },
      { data: record(daily(8), { personId: 'mallory' }), reason: "person 'mallory' not found on this hub" },
      { data: record(daily(9), { secretVersion: 7 }), reason: 'made with code secret version 7' },
      {
        data: record(daily(10), { validFrom: codeWindow(daily(10), ZONE).start + 3_600_000 }),
        reason: 'does not match the hub',
      },
      { data: record(daily(11), { startHour: 5 }), reason: 'a daily code has no startHour' },
      { data: record({ ...daily(12), scope: 'door:back' }), reason: "door 'back' not found on this hub" },
      { op: 'delete', data: {}, reason: 'send a code_revocation' },
      { data: [1, 2], reason: 'must be a JSON object' },
    ];
    const changes = [...cases, { data: good, reason: '' }].map((c, i) => {
      const data = c.data as { serial?: string };
      return {
        change_no: i + 1,
        based_on_seq: 0,
        kind: 'offline_code',
        op: c.op ?? 'upsert',
        id: c.id ?? data.serial ?? good.serial,
        data_json: JSON.stringify(c.data),
        ts: Date.now(),
      };
    });
    cloud.cloud.sendRaw(HUB_ID, {
      body: 'changes',
      changes: { changes, snapshot_begin: false, snapshot_end: false },
    });
    await waitFor(() => mirror!.status().changeCursor === changes.length, 15_000, 'page applied');
    await waitFor(() => cloud!.cloud.store.rejections(HUB_ID).length === cases.length, 15_000, 'rejections');
    const rejections = cloud.cloud.store.rejections(HUB_ID);
    cases.forEach((c, i) => {
      expect(rejections.find((r) => r.change_no === i + 1)?.reason, `case ${i + 1}`).toContain(c.reason);
    });
    const learned = offline.codes.list({ includeExpired: true });
    expect(learned.map((c) => c.serial)).toEqual([good.serial]);
    expect(learned[0]).toMatchObject({ personId: 'ada', issuedBy: 'cloud', scope: 'door:front' });
    expect(mirror.status().connected).toBe(true);
  }, 60_000);

  it('the dev cloud issues daily, hour-window and one-time codes the hub accepts, from its admin API too', async () => {
    cloud = await startCloud(dir);
    const c = cloud.cloud;
    expect(() => c.issueCode(HUB_ID, { kind: 'daily', doorId: 'front' })).toThrow(/has not handed over/);
    mirror = linkedMirror();
    await mirror.start();
    await waitFor(() => secretState().state === 'acknowledged', 15_000, 'secret acknowledged');
    await waitFor(() => offline.clock.status().trusted, 15_000, 'clock confirmed by the cloud');
    const now = Date.now();

    const first = c.issueCode(HUB_ID, { kind: 'daily', doorId: 'front', personId: 'ada' });
    const second = c.issueCode(HUB_ID, { kind: 'daily', doorId: 'front', label: 'plumber' });
    expect([first.digits.slice(0, 2), second.digits.slice(0, 2)]).toEqual(['00', '01']);
    expect(first.graceMinutes).toBe(15);
    const window = c.issueCode(HUB_ID, { kind: 'window', site: true, hours: 3, from: now });
    expect(window).toMatchObject({ type: 'hourly', scope: 'site', graceMinutes: 0 });
    expect(window.validFrom).toBe(Math.floor(now / 3_600_000) * 3_600_000);
    expect(window.validUntil - window.validFrom).toBe(3 * 3_600_000);
    expect(() => c.issueCode(HUB_ID, { kind: 'window', site: true, hours: 3, from: now })).toThrow(
      /issued already/,
    );
    expect(() => c.issueCode(HUB_ID, { kind: 'daily', doorId: 'front', site: true })).toThrow(/exactly one/);
    expect(() => c.issueCode(HUB_ID, { kind: 'window', doorId: 'front' })).toThrow(/hours/);

    // From the admin HTTP API, as the CLI calls it.
    const admin = new DevCloudAdmin(c, { host: '127.0.0.1', port: 0 });
    const adminPort = await admin.start();
    try {
      const base = `http://127.0.0.1:${adminPort}/hubs/${HUB_ID}`;
      const response = await fetch(`${base}/codes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'once', doorId: 'front', personId: 'ada' }),
      });
      expect(response.status).toBe(201);
      const once = (await response.json()) as Parameters<typeof describeIssued>[0];
      expect(once).toMatchObject({ type: 'once', scope: 'door:front', personId: 'ada' });
      expect(describeIssued(once)[0]).toBe(`code:    ${once.digits}`);
      expect(describeIssued(once).join('\n')).toMatch(
        /valid: {3}\d{4}-\d\d-\d\d \d\d:00 – .* \(Europe\/Berlin\)/,
      );
      const shown = await (await fetch(`${base}/code-secret`)).json();
      expect(shown).toMatchObject({ version: 1, timeZone: ZONE });
      expect(JSON.stringify(shown)).not.toContain(offline.share.secret.exportHex());
      const listed = (await (await fetch(`${base}/codes`)).json()) as Array<Record<string, unknown>>;
      expect(listed).toHaveLength(4);
      expect(JSON.stringify(listed)).not.toContain(once.digits);
      const bad = await fetch(`${base}/codes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'daily', doorId: 'front', hours: 'x' }),
      });
      expect(bad.status).toBe(400);

      // The hub accepts every one of them; the one-time code once.
      for (const code of [first, second, once]) {
        expect(offline.codes.verify('front', code.digits), code.type).toMatchObject({ granted: true });
      }
      expect(offline.codes.verify('front', window.digits)).toMatchObject({ granted: true });
      expect(offline.codes.verify('front', once.digits)).toMatchObject({ granted: false, detail: 'used' });
      await waitFor(() => mirror!.status().changeCursor === once.changeNo, 15_000, 'records applied');
      expect(
        offline.codes
          .list()
          .map((code) => [code.serial, code.personId, code.label, code.issuedBy])
          .sort(),
      ).toEqual(
        [
          [first.serial, 'ada', null, 'cloud'],
          [second.serial, null, 'plumber', 'cloud'],
          [window.serial, null, null, 'cloud'],
          [once.serial, 'ada', null, 'cloud'],
        ].sort(),
      );

      // The dev cloud's CLI: issue-code prints the code and its validity; link-down / link-up cut and restore.
      const cli = async (...args: string[]): Promise<string> => {
        const chunks: string[] = [];
        const write = process.stdout.write.bind(process.stdout);
        process.stdout.write = ((chunk: string) => {
          chunks.push(String(chunk));
          return true;
        }) as typeof process.stdout.write;
        try {
          await buildCli().parseAsync(['node', 'cli', '--url', `http://127.0.0.1:${adminPort}`, ...args]);
        } finally {
          process.stdout.write = write;
        }
        return chunks.join('');
      };
      await cli('link-down');
      await waitFor(() => !mirror!.status().connected, 15_000, 'link down');
      const printed = await cli('issue-code', HUB_ID, '--person', 'ada', '--door', 'front', '--hours', '2');
      expect(printed).toMatch(/^code: {4}[0-9]{12}$/m);
      expect(printed).toMatch(/^type: {4}hourly {3}scope: door:front$/m);
      expect(printed).toMatch(/^valid: {3}.* \(Europe\/Berlin\)$/m);
      expect(printed).toContain('hub:     not connected');
      const digits = /^code: {4}([0-9]{12})$/m.exec(printed)![1]!;
      expect(offline.codes.verify('front', digits)).toMatchObject({ granted: true });
      await cli('link-up');
      await waitFor(() => mirror!.status().changeCursor === c.store.latestChange(HUB_ID), 15_000, 'learned');
      expect(
        offline.codes.list().filter((code) => code.type === 'hourly' && code.personId === 'ada'),
      ).toHaveLength(1);
    } finally {
      await admin.stop();
    }
  }, 60_000);
});
