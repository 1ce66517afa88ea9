// People, units and mobile keys on a real store (as the CLI runs them): readable ids, actors and
// reasons in the audit log, and "log out everywhere" that staff can see.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { slugOf } from '../../hub/commands/index.js';
import {
  CLOUD,
  expectOnlyRoles,
  INSTALLER,
  INTEGRATION,
  lastEvent,
  refusal,
  STAFF,
  type StoreBench,
  storeBench,
} from './helpers.js';

let bench: StoreBench;
beforeEach(() => {
  bench = storeBench();
});
afterEach(async () => {
  await bench.cleanup();
});

describe('person.add', () => {
  it('derives a readable id from the name, so the next command can use it', async () => {
    expect(await bench.run('person.add', { name: 'Plumber', kind: 'guest' }, STAFF)).toMatchObject({
      person: { id: 'plumber', name: 'Plumber', kind: 'guest' },
    });
    expect((await bench.run('person.add', { name: 'Plumber', kind: 'guest' })).person).toMatchObject({
      id: 'plumber-2',
    });
    expect(
      (await bench.run('credential.add_card', { personId: 'plumber', card: '04:A2:2B:1C' })).credential,
    ).toMatchObject({
      personId: 'plumber',
      label: 'card …2B1C',
    });
    const added = lastEvent(bench.store, 'admin.person.added');
    expect(added.data).toEqual({ kind: 'guest', unitId: null, actor: 'cli:root' });
    expect(lastEvent(bench.store, 'admin.credential.added').data).toMatchObject({ actor: 'cli:root' });
  });

  it('makes ids from any name and keeps a given id', async () => {
    expect(slugOf('  Anna Müller-Øst, Flat 4B ')).toBe('anna-muller-st-flat-4b');
    expect(slugOf('张三')).toBe('');
    expect((await bench.run('person.add', { name: '张三', kind: 'resident' })).person).toMatchObject({
      id: expect.stringMatching(/^p_[a-z2-7]{10}$/),
    });
    expect((await bench.run('person.add', { id: 'ada', name: 'Ada', kind: 'staff' })).person).toMatchObject({
      id: 'ada',
    });
    expect(await refusal(bench.run('person.add', { id: 'ada', name: 'Ada', kind: 'staff' }))).toEqual({
      code: 'conflict',
      message: "person 'ada' already exists",
    });
  });

  it('refuses hostile input with a message that names the field', async () => {
    expect(await refusal(bench.run('person.add', { name: 'X', kind: 'alien' }))).toEqual({
      code: 'invalid',
      message: "'kind' must be one of: resident, staff, guest",
    });
    expect((await refusal(bench.run('person.add', { name: 'x'.repeat(129), kind: 'guest' }))).message).toBe(
      "'name' must not have more than 128 characters",
    );
    expect(
      (await refusal(bench.run('person.add', { name: 'Eve', kind: 'guest', admin: true }))).message,
    ).toBe("unknown field 'admin'");
    expect((await refusal(bench.run('person.add', { name: 'Eve\u0000', kind: 'guest' }))).message).toBe(
      'person name must not contain control characters',
    );
    expect((await refusal(bench.run('person.add', ['Eve']))).message).toBe('input must be a JSON object');
    expect((await refusal(bench.run('person.add', { kind: 'guest' }))).message).toBe("'name' is required");
    const polluted = JSON.parse('{"name":"Eve","kind":"guest","__proto__":{"admin":true}}');
    expect((await refusal(bench.run('person.add', polluted))).message).toBe("unknown field '__proto__'");
    expect(
      (await refusal(bench.run('person.add', { name: 'x'.repeat(1_000_000), kind: 'guest' }))).code,
    ).toBe('invalid');
    expect(bench.store.people.list()).toEqual([]);
  });

  it('is staff work', async () => {
    await expectOnlyRoles(bench.commands, 'person.add', { name: 'Zed', kind: 'guest' }, ['admin', 'staff']);
    for (const caller of [INSTALLER, INTEGRATION, CLOUD]) {
      expect((await refusal(bench.run('person.list', {}, caller))).code).toBe('forbidden');
    }
  });
});

