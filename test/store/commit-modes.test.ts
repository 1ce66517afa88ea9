// Door decisions must be crash-safe before the answer leaves, without waiting for SQLite or the disk.
// Without a journal they commit at once to the WAL; with the hub's decision journal they are one write()
// to a file, committed right after, and replayed after a crash. Admin changes stay fsynced.
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type TempHub, tempHub } from './helpers.js';

let hub: TempHub;
afterEach(async () => hub?.cleanup());

const decision = (i: number) => ({
  type: 'decision',
  doorId: null,
  personId: null,
  credentialId: null,
  data: { granted: false, reason: 'unknown_credential', request: `r${i}` },
});

const requests = (store: ReturnType<TempHub['open']>['store']) =>
  store.events
    .list({ type: 'decision', limit: 1000 })
    .map((e) => e.data.request)
    .reverse();

describe('decision commits without a journal', () => {
  it('are visible to another connection at once and keep one chain', async () => {
    hub = tempHub();
    const { store } = hub.open();
    const other = hub.open().store;
    for (let i = 0; i < 50; i++) store.events.appendCommitted(decision(i));
    expect(other.events.lastSeq()).toBe(50);
    await store.events.whenOnDisk();
    store.people.add({ id: 'ada', name: 'Ada', kind: 'resident' }); // a durable admin change after them
    expect(other.events.verify()).toEqual({ ok: true, checked: 51 });
  });

  it('leave full durability on for admin changes', async () => {
    hub = tempHub();
    const { store, db } = hub.open();
    store.events.appendCommitted(decision(1));
    // 2 = FULL: revocations and suspensions are fsynced before they are acknowledged.
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    await store.events.whenOnDisk();
  });
});

describe('the decision journal', () => {
  it('commits journaled decisions right after, in order, and empties the journal', async () => {
    hub = tempHub();
    const { store } = hub.open();
    const file = join(hub.dir, 'events.journal');
    expect(store.events.useJournal(file)).toBe(0);
    for (let i = 0; i < 20; i++) store.events.appendCommitted(decision(i));
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(20); // on file before SQLite
    expect(store.events.lastSeq()).toBe(0);
    store.events.flushSoon();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 20));
    expect(requests(store)).toEqual(Array.from({ length: 20 }, (_, i) => `r${i}`));
    expect(statSync(file).size).toBe(0);
    expect(store.events.verify().ok).toBe(true);
  });

  it('replays what a crash left in the journal, once, after the events already committed', async () => {
    hub = tempHub();
    const file = join(hub.dir, 'events.journal');
    const first = hub.open();
    first.store.events.useJournal(file);
    for (let i = 0; i < 5; i++) first.store.events.appendCommitted(decision(i));
    first.store.events.flush(); // r0..r4 committed
    for (let i = 5; i < 8; i++) first.store.events.appendCommitted(decision(i)); // r5..r7 only in the journal
    // The process dies here: nothing more is committed. Simulate by copying the journal as it is.
    const crashed = readFileSync(file, 'utf8');
    expect(crashed.trim().split('\n')).toHaveLength(3);

    const second = hub.open();
    appendFileSync(file, ''); // the file the next boot finds
    expect(second.store.events.useJournal(file)).toBe(3);
    expect(requests(second.store)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7']);
    expect(second.store.events.verify().ok).toBe(true);
    expect(statSync(file).size).toBe(0);
  });

  it('does not replay lines that were committed just before the crash', async () => {
    hub = tempHub();
    const file = join(hub.dir, 'events.journal');
    const first = hub.open();
    first.store.events.useJournal(file);
    for (let i = 0; i < 4; i++) first.store.events.appendCommitted(decision(i));
    const journal = readFileSync(file, 'utf8');
    first.store.events.flush(); // committed; the crash comes before the journal is emptied
    appendFileSync(file, journal);

    const second = hub.open();
    expect(second.store.events.useJournal(file)).toBe(0);
    expect(requests(second.store)).toEqual(['r0', 'r1', 'r2', 'r3']);
  });

  it('skips a damaged line and keeps the rest', async () => {
    hub = tempHub();
    const file = join(hub.dir, 'events.journal');
    const first = hub.open();
    first.store.events.useJournal(file);
    first.store.events.appendCommitted(decision(1));
    const good = readFileSync(file, 'utf8');
    appendFileSync(file, '{"torn\n');
    const second = hub.open();
    expect(second.store.events.useJournal(file)).toBe(1);
    expect(requests(second.store)).toEqual(['r1']);
    expect(good).toContain('r1');
  });
});
