import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DigitalOutput } from '../../adapters/types.js';
import { EventBus } from '../../hub/bus.js';
import type { NewEvent } from '../../hub/domain.js';
import { DoorController } from '../../hub/doors/controller.js';
import { WiredDoorIo } from '../../hub/doors/io.js';
import { SimDoor } from '../../hub/doors/sim-door.js';
import { doorRecord, type SimRig, settle, simRig, T0 } from './helpers.js';

const rigs: SimRig[] = [];
async function rig(options: Parameters<typeof simRig>[0] = {}): Promise<SimRig> {
  const r = await simRig(options);
  rigs.push(r);
  return r;
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});

afterEach(async () => {
  for (const r of rigs.splice(0)) await r.controller.stop();
  vi.useRealTimers();
});

describe('grant and relock', () => {
  it('unlocks for the pulse, then relocks', async () => {
    const r = await rig();
    expect(r.sim.isUnlocked()).toBe(false);
    expect(r.controller.grant()).toBe(true);
    await settle();
    expect(r.sim.isUnlocked()).toBe(true);
    expect(r.controller.status().lock).toBe('unlocked');

    await vi.advanceTimersByTimeAsync(4999);
    expect(r.sim.isUnlocked()).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    expect(r.sim.isUnlocked()).toBe(false);
    expect(r.controller.status().lock).toBe('locked');
    expect(r.lockTimeline()).toEqual([
      { t: 0, unlocked: false },
      { t: 0, unlocked: true },
      { t: 5000, unlocked: false },
    ]);
    // Nobody opened the door: nothing to report.
    expect(r.eventTypes()).toEqual([]);
  });

  it('uses the pulse length of the grant, clamped to 1-60 s', async () => {
    const r = await rig();
    r.controller.grant(2000);
    await vi.advanceTimersByTimeAsync(2000);
    r.controller.grant(500_000);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(r.lockTimeline()).toEqual([
      { t: 0, unlocked: false },
      { t: 0, unlocked: true },
      { t: 2000, unlocked: false },
      { t: 2000, unlocked: true },
      { t: 62_000, unlocked: false },
    ]);
  });

  it('relocks as soon as the door closes after being opened, and credits the person', async () => {
    const r = await rig();
    r.controller.grant(undefined, { personId: 'p1', credentialId: 'c1' });
    await vi.advanceTimersByTimeAsync(1000);
    r.sim.open();
    await vi.advanceTimersByTimeAsync(1500);
    r.sim.close();
    await settle();
    expect(r.sim.isUnlocked()).toBe(false);
    expect(r.lockTimeline().at(-1)).toEqual({ t: 2500, unlocked: false });
    expect(r.events.map((e) => [e.type, e.personId, e.data])).toEqual([
      ['door.opened', 'p1', { by: 'grant' }],
      ['door.closed', null, { openMs: 1500 }],
    ]);
    // The pulse ended with the close: opening again is forced.
    await vi.advanceTimersByTimeAsync(1000);
    r.sim.open();
    expect(r.eventTypes().at(-1)).toBe('alarm.forced_open');
  });

  it('a new grant extends the pulse', async () => {
    const r = await rig();
    r.controller.grant();
    await vi.advanceTimersByTimeAsync(4000);
    r.controller.grant();
    await vi.advanceTimersByTimeAsync(4000);
    expect(r.sim.isUnlocked()).toBe(true);
    await vi.advanceTimersByTimeAsync(1000);
    expect(r.sim.isUnlocked()).toBe(false);
    expect(r.lockTimeline()).toEqual([
      { t: 0, unlocked: false },
      { t: 0, unlocked: true },
      { t: 9000, unlocked: false },
    ]);
  });
});

