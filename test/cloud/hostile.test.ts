// A hostile or broken cloud: each bad message is rejected or survived with a clear log line,
// nothing applied half-way, nothing lost.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CloudMirror } from '../../hub/cloud/mirror.js';
import {
  appendEvents,
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

const change = (changeNo: number, kind: string, id: string, data: unknown, op = 'upsert') => ({
  change_no: changeNo,
  based_on_seq: 0,
  kind,
  op,
  id,
  data_json: typeof data === 'string' ? data : JSON.stringify(data),
  ts: Date.now(),
});
const batch = (...changes: unknown[]) => ({
  body: 'changes',
  changes: { changes, snapshot_begin: false, snapshot_end: false },
});

describe('a hostile or broken cloud', () => {
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
    mirror = startMirror(hub.store, mirrorConfig(cloud), commands);
    await mirror.start();
    await waitFor(() => mirror.status().connected, 5000, 'connected');
  });

  afterEach(async () => {
    await mirror.stop();
    await cloud.cloud.stop();
    await hub.close();
    removeDir(dir);
  });

  it('rejects changes of unknown kind, bad data or unknown op one by one, applies the valid ones, and says why', async () => {
    cloud.cloud.sendRaw(
      HUB_ID,
      batch(
        change(1, 'person', 'ok-1', { name: 'Valid One' }),
        change(2, 'spaceship', 'x', { name: 'Nope' }),
        change(3, 'person', 'bad-json', '{"name": '),
        change(4, 'person', 'bad-kind', { name: 'X', kind: 'superuser' }),
        change(5, 'person', 'bad-op', { name: 'X' }, 'explode'),
        change(6, 'credential', 'c-1', { personId: 'nobody', kind: 'card', value: '04AA' }),
        change(7, 'person', 'ok-2', { name: 'Valid Two', hairColour: 'green' }),
      ),
    );
    await waitFor(() => mirror.status().changeCursor === 7, 5000, 'cursor at 7');
    expect(hub.store.people.list().map((p) => p.id)).toEqual(['ok-1', 'ok-2']);
    expect(hub.store.people.get('bad-kind')).toBeNull();
    expect(hub.store.credentials.get('c-1')).toBeNull(); // nothing half-applied
    await waitFor(() => cloud.cloud.store.rejections(HUB_ID).length === 5, 5000, 'rejections reported');
    const reasons = cloud.cloud.store.rejections(HUB_ID).map((r) => `${r.change_no}: ${r.reason}`);
    expect(reasons).toEqual([
      "2: unknown change kind 'spaceship'",
      '3: person bad-json: data_json is not valid JSON',
      expect.stringContaining('4: person bad-kind:'),
      "5: unknown change op 'explode'",
      expect.stringContaining("6: credential c-1: person 'nobody' not found"),
    ]);
    expect(hub.store.events.list({ type: 'cloud.change_rejected' })).toHaveLength(5);
    expect(mirror.status().changesRejected).toBe(5);
  });

  it('ignores an out-of-order change and asks for the missing ones; duplicates are not applied twice', async () => {
    cloud.cloud.upsertPerson(HUB_ID, 'p1', { name: 'One' }); // change 1, through the normal path
    await waitFor(() => mirror.status().changeCursor === 1, 5000, 'change 1');
    cloud.cloud.sendRaw(HUB_ID, batch(change(5, 'person', 'p5', { name: 'Five' })));
    cloud.cloud.sendRaw(HUB_ID, batch(change(1, 'person', 'p1', { name: 'One (replayed)' })));
    cloud.cloud.upsertPerson(HUB_ID, 'p2', { name: 'Two' }); // change 2
    await waitFor(() => mirror.status().changeCursor === 2, 5000, 'change 2');
    expect(hub.store.people.get('p5')).toBeNull();
    expect(hub.store.people.get('p1')!.name).toBe('One');
    expect(hub.store.people.get('p2')!.name).toBe('Two');
  });

  it('survives malformed and unknown messages without dropping the link', async () => {
    const sessionStart = mirror.status().since;
    cloud.cloud.sendRaw(HUB_ID, { body: 'event_ack', event_ack: { seq: 'lots' } });
    cloud.cloud.sendRaw(HUB_ID, batch({ change_no: -1 }));
    cloud.cloud.sendRaw(HUB_ID, { body: 'command', command: { command_id: '' } });
    cloud.cloud.sendRaw(HUB_ID, {}); // an empty message: what an unknown (newer) message type decodes to
    cloud.cloud.upsertPerson(HUB_ID, 'after', { name: 'After the noise' });
    await waitFor(() => hub.store.people.get('after'), 5000, 'valid change after the noise');
    expect(mirror.status().connected).toBe(true);
    expect(mirror.status().since).toBe(sessionStart);
  });

  it('a cloud that acks events it was never sent cannot make the hub skip any', async () => {
    cloud.cloud.sendRaw(HUB_ID, { body: 'event_ack', event_ack: { seq: 1_000_000 } });
    appendEvents(hub.store, 50);
    // Were the bogus ack believed, ackedSeq would sit at 1,000,000 and never read 50.
    await waitFor(() => mirror.status().ackedSeq === 50, 5000, 'hub acked exactly what it sent');
    expect(cloud.cloud.hubs()[0]!.storedSeq).toBe(50);
    expect(mirror.status().backlog).toBe(0);
  });

  it('a cloud that stops reading: the hub keeps at most its window in flight, drops the link, and loses nothing', async () => {
    await mirror.stop();
    mirror = startMirror(
      hub.store,
      mirrorConfig(cloud, { batchSize: 100, maxInFlightBatches: 2, ackTimeoutMs: 800 }),
    );
    await mirror.start();
    await waitFor(() => mirror.status().connected, 5000, 'connected');
    cloud.cloud.faults.stopReading = true;
    appendEvents(hub.store, 2000);
    let maxInFlight = 0;
    await waitFor(
      () => {
        maxInFlight = Math.max(maxInFlight, mirror.status().inFlightBatches);
        return !mirror.status().connected;
      },
      8000,
      'hub gives up on the stalled link',
    );
    expect(maxInFlight).toBeLessThanOrEqual(2);
    expect(mirror.status().lastError).toMatch(/did not acknowledge|nothing heard/);
    cloud.cloud.faults.stopReading = false;
    await waitFor(
      () => mirror.status().connected && mirror.status().backlog === 0,
      10_000,
      'drained after recovery',
    );
    const stored = cloud.cloud.events(HUB_ID, 0, 5000);
    expect(stored.map((e) => e.seq)).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
  });

  it('runs cloud commands through the handler and refuses expired, unknown or invalid ones', async () => {
    expect(await cloud.cloud.sendCommand(HUB_ID, { kind: 'unlock', doorId: 'front', ms: 3000 })).toEqual({
      ok: true,
      error: '',
    });
    expect(
      await cloud.cloud.sendCommand(HUB_ID, { kind: 'set_mode', doorId: 'front', mode: 'lockdown' }),
    ).toEqual({
      ok: true,
      error: '',
    });
    expect(
      await cloud.cloud.sendCommand(HUB_ID, { kind: 'unlock', doorId: 'front', ms: 3000, ttlMs: -1000 }),
    ).toEqual({
      ok: false,
      error: 'expired',
    });
    expect(
      (await cloud.cloud.sendCommand(HUB_ID, { kind: 'self_destruct', doorId: 'front' })).error,
    ).toContain('unknown command');
    expect((await cloud.cloud.sendCommand(HUB_ID, { kind: 'unlock', doorId: 'front', ms: 10 })).ok).toBe(
      false,
    );
    expect(
      (await cloud.cloud.sendCommand(HUB_ID, { kind: 'set_mode', doorId: 'front', mode: 'party' })).ok,
    ).toBe(false);
    expect(
      await cloud.cloud.sendCommand(HUB_ID, { kind: 'unlock', doorId: 'no-such-door', ms: 3000 }),
    ).toEqual({
      ok: false,
      error: "unknown door 'no-such-door'",
    });
    expect(commands.calls).toEqual([
      { kind: 'unlock', doorId: 'front', arg: 3000 },
      { kind: 'set_mode', doorId: 'front', arg: 'lockdown' },
    ]);
    expect(hub.store.events.list({ type: 'cloud.command' })).toHaveLength(7);
  });
});

