// Cards and PINs through the commands: actor and reason in the audit log, no secret in any answer.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectOnlyRoles, lastEvent, refusal, STAFF, type StoreBench, storeBench } from './helpers.js';

let bench: StoreBench;
beforeEach(async () => {
  bench = storeBench();
  await bench.run('person.add', { id: 'ada', name: 'Ada', kind: 'resident' });
});
afterEach(async () => {
  await bench.cleanup();
});

describe('credential commands', () => {
  it('adds a card and a PIN with a validity window, and names the actor', async () => {
    const card = (
      await bench.run(
        'credential.add_card',
        { personId: 'ada', card: '04 a2 2b 1c', validFrom: 1000, validUntil: 2000 },
        STAFF,
      )
    ).credential as { id: string };
    expect(lastEvent(bench.store, 'admin.credential.added').data).toEqual({
      kind: 'card',
      label: 'card …2B1C',
      validFrom: 1000,
      validUntil: 2000,
      actor: 'user:sam',
    });
    const pin = await bench.run('credential.add_pin', { personId: 'ada', pin: '482913' }, STAFF);
    expect(JSON.stringify(pin)).not.toContain('482913');
    expect(JSON.stringify(bench.store.events.list({ limit: 100 }))).not.toMatch(/482913|04A22B1C/);
    expect(((await bench.run('credential.list', {})).credentials as unknown[]).length).toBe(2);
    expect((await bench.run('credential.list', { personId: 'ada' })).credentials).toMatchObject([
      { id: card.id },
      { label: 'PIN' },
    ]);
  });

  it('revokes with a reason; the actor comes from the caller, not the reason', async () => {
    const { id } = (await bench.run('credential.add_card', { personId: 'ada', card: '04A22B1C' }))
      .credential as {
      id: string;
    };
    expect(await bench.run('credential.revoke', { id, reason: 'card lost' }, STAFF)).toMatchObject({
      credential: { id, revokedReason: 'card lost' },
    });
    expect(lastEvent(bench.store, 'admin.credential.revoked').data).toEqual({
      kind: 'card',
      label: 'card …2B1C',
      reason: 'card lost',
      actor: 'user:sam',
    });
    await bench.run('credential.revoke', { id }, STAFF); // idempotent
    expect(bench.store.events.list({ type: 'admin.credential.revoked' })).toHaveLength(1);
  });

  it('refuses bad values with the store and schema messages, never echoing the value', async () => {
    expect(await refusal(bench.run('credential.add_pin', { personId: 'ada', pin: '12a4' }))).toEqual({
      code: 'invalid',
      message: "'pin' must be 4-12 digits",
    });
    expect(await refusal(bench.run('credential.add_card', { personId: 'ada', card: 'zz-not-hex' }))).toEqual({
      code: 'invalid',
      message: 'card value must be 2-64 hex digits (":" and spaces are ignored)',
    });
    expect(
      (await refusal(bench.run('credential.add_card', { personId: 'ada', card: '04A2', pin: '1234' })))
        .message,
    ).toBe("unknown field 'pin'");
    expect(await refusal(bench.run('credential.add_card', { personId: 'nobody', card: '04A2' }))).toEqual({
      code: 'not_found',
      message: "person 'nobody' not found",
    });
    expect(
      (await refusal(bench.run('credential.add_card', { personId: 'ada', card: '04A2', validFrom: -1 })))
        .message,
    ).toBe("'validFrom' must be >= 0");
    await bench.run('credential.add_pin', { personId: 'ada', pin: '482913' });
    expect(await refusal(bench.run('credential.add_pin', { personId: 'ada', pin: '482913' }))).toEqual({
      code: 'conflict',
      message: 'PIN already in use',
    });
  });

  it('is staff work', async () => {
    await expectOnlyRoles(bench.commands, 'credential.revoke', { id: 'c_x' }, ['admin', 'staff']);
    await expectOnlyRoles(bench.commands, 'credential.add_card', { personId: 'ada', card: '04A2' }, [
      'admin',
      'staff',
    ]);
  });
});
