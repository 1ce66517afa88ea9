// The event-log queries behind GET /api/v1/events: which index SQLite uses for each filter, on a real
// migrated database. A page must never be found by collecting every match and sorting it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../hub/store/db.js';
import { type EventListQuery, eventListWhere } from '../../hub/store/events.js';
import type { Store } from '../../hub/store/store.js';
import { type TempHub, tempHub } from './helpers.js';

let temp: TempHub;
let db: Database;
let store: Store;

beforeAll(() => {
  temp = tempHub();
  ({ db, store } = temp.open());
  const types = ['decision', 'decision', 'door.opened', 'alarm.held_open', 'admin.person.added'];
  for (let i = 0; i < 2000; i++) {
    const type = types[i % types.length]!;
    const person = type === 'admin.person.added' || type === 'decision' ? `p${i % 50}` : null;
    store.events.append({ type, doorId: `d${i % 10}`, personId: person, credentialId: null, data: { i } });
  }
  store.events.flush();
});

afterAll(() => temp.cleanup());

function plan(query: EventListQuery): string {
  const { sql, params } = eventListWhere(query);
  return (
    db
      .prepare(`EXPLAIN QUERY PLAN SELECT * FROM events ${sql} ORDER BY seq DESC LIMIT 101`)
      .all(...params) as Array<{ detail: string }>
  )
    .map((row) => row.detail)
    .join(' | ');
}

describe('event list query plans', () => {
  it('use the person and door indexes, and never sort a whole type or time range', () => {
    expect(plan({ personId: 'p7' })).toMatch(/USING INDEX events_person/);
    expect(plan({ personId: 'p7', type: 'decision', fromTs: 0 })).toMatch(/USING INDEX events_person/);
    expect(plan({ doorId: 'd3' })).toMatch(/USING INDEX events_door/);
    for (const query of [
      {},
      { type: 'decision' },
      { type: 'admin*' },
      { typeScopes: ['door', 'alarm'] },
      { fromTs: 0, untilTs: Date.now() },
      { beforeSeq: 1000, type: 'alarm' },
      { doorId: 'd3', type: 'door', typeScopes: ['door'] },
      { personId: 'p1', doorId: 'd1' },
    ] satisfies EventListQuery[]) {
      expect(plan(query), JSON.stringify(query)).not.toMatch(/TEMP B-TREE/);
    }
  });

  it('match a type, its sub-types and a raw prefix; scopes narrow further', () => {
    const types = (query: EventListQuery) =>
      [...new Set(store.events.list({ ...query, limit: 5000 }).map((e) => e.type))].sort();
    expect(types({ type: 'door' })).toEqual(['door.opened']);
    expect(types({ type: 'admin' })).toEqual(['admin.person.added']);
    expect(types({ type: 'admin.per*' })).toEqual(['admin.person.added']);
    expect(types({ type: 'decisio' })).toEqual([]);
    expect(types({ typeScopes: ['door', 'alarm'] })).toEqual(['alarm.held_open', 'door.opened']);
    expect(types({ typeScopes: [] })).toEqual([]);
    expect(types({ type: 'decision', typeScopes: ['door'] })).toEqual([]);
    const after = store.events.list({ afterSeq: 10, throughSeq: 14, oldestFirst: true }).map((e) => e.seq);
    expect(after).toEqual([11, 12, 13, 14]);
  });
});