describe('alarms', () => {
  it('raises forced open at once when the door opens without a grant, and clears it on close', async () => {
    const r = await rig();
    r.sim.open();
    // Synchronously: no timer has to run for the alarm.
    expect(r.events).toMatchObject([
      { type: 'alarm.forced_open', doorId: 'front', data: { mode: 'normal' } },
    ]);
    expect(r.controller.status().contact).toBe('open');
    expect(r.sim.isUnlocked()).toBe(false);
    await vi.advanceTimersByTimeAsync(3000);
    r.sim.close();
    expect(r.eventTypes()).toEqual(['alarm.forced_open', 'alarm.forced_open_cleared']);
  });

  it('a door opened after the pulse ended is forced', async () => {
    const r = await rig();
    r.controller.grant();
    await vi.advanceTimersByTimeAsync(6000);
    r.sim.open();
    expect(r.eventTypes()).toEqual(['alarm.forced_open']);
  });

  it('raises held open after heldOpenMs, repeats it while open, and clears it on close', async () => {
    const r = await rig();
    r.controller.grant();
    r.sim.open();
    await vi.advanceTimersByTimeAsync(29_999);
    expect(r.eventTypes()).toEqual(['door.opened']);
    await vi.advanceTimersByTimeAsync(1);
    expect(r.eventTypes()).toEqual(['door.opened', 'alarm.held_open']);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(r.events.filter((e) => e.type === 'alarm.held_open').map((e) => e.data)).toEqual([
      { openMs: 30_000 },
      { openMs: 60_000 },
    ]);
    await vi.advanceTimersByTimeAsync(5000);
    r.sim.close();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(r.eventTypes()).toEqual([
      'door.opened',
      'alarm.held_open',
      'alarm.held_open',
      'door.closed',
      'alarm.held_open_cleared',
    ]);
    expect(r.events.at(-1)?.data).toEqual({ openMs: 65_000 });
  });

  it('tamper raises an alarm and clears', async () => {
    const r = await rig();
    r.sim.setTamper(true);
    expect(r.controller.status().tamper).toBe(true);
    expect(r.statuses.at(-1)?.tamper).toBe(true);
    r.sim.setTamper(false);
    expect(r.controller.status().tamper).toBe(false);
    expect(r.eventTypes()).toEqual(['alarm.tamper', 'alarm.tamper_cleared']);
    expect(r.sim.isUnlocked()).toBe(false);
  });
});

describe('request to exit', () => {
  it('unlocks for the pulse and the following open is a normal open', async () => {
    const r = await rig();
    r.sim.pressRex();
    await settle();
    expect(r.sim.isUnlocked()).toBe(true);
    r.sim.open();
    r.sim.close();
    await settle();
    expect(r.sim.isUnlocked()).toBe(false);
    expect(r.events.map((e) => [e.type, e.data['by'] ?? null])).toEqual([
      ['door.rex', null],
      ['door.opened', 'rex'],
      ['door.closed', null],
    ]);
  });
});

describe('modes', () => {
  it('lockdown refuses grants but REX still lets people out', async () => {
    const r = await rig();
    r.controller.setMode('lockdown');
    expect(r.controller.grant()).toBe(false);
    await settle();
    expect(r.sim.isUnlocked()).toBe(false);
    expect(r.controller.status().mode).toBe('lockdown');

    r.sim.pressRex();
    await settle();
    expect(r.sim.isUnlocked()).toBe(true);
    r.sim.open();
    expect(r.eventTypes()).toEqual(['door.mode_changed', 'door.rex', 'door.opened']);
    await vi.advanceTimersByTimeAsync(5000);
    expect(r.sim.isUnlocked()).toBe(false);
  });

  it('lockdown locks a door that was unlocked by a grant', async () => {
    const r = await rig();
    r.controller.grant();
    await settle();
    expect(r.sim.isUnlocked()).toBe(true);
    r.controller.setMode('lockdown');
    await settle();
    expect(r.sim.isUnlocked()).toBe(false);
    r.sim.open();
    expect(r.eventTypes().at(-1)).toBe('alarm.forced_open');
  });

  it('keep-unlocked holds the lock open until the mode returns to normal', async () => {
    const r = await rig();
    r.controller.setMode('unlocked');
    await vi.advanceTimersByTimeAsync(600_000);
    expect(r.sim.isUnlocked()).toBe(true);
    r.sim.open();
    await vi.advanceTimersByTimeAsync(120_000);
    r.sim.close();
    // Open on purpose: neither forced nor held open.
    expect(r.eventTypes()).toEqual(['door.mode_changed', 'door.opened', 'door.closed']);
    r.controller.setMode('normal');
    await settle();
    expect(r.sim.isUnlocked()).toBe(false);
    expect(r.lockTimeline().map((x) => x.unlocked)).toEqual([false, true, false]);
  });

  it('starts in keep-unlocked when the door record says so', async () => {
    const r = await rig({ mode: 'unlocked' });
    await settle();
    expect(r.sim.isUnlocked()).toBe(true);
    expect(r.lockTimeline()[0]).toEqual({ t: 0, unlocked: false });
  });
});

