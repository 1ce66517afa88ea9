// Decisions are committed to the WAL before the door hears the answer and fsynced in the background;
// admin changes stay fsynced before they return. Both must be readable by another process at once.
import { afterEach, describe, expect, it } from 'vitest';
import type { HubEvent } from '../../hub/domain.js';
import { type TempHub, tempHub } from './helpers.js';

let hub: TempHub;
afterEach(async () => hub?.cleanup());

const decision = (i: number) => ({
  type: 'decision',
  doorId: null,
  personId: null,
  credentialId: null,
  data: { granted: false, reason: 'unknown_credential', i },
});

describe('event commit modes', () => {
  it('appendCommitted is visible to another connection immediately and keeps one chain', async () => {
    hub = tempHub();
    const { store } = hub.open();
    const other = hub.open().store;
    const stored: HubEvent[] = [];
    for (let i = 0; i < 50; i++) stored.push(store.events.appendCommitted(decision(i)));
    expect(stored.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => stored[0]!.seq + i));
    expect(other.events.lastSeq()).toBe(stored.at(-1)!.seq);
    await store.events.whenOnDisk();
    store.people.add({ id: 'ada', name: 'Ada', kind: 'resident' }); // a durable admin change after them
    expect(other.events.verify()).toEqual({ ok: true, checked: 51 });
  });

  it('restores full durability for admin changes after a decision commit', async () => {
    hub = tempHub();
    const { store, db } = hub.open();
    store.events.appendCommitted(decision(1));
    // 2 = FULL: revocations and suspensions are fsynced before they are acknowledged.
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    await store.events.whenOnDisk();
  });

  it('queued events from append() are committed in the background and reported once', async () => {
    hub = tempHub();
    const { store } = hub.open();
    const seen: number[] = [];
    store.events.onStored((events) => seen.push(...events.map((e) => e.seq)));
    for (let i = 0; i < 10; i++) store.events.append(decision(i));
    await new Promise((r) => setTimeout(r, 50));
    await store.events.whenOnDisk();
    expect(seen).toHaveLength(10);
    expect(store.events.verify().ok).toBe(true);
  });
});
