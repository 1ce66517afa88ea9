// Event-log retention on real SQLite files (hub/store/retention.ts, docs/storage.md §4): what is pruned,
// what is never pruned, in batches, and the hash chain still verifies from the anchor.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../hub/config/index.js';
import type { Database } from '../../hub/store/db.js';
import { readPruneAnchor } from '../../hub/store/prune-anchor.js';
import { dueThroughSeq, EventRetention, pruneEvents } from '../../hub/store/retention.js';
import type { Store } from '../../hub/store/store.js';
import { type TempHub, tempHub } from './helpers.js';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-02T12:00:00Z');
const POLICY = { keepDays: 400, maxEvents: 0, batchSize: 500 };

/** `count` events, one an hour, the first `ageDays` days before NOW. */
function seedEvents(store: Store, count: number, ageDays: number): void {
  const first = NOW - ageDays * DAY;
  for (let i = 0; i < count; i++) {
    store.events.append({
      type: i % 10 === 0 ? 'alarm.forced' : 'decision',
      ts: first + i * 3_600_000,
      doorId: 'front',
      personId: i % 3 === 0 ? `p${i % 7}` : null,
      credentialId: null,
      data: { n: i },
    });
  }
  store.events.flush();
}

const count = (db: Database) => db.prepare('SELECT count(*) FROM events').pluck().get() as number;
const oldestSeq = (db: Database) => db.prepare('SELECT min(seq) FROM events').pluck().get() as number;

describe('event-log retention', () => {
  let hub: TempHub;
  let db: Database;
  let store: Store;
  beforeEach(() => {
    hub = tempHub();
    ({ db, store } = hub.open());
  });
  afterEach(() => hub.cleanup());

  it('prunes by age and leaves an anchor the chain verifies from', async () => {
    seedEvents(store, 1000, 420); // hours 0..999 from 420 days ago: the first 480 are older than 400 days
    const result = await pruneEvents(db, { ...POLICY, now: NOW, ackedSeq: null });
    expect(result.deleted).toBe(480);
    expect(oldestSeq(db)).toBe(481);
    expect(store.events.list({ oldestFirst: true, limit: 1 })[0]!.ts).toBeGreaterThanOrEqual(NOW - 400 * DAY);
    const anchor = readPruneAnchor(db)!;
    expect(anchor).toMatchObject({ seq: 480, prunedAt: NOW });
    expect(anchor.hash).toBe(store.events.get(481)!.prevHash);

    const check = store.events.verify();
    expect(check).toMatchObject({ ok: true, checked: 520, anchor: { seq: 480 } });
    // The next event still follows the chain, and a second pass with nothing due does nothing.
    store.events.appendDurable({
      type: 'decision',
      doorId: null,
      personId: null,
      credentialId: null,
      data: {},
    });
    expect(store.events.verify()).toMatchObject({ ok: true, checked: 521 });
    expect((await pruneEvents(db, { ...POLICY, now: NOW, ackedSeq: null })).deleted).toBe(0);
  });

  it('never prunes what the cloud has not acknowledged', async () => {
    seedEvents(store, 300, 500); // all older than 400 days
    const result = await pruneEvents(db, { ...POLICY, now: NOW, ackedSeq: 120 });
    expect(result.deleted).toBe(120);
    expect(result.heldForCloud).toBe(299 - 120); // the newest always stays anyway
    expect(oldestSeq(db)).toBe(121);
    // The cloud has nothing yet: nothing goes.
    expect((await pruneEvents(db, { ...POLICY, now: NOW, ackedSeq: 0 })).deleted).toBe(0);
    // It catches up: the rest goes, except the newest event.
    const later = await pruneEvents(db, { ...POLICY, now: NOW, ackedSeq: 300 });
    expect(later.deleted).toBe(179);
    expect(count(db)).toBe(1);
    expect(store.events.verify()).toMatchObject({ ok: true, checked: 1 });
    const next = store.events.appendDurable({
      type: 'decision',
      doorId: null,
      personId: null,
      credentialId: null,
      data: {},
    });
    expect(next.seq).toBe(301);
    expect(store.events.verify()).toMatchObject({ ok: true, checked: 2, anchor: { seq: 299 } });
  });

  it('deletes in small batches, and other writes get through between them', async () => {
    seedEvents(store, 600, 500);
    const writes: number[] = [];
    const writer = setInterval(() => {
      writes.push(
        store.events.appendDurable({
          type: 'decision',
          doorId: null,
          personId: null,
          credentialId: null,
          data: {},
        }).seq,
      );
    }, 5);
    const result = await pruneEvents(
      db,
      { ...POLICY, batchSize: 50, now: NOW, ackedSeq: null },
      undefined,
      20,
    );
    clearInterval(writer);
    expect(result.batches).toBe(12); // 599 due (the newest stays), 50 at a time
    expect(result.deleted).toBe(599);
    expect(writes.length).toBeGreaterThan(0); // events committed while the pass was under way
    expect(store.events.verify()).toMatchObject({ ok: true });
  });

  it('caps the number of events, but never below 30 days', () => {
    seedEvents(store, 2000, 60); // one an hour for 83 days: from 60 days ago into the future
    // 500 allowed: the cap would cut almost everything; only what is older than 30 days goes.
    const due = dueThroughSeq(db, { ...POLICY, maxEvents: 500 }, NOW)!;
    expect(store.events.get(due)!.ts).toBeLessThan(NOW - 30 * DAY);
    expect(store.events.get(due + 1)!.ts).toBeGreaterThanOrEqual(NOW - 30 * DAY);
    // A generous cap cuts by count.
    expect(dueThroughSeq(db, { ...POLICY, maxEvents: 1900 }, NOW)).toBe(100);
    expect(dueThroughSeq(db, { ...POLICY, maxEvents: 0 }, NOW)).toBeNull();
  });

  it('detects tampering after the anchor, with the anchor, and below it', async () => {
    seedEvents(store, 200, 500);
    await pruneEvents(db, { ...POLICY, now: NOW, ackedSeq: 100 });
    expect(store.events.verify()).toMatchObject({ ok: true, checked: 100 });

    // A kept event changed.
    db.prepare('UPDATE events SET data = \'{"n":-1}\' WHERE seq = 150').run();
    expect(store.events.verify()).toMatchObject({ ok: false, brokenAt: 150, anchor: { seq: 100 } });
    db.prepare('UPDATE events SET data = \'{"n":149}\' WHERE seq = 150').run();
    expect(store.events.verify()).toMatchObject({ ok: true });

    // The first kept events removed without a new anchor.
    const saved = db.prepare('SELECT * FROM events WHERE seq = 101').get() as Record<string, unknown>;
    db.prepare('DELETE FROM events WHERE seq = 101').run();
    expect(store.events.verify()).toMatchObject({ ok: false, brokenAt: 102 });
    db.prepare(
      'INSERT INTO events (seq, ts, type, door_id, person_id, credential_id, data, prev_hash, hash) VALUES (@seq, @ts, @type, @door_id, @person_id, @credential_id, @data, @prev_hash, @hash)',
    ).run(saved);

    // The anchor's hash altered, or the anchor damaged or removed.
    const key = 'events.prune.anchor';
    const text = store.kv.get(key)!;
    store.kv.set(key, JSON.stringify({ ...JSON.parse(text), hash: 'f'.repeat(64) }));
    expect(store.events.verify()).toMatchObject({ ok: false, brokenAt: 101 });
    store.kv.set(key, 'not json');
    expect(store.events.verify()).toMatchObject({ ok: false });
    store.kv.delete(key);
    expect(store.events.verify()).toMatchObject({ ok: false, brokenAt: 101 });
    store.kv.set(key, text);
    expect(store.events.verify()).toMatchObject({ ok: true, checked: 100 });
  });

  it('runs as the hub part: the status shows the oldest kept event and the anchor', async () => {
    seedEvents(store, 100, 500);
    const retention = new EventRetention({
      config: { enabled: true, ...POLICY, batchSize: 30 },
      db,
      ackedSeq: () => null,
      now: () => NOW,
      firstPassDelayMs: 60_000,
    });
    retention.start();
    expect(retention.status()).toMatchObject({ oldestSeq: 1, prunedThroughSeq: null });
    const result = await retention.runOnce();
    expect(result).toMatchObject({ deleted: 99, batches: 4 });
    expect(retention.status()).toMatchObject({
      enabled: true,
      oldestSeq: 100,
      oldestAt: new Date(NOW - 500 * DAY + 99 * 3_600_000).toISOString(),
      prunedThroughSeq: 99,
      prunedAt: new Date(NOW).toISOString(),
      lastPass: { deleted: 99, heldForCloud: 0 },
    });
    await retention.stop();
  });
});

