// person.list as the staff UI's search box: by name, id, unit id or unit name, case and accents ignored,
// taken literally (no wildcards), ordered by name, bounded by `limit`; on a real store as the CLI runs it.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { refusal, STAFF, type StoreBench, storeBench } from './helpers.js';

let bench: StoreBench;
beforeEach(async () => {
  bench = storeBench();
  await bench.run('unit.add', { id: '4b', name: 'Flat 4B' });
  await bench.run('unit.add', { id: 'penthouse', name: 'Dachgeschoß Süd' });
  const people: Array<[string, string, string | undefined]> = [
    ['ann', 'Ann Smith', '4b'],
    ['anna', 'Anna Müller', 'penthouse'],
    ['joanne', 'Joanne Émile', undefined],
    ['bob', 'bob builder', '4b'],
    ['percent', '100% Tenant', undefined],
    ['under', 'Under_Score', undefined],
    ['zed', 'Zed', undefined],
  ];
  for (const [id, name, unitId] of people) {
    await bench.run('person.add', { id, name, kind: 'resident', ...(unitId ? { unitId } : {}) });
  }
});
afterEach(async () => {
  await bench.cleanup();
});

const ids = async (input: Record<string, unknown>) =>
  ((await bench.run('person.list', input, STAFF)).people as Array<{ id: string }>).map((p) => p.id);

describe('person.list search', () => {
  it('without a query lists everyone by name, case and accents ignored in the order', async () => {
    expect(await ids({})).toEqual(['percent', 'ann', 'anna', 'bob', 'joanne', 'under', 'zed']);
  });

  it('matches part of a name, case-insensitively', async () => {
    expect(await ids({ query: 'ann' })).toEqual(['ann', 'anna', 'joanne']);
    expect(await ids({ query: 'ANN S' })).toEqual(['ann']);
    expect(await ids({ query: 'BUILDER' })).toEqual(['bob']);
  });

  it('folds accents on both sides', async () => {
    expect(await ids({ query: 'muller' })).toEqual(['anna']);
    expect(await ids({ query: 'Müller' })).toEqual(['anna']);
    expect(await ids({ query: 'emile' })).toEqual(['joanne']);
    expect(await ids({ query: 'ÉMILE' })).toEqual(['joanne']);
    // The unit's name is folded too.
    expect(await ids({ query: 'sud' })).toEqual(['anna']);
  });

  it('matches the id, the unit id and the unit name', async () => {
    expect(await ids({ query: 'zed' })).toEqual(['zed']);
    expect(await ids({ query: '4b' })).toEqual(['ann', 'bob']);
    expect(await ids({ query: 'flat' })).toEqual(['ann', 'bob']);
    expect(await ids({ query: 'penthouse' })).toEqual(['anna']);
  });

  it('takes % and _ literally, never as wildcards', async () => {
    expect(await ids({ query: '%' })).toEqual(['percent']);
    expect(await ids({ query: '_' })).toEqual(['under']);
    expect(await ids({ query: 'r_s' })).toEqual(['under']);
    expect(await ids({ query: 'a%' })).toEqual([]);
  });

  it('treats SQL-looking text as text', async () => {
    for (const query of ["' OR 1=1 --", '"); DROP TABLE people; --', "ann' --", '\\', '*', '[a-z]']) {
      expect(await ids({ query }), query).toEqual([]);
    }
    expect(bench.store.people.list()).toHaveLength(7);
  });

  it('returns at most limit people, first by name; default 100', async () => {
    expect(await ids({ limit: 2 })).toEqual(['percent', 'ann']);
    expect(await ids({ query: 'ann', limit: 1 })).toEqual(['ann']);
    for (let i = 0; i < 120; i++) bench.store.people.add({ id: `p${i}`, name: `Person ${i}`, kind: 'guest' });
    expect(await ids({})).toHaveLength(100);
    expect(await ids({ limit: 500 })).toHaveLength(127);
  });

  it('a query of spaces is no filter; it is trimmed', async () => {
    expect(await ids({ query: '   ' })).toHaveLength(7);
    expect(await ids({ query: '  zed ' })).toEqual(['zed']);
  });

  it('refuses hostile input with a message naming the field', async () => {
    expect(await refusal(bench.run('person.list', { query: 'x'.repeat(81) }))).toEqual({
      code: 'invalid',
      message: "'query' must not have more than 80 characters",
    });
    expect((await refusal(bench.run('person.list', { query: 'x'.repeat(1_000_000) }))).code).toBe('invalid');
    expect((await refusal(bench.run('person.list', { query: '' }))).message).toBe(
      "'query' must not have fewer than 1 characters",
    );
    expect((await refusal(bench.run('person.list', { query: 'ann\u0000' }))).message).toBe(
      'query must not contain control characters',
    );
    expect((await refusal(bench.run('person.list', { query: ['ann'] }))).code).toBe('invalid');
    for (const limit of [0, 501, 1.5, -1, '20', null, 1e9]) {
      expect((await refusal(bench.run('person.list', { limit }))).code, String(limit)).toBe('invalid');
    }
    expect((await refusal(bench.run('person.list', { q: 'ann' }))).message).toBe("unknown field 'q'");
  });
});
