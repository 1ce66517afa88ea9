// After a hub swap: the cloud holds events the restored hub's log does not (sent by the old hub after its
// last backup). The new hub takes them back verbatim, moves its own newer events behind them, and
// sends those once; an older cloud, another hub's log and hostile pages never get renumbered or
// half-written events (docs/cloud-protocol.md, "After a restore").
import { cpSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { PAGE_TARGET_BYTES } from '../../deploy/dev-cloud/server.js';
import type { CloudMirror } from '../../hub/cloud/mirror.js';
import type { WireEvent } from '../../hub/cloud/proto.js';
import type { HubEvent } from '../../hub/domain.js';
import type { Store } from '../../hub/store/store.js';
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

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function dir(): string {
  const d = tempDir();
  cleanups.push(() => removeDir(d));
  return d;
}

function open(d: string): TestHub {
  const hub = openHub(d);
  cleanups.push(() => hub.close());
  return hub;
}

async function link(hub: TestHub, cloud: TestCloud): Promise<CloudMirror> {
  const mirror = startMirror(hub.store, mirrorConfig(cloud));
  await mirror.start();
  cleanups.push(() => mirror.stop());
  return mirror;
}

const stored = (cloud: TestCloud) => cloud.cloud.store.storedSeq(HUB_ID);
const all = (store: Store): HubEvent[] => store.events.list({ limit: 10_000, oldestFirst: true });

/** Every seq of the hub's log once in the cloud, with the same hash. */
function cloudHasExactly(cloud: TestCloud, store: Store): boolean {
  const mine = all(store);
  const theirs = cloud.cloud.store.events(HUB_ID, 0, 10_000);
  return (
    mine.length === theirs.length &&
    mine.every((e, i) => theirs[i]!.seq === e.seq && theirs[i]!.hash === e.hash)
  );
}

/**
 * An old hub with `before` events, all in the cloud; its data dir copied (the backup); then `after` more
 * events (and an admin change when asked) sent to the cloud before it fails. Returns the backup's dir.
 */
async function oldHubAndBackup(
  cloud: TestCloud,
  options: { before?: number; after: number; adminChange?: boolean; data?: Record<string, unknown> },
): Promise<{ backupDir: string; oldEvents: HubEvent[] }> {
  const oldDir = dir();
  const backupDir = dir();
  let old = openHub(oldDir);
  appendEvents(old.store, options.before ?? 5);
  let mirror = startMirror(old.store, mirrorConfig(cloud));
  await mirror.start();
  await waitFor(() => stored(cloud) === old.store.events.lastSeq(), 8000, 'old hub synced');
  await mirror.stop();
  await old.close();
  cpSync(oldDir, backupDir, { recursive: true });
  old = openHub(oldDir);
  for (let i = 0; i < options.after; i++) {
    old.store.events.append({
      type: 'door.opened',
      doorId: 'front',
      personId: null,
      credentialId: null,
      data: { by: 'card', i, ...options.data },
    });
  }
  old.store.events.flush();
  if (options.adminChange)
    old.store.as('cli:test').doors.add({ id: 'side', name: 'Side', transport: 'mqtt' });
  mirror = startMirror(old.store, mirrorConfig(cloud));
  await mirror.start();
  await waitFor(() => stored(cloud) === old.store.events.lastSeq(), 15_000, 'old hub sent everything');
  const oldEvents = all(old.store);
  await mirror.stop();
  await old.close();
  return { backupDir, oldEvents };
}

async function cloud(): Promise<TestCloud> {
  const c = await startCloud(dir());
  cleanups.push(() => c.cloud.stop());
  return c;
}

describe('a restored hub whose cloud is ahead of its backup', () => {
  it('takes the old hub’s last events back verbatim, moves its own behind them, and the cloud gets each once', async () => {
    const c = await cloud();
    const { backupDir, oldEvents } = await oldHubAndBackup(c, { after: 7, adminChange: true });
    const restored = open(backupDir);
    const backupLast = restored.store.events.lastSeq();
    // Doors keep working after the restore, before the link is up: these are written under seqs the cloud holds.
    appendEvents(restored.store, 4, 'door.closed');
    const ownBefore = all(restored.store).filter((e) => e.seq > backupLast);
    const mirror = await link(restored, c);

    await waitFor(() => cloudHasExactly(c, restored.store), 15_000, 'the cloud and the new hub agree');
    const log = all(restored.store);
    // The old hub's events, exactly as the cloud stored them (same seq, ts and hash).
    const oldTail = oldEvents.filter((e) => e.seq > backupLast);
    expect(log.slice(backupLast, backupLast + oldTail.length)).toEqual(oldTail);
    // The new hub's own events follow, same content, new seqs, re-chained.
    const moved = log.slice(backupLast + oldTail.length, backupLast + oldTail.length + ownBefore.length);
    expect(moved.map((e) => [e.type, e.ts, e.data])).toEqual(ownBefore.map((e) => [e.type, e.ts, e.data]));
    expect(moved[0]!.seq).toBe(oldTail[oldTail.length - 1]!.seq + 1);
    const summary = log.find((e) => e.type === 'hub.events_recovered');
    expect(summary?.data).toEqual({
      fromSeq: backupLast + 1,
      throughSeq: oldTail[oldTail.length - 1]!.seq,
      recovered: oldTail.length,
      adminChanges: 1,
      renumbered: { from: backupLast + 1, to: backupLast + ownBefore.length, newFrom: moved[0]!.seq },
    });
    expect(restored.store.events.verify()).toEqual({ ok: true, checked: log.length });
    expect(c.cloud.duplicatesIgnored).toBe(0);
    expect(c.cloud.eventsRequests).toBe(1);

    // Later events flow as usual.
    appendEvents(restored.store, 3);
    await waitFor(() => cloudHasExactly(c, restored.store), 8000, 'new events after the recovery');
    await waitFor(() => mirror.status().backlog === 0, 8000, 'every event acknowledged');
    expect(mirror.status()).toMatchObject({
      connected: true,
      eventsHeld: null,
      recovering: null,
    });
    expect(mirror.status().lastRecovery).toMatchObject({ recovered: oldTail.length, adminChanges: 1 });
  }, 60_000);

  it('with nothing written since the restore, appends the missing events and renumbers nothing', async () => {
    const c = await cloud();
    const { backupDir, oldEvents } = await oldHubAndBackup(c, { after: 3 });
    const restored = open(backupDir);
    await link(restored, c);
    await waitFor(
      () => restored.store.events.list({ limit: 1, type: 'hub.events_recovered' })[0],
      8000,
      'recovered',
    );
    await waitFor(() => cloudHasExactly(c, restored.store), 8000, 'in step');
    const log = all(restored.store);
    expect(log.slice(0, oldEvents.length)).toEqual(oldEvents);
    expect(log[oldEvents.length]!.data).toMatchObject({ recovered: 3, adminChanges: 0, renumbered: null });
    expect(c.cloud.duplicatesIgnored).toBe(0);
  }, 60_000);

  it('pages a large recovery below the message limit and keeps it on disk, not in memory', async () => {
    const c = await cloud();
    // ~6 MB of events after the backup: more than one 4 MiB page.
    const { backupDir } = await oldHubAndBackup(c, { after: 150, data: { note: 'x'.repeat(40_000) } });
    const restored = open(backupDir);
    await link(restored, c);
    await waitFor(
      () => restored.store.events.list({ limit: 1, type: 'hub.events_recovered' })[0],
      20_000,
      'recovered',
    );
    await waitFor(() => cloudHasExactly(c, restored.store), 20_000, 'in step');
    expect(c.cloud.largestEventPageBytes).toBeGreaterThan(1_000_000);
    expect(c.cloud.largestEventPageBytes).toBeLessThanOrEqual(PAGE_TARGET_BYTES);
    expect(restored.store.events.verify().ok).toBe(true);
  }, 90_000);

  it('from a cloud that cannot hand events back: sends nothing, says why, raises one alarm', async () => {
    const c = await cloud();
    const { backupDir } = await oldHubAndBackup(c, { after: 3 });
    c.cloud.faults.legacyEvents = true;
    const cloudBefore = stored(c);
    const restored = open(backupDir);
    appendEvents(restored.store, 5, 'door.closed');
    const mirror = await link(restored, c);
    const held = await waitFor(() => mirror.status().eventsHeld, 8000, 'events held');
    expect(held).toMatchObject({ reason: 'cloud_cannot_recover', cloudStoredSeq: cloudBefore });
    expect(mirror.status().lastError).toMatch(/events held: the cloud holds events up to seq \d+/);
    // A few more dials (back-off) change nothing: no renumbered events, one alarm.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(stored(c)).toBe(cloudBefore);
    expect(c.cloud.duplicatesIgnored).toBe(0);
    expect(restored.store.events.list({ type: 'alarm.cloud_events_held' })).toHaveLength(1);

    // Once the cloud can (upgraded), the link recovers by itself.
    c.cloud.faults.legacyEvents = false;
    await waitFor(() => cloudHasExactly(c, restored.store), 15_000, 'recovered after the upgrade');
    expect(mirror.status().eventsHeld).toBeNull();
  }, 60_000);

  it('refuses the events of another hub’s log: nothing appended, nothing sent, alarm', async () => {
    const c = await cloud();
    await oldHubAndBackup(c, { after: 3 });
    // A different hub (its own history), given this hub's id and token.
    const other = open(dir());
    appendEvents(other.store, 12, 'door.closed');
    const before = all(other.store);
    const cloudBefore = stored(c);
    const mirror = await link(other, c);
    const held = await waitFor(() => mirror.status().eventsHeld, 8000, 'events held');
    expect(held.reason).toBe('foreign_log');
    expect(all(other.store).slice(0, before.length)).toEqual(before);
    expect(
      all(other.store)
        .slice(before.length)
        .map((e) => e.type),
    ).toEqual(['alarm.cloud_events_held']);
    expect(stored(c)).toBe(cloudBefore);
  }, 60_000);

  it('refuses a backup of another hub whose acknowledged position does not chain', async () => {
    const c = await cloud();
    await oldHubAndBackup(c, { after: 3 });
    const other = open(dir());
    appendEvents(other.store, 4, 'door.closed');
    other.store.cloudState.write('acked_seq', 2); // it once synced 2 events with its own cloud
    const mirror = await link(other, c);
    const held = await waitFor(() => mirror.status().eventsHeld, 8000, 'events held');
    expect(held).toMatchObject({
      reason: 'foreign_log',
      message: expect.stringMatching(/does not link to this hub's seq 2/),
    });
    expect(all(other.store).filter((e) => e.type === 'hub.events_recovered')).toHaveLength(0);
  }, 60_000);

  describe('hostile pages are refused whole, and the recovery succeeds once the cloud behaves', () => {
    const cases: Array<[string, (events: WireEvent[]) => WireEvent[], RegExp]> = [
      [
        'a wrong hash',
        (events) => events.map((e, i) => (i === 1 ? { ...e, data_json: '{"by":"forged"}' } : e)),
        /hash does not match its content/,
      ],
      ['a gap', (events) => events.filter((_, i) => i !== 1), /gap: expected seq \d+, got \d+/],
      ['seq going backwards', (events) => [...events, events[0]!], /seq went backwards/],
      [
        'an oversize event',
        (events) =>
          events.map((e, i) =>
            i === 0 ? { ...e, data_json: JSON.stringify({ x: 'y'.repeat(70_000) }) } : e,
          ),
        /malformed/,
      ],
      [
        'an event the hub could not have written',
        (events) => events.map((e, i) => (i === 0 ? { ...e, type: 'Not A Type' } : e)),
        /not an event this hub could have written/,
      ],
      [
        'a chain that breaks midway',
        (events) => events.map((e, i) => (i === 2 ? { ...e, prev_hash: 'f'.repeat(64) } : e)),
        /hash does not match|does not link/,
      ],
    ];
    for (const [name, tamper, reason] of cases) {
      it(name, async () => {
        const c = await cloud();
        const { backupDir } = await oldHubAndBackup(c, { after: 4 });
        const restored = open(backupDir);
        appendEvents(restored.store, 2, 'door.closed');
        const before = all(restored.store);
        const cloudBefore = stored(c);
        c.cloud.faults.tamperStoredEvents = tamper;
        const mirror = await link(restored, c);
        await waitFor(() => reason.test(mirror.status().lastError ?? ''), 8000, `refused: ${name}`);
        expect(all(restored.store)).toEqual(before);
        expect(stored(c)).toBe(cloudBefore);
        expect(mirror.status().eventsHeld).toBeNull(); // the cloud's fault, not a reason to stop for good

        c.cloud.faults.tamperStoredEvents = null;
        await waitFor(() => cloudHasExactly(c, restored.store), 15_000, 'recovered after the cloud behaved');
        expect(restored.store.events.verify().ok).toBe(true);
        expect(c.cloud.duplicatesIgnored).toBe(0);
      }, 60_000);
    }
  });
});