describe('events.retention config', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const problemsOf = (yaml: string): string[] => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gh-retention-'));
    dirs.push(dir);
    const file = path.join(dir, 'config.yml');
    writeFileSync(file, yaml);
    try {
      loadConfig({ file, env: {} });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems;
    }
    throw new Error('expected a ConfigError');
  };

  it('defaults to 400 days, no cap', () => {
    const { config } = loadConfig({ env: {} });
    expect(config.events.retention).toEqual({ enabled: true, keepDays: 400, maxEvents: 0, batchSize: 500 });
  });

  it('refuses hostile settings with the setting named', () => {
    const y = (body: string) => `events:\n  retention:\n${body}`;
    const refused: Array<[string, string]> = [
      ['keepDays: 1', 'keepDays'], // below the 30-day floor
      ['keepDays: -400', 'keepDays'],
      ['keepDays: "forever"', 'keepDays'],
      ['keepDays: 1.5e300', 'keepDays'],
      ['maxEvents: -1', 'maxEvents'],
      ['batchSize: 100000000', 'batchSize'], // one huge transaction would hold up the doors
      ['batchSize: 0', 'batchSize'],
    ];
    for (const [line, setting] of refused) {
      const problems = problemsOf(y(`    ${line}\n`));
      expect(
        problems.some((p) => p.startsWith(`events.retention.${setting}:`)),
        line,
      ).toBe(true);
    }
    expect(problemsOf(y('    deleteEverything: true\n'))).toContain(
      'events.retention: unknown setting "deleteEverything" (check the spelling)',
    );
    expect(problemsOf('events:\n  retention: yes\n').some((p) => p.startsWith('events.retention'))).toBe(
      true,
    );
  });
});
