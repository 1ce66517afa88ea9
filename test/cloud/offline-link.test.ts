// The mirror and the offline doorcode parts: doorcode revocations pushed by the cloud land in the
// hub's durable denylist (bad ones are rejected one by one, with a reason), and the cloud's clock
// confirms the hub's trusted time.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CloudMirror } from '../../hub/cloud/mirror.js';
import { StoreCloudPort } from '../../hub/cloud/store-port.js';
import {
  createOffline,
  issueCode,
  type OfflineParts,
  resolveOfflineConfig,
} from '../../hub/offline/index.js';
import {
  HUB_ID,
  mirrorConfig,
  openHub,
  RecordingCommands,
  removeDir,
  startCloud,
  startMirror,
  type TestCloud,
  type TestHub,
  tempDir,
  waitFor,
} from './helpers.js';

const ZONE = 'Europe/Berlin';

const change = (changeNo: number, id: string, data: unknown, op = 'upsert') => ({
  change_no: changeNo,
  based_on_seq: 0,
  kind: 'code_revocation',
  op,
  id,
  data_json: JSON.stringify(data),
  ts: Date.now(),
});
const batch = (...changes: unknown[]) => ({
  body: 'changes',
  changes: { changes, snapshot_begin: false, snapshot_end: false },
});

describe('offline doorcodes over the cloud link', () => {
  let dir: string;
  let hub: TestHub;
  let cloud: TestCloud;
  let offline: OfflineParts;
  let mirror: CloudMirror | undefined;

  const serialOf = (index: number) =>
    issueCode(offline.secret.bytes(), { type: 'daily', date: '2026-11-27', index, scope: 'site' }, ZONE)
      .serial;

  const linkedMirror = () =>
    new CloudMirror({
      config: mirrorConfig(cloud),
      port: new StoreCloudPort(hub.store, {
        revokeOfflineCode: (serial, reason) =>
          !offline.codes.revoke(serial, { actor: 'cloud', ...(reason === null ? {} : { reason }) })
            .alreadyRevoked,
      }),
      commands: new RecordingCommands(),
      onCloudTime: (cloudMs) => void offline.clock.confirm('cloud', cloudMs),
    });

  beforeEach(async () => {
    dir = tempDir();
    hub = openHub(dir);
    cloud = await startCloud(dir);
    // No NTP check: the cloud is the only source that can confirm the clock here.
    offline = createOffline({
      store: hub.store,
      dataDir: dir,
      timeZone: ZONE,
      config: resolveOfflineConfig({ clock: { ntpCheck: false } }),
      keypadPolicy: {},
    });
    await offline.clock.start();
    await offline.codes.start();
  });

  afterEach(async () => {
    await mirror?.stop();
    mirror = undefined;
    await cloud.cloud.stop();
    await offline.codes.stop();
    await offline.clock.stop();
    await hub.close();
    removeDir(dir);
  });

  it("confirms the hub's trusted time from the cloud's clock", async () => {
    expect(offline.clock.status()).toMatchObject({ trusted: false, lastConfirmedBy: null });
    mirror = linkedMirror();
    await mirror.start();
    await waitFor(() => mirror!.status().connected, 5000, 'connected');
    const status = await waitFor(
      () => {
        const s = offline.clock.status();
        return s.lastConfirmedBy === 'cloud' ? s : null;
      },
      5000,
      'cloud confirmation',
    );
    expect(status).toMatchObject({ trusted: true, lastConfirmedBy: 'cloud' });
    expect(status.lastConfirmedAt).not.toBeNull();
  });

  it("passes the cloud's clock from pongs too: a cloud clock a day off is not believed and raises the alarm", async () => {
    mirror = linkedMirror();
    await mirror.start();
    await waitFor(() => offline.clock.status().lastConfirmedBy === 'cloud', 5000, 'cloud confirmation');
    cloud.cloud.sendRaw(HUB_ID, { body: 'pong', pong: { ts: 0, server_time: Date.now() - 86_400_000 } });
    await waitFor(() => hub.store.events.list({ type: 'alarm.clock_disagrees' }).length === 1, 5000, 'alarm');
    expect(offline.clock.status()).toMatchObject({ trusted: false, reason: 'cloud_disagrees' });
  });

  it('a new hub learns revocations made while it was away from the snapshot', async () => {
    const serial = serialOf(11);
    cloud.cloud.revokeCode(HUB_ID, serial, 'lost');
    mirror = linkedMirror();
    await mirror.start();
    await waitFor(() => offline.codes.isRevoked(serial), 5000, 'revocation from the snapshot');
    expect(offline.codes.revocations()[0]).toMatchObject({ serial, reason: 'lost', actor: 'cloud' });
    expect(mirror.status().changeCursor).toBe(1);
  });

  it('denylists a serial the cloud revokes, durably and with an audit event; a repeat changes nothing', async () => {
    mirror = linkedMirror();
    await mirror.start();
    await waitFor(() => mirror!.status().connected, 5000, 'connected');
    const serial = serialOf(7);
    expect(offline.codes.isRevoked(serial)).toBe(false);

    cloud.cloud.revokeCode(HUB_ID, serial, 'code shared in a group chat');
    await waitFor(() => mirror!.status().changeCursor === 1, 5000, 'revocation applied');
    expect(offline.codes.isRevoked(serial)).toBe(true);
    expect(offline.codes.revocations()).toEqual([
      { serial, revokedAt: expect.any(Number), reason: 'code shared in a group chat', actor: 'cloud' },
    ]);
    expect(hub.store.events.list({ type: 'admin.code.revoked' })).toEqual([
      expect.objectContaining({
        credentialId: serial,
        data: { serial, reason: 'code shared in a group chat', actor: 'cloud' },
      }),
    ]);

    cloud.cloud.revokeCode(HUB_ID, serial);
    await waitFor(() => mirror!.status().changeCursor === 2, 5000, 'repeat applied');
    expect(hub.store.events.list({ type: 'admin.code.revoked' })).toHaveLength(1);
    expect(cloud.cloud.store.rejections(HUB_ID)).toEqual([]);
  });

  it('rejects malformed revocations one by one with a reason and applies the valid one', async () => {
    mirror = linkedMirror();
    await mirror.start();
    await waitFor(() => mirror!.status().connected, 5000, 'connected');
    const serial = serialOf(8);
    const other = serialOf(9);
    cloud.cloud.sendRaw(
      HUB_ID,
      batch(
        change(1, 'oc-NOT-A-SERIAL', { serial: 'oc-NOT-A-SERIAL' }),
        change(2, serial, { serial: other }),
        change(3, serial, { serial }, 'delete'),
        change(4, serial, { serial, reason: 42 }),
        change(5, other, { serial: other, colour: 'red' }),
      ),
    );
    await waitFor(() => mirror!.status().changeCursor === 5, 5000, 'cursor at 5');
    expect(offline.codes.isRevoked(serial)).toBe(false); // nothing applied half-way
    expect(offline.codes.isRevoked(other)).toBe(true); // unknown fields are ignored, as for every kind
    await waitFor(() => cloud.cloud.store.rejections(HUB_ID).length === 4, 5000, 'rejections reported');
    expect(cloud.cloud.store.rejections(HUB_ID).map((r) => `${r.change_no}: ${r.reason}`)).toEqual([
      "1: invalid code_revocation id 'oc-NOT-A-SERIAL'",
      `2: code_revocation ${serial}: data.serial does not match the change id`,
      `3: code_revocation ${serial}: a revocation cannot be deleted`,
      expect.stringContaining(`4: code_revocation ${serial}: /reason`),
    ]);
    expect(hub.store.events.list({ type: 'cloud.change_rejected' })).toHaveLength(4);
    expect(mirror.status().changesRejected).toBe(4);
  });

  it('refuses revocations when the hub wired no doorcode denylist into the mirror', async () => {
    mirror = startMirror(hub.store, mirrorConfig(cloud));
    await mirror.start();
    await waitFor(() => mirror!.status().connected, 5000, 'connected');
    const serial = serialOf(10);
    cloud.cloud.revokeCode(HUB_ID, serial);
    await waitFor(() => cloud.cloud.store.rejections(HUB_ID).length === 1, 5000, 'rejection reported');
    expect(cloud.cloud.store.rejections(HUB_ID)[0]!.reason).toBe(
      `code_revocation ${serial}: this hub does not take offline doorcode revocations`,
    );
    expect(offline.codes.isRevoked(serial)).toBe(false);
    // Without the callback the cloud's clock is not used either.
    expect(offline.clock.status().lastConfirmedBy).toBeNull();
  });
});
