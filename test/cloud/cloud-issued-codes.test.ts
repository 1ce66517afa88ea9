// Issue #9 item 6, end to end: property management issues a daily code while the building is offline.
// A whole hub and the development cloud over real gRPC + TLS on loopback: the hub hands its code
// secret over the link; the link is cut; the cloud issues a daily code for a person at one door; the
// code opens that door (an MQTT door controller's keypad) with the link down; when the link returns
// the hub learns the code's record (serial, person; never the digits) and lists it as the cloud's.
import { Writable } from 'node:stream';
import { Command } from 'commander';
import type { MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hub } from '../../hub/app.js';
import { registerCodeCommands } from '../../hub/cli/codes.js';
import { CodeSecret, OfflineCodes, resolveOfflineConfig } from '../../hub/offline/index.js';
import { openHubStore } from '../../hub/open-store.js';
import { connectDoorDevice, present, removeDir, tempDataDir, testConfig } from '../helpers/hub.js';
import { HUB_ID, mirrorConfig, startCloud, type TestCloud, waitFor } from './helpers.js';

let dir: string;
let hub: Hub;
let cloud: TestCloud;
let door: MqttClient;
const logLines: string[] = [];
let n = 0;

type LinkStatus = {
  connected: boolean;
  changeCursor: number;
  codeSecret: { state: string; version: number | null; cloudVersion: number | null };
};
const linkStatus = () => hub.status().cloud as LinkStatus;
const keypad = (digits: string) =>
  present(door, 'front', { id: `k${++n}`, kind: 'keypad', value: digits, reader: 'kp1' });

beforeAll(async () => {
  dir = tempDataDir();
  cloud = await startCloud(dir);
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _encoding, done) {
        logLines.push(String(chunk));
        done();
      },
    }),
  );
  hub = new Hub({
    config: testConfig(dir, { cloud: mirrorConfig(cloud), offline: { clock: { ntpCheck: false } } }),
    logger,
  });
  await hub.start();
  hub.store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
  const { secret } = hub.store.devices.add('front-reader', { role: 'door', doors: ['front'] });
  door = await connectDoorDevice(hub.addresses().mqtt.tcp!, 'front-reader', secret, ['front']);
  // Property management adds the resident in the cloud; the hub gets her over the link.
  const personChange = cloud.cloud.upsertPerson(HUB_ID, 'ada', { name: 'Ada Lovelace' });
  await waitFor(() => linkStatus().changeCursor >= personChange, 15_000, 'person applied on the hub');
});

afterAll(async () => {
  await door?.endAsync();
  await hub?.stop();
  await cloud?.cloud.stop();
  removeDir(dir);
});

