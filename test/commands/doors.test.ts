// Door commands inside a real hub (simulated doors): unlock and modes with their policy, and the
// audit events that name who did it.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { REFUSALS } from '../../hub/commands/index.js';
import type { SimDoor } from '../../hub/doors/index.js';
import { removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { eventually } from '../store/helpers.js';
import { ADMIN, CLOUD, INSTALLER, INTEGRATION, lastEvent, refusal, STAFF, storeBench } from './helpers.js';

let dir: string;
let hub: Hub;
let front: SimDoor;
const run = (name: string, input: unknown, caller = STAFF) =>
  hub.commands.execute(name, input, caller) as Promise<Record<string, unknown>>;

beforeAll(async () => {
  dir = tempDataDir();
  hub = await startHub(dir, { simulation: { door: 'front' } });
  front = hub.simDoors.get('front')!;
  await run('door.add', { id: 'back', transport: 'sim', unlockMs: 2000 }, INSTALLER);
  await eventually(() => (hub.doors.get('back') ? true : undefined));
});

afterAll(async () => {
  await hub.stop();
  removeDir(dir);
});

beforeEach(async () => {
  front.setFire(false);
  await run('door.set_mode_all', { mode: 'normal' });
});

describe('door.unlock', () => {
  it('unlocks the door and records who asked, for how long and why', async () => {
    expect(await run('door.unlock', { id: 'front', ms: 1500, reason: 'parcel' })).toEqual({
      ok: true,
      ms: 1500,
    });
    await eventually(() => (front.isUnlocked() ? true : undefined));
    const event = lastEvent(hub.store, 'admin.door.unlocked');
    expect(event.doorId).toBe('front');
    expect(event.data).toEqual({ actor: 'user:sam', ms: 1500, reason: 'parcel' });
  });

  it("uses the door's unlock time when no ms is given", async () => {
    expect(await run('door.unlock', { id: 'back' }, INTEGRATION)).toEqual({ ok: true, ms: 2000 });
    expect(lastEvent(hub.store, 'admin.door.unlocked').data).toEqual({ actor: 'device:node-red', ms: 2000 });
  });

  it('is refused in lockdown with the same fixed reason for every caller', async () => {
    await run('door.set_mode', { id: 'front', mode: 'lockdown' });
    const before = hub.store.events.list({ type: 'admin.door.unlocked' }).length;
    for (const caller of [ADMIN, STAFF, INTEGRATION, CLOUD]) {
      expect(await refusal(run('door.unlock', { id: 'front' }, caller))).toEqual({
        code: 'refused',
        message: "door 'front' is in lockdown: remote unlock refused (set the door to normal first)",
      });
    }
    expect(REFUSALS.lockdownUnlock('front')).toBe(
      "door 'front' is in lockdown: remote unlock refused (set the door to normal first)",
    );
    expect(hub.store.events.list({ type: 'admin.door.unlocked' })).toHaveLength(before);
  });

  it('is refused during fire release (the door is held open already)', async () => {
    front.setFire(true);
    await eventually(() => (hub.doors.get('front')?.fireRelease ? true : undefined));
    expect(await refusal(run('door.unlock', { id: 'front' }))).toEqual({
      code: 'refused',
      message: REFUSALS.fireUnlock('front'),
    });
  });

  it('refuses pulses outside 1000–60000 ms, unknown doors and hostile ids before doing anything', async () => {
    expect(await refusal(run('door.unlock', { id: 'front', ms: 999 }))).toEqual({
      code: 'invalid',
      message: "'ms' must be >= 1000",
    });
    expect((await refusal(run('door.unlock', { id: 'front', ms: 60_001 }))).message).toBe(
      "'ms' must be <= 60000",
    );
    expect((await refusal(run('door.unlock', { id: 'front', ms: 1500.5 }))).message).toBe(
      "'ms' must be integer",
    );
    expect(await refusal(run('door.unlock', { id: '../../etc/passwd' }))).toEqual({
      code: 'invalid',
      message:
        "'id' must be 1-64 characters: letters, digits, '_', '.', '-', starting with a letter or digit",
    });
    expect(await refusal(run('door.unlock', { id: 'front', open: true }))).toEqual({
      code: 'invalid',
      message: "unknown field 'open'",
    });
    expect(await refusal(run('door.unlock', { id: 'nowhere' }))).toEqual({
      code: 'not_found',
      message: "door 'nowhere' not found",
    });
  });

  it('is not for installers', async () => {
    expect(await refusal(run('door.unlock', { id: 'front' }, INSTALLER))).toEqual({
      code: 'forbidden',
      message: "the installer role may not run 'door.unlock'",
    });
  });
});

describe('door.set_mode', () => {
  it('changes the mode in the store and the running door, with actor and reason in the audit', async () => {
    expect(await run('door.set_mode', { id: 'front', mode: 'unlocked', reason: 'open day' })).toEqual({
      ok: true,
      mode: 'unlocked',
    });
    expect(hub.doors.get('front')?.mode).toBe('unlocked');
    expect(hub.store.doors.get('front')?.mode).toBe('unlocked');
    const event = lastEvent(hub.store, 'admin.door.mode_changed');
    expect(event.doorId).toBe('front');
    expect(event.data).toEqual({ from: 'normal', to: 'unlocked', reason: 'open day', actor: 'user:sam' });
  });

  it('records the cloud as the actor of a cloud mode change', async () => {
    await run('door.set_mode', { id: 'back', mode: 'lockdown' }, CLOUD);
    expect(lastEvent(hub.store, 'admin.door.mode_changed').data).toEqual({
      from: 'normal',
      to: 'lockdown',
      actor: 'cloud',
    });
  });

  it("deny wins: a door in lockdown is never set to 'unlocked' in one step", async () => {
    await run('door.set_mode', { id: 'front', mode: 'lockdown' });
    expect(await refusal(run('door.set_mode', { id: 'front', mode: 'unlocked' }, ADMIN))).toEqual({
      code: 'refused',
      message: REFUSALS.lockdownToUnlocked(['front']),
    });
    expect(hub.store.doors.get('front')?.mode).toBe('lockdown');
    await run('door.set_mode', { id: 'front', mode: 'normal' });
    await run('door.set_mode', { id: 'front', mode: 'unlocked' });
    expect(hub.doors.get('front')?.mode).toBe('unlocked');
  });

  it('lets an integration start a lockdown but not lift one', async () => {
    await run('door.set_mode', { id: 'front', mode: 'lockdown' }, INTEGRATION);
    expect(await refusal(run('door.set_mode', { id: 'front', mode: 'normal' }, INTEGRATION))).toEqual({
      code: 'refused',
      message: REFUSALS.integrationLift('front'),
    });
    expect(hub.store.doors.get('front')?.mode).toBe('lockdown');
  });

  it('keeps an integration given doors to those doors (least privilege)', async () => {
    const garageOnly = { ...INTEGRATION, doors: ['back'] };
    expect(await refusal(run('door.unlock', { id: 'front' }, garageOnly))).toEqual({
      code: 'forbidden',
      message: "device:node-red may not act on door 'front'",
    });
    expect((await refusal(run('door.set_mode', { id: 'front', mode: 'lockdown' }, garageOnly))).code).toBe(
      'forbidden',
    );
    expect(hub.store.doors.get('front')?.mode).toBe('normal');
    expect(await run('door.unlock', { id: 'back', ms: 1000 }, garageOnly)).toMatchObject({ ok: true });
    const listed = (await run('door.list', {}, garageOnly)).doors as Array<{ id: string }>;
    expect(listed.map((d) => d.id)).toEqual(['back']);
  });

  it('names the allowed modes when given another', async () => {
    expect(await refusal(run('door.set_mode', { id: 'front', mode: 'open' }))).toEqual({
      code: 'invalid',
      message: "'mode' must be one of: normal, lockdown, unlocked",
    });
    expect((await refusal(run('door.set_mode', { id: 'front' }))).message).toBe("'mode' is required");
  });
});

describe('door.set_mode_all', () => {
  it('locks every door down at once and releases them', async () => {
    const locked = await run('door.set_mode_all', { mode: 'lockdown', reason: 'police request' });
    expect(locked).toEqual({ ok: true, mode: 'lockdown', changed: ['back', 'front'] });
    expect(hub.doors.status().map((s) => s.mode)).toEqual(['lockdown', 'lockdown']);
    const events = hub.store.events.list({ type: 'admin.door.mode_changed', limit: 2 });
    for (const e of events) expect(e.data).toMatchObject({ actor: 'user:sam', reason: 'police request' });
    expect(await run('door.set_mode_all', { mode: 'normal' })).toMatchObject({ changed: ['back', 'front'] });
  });

  it("refuses 'unlocked' while any door is in lockdown and changes nothing", async () => {
    await run('door.set_mode', { id: 'back', mode: 'lockdown' });
    expect(await refusal(run('door.set_mode_all', { mode: 'unlocked' }))).toEqual({
      code: 'refused',
      message: REFUSALS.lockdownToUnlocked(['back']),
    });
    expect(hub.store.doors.get('front')?.mode).toBe('normal');
  });

  it('is for staff and admins only', async () => {
    for (const caller of [INTEGRATION, CLOUD, INSTALLER]) {
      expect((await refusal(run('door.set_mode_all', { mode: 'lockdown' }, caller))).code).toBe('forbidden');
    }
  });
});

describe('door records', () => {
  it('name who made them: the hub itself at first boot, the installer otherwise', () => {
    const added = hub.store.events.list({ type: 'admin.door.added' }).reverse();
    expect(added.map((e) => [e.doorId, e.data.actor])).toEqual([
      ['front', 'hub'],
      ['back', 'user:ivan'],
    ]);
  });
});

describe('door.list', () => {
  it('lists doors with their live state while the hub runs', async () => {
    const { doors } = (await run('door.list', {}, INTEGRATION)) as { doors: Array<Record<string, unknown>> };
    expect(doors.map((d) => d.id)).toEqual(['back', 'front']);
    expect(doors[1]).toMatchObject({
      id: 'front',
      mode: 'normal',
      status: { doorId: 'front', online: true },
    });
  });
});

describe('door commands without a running hub (the CLI)', () => {
  it('adds, lists, sets modes and removes doors; unlock says the hub is needed', async () => {
    const bench = storeBench();
    try {
      expect(
        await bench.run('door.add', { id: 'gate', transport: 'mqtt', failMode: 'safe' }, INSTALLER),
      ).toMatchObject({
        door: { id: 'gate', name: 'gate', transport: 'mqtt', failMode: 'safe', unlockMs: 5000 },
      });
      expect(lastEvent(bench.store, 'admin.door.added').data).toMatchObject({ actor: 'user:ivan' });
      expect(await bench.run('door.list', {})).toMatchObject({ doors: [{ id: 'gate', status: null }] });
      await bench.run('door.set_mode', { id: 'gate', mode: 'lockdown' });
      expect(lastEvent(bench.store, 'admin.door.mode_changed').data).toEqual({
        from: 'normal',
        to: 'lockdown',
        actor: 'cli:root',
      });
      expect(await refusal(bench.run('door.unlock', { id: 'gate' }))).toEqual({
        code: 'unavailable',
        message: "'door.unlock' needs the running hub: start it first",
      });
      expect((await refusal(bench.run('door.add', { id: 'x', transport: 'mqtt' }, STAFF))).code).toBe(
        'forbidden',
      );
      await bench.run('door.remove', { id: 'gate' }, INSTALLER);
      expect(lastEvent(bench.store, 'admin.door.removed').data).toEqual({ actor: 'user:ivan' });
    } finally {
      await bench.cleanup();
    }
  });
});