describe('fire release', () => {
  it('releases the lock even in lockdown, and returns to lockdown when cleared', async () => {
    const r = await rig();
    r.controller.setMode('lockdown');
    r.sim.setFire(true);
    await settle();
    expect(r.sim.isUnlocked()).toBe(true);
    expect(r.controller.status()).toMatchObject({ mode: 'lockdown', lock: 'unlocked' });
    r.sim.open();
    await vi.advanceTimersByTimeAsync(600_000);
    expect(r.sim.isUnlocked()).toBe(true);
    r.sim.setFire(false);
    await settle();
    expect(r.sim.isUnlocked()).toBe(false);
    expect(r.eventTypes()).toEqual(['door.mode_changed', 'alarm.fire', 'door.opened', 'alarm.fire_cleared']);
    expect(r.events[2]?.data).toEqual({ by: 'fire' });
  });

  it('stays released when the hub stops during a fire', async () => {
    const r = await rig();
    r.sim.setFire(true);
    await settle();
    await r.controller.stop();
    expect(r.sim.isUnlocked()).toBe(true);
  });

  it('a fire alarm already active at start releases the lock and is reported', async () => {
    const r = await rig({ fire: true });
    await settle();
    expect(r.sim.isUnlocked()).toBe(true);
    expect(r.lockTimeline()[0]).toEqual({ t: 0, unlocked: false });
    expect(r.eventTypes()).toEqual(['alarm.fire']);
  });
});

describe('relay polarity and start', () => {
  it('fail-secure: de-energised is locked, energised to unlock', async () => {
    const r = await rig({ failMode: 'secure', relayInitial: true });
    expect(r.sim.relay.history.map((h) => h.on)).toEqual([false]);
    r.controller.grant();
    await settle();
    expect(r.sim.relay.read()).toBe(true);
  });

  it('fail-safe: energised to lock from the very first write, de-energised to unlock', async () => {
    const r = await rig({ failMode: 'safe' });
    expect(r.sim.relay.history.map((h) => h.on)).toEqual([true]);
    r.controller.grant();
    await settle();
    expect(r.sim.relay.read()).toBe(false);
    await vi.advanceTimersByTimeAsync(5000);
    expect(r.sim.relay.read()).toBe(true);
  });

  it('a door already open at start raises no synthetic alarm but is watched for held open', async () => {
    const r = await rig({ startOpen: true });
    expect(r.controller.status().contact).toBe('open');
    expect(r.eventTypes()).toEqual([]);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(r.eventTypes()).toEqual(['alarm.held_open']);
  });

  it('publishes doorStatus on every change', async () => {
    const r = await rig();
    expect(r.statuses.at(-1)).toEqual({
      doorId: 'front',
      contact: 'closed',
      lock: 'locked',
      mode: 'normal',
      tamper: false,
      online: true,
    });
    r.controller.grant();
    await settle();
    r.sim.open();
    expect(r.statuses.map((s) => `${s.lock}/${s.contact}`).slice(-2)).toEqual([
      'unlocked/closed',
      'unlocked/open',
    ]);
  });
});

