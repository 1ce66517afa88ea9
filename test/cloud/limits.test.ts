// Issue #8 §7: no cloud message can block a revocation. Oversized changes are rejected one by one,
// oversized messages drop the link with a reason (the dev cloud splits its pages), a change that keeps
// arriving unreadable is skipped after bounded retries, denies overtake a flood of grants, and a
// command without a usable expiry is refused.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PAGE_TARGET_BYTES } from '../../deploy/dev-cloud/server.js';
import type { CloudMirror } from '../../hub/cloud/mirror.js';
import { MAX_CHANGE_DATA_BYTES, MAX_CLOUD_MESSAGE_BYTES } from '../../hub/cloud/proto.js';
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

describe('cloud limits', () => {
  let dir: string;
  let hub: TestHub;
  let cloud: TestCloud;
  let mirror: CloudMirror;
  let commands: RecordingCommands;

  beforeEach(async () => {
    dir = tempDir();
    hub = openHub(dir);
    cloud = await startCloud(dir);
    commands = new RecordingCommands();
    // A 10 MB message takes longer than the usual 3 × 300 ms of silence to cross loopback TLS here.
    mirror = startMirror(
      hub.store,
      mirrorConfig(cloud, { keepaliveMs: 2000, ackTimeoutMs: 10_000 }),
      commands,
    );
    await mirror.start();
    await waitFor(() => mirror.status().connected, 5000, 'connected');
    cloud.cloud.upsertPerson(HUB_ID, 'ada', { name: 'Ada' });
    cloud.cloud.upsertCredential(HUB_ID, 'ada-card', { personId: 'ada', kind: 'card', value: '04ADA001' });
    await waitFor(() => hub.store.credentials.get('ada-card'), 5000, 'card from the cloud');
  });

  afterEach(async () => {
    await mirror.stop();
    await cloud.cloud.stop();
    await hub.close();
    removeDir(dir);
  });

  const revoked = () => hub.store.credentials.get('ada-card')?.revokedAt != null;

  it('a 10 MB change in the cloud log is rejected with a reason; the revocation behind it is applied and the link moves on', async () => {
    const c = cloud.cloud;
    const sessionStart = mirror.status().since;
    // Stored as a broken cloud would (the dev cloud's own API refuses it), then sent in the same page.
    const bigNo = c.store.appendChange(HUB_ID, {
      kind: 'person',
      op: 'upsert',
      id: 'big',
      data: JSON.stringify({ name: 'Big', notes: 'x'.repeat(10 * 1024 * 1024) }),
    });
    const revokeNo = c.revoke(HUB_ID, 'ada-card');
    expect(revokeNo).toBe(bigNo + 1);
    await waitFor(revoked, 8000, 'revocation applied');
    await waitFor(() => c.store.rejections(HUB_ID).length === 1, 5000, 'rejection reported');
    expect(c.store.rejections(HUB_ID)[0]).toMatchObject({
      change_no: bigNo,
      reason: expect.stringContaining(`over the limit of ${MAX_CHANGE_DATA_BYTES} bytes per change`),
    });
    expect(hub.store.people.get('big')).toBeNull();
    expect(hub.store.events.list({ type: 'cloud.change_rejected' })).toHaveLength(1);
    // Not stuck: the cursor passed both, and the next change applies on the same link.
    await waitFor(() => c.hubs()[0]!.appliedChange === revokeNo, 5000, 'acked past both');
    c.upsertPerson(HUB_ID, 'after', { name: 'After' });
    await waitFor(() => hub.store.people.get('after'), 5000, 'next change');
    expect(mirror.status().since).toBe(sessionStart);
    expect(mirror.status().connected).toBe(true);
  });

  it('a message over the transport limit drops the link with a reason, and the link recovers', async () => {
    const changeNo = cloud.cloud.hubs()[0]!.latestChange + 1;
    cloud.cloud.sendRaw(HUB_ID, {
      body: 'changes',
      changes: {
        changes: [
          {
            change_no: changeNo,
            based_on_seq: 0,
            kind: 'person',
            op: 'upsert',
            id: 'huge',
            data_json: JSON.stringify({ name: 'Huge', notes: 'x'.repeat(MAX_CLOUD_MESSAGE_BYTES) }),
            ts: Date.now(),
          },
        ],
        snapshot_begin: false,
        snapshot_end: false,
      },
    });
    await waitFor(() => /max_message_bytes/.test(mirror.status().lastError ?? ''), 8000, 'link dropped');
    expect(mirror.status().lastError).toContain('RESOURCE_EXHAUSTED');
    cloud.cloud.revoke(HUB_ID, 'ada-card');
    await waitFor(revoked, 8000, 'revocation after reconnect');
    expect(hub.store.people.get('huge')).toBeNull();
  });

  it('the dev cloud splits a large log into pages below the hub’s limit', async () => {
    const c = cloud.cloud;
    const notes = 'n'.repeat(MAX_CHANGE_DATA_BYTES - 1024);
    const count = Math.ceil((2.5 * PAGE_TARGET_BYTES) / notes.length); // one page of them would not fit
    const rows = Array.from({ length: count }, (_, i) => ({
      kind: 'person',
      op: 'upsert' as const,
      id: `p${i}`,
      data: { name: `Person ${i}`, notes },
    }));
    const last = c.pushChanges(HUB_ID, rows);
    const errors = new Set<string>();
    await waitFor(
      () => {
        errors.add(mirror.status().lastError ?? '');
        return mirror.status().changeCursor === last;
      },
      60_000,
      'all pages applied',
    );
    expect(hub.store.people.get(`p${count - 1}`)).not.toBeNull();
    expect(c.largestPageBytes).toBeLessThanOrEqual(PAGE_TARGET_BYTES);
    expect(PAGE_TARGET_BYTES).toBeLessThan(MAX_CLOUD_MESSAGE_BYTES);
    expect([...errors].filter((error) => /RESOURCE_EXHAUSTED|max_message_bytes/.test(error))).toEqual([]);
    expect(c.store.rejections(HUB_ID)).toEqual([]);
  }, 90_000);

  it('a change that keeps arriving unreadable is asked for a bounded number of times, then skipped as rejected', async () => {
    const c = cloud.cloud;
    const garbled = c.hubs()[0]!.latestChange + 1;
    c.faults.garbleChange = garbled;
    c.upsertPerson(HUB_ID, 'bob', { name: 'Bob' }); // arrives with an unreadable change number, every time
    const revokeNo = c.revoke(HUB_ID, 'ada-card');
    await waitFor(revoked, 8000, 'revocation applied after the skip');
    await waitFor(() => c.hubs()[0]!.appliedChange === revokeNo, 5000, 'acked past the garbled change');
    expect(c.store.rejections(HUB_ID)).toEqual([
      expect.objectContaining({
        change_no: garbled,
        reason: expect.stringContaining('did not arrive in a readable form after 3 requests'),
      }),
    ]);
    expect(hub.store.events.list({ type: 'cloud.change_rejected' })).toHaveLength(1);
    // Bounded: it stopped asking.
    const requests = c.changesRequests;
    expect(requests).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(c.changesRequests).toBe(requests);
    expect(mirror.status().connected).toBe(true);
  });

  it('revocations overtake 20,000 queued grants; the cursor still counts in order', async () => {
    const c = cloud.cloud;
    const grants = Array.from({ length: 20_000 }, (_, i) => ({
      kind: 'person',
      op: 'upsert' as const,
      id: `g${i}`,
      data: { name: `Guest ${i}`, kind: 'guest' },
    }));
    const lastGrant = c.pushChanges(HUB_ID, grants);
    const revokeNo = c.revoke(HUB_ID, 'ada-card');
    await waitFor(revoked, 30_000, 'revocation applied');
    // Seen while most of the grants queued ahead of it were still waiting.
    expect(mirror.status().changeCursor).toBeLessThan(lastGrant);
    await waitFor(() => mirror.status().changeCursor === revokeNo, 150_000, 'all applied');
    const revokedEvent = hub.store.events.list({ type: 'admin.credential.revoked' })[0]!;
    const lastGrantEvent = hub.store.events
      .list({ type: 'admin.person', limit: 5 })
      .find((event) => event.personId === `g${grants.length - 1}`)!;
    // Applied before the grants queued ahead of it were done.
    expect(revokedEvent.seq).toBeLessThan(lastGrantEvent.seq);
    expect(lastGrant).toBe(revokeNo - 1);
    await waitFor(() => c.hubs()[0]!.appliedChange === revokeNo, 5000, 'acked');
    expect(c.store.rejections(HUB_ID)).toEqual([]);
  }, 200_000);

  it('refuses a command with no expiry, an old one, or one that claims to live for hours, with an audit event each', async () => {
    const send = (commandId: string, expiresAt: number) =>
      cloud.cloud.sendRaw(HUB_ID, {
        body: 'command',
        command: {
          command_id: commandId,
          kind: 'unlock',
          door_id: 'front',
          ms: 3000,
          mode: '',
          expires_at: expiresAt,
        },
      });
    send('no-expiry', 0);
    send('queued-in-an-outage', Date.now() - 3 * 3600_000);
    send('valid-for-a-day', Date.now() + 24 * 3600_000);
    send('fresh', Date.now() + 30_000);
    await waitFor(() => hub.store.events.list({ type: 'cloud.command' }).length === 4, 5000, 'four audits');
    const byId = new Map(
      hub.store.events.list({ type: 'cloud.command' }).map((event) => [event.data['commandId'], event.data]),
    );
    expect(byId.get('no-expiry')).toMatchObject({ ok: false, error: expect.stringContaining('no expiry') });
    expect(byId.get('queued-in-an-outage')).toMatchObject({ ok: false, error: 'expired' });
    expect(byId.get('valid-for-a-day')).toMatchObject({ ok: false, error: expect.stringContaining('300 s') });
    expect(byId.get('fresh')).toMatchObject({ ok: true });
    expect(commands.calls).toEqual([{ kind: 'unlock', doorId: 'front', arg: 3000 }]);
  });
});
