import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCloudConfig } from '../../hub/cloud/config.js';
import type { CloudMirror } from '../../hub/cloud/mirror.js';
import {
  appendEvents,
  HUB_ID,
  mirrorConfig,
  openHub,
  removeDir,
  startCloud,
  startMirror,
  type TestCloud,
  type TestHub,
  tempDir,
  waitFor,
} from './helpers.js';

describe('cloud mirror with the development cloud', () => {
  let dir: string;
  let hub: TestHub;
  let cloud: TestCloud;
  let mirror: CloudMirror | undefined;

  beforeEach(async () => {
    dir = tempDir();
    hub = openHub(dir);
    cloud = await startCloud(dir);
  });

  afterEach(async () => {
    await mirror?.stop();
    mirror = undefined;
    await cloud.cloud.stop();
    await hub.close();
    removeDir(dir);
  });

  it('sends the event log in order and the cloud stores each event once with a valid chain', async () => {
    appendEvents(hub.store, 1200);
    mirror = startMirror(hub.store, mirrorConfig(cloud));
    await mirror.start();
    await waitFor(
      () => mirror!.status().backlog === 0 && mirror!.status().connected,
      10_000,
      'backlog drained',
    );
    const events = cloud.cloud.events(HUB_ID, 0, 5000);
    expect(events).toHaveLength(1200);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
    expect(events[0]!.hash).toBe(hub.store.events.after(0, 1)[0]!.hash);
    const status = mirror.status();
    expect(status.state).toBe('connected');
    expect(status.ackedSeq).toBe(1200);
    expect(status.oldestUnsentSeq).toBeNull();
  });

  it('applies a person and a card pushed by the cloud, then a revocation', async () => {
    hub.store.doors.add({ id: 'front', name: 'Front door' });
    mirror = startMirror(hub.store, mirrorConfig(cloud));
    await mirror.start();
    await waitFor(() => mirror!.status().connected, 5000, 'connected');
    cloud.cloud.upsertPerson(HUB_ID, 'alice', { name: 'Alice', kind: 'resident' });
    cloud.cloud.upsertCredential(HUB_ID, 'alice-card', {
      personId: 'alice',
      kind: 'card',
      value: '04A1B2C3',
    });
    await waitFor(() => hub.store.credentials.find('card', '04A1B2C3'), 5000, 'card applied');
    expect(hub.store.credentials.find('card', '04A1B2C3')!.person.id).toBe('alice');
    expect(mirror.status().changeCursor).toBe(2);

    cloud.cloud.revoke(HUB_ID, 'alice-card');
    await waitFor(() => hub.store.credentials.get('alice-card')?.revokedAt, 5000, 'revocation applied');
    await waitFor(() => cloud.cloud.hubs()[0]!.appliedChange === 3, 5000, 'cloud saw the ack');
    // The revocation's audit event travels back up, attributed to the cloud.
    await waitFor(
      () => cloud.cloud.events(HUB_ID, 0, 1000, 'admin.credential.revoked').length === 1,
      5000,
      'revocation event mirrored',
    );
    expect(cloud.cloud.events(HUB_ID, 0, 1000, 'admin.credential.revoked')[0]!.data['actor']).toBe('cloud');
  });

  it('sends events written by another process (the CLI) too', async () => {
    mirror = startMirror(hub.store, mirrorConfig(cloud));
    await mirror.start();
    await waitFor(() => mirror!.status().connected, 5000, 'connected');
    const cli = openHub(dir); // a second connection to the same file, as the CLI would open
    try {
      cli.store.as('cli').people.add({ id: 'from-cli', name: 'Added by the CLI', kind: 'resident' });
    } finally {
      await cli.close();
    }
    await waitFor(
      () => cloud.cloud.events(HUB_ID, 0, 100, 'admin.person.added').length === 1,
      5000,
      'CLI event mirrored',
    );
    expect(cloud.cloud.events(HUB_ID, 0, 100, 'admin.person.added')[0]!.data['actor']).toBe('cli');
  });

  it('stays quiet when disabled, and still reports the backlog', async () => {
    appendEvents(hub.store, 5);
    mirror = startMirror(hub.store, parseCloudConfig({}));
    await mirror.start();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(mirror.status()).toMatchObject({
      enabled: false,
      state: 'disabled',
      connected: false,
      backlog: 5,
    });
    expect(cloud.cloud.hubs()[0]!.lastSeenAt).toBeNull();
  });
});
