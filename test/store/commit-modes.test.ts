// Door decisions must be crash-safe before the answer leaves, without waiting for SQLite or the disk.
// Without a journal they commit at once to the WAL; with the hub's decision journal they are one write()
// to a file, committed right after, and replayed after a crash. Admin changes stay fsynced.
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { notYetCommitted } from '../../hub/store/events.js';
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

describe('a journal older than the database (a power cut kept the WAL but not the journal)', () => {
  it('is not replayed twice: same boot, the old journal put back after more commits', async () => {
    hub = tempHub();
    const file = join(hub.dir, 'events.journal');
    const first = hub.open();
    first.store.events.useJournal(file);
    for (let i = 0; i < 4; i++) first.store.events.appendCommitted(decision(i));
    const stale = readFileSync(file, 'utf8'); // the journal as the disk kept it
    first.store.events.flush(); // r0..r3 committed; the journal is emptied in the page cache only
    for (let i = 4; i < 9; i++) first.store.events.appendCommitted(decision(i));
    first.store.events.flush(); // r4..r8 committed: the database is ahead of the stale journal
    writeFileSync(file, stale);

    const second = hub.open();
    expect(second.store.events.useJournal(file)).toBe(0);
    expect(requests(second.store)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8']);
  });

  it('is not replayed twice across restarts, and a newer tail in the same file still is', async () => {
    hub = tempHub();
    const file = join(hub.dir, 'events.journal');
    const boot1 = hub.open();
    boot1.store.events.useJournal(file);
    for (let i = 0; i < 3; i++) boot1.store.events.appendCommitted(decision(i));
    const staleFromBoot1 = readFileSync(file, 'utf8');
    boot1.store.events.flush();

    const boot2 = hub.open();
    expect(boot2.store.events.useJournal(file)).toBe(0);
    for (let i = 3; i < 6; i++) boot2.store.events.appendCommitted(decision(i));
    boot2.store.events.flush(); // r3..r5 committed in boot 2
    boot2.store.events.appendCommitted(decision(6)); // r6 only in the journal when the power goes
    const tailOfBoot2 = readFileSync(file, 'utf8');
    writeFileSync(file, staleFromBoot1 + tailOfBoot2);

    const boot3 = hub.open();
    expect(boot3.store.events.useJournal(file)).toBe(1);
    expect(requests(boot3.store)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
    expect(boot3.store.events.verify().ok).toBe(true);
  });
});

describe('which journal lines replay (notYetCommitted)', () => {
  const line = (jid: string) => ({
    jid,
    ts: 1,
    type: 'decision',
    doorId: null,
    personId: null,
    credentialId: null,
    dataJson: '{}',
  });
  const ids = (lines: Array<{ jid?: string }>) => lines.map((l) => l.jid);

  it('orders boot.n ids across boots, whatever the order of lines in the file', () => {
    const lines = ['3.9', '3.10', '4.1', '2.50', '4.2'].map(line);
    expect(ids(notYetCommitted(lines, '4.1'))).toEqual(['4.2']);
    expect(ids(notYetCommitted(lines, '3.9'))).toEqual(['3.10', '4.1', '4.2']);
    expect(ids(notYetCommitted(lines, undefined))).toEqual(['3.9', '3.10', '4.1', '2.50', '4.2']);
  });

  it('upgrades from the old random ids: matched by position, and older than any numbered boot', () => {
    const legacy = ['lq1abc-1', 'lq1abc-2', 'lq1abc-3'].map(line);
    expect(ids(notYetCommitted(legacy, 'lq1abc-2'))).toEqual(['lq1abc-3']);
    expect(ids(notYetCommitted([...legacy, line('1.1')], 'lq1abc-3'))).toEqual(['1.1']);
    expect(ids(notYetCommitted(legacy, '1.4'))).toEqual([]);
  });
});