class BrokenRelay implements DigitalOutput {
  writes = 0;
  healthy = false;
  #on = false;
  async write(on: boolean): Promise<void> {
    this.writes++;
    if (!this.healthy) throw new Error('EIO: relay driver not responding');
    this.#on = on;
  }
  read(): boolean {
    return this.#on;
  }
  async close(): Promise<void> {}
}

describe('lock faults', () => {
  it('a relay that throws raises alarm.lock_fault, keeps retrying, and the door keeps reporting', async () => {
    const relay = new BrokenRelay();
    const sim = new SimDoor({ failMode: 'secure' });
    const events: NewEvent[] = [];
    const controller = new DoorController({
      door: doorRecord(),
      io: new WiredDoorIo({ failMode: 'secure', relay, contact: sim.contact, ownsLines: false }),
      bus: new EventBus(),
      emitEvent: (e) => events.push(e),
    });
    await controller.start();
    expect(events).toMatchObject([{ type: 'alarm.lock_fault', data: { lock: 'locked' } }]);
    expect(controller.status().lock).toBe('unknown');

    expect(controller.grant()).toBe(true);
    await vi.advanceTimersByTimeAsync(10_000);
    // One alarm per fault, not one per retry.
    expect(events.filter((e) => e.type === 'alarm.lock_fault')).toHaveLength(1);
    expect(relay.writes).toBeGreaterThan(3);

    sim.open();
    expect(events.at(-1)?.type).toBe('alarm.forced_open');

    relay.healthy = true;
    await vi.advanceTimersByTimeAsync(1000);
    expect(controller.status().lock).toBe('locked');
    expect(events.at(-1)).toMatchObject({ type: 'alarm.lock_fault_cleared', data: { lock: 'locked' } });
    await controller.stop();
  });

  it('an event log that throws does not stop the door from working', async () => {
    const sim = new SimDoor({ failMode: 'secure' });
    const controller = new DoorController({
      door: doorRecord(),
      io: sim.createIo(),
      bus: new EventBus(),
      emitEvent: () => {
        throw new Error('disk full');
      },
    });
    await controller.start();
    sim.open();
    sim.close();
    expect(controller.grant()).toBe(true);
    await settle();
    expect(sim.isUnlocked()).toBe(true);
    await controller.stop();
    expect(sim.isUnlocked()).toBe(false);
  });

  it('refuses an invalid door record with a clear error', () => {
    const sim = new SimDoor({ failMode: 'secure' });
    expect(
      () =>
        new DoorController({
          door: doorRecord({ unlockMs: 0 }),
          io: sim.createIo(),
          bus: new EventBus(),
          emitEvent: () => {},
        }),
    ).toThrow(/unlockMs must be >= 1000/);
  });
});

describe('with real timers and partial wiring', () => {
  it('relocks on the system clock, and a door without a contact switch relocks at the end of the pulse', async () => {
    vi.useRealTimers();
    const relay = new SimDoor({ failMode: 'secure' }).relay;
    const events: NewEvent[] = [];
    const controller = new DoorController({
      door: doorRecord({ unlockMs: 1000 }),
      io: new WiredDoorIo({ failMode: 'secure', relay }),
      bus: new EventBus(),
      emitEvent: (e) => events.push(e),
    });
    await controller.start();
    expect(controller.status()).toMatchObject({ contact: 'unknown', lock: 'locked' });
    controller.grant();
    await vi.waitFor(() => expect(relay.read()).toBe(true));
    await vi.waitFor(() => expect(relay.read()).toBe(false), { timeout: 5000 });
    expect(relay.history.map((h) => h.on)).toEqual([false, true, false]);
    expect(events).toEqual([]);
    await controller.stop();
  });
});