describe('person.suspend, unsuspend, remove, list, get', () => {
  it('records actor and reason, and shows a person with all they hold', async () => {
    await bench.run('unit.add', { id: '4b', name: 'Flat 4B' }, STAFF);
    expect(lastEvent(bench.store, 'admin.unit.added').data).toEqual({ unitId: '4b', actor: 'user:sam' });
    await bench.run('person.add', { name: 'Ada', kind: 'resident', unitId: '4b' });
    await bench.run('credential.add_pin', { personId: 'ada', pin: '482913' });
    bench.store.credentials.addMobile('ada', 'mk_abcdefghijkl', { label: "Ada's phone" });
    expect((await bench.run('person.suspend', { id: 'ada', reason: 'rent' }, STAFF)).person).toMatchObject({
      suspended: true,
    });
    expect(lastEvent(bench.store, 'admin.person.suspended').data).toEqual({
      actor: 'user:sam',
      reason: 'rent',
    });
    await bench.run('person.unsuspend', { id: 'ada' }, STAFF);
    expect(lastEvent(bench.store, 'admin.person.unsuspended').data).toEqual({ actor: 'user:sam' });
    const got = await bench.run('person.get', { id: 'ada' }, STAFF);
    expect(got.person).toMatchObject({ id: 'ada', unitId: '4b', suspended: false });
    expect(got.credentials).toMatchObject([{ kind: 'pin', label: 'PIN' }]);
    expect(got.mobileKeys).toMatchObject([{ kind: 'mobile', label: "Ada's phone", state: 'active' }]);
    expect(got.offlineCodes).toBeNull(); // no code secret in this process
    expect(JSON.stringify(got)).not.toContain('482913');
    expect((await bench.run('person.list', {}, STAFF)).people).toMatchObject([{ id: 'ada' }]);
    await bench.run('person.remove', { id: 'ada' }, STAFF);
    expect(lastEvent(bench.store, 'admin.person.removed').data).toEqual({ actor: 'user:sam' });
    expect(await refusal(bench.run('person.get', { id: 'ada' }))).toEqual({
      code: 'not_found',
      message: "person 'ada' not found",
    });
    await bench.run('unit.remove', { id: '4b' });
    expect((await bench.run('unit.list', {})).units).toEqual([]);
  });
});

describe('person.logout_everywhere and mobile keys', () => {
  it('stops every mobile key, and mobile.list no longer shows them as active', async () => {
    await bench.run('person.add', { id: 'ada', name: 'Ada', kind: 'resident' });
    const phone = bench.store.credentials.addMobile('ada', 'mk_phone000001', { label: 'phone' });
    const watch = bench.store.credentials.addMobile('ada', 'mk_watch000001', { label: 'watch' });
    await bench.run('credential.add_card', { personId: 'ada', card: '04A22B1C' });
    expect((await bench.run('mobile.list', { personId: 'ada' }, STAFF)).keys).toMatchObject([
      { id: phone.id, state: 'active' },
      { id: watch.id, state: 'active' },
    ]);
    const out = await bench.run('person.logout_everywhere', { id: 'ada' }, STAFF);
    expect(out).toEqual({ person: 'ada', keyEpoch: 1, revoked: [phone.id, watch.id] });
    expect(lastEvent(bench.store, 'admin.person.key_epoch_bumped').data).toEqual({
      keyEpoch: 1,
      actor: 'user:sam',
    });
    expect(lastEvent(bench.store, 'admin.credential.revoked').data).toMatchObject({
      kind: 'mobile',
      reason: 'logged out everywhere',
      actor: 'user:sam',
    });
    const keys = (await bench.run('mobile.list', {}, STAFF)).keys as Array<{ state: string }>;
    expect(keys.map((k) => k.state)).toEqual(['revoked', 'revoked']);
    // Cards are not mobile keys: they keep working.
    expect((await bench.run('credential.list', { personId: 'ada' })).credentials).toMatchObject([
      { kind: 'mobile' },
      { kind: 'mobile' },
      { kind: 'card', revokedAt: null },
    ]);
  });

  it('mobile.revoke revokes one mobile key only, with actor and reason', async () => {
    await bench.run('person.add', { id: 'ada', name: 'Ada', kind: 'resident' });
    const phone = bench.store.credentials.addMobile('ada', 'mk_phone000001', { label: 'phone' });
    const card = (await bench.run('credential.add_card', { personId: 'ada', card: '04A22B1C' }))
      .credential as {
      id: string;
    };
    expect(
      await bench.run('mobile.revoke', { credentialId: phone.id, reason: 'phone lost' }, STAFF),
    ).toMatchObject({
      key: { id: phone.id, state: 'revoked', revokedReason: 'phone lost' },
    });
    expect(lastEvent(bench.store, 'admin.credential.revoked').data).toMatchObject({
      actor: 'user:sam',
      reason: 'phone lost',
    });
    expect(await refusal(bench.run('mobile.revoke', { credentialId: card.id }))).toEqual({
      code: 'not_found',
      message: `mobile key '${card.id}' not found`,
    });
  });
});
