import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DoorStatus, Presentation } from '../../hub/bus.js';
import { EventBus } from '../../hub/bus.js';
import type { Door, NewEvent } from '../../hub/domain.js';
import { DoorManager } from '../../hub/doors/manager.js';
import { SimDoor } from '../../hub/doors/sim-door.js';
import { doorRecord, settle, T0 } from './helpers.js';

interface ManagerRig {
  bus: EventBus;
  manager: DoorManager;
  sims: Map<string, SimDoor>;
  /** How many times the factory built I/O for each door: a rebuilt door shows up here. */
  builds: Map<string, number>;
  events: NewEvent[];
  statuses: DoorStatus[];
}

const managers: DoorManager[] = [];

async function managerRig(doors: Door[]): Promise<ManagerRig> {
  const bus = new EventBus();
  const sims = new Map<string, SimDoor>();
  const builds = new Map<string, number>();
  const events: NewEvent[] = [];
  const statuses: DoorStatus[] = [];
  bus.on(statuses, 'doorStatus', (s) => statuses.push(s));
  const manager = new DoorManager({
    doors,
    bus,
    emitEvent: (e) => events.push(e),
    wiredIo: (door) => {
      if (door.id === 'broken') throw new Error('GPIO 17 is busy');
      builds.set(door.id, (builds.get(door.id) ?? 0) + 1);
      let sim = sims.get(door.id);
      if (!sim || sim.failMode !== door.failMode) {
        sim = new SimDoor({ failMode: door.failMode, name: door.id });
        sims.set(door.id, sim);
      }
      return sim.createIo();
    },
  });
  managers.push(manager);
  await manager.start();
  return { bus, manager, sims, builds, events, statuses };
}

function presentation(doorId: string): Presentation {
  return { doorId, kind: 'card', value: '04A1B2C3', readerId: 'r1' };
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});

afterEach(async () => {
  for (const m of managers.splice(0)) await m.stop();
  vi.useRealTimers();
});

