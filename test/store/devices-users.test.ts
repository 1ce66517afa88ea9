import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../../hub/store/store.js';
import { type TempHub, tempHub } from './helpers.js';

describe('devices', () => {
  let hub: TempHub;
  let store: Store;
  beforeEach(() => {
    hub = tempHub();
    store = hub.open().store;
    store.doors.add({ id: 'front', name: 'Front door' });
    store.doors.add({ id: 'back', name: 'Back door' });
  });
  afterEach(async () => {
    await hub.cleanup();
  });

  it('returns the secret once and verifies it, refusing a wrong or unknown one', () => {
    const { device, secret } = store.devices.add('reader-1', { role: 'door', doors: ['front'] });
    expect(device).toMatchObject({ id: 'reader-1', role: 'door', doors: ['front'] });
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(store.devices.verify('reader-1', secret)).toEqual({
      id: 'reader-1',
      role: 'door',
      doors: ['front'],
      grants: [],
    });
    expect(store.devices.verify('reader-1', `${secret.slice(0, -1)}x`)).toBeNull();
    expect(store.devices.verify('reader-1', '')).toBeNull();
    expect(store.devices.verify('reader-2', secret)).toBeNull();
    // The plaintext secret is not stored.
    const stored = hub.open().db.prepare('SELECT secret_hash FROM devices').pluck().get() as string;
    expect(stored).not.toContain(secret);
    expect(JSON.stringify(store.events.list())).not.toContain(secret);
  });

  it('changes doors, rotates the secret and removes the device', () => {
    const { secret } = store.devices.add('reader-1', { role: 'door', doors: ['front'] });
    expect(store.devices.setDoors('reader-1', ['front', 'back']).doors).toEqual(['back', 'front']);
    expect(() => store.devices.setDoors('reader-1', ['nowhere'])).toThrow("door 'nowhere' not found");
    expect(store.devices.get('reader-1')?.doors).toEqual(['back', 'front']);
    const fresh = store.devices.rotateSecret('reader-1');
    expect(store.devices.verify('reader-1', secret)).toBeNull();
    expect(store.devices.verify('reader-1', fresh)?.id).toBe('reader-1');
    store.doors.remove('back');
    expect(store.devices.get('reader-1')?.doors).toEqual(['front']);
    store.devices.remove('reader-1');
    expect(store.devices.verify('reader-1', fresh)).toBeNull();
    expect(store.devices.list()).toEqual([]);
  });

  it('refuses bad device input', () => {
    expect(() => store.devices.add('bad id!', { role: 'door' })).toThrow(/device id must be/);
    expect(() => store.devices.add('x', { role: 'admin' as 'door' })).toThrow(
      'device role must be one of: door, integration',
    );
    store.devices.add('nodered', { role: 'integration' });
    expect(() => store.devices.add('nodered', { role: 'integration' })).toThrow(
      "device 'nodered' already exists",
    );
  });
});

describe('staff users and sessions', () => {
  let hub: TempHub;
  let store: Store;
  let clock: number;
  beforeEach(() => {
    hub = tempHub();
    clock = 1_700_000_000_000;
    store = hub.open({ now: () => clock }).store;
  });
  afterEach(async () => {
    await hub.cleanup();
  });

  it('stores passwords with scrypt and verifies them', async () => {
    const user = await store.users.add('alice', 'correct horse battery', 'admin');
    expect(user).toMatchObject({ username: 'alice', role: 'admin', disabled: false });
    const hash = hub.open().db.prepare('SELECT password_hash FROM staff_users').pluck().get() as string;
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(hash).not.toContain('correct horse');
    expect(await store.users.verify('alice', 'correct horse battery')).toEqual({
      id: user.id,
      username: 'alice',
      role: 'admin',
    });
    expect(await store.users.verify('alice', 'wrong password!!')).toBeNull();
    expect(await store.users.verify('mallory', 'correct horse battery')).toBeNull();
  });

  it('refuses short passwords and duplicate usernames', async () => {
    await expect(store.users.add('bob', 'short', 'staff')).rejects.toThrow(
      'password must be at least 10 characters',
    );
    await store.users.add('bob', 'long enough pw', 'staff');
    await expect(store.users.add('bob', 'another long pw', 'staff')).rejects.toThrow(
      "user 'bob' already exists",
    );
    await expect(store.users.add('carol', 'long enough pw', 'root' as 'admin')).rejects.toThrow(
      /role must be one of/,
    );
  });

  it('sessions: stored hashed, expire, end on logout, password change and disable', async () => {
    const user = await store.users.add('dana', 'dana password 1', 'staff');
    const token = store.users.createSession(user.id, 60_000);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const tokenHash = hub.open().db.prepare('SELECT token_hash FROM sessions').pluck().get() as string;
    expect(tokenHash).not.toBe(token);
    expect(store.users.sessionUser(token)).toMatchObject({ username: 'dana', role: 'staff' });
    expect(store.users.sessionUser('forged-token')).toBeNull();
    clock += 60_000;
    expect(store.users.sessionUser(token)).toBeNull();

    const second = store.users.createSession(user.id, 60_000);
    store.users.deleteSession(second);
    expect(store.users.sessionUser(second)).toBeNull();

    const third = store.users.createSession(user.id, 60_000);
    await store.users.setPassword(user.id, 'dana password 2');
    expect(store.users.sessionUser(third)).toBeNull();
    expect(await store.users.verify('dana', 'dana password 1')).toBeNull();
    expect(await store.users.verify('dana', 'dana password 2')).not.toBeNull();

    const fourth = store.users.createSession(user.id, 60_000);
    store.users.setDisabled(user.id, true);
    expect(store.users.sessionUser(fourth)).toBeNull();
    expect(await store.users.verify('dana', 'dana password 2')).toBeNull();
    expect(() => store.users.createSession(user.id, 60_000)).toThrow("user 'dana' is disabled");
  });

  it('changes role and removes users by id or username (the CLI uses usernames)', async () => {
    const erin = await store.users.add('erin', 'erin password', 'staff');
    expect(store.users.setRole('erin', 'installer').role).toBe('installer');
    const token = store.users.createSession(erin.id, 60_000);
    store.users.remove('erin');
    expect(store.users.list()).toEqual([]);
    expect(store.users.sessionUser(token)).toBeNull();
    expect(() => store.users.remove('erin')).toThrow("user 'erin' not found");
    expect(store.events.list({ type: 'admin.user' }).map((e) => e.type)).toEqual([
      'admin.user.removed',
      'admin.user.role_changed',
      'admin.user.added',
    ]);
  });
});
