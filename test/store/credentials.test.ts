import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../hub/store/store.js';
import { type TempHub, tempHub } from './helpers.js';

describe('credentials', () => {
  let hub: TempHub;
  let store: Store;
  let clock: number;
  beforeEach(() => {
    hub = tempHub();
    clock = 1_700_000_000_000;
    store = hub.open({ now: () => clock }).store;
    store.people.add({ id: 'alice', name: 'Alice', kind: 'resident' });
    store.people.add({ id: 'bob', name: 'Bob', kind: 'resident' });
  });
  afterEach(async () => {
    await hub.cleanup();
  });

  it('stores cards as canonical hex with a masked label and finds them in any spelling', () => {
    const card = store.credentials.addCard('alice', '04:a2:3b:9c:1d:e0:a1:b2');
    expect(card).toMatchObject({ personId: 'alice', kind: 'card', label: 'card …A1B2', revokedAt: null });
    const match = store.credentials.find('card', '04A23B9C1DE0A1B2');
    expect(match?.credential.id).toBe(card.id);
    expect(match?.person).toMatchObject({ id: 'alice', name: 'Alice', suspended: false });
    expect(store.credentials.find('card', '04 a2 3b 9c 1d e0 a1 b2')?.credential.id).toBe(card.id);
    expect(store.credentials.find('card', 'FFFFFFFF')).toBeNull();
  });

  it('labels a card of 4 hex digits or fewer without giving the whole value away', () => {
    expect(store.credentials.addCard('alice', 'A1B2').label).toBe('card …');
    expect(store.credentials.addCard('alice', 'A1B2C').label).toBe('card …1B2C');
  });

  it('names a hostile id in a not-found error printable and bounded', () => {
    const hostile = `gh\u0000\u001b[2J${'x'.repeat(200)}`;
    expect(() => store.credentials.revoke(hostile)).toThrow(
      `credential 'gh??[2J${'x'.repeat(57)}…' not found`,
    );
  });

  it('refuses malformed card values and PINs with clear errors, and never matches them', () => {
    expect(() => store.credentials.addCard('alice', 'xyz')).toThrow(
      'card value must be 2-64 hex digits (":" and spaces are ignored)',
    );
    expect(() => store.credentials.addCard('alice', 'A')).toThrow(/card value/);
    expect(() => store.credentials.addPin('alice', '12a4')).toThrow('PIN must be 4-12 digits');
    expect(() => store.credentials.addPin('alice', '123')).toThrow('PIN must be 4-12 digits');
    expect(() => store.credentials.addPin('alice', '1234567890123')).toThrow('PIN must be 4-12 digits');
    expect(() => store.credentials.addCard('ghost', 'A1B2')).toThrow("person 'ghost' not found");
    expect(() => store.credentials.addCard('alice', 'A1B2', { validFrom: 10, validUntil: 5 })).toThrow(
      'validUntil must be later than validFrom',
    );
    expect(store.credentials.find('card', 'not hex')).toBeNull();
    expect(store.credentials.find('pin', '12')).toBeNull();
    expect(store.credentials.find('pin', "1234' OR 1=1 --")).toBeNull();
  });

  it('stores PINs only as HMACs: the digits appear nowhere in the database files', () => {
    const pin = '720594836159';
    const credential = store.credentials.addPin('alice', pin, { validUntil: clock + 1000 });
    expect(credential.label).toBe('PIN');
    expect(store.credentials.find('pin', pin)?.person.id).toBe('alice');
    store.credentials.revoke(credential.id, 'lost');
    store.events.flush();
    const dataDir = dirname(hub.dbFile);
    const files = readdirSync(dataDir).filter((name) => name.startsWith('gatehouse.db'));
    expect(files).toContain('gatehouse.db-wal');
    for (const name of files) {
      const bytes = readFileSync(join(dataDir, name));
      expect(bytes.includes(Buffer.from(pin)), `${name} contains the PIN`).toBe(false);
    }
    // And after a checkpoint moves everything into the main file.
    hub.open().db.pragma('wal_checkpoint(TRUNCATE)');
    expect(readFileSync(hub.dbFile).includes(Buffer.from(pin))).toBe(false);
  });

  it('refuses a PIN already in use without revealing who holds it', () => {
    store.credentials.addPin('alice', '4821');
    let message = '';
    try {
      store.credentials.addPin('bob', '4821');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe('PIN already in use');
    expect(store.credentials.listForPerson('bob')).toEqual([]);
  });

  it('revokes durably, answers revoked for the old card, and lets the value be reissued', () => {
    const old = store.credentials.addCard('alice', 'DEADBEEF');
    clock += 1000;
    const revoked = store.credentials.revoke(old.id, 'card lost');
    expect(revoked).toMatchObject({ revokedAt: clock, revokedReason: 'card lost' });
    expect(store.credentials.find('card', 'DEADBEEF')?.credential.revokedAt).toBe(clock);
    // Revoking again changes nothing.
    expect(store.credentials.revoke(old.id).revokedAt).toBe(clock);
    const event = store.events.list({ type: 'admin.credential.revoked' });
    expect(event).toHaveLength(1);
    expect(event[0]).toMatchObject({
      personId: 'alice',
      credentialId: old.id,
      data: { kind: 'card', label: 'card …BEEF', reason: 'card lost' },
    });
    expect(JSON.stringify(event[0]!.data)).not.toContain('DEADBEEF');
    // The same card value given to someone else: the active one wins.
    const reissued = store.credentials.addCard('bob', 'deadbeef');
    expect(store.credentials.find('card', 'DEADBEEF')).toMatchObject({
      credential: { id: reissued.id, revokedAt: null },
      person: { id: 'bob' },
    });
    expect(() => store.credentials.addCard('alice', 'DEADBEEF')).toThrow('card …BEEF is already assigned');
  });

  it('a revocation is visible at once to a second connection (the CLI and the hub)', () => {
    const hubProcess = store;
    const cli = hub.open({ actor: 'cli' }).store;
    const card = hubProcess.credentials.addCard('alice', '0102030405060708');
    expect(hubProcess.credentials.find('card', '0102030405060708')?.credential.revokedAt).toBeNull();
    cli.credentials.revoke(card.id, 'stolen');
    expect(hubProcess.credentials.find('card', '0102030405060708')?.credential.revokedAt).not.toBeNull();
    expect(hubProcess.events.list({ type: 'admin.credential.revoked' })[0]!.data).toMatchObject({
      actor: 'cli',
    });
  });

  it('a cloud upsert never un-revokes a credential revoked on the hub (deny wins)', () => {
    const card = store.credentials.upsert({ id: 'c1', personId: 'alice', kind: 'card', value: 'AABBCCDD' });
    expect(card.label).toBe('card …CCDD');
    store.credentials.revoke('c1', 'revoked at the desk');
    const after = store.credentials.upsert({
      id: 'c1',
      personId: 'alice',
      kind: 'card',
      value: 'AABBCCDD',
      revokedAt: null,
      validUntil: clock + 10_000,
    });
    expect(after.revokedAt).not.toBeNull();
    expect(after.revokedReason).toBe('revoked at the desk');
    expect(after.validUntil).toBe(clock + 10_000);
    expect(store.credentials.find('card', 'AABBCCDD')?.credential.revokedAt).not.toBeNull();
  });

  it('lists credentials, keeps validity windows, and removes them with their person', () => {
    const pin = store.credentials.addPin('alice', '99887766', {
      validFrom: clock,
      validUntil: clock + 60_000,
    });
    const mobile = store.credentials.addMobile('alice', 'key-0123456789', { label: "Alice's phone" });
    expect(store.credentials.find('mobile', 'key-0123456789')?.credential.id).toBe(mobile.id);
    expect(store.credentials.listForPerson('alice').map((c) => c.id)).toEqual([pin.id, mobile.id]);
    expect(store.credentials.setValidity(pin.id, { validUntil: null })).toMatchObject({
      validFrom: clock,
      validUntil: null,
    });
    expect(store.credentials.list()).toHaveLength(2);
    store.people.remove('alice');
    expect(store.credentials.list()).toEqual([]);
    expect(store.credentials.find('pin', '99887766')).toBeNull();
  });
});
