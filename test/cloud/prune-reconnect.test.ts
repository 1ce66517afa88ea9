// A cloud reconnecting to a hub that pruned the event at (or around) the cloud's stored_seq: the hub
// resends nothing pruned, loses and duplicates nothing it holds, raises no false alarm, and a cloud whose
// hash at the prune anchor is not the anchor's is not this hub's log (docs/cloud-protocol.md).
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CloudMirror } from '../../hub/cloud/mirror.js';
import { openDatabase } from '../../hub/store/db.js';
import { pruneBatch } from '../../hub/store/retention.js';
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

async function cloud(): Promise<TestCloud> {
  const c = await startCloud(dir());
  cleanups.push(() => c.cloud.stop());
  return c;
}

async function link(hub: TestHub, c: TestCloud): Promise<CloudMirror> {
  const mirror = startMirror(hub.store, mirrorConfig(c));
  await mirror.start();
  cleanups.push(() => mirror.stop());
  return mirror;
}

const stored = (c: TestCloud) => c.cloud.store.storedSeq(HUB_ID);
const alarms = (store: Store) => store.events.list({ type: 'alarm.cloud_events_held' });

/** A hub with `synced` events in the cloud, then `more` events while offline, pruned through `pruneThrough`. */
async function prunedHub(c: TestCloud, synced: number, more: number, pruneThrough: number): Promise<TestHub> {
  const d = dir();
  const hub = openHub(d);
  cleanups.push(() => hub.close());
  appendEvents(hub.store, synced);
  const mirror = startMirror(hub.store, mirrorConfig(c));
  await mirror.start();
  await waitFor(() => stored(c) === synced, 8000, 'first sync');
  await mirror.stop();
  appendEvents(hub.store, more, 'door.closed');
  const db = openDatabase(join(d, 'gatehouse.db'));
  try {
    expect(pruneBatch(db, pruneThrough, 1000, Date.now())?.seq).toBe(pruneThrough);
  } finally {
    db.close();
  }
  return hub;
}

/** The cloud holds each seq at most once, and every event the hub still holds, with its hash. */
function cloudHoldsKeptOnce(c: TestCloud, store: Store): void {
  const theirs = c.cloud.store.events(HUB_ID, 0, 10_000);
  const seqs = theirs.map((e) => e.seq);
  expect(new Set(seqs).size).toBe(seqs.length);
  const bySeq = new Map(theirs.map((e) => [e.seq, e.hash]));
  for (const e of store.events.list({ limit: 10_000, oldestFirst: true }))
    expect(bySeq.get(e.seq)).toBe(e.hash);
  expect(c.cloud.duplicatesIgnored).toBe(0);
}

describe('reconnect after pruning', () => {
  it('cloud stored_seq equal to the prune anchor: sends only what follows, no alarm', async () => {
    const c = await cloud();
    const hub = await prunedHub(c, 6, 4, 6);
    const mirror = await link(hub, c);
    await waitFor(() => stored(c) === hub.store.events.lastSeq(), 8000, 'resynced');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(mirror.status().eventsHeld).toBeNull();
    expect(alarms(hub.store)).toHaveLength(0);
    cloudHoldsKeptOnce(c, hub.store);
    expect(c.cloud.store.events(HUB_ID, 0, 10_000).map((e) => e.seq)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
  }, 30_000);

  // Known defect, not fixed yet: the hub resumes at the cloud's seq 4, the cloud refuses seq 7 ("gap:
  // expected seq 5, got 7") and the link redials forever with no alarm. It needs a protocol decision (the
  // cloud lost events it acknowledged: hold with an alarm, or let the hub declare the gap).
  it('cloud stored_seq inside the pruned part (it lost acknowledged events): held, one alarm, nothing sent', async () => {
    const c = await cloud();
    // The cloud holds 1..4; the hub pruned through 6, as if the cloud had acknowledged 5 and 6 and lost them.
    const hub = await prunedHub(c, 4, 6, 6);
    const cloudBefore = c.cloud.store.events(HUB_ID, 0, 10_000);
    const mirror = await link(hub, c);
    const held = await waitFor(() => mirror.status().eventsHeld, 8000, 'events held');
    expect(held).toMatchObject({ reason: 'cloud_lost_events', cloudStoredSeq: 4 });
    expect(held.message).toContain('lost 2 events');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(c.cloud.store.events(HUB_ID, 0, 10_000)).toEqual(cloudBefore);
    expect(alarms(hub.store)).toHaveLength(1);
  }, 30_000);

  it('a cloud whose hash at the prune anchor is not the anchor’s is not this hub’s log', async () => {
    const c = await cloud();
    // Another hub's log (same id and token) put 6 events in the cloud.
    const otherDir = dir();
    const other = openHub(otherDir);
    appendEvents(other.store, 6, 'door.opened');
    const otherMirror = startMirror(other.store, mirrorConfig(c));
    await otherMirror.start();
    await waitFor(() => stored(c) === 6, 8000, 'other synced');
    await otherMirror.stop();
    await other.close();
    const cloudBefore = c.cloud.store.events(HUB_ID, 0, 10_000);

    // This hub pruned its own seq 6 (a different hash) before connecting.
    const d = dir();
    const hub = openHub(d);
    cleanups.push(() => hub.close());
    appendEvents(hub.store, 10, 'door.closed');
    const db = openDatabase(join(d, 'gatehouse.db'));
    pruneBatch(db, 6, 1000, Date.now());
    db.close();
    const mirror = await link(hub, c);
    const held = await waitFor(() => mirror.status().eventsHeld, 8000, 'events held');
    expect(held.reason).toBe('foreign_log');
    expect(c.cloud.store.events(HUB_ID, 0, 10_000)).toEqual(cloudBefore);
    expect(alarms(hub.store)).toHaveLength(1);
  }, 30_000);
});