describe('DoorManager', () => {
  it('builds a controller per door and unlocks on a granted decision', async () => {
    const r = await managerRig([doorRecord({ id: 'front' }), doorRecord({ id: 'back', failMode: 'safe' })]);
    expect(r.manager.status().map((s) => `${s.doorId}:${s.lock}`)).toEqual(['front:locked', 'back:locked']);
    // The fail-safe maglock is energised to hold.
    expect(r.sims.get('back')?.relay.read()).toBe(true);

    r.bus.emit('decided', presentation('back'), {
      granted: true,
      reason: 'granted',
      unlockMs: 2000,
      personId: 'p1',
      credentialId: 'c1',
    });
    await settle();
    expect(r.sims.get('back')?.isUnlocked()).toBe(true);
    expect(r.sims.get('front')?.isUnlocked()).toBe(false);
    r.sims.get('back')?.open();
    expect(r.events).toMatchObject([
      { type: 'door.opened', doorId: 'back', personId: 'p1', credentialId: 'c1' },
    ]);
    await vi.advanceTimersByTimeAsync(2000);
    expect(r.manager.get('back')?.status().lock).toBe('locked');
  });

  it('staff remote unlock works, is refused in lockdown, and reports unknown doors and bad input', async () => {
    const r = await managerRig([doorRecord({ id: 'front' })]);
    expect(r.manager.unlock('front', 3000)).toEqual({ ok: true });
    await settle();
    expect(r.sims.get('front')?.isUnlocked()).toBe(true);
    r.sims.get('front')?.open();
    expect(r.events.at(-1)).toMatchObject({ type: 'door.opened', data: { by: 'remote' } });

    expect(r.manager.setMode('front', 'lockdown')).toEqual({ ok: true });
    await settle();
    expect(r.sims.get('front')?.isUnlocked()).toBe(false);
    expect(r.manager.unlock('front')).toMatchObject({ ok: false, code: 'lockdown' });
    expect(r.manager.unlock('attic')).toMatchObject({ ok: false, code: 'unknown_door' });
    expect(r.manager.unlock('front', -5)).toMatchObject({ ok: false, code: 'invalid' });
    expect(r.manager.unlock('front', '5000')).toMatchObject({ ok: false, code: 'invalid' });
    expect(r.manager.setMode('front', 'party')).toMatchObject({
      ok: false,
      code: 'invalid',
      error: 'mode must be one of normal, lockdown, unlocked',
    });
    expect(r.manager.setMode('attic', 'normal')).toMatchObject({ ok: false, code: 'unknown_door' });
    expect(r.manager.get('front')?.mode).toBe('lockdown');
  });

  it('reload adds, removes and updates doors without disturbing unchanged ones', async () => {
    const front = doorRecord({ id: 'front' });
    const back = doorRecord({ id: 'back' });
    const garage = doorRecord({ id: 'garage' });
    const r = await managerRig([front, back, garage]);
    r.manager.unlock('front', 10_000);
    await settle();
    const frontWrites = r.sims.get('front')?.relay.history.length;

    await r.manager.reload([
      front,
      { ...back, unlockMs: 2000, mode: 'lockdown' },
      doorRecord({ id: 'side', name: 'Side door' }),
    ]);
    await settle();
    // front: untouched, still in its pulse.
    expect(r.sims.get('front')?.isUnlocked()).toBe(true);
    expect(r.sims.get('front')?.relay.history.length).toBe(frontWrites);
    expect(r.builds.get('front')).toBe(1);
    // back: updated in place.
    expect(r.builds.get('back')).toBe(1);
    expect(r.manager.get('back')?.settings.unlockMs).toBe(2000);
    expect(r.manager.get('back')?.mode).toBe('lockdown');
    // garage removed, side added.
    expect(r.manager.get('garage')).toBeUndefined();
    expect(r.manager.status().map((s) => s.doorId)).toEqual(['front', 'back', 'side']);
    expect(r.sims.get('side')?.relay.history.length).toBe(1);

    // A new fail mode needs a new controller; the new lock is driven to its locked level.
    await r.manager.reload([front, { ...back, failMode: 'safe', mode: 'lockdown' }]);
    expect(r.builds.get('back')).toBe(2);
    expect(r.sims.get('back')?.relay.history.map((h) => h.on)).toEqual([true]);
    expect(r.manager.get('back')?.status()).toMatchObject({ lock: 'locked', mode: 'lockdown' });
  });

  it('reload applies the stored mode, whoever changed it last', async () => {
    const front = doorRecord({ id: 'front' });
    const r = await managerRig([front]);
    // Staff keep the door unlocked here (and persist it) ...
    r.manager.setMode('front', 'unlocked');
    await r.manager.reload([{ ...front, mode: 'unlocked' }]);
    await settle();
    const writes = r.sims.get('front')?.relay.history.length;
    expect(r.sims.get('front')?.isUnlocked()).toBe(true);
    // ... an unrelated change does not disturb the door ...
    await r.manager.reload([{ ...front, mode: 'unlocked', name: 'Main entrance' }]);
    expect(r.sims.get('front')?.relay.history.length).toBe(writes);
    // ... and the CLI then sets it back to normal: the door locks.
    await r.manager.reload([{ ...front, name: 'Main entrance' }]);
    await settle();
    expect(r.manager.get('front')?.mode).toBe('normal');
    expect(r.sims.get('front')?.isUnlocked()).toBe(false);
  });

  it('a door that cannot be set up is reported and the others keep working', async () => {
    const r = await managerRig([
      doorRecord({ id: 'broken' }),
      doorRecord({ id: 'bad', unlockMs: 120_000 }),
      doorRecord({ id: 'front' }),
    ]);
    expect(r.events.map((e) => [e.type, e.doorId, e.data['error']])).toEqual([
      ['alarm.door_config', 'broken', 'door I/O could not be set up: GPIO 17 is busy'],
      ['alarm.door_config', 'bad', 'invalid door record: /unlockMs must be <= 60000'],
    ]);
    expect(r.manager.status().map((s) => s.doorId)).toEqual(['front']);
    expect(r.manager.unlock('front')).toEqual({ ok: true });
  });

  it('an invalid update keeps the door running on its previous settings', async () => {
    const front = doorRecord({ id: 'front' });
    const r = await managerRig([front]);
    await r.manager.reload([{ ...front, heldOpenMs: -1 }]);
    expect(r.manager.get('front')?.settings.heldOpenMs).toBe(30_000);
    expect(r.events.at(-1)?.data['error']).toMatch(/heldOpenMs.*keeping the previous settings/);
  });

  it('stop relocks every door and stops listening', async () => {
    const r = await managerRig([doorRecord({ id: 'front' })]);
    r.manager.setMode('front', 'unlocked');
    await settle();
    expect(r.sims.get('front')?.isUnlocked()).toBe(true);
    await r.manager.stop();
    expect(r.sims.get('front')?.isUnlocked()).toBe(false);
    r.bus.emit('decided', presentation('front'), { granted: true, reason: 'granted' });
    await settle();
    expect(r.sims.get('front')?.isUnlocked()).toBe(false);
    expect(r.manager.status()).toEqual([]);
  });
});
