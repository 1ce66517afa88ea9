// Device accounts (installers) and staff logins (admins) through the commands on a real store.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ADMIN,
  expectOnlyRoles,
  INSTALLER,
  lastEvent,
  refusal,
  type StoreBench,
  storeBench,
} from './helpers.js';

let bench: StoreBench;
beforeEach(async () => {
  bench = storeBench();
  await bench.run('door.add', { id: 'front', transport: 'mqtt' });
});
afterEach(async () => {
  await bench.cleanup();
});

describe('device commands', () => {
  it('creates a device with a secret shown once, rotates it, lists and removes', async () => {
    const added = await bench.run(
      'device.add',
      { id: 'front-reader', doors: ['front'], role: 'door' },
      INSTALLER,
    );
    expect(added.device).toMatchObject({ id: 'front-reader', role: 'door', doors: ['front'] });
    const secret = added.secret as string;
    expect(bench.store.devices.verify('front-reader', secret)).not.toBeNull();
    expect(lastEvent(bench.store, 'admin.device.added').data).toEqual({
      deviceId: 'front-reader',
      role: 'door',
      doors: ['front'],
      actor: 'user:ivan',
    });
    const rotated = await bench.run('device.rotate_secret', { id: 'front-reader' }, INSTALLER);
    expect(bench.store.devices.verify('front-reader', secret)).toBeNull();
    expect(bench.store.devices.verify('front-reader', rotated.secret as string)).not.toBeNull();
    expect(JSON.stringify(await bench.run('device.list', {}, INSTALLER))).not.toContain(
      rotated.secret as string,
    );
    await bench.run('device.remove', { id: 'front-reader' }, INSTALLER);
    expect(lastEvent(bench.store, 'admin.device.removed').data).toEqual({
      deviceId: 'front-reader',
      actor: 'user:ivan',
    });
  });

  it('refuses a door device without doors, and unknown doors', async () => {
    expect(await refusal(bench.run('device.add', { id: 'r', doors: [], role: 'door' }))).toEqual({
      code: 'invalid',
      message: "a door device needs at least one door in 'doors'",
    });
    expect(await bench.run('device.add', { id: 'node-red', doors: [], role: 'integration' })).toMatchObject({
      device: { role: 'integration' },
    });
    expect(await refusal(bench.run('device.add', { id: 'r', doors: ['attic'], role: 'door' }))).toEqual({
      code: 'not_found',
      message: "door 'attic' not found",
    });
    expect(
      (await refusal(bench.run('device.add', { id: 'r', doors: ['front/#'], role: 'door' }))).message,
    ).toMatch(/^'doors\.0' must be 1-64 characters/);
  });

  it('is installer work', async () => {
    await expectOnlyRoles(bench.commands, 'device.add', { id: 'x', doors: ['front'], role: 'door' }, [
      'admin',
      'installer',
    ]);
  });
});

describe('staff user commands', () => {
  it('adds, changes and removes staff users, naming the admin who did it', async () => {
    expect(
      (await bench.run('user.add', { username: 'alice', password: 'correct horse battery', role: 'admin' }))
        .user,
    ).toMatchObject({
      username: 'alice',
      role: 'admin',
    });
    expect(lastEvent(bench.store, 'admin.user.added').data).toMatchObject({
      username: 'alice',
      actor: 'cli:root',
    });
    const alice = { actor: 'user:alice', role: 'admin' } as const;
    await bench.run('user.add', { username: 'sam', password: 'staff password!', role: 'staff' }, alice);
    expect(lastEvent(bench.store, 'admin.user.added').data).toMatchObject({
      username: 'sam',
      actor: 'user:alice',
    });
    await bench.run('user.set_role', { username: 'sam', role: 'installer' }, alice);
    expect(lastEvent(bench.store, 'admin.user.role_changed').data).toMatchObject({
      role: 'installer',
      actor: 'user:alice',
    });
    await bench.run('user.reset_password', { username: 'sam', password: 'a new password' }, alice);
    expect(await bench.store.users.verify('sam', 'a new password')).not.toBeNull();
    const listed = await bench.run('user.list', {}, alice);
    expect(JSON.stringify(listed)).not.toMatch(/password|scrypt|hash/i);
    await bench.run('user.remove', { username: 'sam' }, alice);
    expect(lastEvent(bench.store, 'admin.user.removed').data).toMatchObject({
      username: 'sam',
      actor: 'user:alice',
    });
  });

  it('keeps the last admin', async () => {
    await bench.run('user.add', { username: 'alice', password: 'correct horse battery', role: 'admin' });
    expect(await refusal(bench.run('user.remove', { username: 'alice' }))).toEqual({
      code: 'conflict',
      message: "'alice' is the last admin: add another admin before removing this one",
    });
    expect((await refusal(bench.run('user.set_role', { username: 'alice', role: 'staff' }))).code).toBe(
      'conflict',
    );
    await bench.run('user.add', { username: 'bob', password: 'correct horse battery', role: 'admin' });
    await bench.run('user.set_role', { username: 'alice', role: 'staff' });
  });

  it('refuses weak passwords and odd usernames', async () => {
    expect(await refusal(bench.run('user.add', { username: 'x', password: 'short', role: 'staff' }))).toEqual(
      {
        code: 'invalid',
        message: 'password must be at least 10 characters',
      },
    );
    expect(
      (await refusal(bench.run('user.add', { username: 'a b', password: 'long enough pw', role: 'staff' })))
        .message,
    ).toBe("'username' must be 1-64 characters: letters, digits, '_', '.', '@', '-'");
    expect(
      (await refusal(bench.run('user.add', { username: 'ab', password: 'long enough pw', role: 'root' })))
        .message,
    ).toBe("'role' must be one of: admin, staff, installer");
    expect(await refusal(bench.run('user.remove', { username: 'ghost' }))).toEqual({
      code: 'not_found',
      message: "user 'ghost' not found",
    });
  });

  it('is admin work', async () => {
    await expectOnlyRoles(
      bench.commands,
      'user.add',
      { username: 'z', password: 'long enough pw', role: 'staff' },
      ['admin'],
    );
    await expectOnlyRoles(bench.commands, 'user.list', {}, ['admin']);
    expect(ADMIN.role).toBe('admin');
  });
});