describe('a daily code issued in the cloud while the building is offline', () => {
  it('is handed the secret over TLS, issues with the link cut, opens the door, and is learned when the link returns', async () => {
    // 1. The secret goes over the authenticated TLS link and the cloud acknowledges it.
    const acked = await waitFor(
      () => (linkStatus().codeSecret.state === 'acknowledged' ? linkStatus().codeSecret : null),
      8000,
      'code secret acknowledged',
    );
    expect(acked).toMatchObject({ version: 1, cloudVersion: 1 });
    const hubSecret = CodeSecret.read(dir)!;
    expect(cloud.cloud.codeSecret(HUB_ID)).toMatchObject({
      version: 1,
      fingerprint: hubSecret.fingerprint(),
      secretHex: hubSecret.exportHex(),
      timeZone: hub.config.timeZone,
    });
    await waitFor(
      () => hub.status().clock && (hub.status().clock as { trusted: boolean }).trusted,
      8000,
      'clock',
    );

    // 2. The link is cut: the cloud stops serving; the hub notices.
    await cloud.cloud.stopListening();
    await waitFor(() => !linkStatus().connected, 15_000, 'link down');

    // 3. Property management issues a daily code for Ada at the front door: only the cloud is involved.
    const code = cloud.cloud.issueCode(HUB_ID, { kind: 'daily', personId: 'ada', doorId: 'front' });
    expect(code).toMatchObject({ type: 'daily', scope: 'door:front', personId: 'ada', hubConnected: false });
    expect(code.digits).toMatch(/^[0-9]{9}$/);
    expect(code.validUntil - code.validFrom).toBeGreaterThanOrEqual(23 * 3_600_000);

    // 4. At the keypad, with the link still down: granted. A wrong code is not.
    expect(linkStatus().connected).toBe(false);
    expect(await keypad(code.digits)).toMatchObject({ granted: true });
    const wrong = `${(Number(code.digits[8]) + 1) % 10}`;
    expect(await keypad(code.digits.slice(0, 8) + wrong)).toMatchObject({ granted: false });
    const decision = await waitFor(
      () => hub.store.events.list({ type: 'decision' }).find((e) => e.credentialId === code.serial),
      8000,
      'decision recorded',
    );
    expect(decision).toMatchObject({ doorId: 'front', data: expect.objectContaining({ granted: true }) });
    // Used offline, the code is known by serial only: nobody told the hub whose it is yet.
    const codes = () =>
      new OfflineCodes({
        store: hub.store,
        secret: CodeSecret.read(dir)!.bytes(),
        timeZone: hub.config.timeZone,
        config: resolveOfflineConfig({}),
      });
    expect(
      codes()
        .list()
        .find((c) => c.serial === code.serial),
    ).toMatchObject({
      personId: null,
      issuedBy: null,
    });

    // 5. The link returns: the cloud sends the record, the hub learns serial + person.
    await cloud.cloud.startListening();
    await waitFor(() => linkStatus().changeCursor >= code.changeNo, 15_000, 'issued-code record applied');
    const listed = codes()
      .list()
      .find((c) => c.serial === code.serial);
    expect(listed).toMatchObject({
      serial: code.serial,
      type: 'daily',
      scope: 'door:front',
      personId: 'ada',
      issuedBy: 'cloud',
      windowStart: code.validFrom,
      windowEnd: code.validUntil,
      firstUsedAt: expect.any(Number),
    });
    expect(hub.store.events.list({ type: 'admin.code.issued' })).toEqual([
      expect.objectContaining({
        personId: 'ada',
        credentialId: code.serial,
        data: expect.objectContaining({ serial: code.serial, actor: 'cloud', scope: 'door:front' }),
      }),
    ]);
    expect(cloud.cloud.store.rejections(HUB_ID)).toEqual([]);

    // 6. Now that the hub knows whose code it is, suspending Ada stops it.
    const suspend = cloud.cloud.suspend(HUB_ID, 'ada');
    await waitFor(() => linkStatus().changeCursor >= suspend, 15_000, 'suspension applied');
    expect(await keypad(code.digits)).toMatchObject({ granted: false, reason: 'suspended' });

    // Never in any log line: the secret or the code's digits.
    const logs = logLines.join('');
    expect(logs).toContain('the cloud holds the offline code secret');
    expect(logs).not.toContain(hubSecret.exportHex());
    expect(logs).not.toContain(code.digits);
  }, 90_000);

  it('`gatehouse code secret-rotate` (another process) reaches the running hub and the cloud within seconds', async () => {
    const program = new Command('gatehouse').option('--json').exitOverride();
    const out: string[] = [];
    registerCodeCommands(program, {
      io: { out: (line) => out.push(line), err: (line) => out.push(line) },
      withStore: async (fn) => {
        const opened = openHubStore(dir);
        try {
          await fn(opened.store.as('cli:staff'), hub.config, false, opened);
        } finally {
          opened.close();
        }
      },
    });
    await expect(program.parseAsync(['code', 'secret-rotate'], { from: 'user' })).rejects.toThrow(/--yes/);
    await program.parseAsync(['code', 'secret-rotate', '--yes'], { from: 'user' });
    expect(out.join('\n')).toMatch(/code secret rotated: version 2 \(fingerprint [0-9a-f]{16}\)/);
    const rotated = CodeSecret.read(dir)!;
    await waitFor(() => cloud.cloud.codeSecret(HUB_ID)?.version === 2, 15_000, 'version 2 in the cloud');
    expect(cloud.cloud.codeSecret(HUB_ID)!.fingerprint).toBe(rotated.fingerprint());
    expect(linkStatus().codeSecret).toMatchObject({ version: 2 });
    // The hub verifies with the new secret: a code the cloud makes now opens the door.
    const code = cloud.cloud.issueCode(HUB_ID, { kind: 'daily', doorId: 'front', label: 'courier' });
    expect(code.secretVersion).toBe(2);
    expect(await keypad(code.digits)).toMatchObject({ granted: true });
    expect(hub.store.events.list({ type: 'admin.code.secret_rotated' })).toEqual([
      expect.objectContaining({ data: expect.objectContaining({ version: 2, actor: 'cli:staff' }) }),
    ]);
    expect(logLines.join('')).not.toContain(rotated.exportHex());
  }, 60_000);
});
