// Deny wins: local suspensions, revocations and deletions made while the link was down are not
// undone by cloud changes made before the cloud saw them. Each rule of docs/cloud-protocol.md, case by case.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CloudMirror } from '../../hub/cloud/mirror.js';
import {
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

describe('conflicts after an outage: deny wins', () => {
  let dir: string;
  let hub: TestHub;
  let cloud: TestCloud;
  let mirror: CloudMirror;

  const online = async () => {
    mirror = startMirror(hub.store, mirrorConfig(cloud));
    await mirror.start();
    await waitFor(() => mirror.status().connected, 5000, 'connected');
  };
  /** Waits until the hub applied every cloud change and the cloud stored every hub event. */
  const settled = () =>
    waitFor(
      () => {
        const s = mirror.status();
        const h = cloud.cloud.hubs()[0]!;
        return (
          s.connected &&
          s.backlog === 0 &&
          s.changeCursor === h.latestChange &&
          h.appliedChange === h.latestChange
        );
      },
      8000,
      'link settled',
    );
  const conflicts = () => hub.store.events.list({ type: 'cloud.conflict' });

  beforeEach(async () => {
    dir = tempDir();
    hub = openHub(dir);
    cloud = await startCloud(dir);
    await online();
    cloud.cloud.upsertPerson(HUB_ID, 'alice', { name: 'Alice', kind: 'resident' });
    cloud.cloud.upsertCredential(HUB_ID, 'alice-card', {
      personId: 'alice',
      kind: 'card',
      value: '04A1B2C3',
    });
    await settled();
    await mirror.stop(); // the link goes down; the hub keeps working locally
  });

  afterEach(async () => {
    await mirror.stop();
    await cloud.cloud.stop();
    await hub.close();
    removeDir(dir);
  });

  it('a local suspension survives an older cloud grant, and the conflict is audited and sent up', async () => {
    hub.store.as('user:staff').people.setSuspended('alice', true);
    // Meanwhile the manager, not yet knowing, edits Alice in the cloud (the copy says "not suspended").
    cloud.cloud.upsertPerson(HUB_ID, 'alice', { name: 'Alice Smith', suspended: false });
    await online();
    await settled();
    const alice = hub.store.people.get('alice')!;
    expect(alice.name).toBe('Alice Smith'); // the harmless part of the change applies
    expect(alice.suspended).toBe(true); // the deny stays
    expect(conflicts()).toHaveLength(1);
    expect(String(conflicts()[0]!.data['rule'])).toContain('stays suspended');
    await waitFor(
      () => cloud.cloud.events(HUB_ID, 0, 1000, 'cloud.conflict').length === 1,
      5000,
      'conflict sent up',
    );
  });

  it('a cloud change made after the cloud saw the local suspension applies (an informed decision)', async () => {
    hub.store.people.setSuspended('alice', true);
    await online();
    await settled(); // the cloud now holds the admin.person.suspended event
    expect(cloud.cloud.events(HUB_ID, 0, 1000, 'admin.person.suspended')).toHaveLength(1);
    cloud.cloud.suspend(HUB_ID, 'alice', false);
    await settled();
    expect(hub.store.people.get('alice')!.suspended).toBe(false);
    expect(conflicts()).toHaveLength(0);
  });

  it('a local revocation survives an older cloud copy of the credential', async () => {
    hub.store.credentials.revoke('alice-card', 'lost');
    cloud.cloud.upsertCredential(HUB_ID, 'alice-card', { validUntil: Date.now() + 86_400_000 });
    await online();
    await settled();
    const card = hub.store.credentials.get('alice-card')!;
    expect(card.revokedAt).not.toBeNull();
    expect(card.validUntil).not.toBeNull();
    expect(hub.store.credentials.find('card', '04A1B2C3')!.credential.revokedAt).not.toBeNull();
    expect(conflicts()).toHaveLength(1);
  });

  it('a person deleted locally is not re-created by an older cloud upsert', async () => {
    hub.store.people.remove('alice');
    cloud.cloud.upsertPerson(HUB_ID, 'alice', { name: 'Alice Again' });
    await online();
    await settled();
    expect(hub.store.people.get('alice')).toBeNull();
    expect(hub.store.credentials.find('card', '04A1B2C3')).toBeNull();
    expect(String(conflicts()[0]!.data['rule'])).toContain('deleted on the hub');
  });

  it('a key epoch bumped locally ("log out everywhere") never goes back', async () => {
    hub.store.people.bumpKeyEpoch('alice');
    hub.store.people.bumpKeyEpoch('alice');
    cloud.cloud.upsertPerson(HUB_ID, 'alice', { keyEpoch: 1 });
    await online();
    await settled();
    expect(hub.store.people.get('alice')!.keyEpoch).toBe(2);
  });

  it('denies from the cloud always apply, even over a local change the cloud has not seen', async () => {
    hub.store.people.update('alice', { name: 'Alice (local edit)' });
    cloud.cloud.suspend(HUB_ID, 'alice', true);
    cloud.cloud.revoke(HUB_ID, 'alice-card');
    await online();
    await settled();
    expect(hub.store.people.get('alice')!.suspended).toBe(true);
    expect(hub.store.credentials.get('alice-card')!.revokedAt).not.toBeNull();
    expect(conflicts()).toHaveLength(0);
  });

  it('a grant made locally while offline is sent up, and the cloud answer (here: remove it) applies', async () => {
    const local = hub.store.credentials.addPin('alice', '482913', { id: 'alice-pin' });
    await online();
    await settled();
    const added = cloud.cloud.events(HUB_ID, 0, 1000, 'admin.credential.added');
    expect(added.map((e) => e.credentialId)).toContain(local.id);
    expect(JSON.stringify(added)).not.toContain('482913'); // the PIN never leaves the hub
    cloud.cloud.pushChange(HUB_ID, { kind: 'credential', op: 'delete', id: 'alice-pin' });
    await settled();
    expect(hub.store.credentials.get('alice-pin')!.revokedAt).not.toBeNull();
  });
});