describe('authentication and first sync', () => {
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

  it('a wrong token is refused: nothing is sent, staff see why, and the hub backs off', async () => {
    appendEvents(hub.store, 10);
    mirror = startMirror(hub.store, mirrorConfig({ ...cloud, token: 'wrong-token-wrong-token' }));
    await mirror.start();
    await waitFor(() => mirror!.status().failedAttempts >= 2, 5000, 'failed attempts');
    const status = mirror.status();
    expect(status.connected).toBe(false);
    expect(status.lastError).toContain('unauthenticated');
    expect(status.backlog).toBe(10);
    expect(cloud.cloud.hubs()[0]!.storedSeq).toBe(0);
  });

  it('a TLS certificate from another CA is refused', async () => {
    const other = await startCloud(join(dir, 'other-cloud'));
    try {
      mirror = startMirror(hub.store, mirrorConfig({ ...cloud, caFile: other.caFile }));
      await mirror.start();
      await waitFor(() => mirror!.status().failedAttempts >= 1, 5000, 'failed attempt');
      expect(mirror.status().connected).toBe(false);
    } finally {
      await other.cloud.stop();
    }
  });

  it('a new hub gets a full snapshot, in dependency order, and then follows the change log', async () => {
    const c = cloud.cloud;
    c.pushChange(HUB_ID, { kind: 'door', op: 'upsert', id: 'front', data: { name: 'Front door' } });
    c.pushChange(HUB_ID, {
      kind: 'schedule',
      op: 'upsert',
      id: 'day',
      data: { name: 'Day', intervals: [{ day: 'mon', from: '07:00', to: '19:00' }] },
    });
    c.pushChange(HUB_ID, {
      kind: 'group',
      op: 'upsert',
      id: 'residents',
      data: { name: 'Residents', scheduleId: 'day', doorIds: ['front'] },
    });
    c.pushChange(HUB_ID, { kind: 'unit', op: 'upsert', id: 'u-12', data: { name: 'Flat 12' } });
    c.upsertPerson(HUB_ID, 'bob', { name: 'Bob', unitId: 'u-12', groupIds: ['residents'] });
    c.upsertCredential(HUB_ID, 'bob-card', { personId: 'bob', kind: 'card', value: '04B0B0' });
    c.pushChange(HUB_ID, { kind: 'person', op: 'upsert', id: 'gone', data: { name: 'Gone' } });
    c.pushChange(HUB_ID, { kind: 'person', op: 'delete', id: 'gone' });
    c.pushChange(HUB_ID, { kind: 'holiday', op: 'upsert', id: '2026-12-25', data: { name: 'Christmas' } });
    mirror = startMirror(hub.store, mirrorConfig(cloud));
    await mirror.start();
    await waitFor(() => mirror!.status().changeCursor === 9, 5000, 'snapshot applied');
    expect(hub.store.credentials.find('card', '04B0B0')!.person.unitId).toBe('u-12');
    expect(hub.store.groups.groupsOf('bob')).toEqual(['residents']);
    expect(hub.store.people.get('gone')).toBeNull();
    expect(hub.store.holidays.list()).toEqual([{ date: '2026-12-25', name: 'Christmas' }]);
    c.suspend(HUB_ID, 'bob');
    await waitFor(() => hub.store.people.get('bob')!.suspended, 5000, 'live change after snapshot');
    expect(mirror.status().changeCursor).toBe(10);
  });
});
