import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HubEvent } from '../../hub/domain.js';
import { GENESIS_HASH } from '../../hub/store/events.js';
import type { Store } from '../../hub/store/store.js';
import { eventually, type TempHub, tempHub } from './helpers.js';

function decision(doorId: string, n: number) {
  return {
    type: 'decision',
    doorId,
    personId: null,
    credentialId: null,
    data: { granted: false, reason: 'unknown_credential', n },
  };
}

describe('event log', () => {
  let hub: TempHub;
  let store: Store;
  beforeEach(() => {
    hub = tempHub();
    store = hub.open().store;
  });
  afterEach(async () => {
    await hub.cleanup();
  });

  it('appendDurable stores at once with seq, ts and a hash chained from 64 zeros', () => {
    const first = store.events.appendDurable({ ...decision('front', 1), ts: 1000 });
    const second = store.events.appendDurable(decision('front', 2));
    expect(first).toMatchObject({
      seq: 1,
      ts: 1000,
      type: 'decision',
      doorId: 'front',
      prevHash: GENESIS_HASH,
    });
    expect(first.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(second.seq).toBe(2);
    expect(second.prevHash).toBe(first.hash);
    // Visible to another process's connection immediately.
    expect(hub.open().store.events.get(2)).toEqual(second);
    expect(store.events.verify()).toEqual({ ok: true, checked: 2 });
  });

  it('group-commits many appended events in one transaction on the next tick', async () => {
    const commits: HubEvent[][] = [];
    store.events.onStored((events) => commits.push(events));
    for (let n = 0; n < 2000; n++) store.events.append(decision('front', n));
    expect(store.events.lastSeq()).toBe(0); // nothing written yet
    expect(store.events.pending()).toBe(2000);
    await eventually(() => (commits.length > 0 ? true : undefined));
    expect(commits).toHaveLength(1);
    expect(commits[0]).toHaveLength(2000);
    expect(commits[0]!.map((e) => e.data['n'])).toEqual(Array.from({ length: 2000 }, (_, n) => n));
    expect(store.events.lastSeq()).toBe(2000);
    expect(store.events.verify()).toEqual({ ok: true, checked: 2000 });
  });

  it('flush() commits queued events synchronously and returns them', () => {
    store.events.append(decision('front', 1));
    store.events.append(decision('back', 2));
    const stored = store.events.flush();
    expect(stored.map((e) => e.seq)).toEqual([1, 2]);
    expect(store.events.flush()).toEqual([]);
    expect(store.events.after(0, 10).map((e) => e.doorId)).toEqual(['front', 'back']);
  });

  it('refuses malformed events with a clear error and stores nothing', () => {
    expect(() => store.events.append({ ...decision('front', 1), type: 'Not A Type' })).toThrow(
      "event type must be lowercase dotted words, e.g. 'door.forced'",
    );
    expect(() => store.events.append({ ...decision('front', 1), doorId: 'x y' })).toThrow(
      'event doorId is not a valid id',
    );
    expect(() =>
      store.events.append({ ...decision('front', 1), data: [] as unknown as Record<string, unknown> }),
    ).toThrow('event data must be an object');
    expect(() =>
      store.events.append({ ...decision('front', 1), data: { blob: 'x'.repeat(70_000) } }),
    ).toThrow('event data is larger than 64 KiB');
    expect(store.events.flush()).toEqual([]);
  });

  it('detects a tampered, a deleted and a re-timed event', () => {
    for (let n = 1; n <= 10; n++) store.events.append(decision('front', n));
    store.events.flush();
    expect(store.events.verify()).toEqual({ ok: true, checked: 10 });
    const attacker = hub.open().db;
    attacker
      .prepare(`UPDATE events SET data = '{"granted":true,"n":4,"reason":"granted"}' WHERE seq = 4`)
      .run();
    expect(store.events.verify()).toEqual({ ok: false, checked: 3, brokenAt: 4 });
    expect(store.events.verify(5)).toEqual({ ok: true, checked: 6 });
    attacker.prepare('DELETE FROM events WHERE seq = 7').run();
    expect(store.events.verify(5)).toEqual({ ok: false, checked: 2, brokenAt: 8 });
    attacker.prepare('UPDATE events SET ts = ts + 1 WHERE seq = 9').run();
    expect(store.events.verify(8)).toEqual({ ok: false, checked: 1, brokenAt: 9 });
  });

  it('two connections appending interleaved keep one valid chain with no gaps', () => {
    const cli = hub.open().store;
    for (let round = 0; round < 50; round++) {
      store.events.append(decision('front', round));
      cli.events.append(decision('back', round));
      if (round % 3 === 0) store.events.flush();
      cli.events.flush();
      if (round % 7 === 0) store.people.add({ name: `Person ${round}`, kind: 'guest' });
      if (round % 5 === 0) cli.events.appendDurable(decision('side', round));
    }
    store.events.flush();
    const total = 50 + 50 + 8 + 10;
    expect(store.events.lastSeq()).toBe(total);
    expect(store.events.verify()).toEqual({ ok: true, checked: total });
    expect(cli.events.verify()).toEqual({ ok: true, checked: total });
  });

  it('a separate OS process appending at the same time keeps one valid chain; watch() sees its revocation', async () => {
    store.people.add({ id: 'alice', name: 'Alice', kind: 'resident' });
    const card = store.credentials.addCard('alice', '0A0B0C0D');
    const seen: HubEvent[] = [];
    store.watch(20, (events) => seen.push(...events));
    const child = promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        join(dirname(fileURLToPath(import.meta.url)), 'child-writer.ts'),
        dirname(hub.dbFile),
        '200',
      ],
      { cwd: join(dirname(fileURLToPath(import.meta.url)), '..', '..') },
    );
    let mine = 0;
    let done = false;
    void child.finally(() => {
      done = true;
    });
    while (!done) {
      store.events.append(decision('front', mine++));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await child;
    store.events.flush();
    expect(store.credentials.find('card', '0A0B0C0D')?.credential.revokedAt).not.toBeNull();
    await eventually(() => (seen.some((e) => e.type === 'admin.credential.revoked') ? true : undefined));
    expect(seen.filter((e) => e.type === 'cli.test')).toHaveLength(200);
    expect(seen.find((e) => e.type === 'admin.credential.revoked')?.credentialId).toBe(card.id);
    expect(seen.some((e) => e.type === 'decision')).toBe(false); // our own events are not echoed
    const total = 2 + 200 + 1 + mine;
    expect(store.events.lastSeq()).toBe(total);
    expect(store.events.verify()).toEqual({ ok: true, checked: total });
  });

  it('lists newest first with filters and paging', () => {
    for (let n = 1; n <= 5; n++) store.events.append(decision(n % 2 === 0 ? 'back' : 'front', n));
    store.events.flush();
    store.doors.add({ id: 'front', name: 'Front' });
    expect(store.events.list({ limit: 2 }).map((e) => e.seq)).toEqual([6, 5]);
    expect(store.events.list({ beforeSeq: 3 }).map((e) => e.seq)).toEqual([2, 1]);
    expect(store.events.list({ doorId: 'back' }).map((e) => e.seq)).toEqual([4, 2]);
    expect(store.events.list({ type: 'admin.*' }).map((e) => e.type)).toEqual(['admin.door.added']);
    expect(store.events.list({ type: 'decision' })).toHaveLength(5);
    expect(store.events.list({ type: 'admin' }).map((e) => e.type)).toEqual(['admin.door.added']);
    expect(store.events.list({ type: 'admin.door.added' })).toHaveLength(1);
    expect(store.events.list({ type: 'adm' })).toEqual([]);
    expect(() => store.events.list({ limit: 0 })).toThrow('limit must be a positive integer');
  });

  it('watch() reports what another process committed, and not our own events', async () => {
    const seen: HubEvent[] = [];
    let calls = 0;
    const unwatch = store.watch(20, (events) => {
      calls++;
      seen.push(...events);
    });
    const cli = hub.open({ actor: 'cli' }).store;
    store.events.appendDurable(decision('front', 1)); // ours
    cli.people.add({ id: 'alice', name: 'Alice', kind: 'resident' });
    const card = cli.credentials.addCard('alice', 'CAFEF00D');
    store.events.appendDurable(decision('front', 2)); // ours
    cli.credentials.revoke(card.id, 'lost');
    await eventually(() => (seen.some((e) => e.type === 'admin.credential.revoked') ? true : undefined));
    expect(seen.map((e) => e.type)).toEqual([
      'admin.person.added',
      'admin.credential.added',
      'admin.credential.revoked',
    ]);
    expect(seen.every((e) => e.data['actor'] === 'cli')).toBe(true);

    // A change without events (kv) is still reported, with no events.
    const before = calls;
    cli.kv.set('cloud.cursor', '42');
    await eventually(() => (calls > before ? true : undefined));
    expect(store.kv.get('cloud.cursor')).toBe('42');
    unwatch();
  });

  it('store.transaction: all or nothing, and flushed events survive a rolled-back transaction', () => {
    store.events.append(decision('front', 1));
    expect(() =>
      store.transaction(() => {
        store.doors.add({ id: 'front', name: 'Front' });
        store.events.flush();
        throw new Error('changed my mind');
      }),
    ).toThrow('changed my mind');
    expect(store.doors.get('front')).toBeNull();
    expect(store.events.lastSeq()).toBe(0);
    // The decision event was put back in the queue, not lost.
    expect(store.events.flush().map((e) => e.data['n'])).toEqual([1]);
    store.transaction(() => {
      store.doors.add({ id: 'front', name: 'Front' });
      store.doors.setMode('front', 'lockdown');
    });
    expect(store.events.list({ type: 'admin.door.*' }).map((e) => e.type)).toEqual([
      'admin.door.mode_changed',
      'admin.door.added',
    ]);
    expect(store.events.verify().ok).toBe(true);
  });

  it('stop() commits events still queued', async () => {
    store.events.append(decision('front', 1));
    await store.stop();
    expect(hub.open().store.events.lastSeq()).toBe(1);
    // After stop, appends are committed at once rather than lost on exit.
    store.events.append(decision('front', 2));
    expect(hub.open().store.events.lastSeq()).toBe(2);
  });
});
