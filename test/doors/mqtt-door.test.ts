// An MQTT door seen from the bus, as the broker would drive it: lock commands out, reports in.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DoorStatus, Presentation } from '../../hub/bus.js';
import { EventBus } from '../../hub/bus.js';
import type { NewEvent } from '../../hub/domain.js';
import { DoorManager } from '../../hub/doors/manager.js';
import { doorRecord, settle, T0 } from './helpers.js';

interface MqttRig {
  bus: EventBus;
  manager: DoorManager;
  commands: Array<{ t: number; lock: 'unlock' | 'lock'; ms?: number }>;
  events: NewEvent[];
  statuses: DoorStatus[];
  eventTypes(): string[];
}

const managers: DoorManager[] = [];

async function mqttRig(): Promise<MqttRig> {
  const bus = new EventBus();
  const commands: MqttRig['commands'] = [];
  const events: NewEvent[] = [];
  const statuses: DoorStatus[] = [];
  bus.on(commands, 'lockCommand', (c) => {
    if (c.doorId === 'lobby') {
      commands.push({ t: Date.now() - T0, lock: c.lock, ...(c.ms !== undefined ? { ms: c.ms } : {}) });
    }
  });
  bus.on(statuses, 'doorStatus', (s) => statuses.push(s));
  const manager = new DoorManager({
    doors: [doorRecord({ id: 'lobby', name: 'Lobby', transport: 'mqtt' })],
    bus,
    emitEvent: (e) => events.push(e),
  });
  managers.push(manager);
  await manager.start();
  return { bus, manager, commands, events, statuses, eventTypes: () => events.map((e) => e.type) };
}

const card: Presentation = {
  doorId: 'lobby',
  kind: 'card',
  value: '04A1B2C3',
  readerId: 'r1',
  requestId: 'q1',
};

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});

afterEach(async () => {
  for (const m of managers.splice(0)) await m.stop();
  vi.useRealTimers();
});

describe('MQTT door', () => {
  it('starts locked, offline and unknown until the device speaks', async () => {
    const r = await mqttRig();
    expect(r.commands).toEqual([{ t: 0, lock: 'lock' }]);
    expect(r.manager.status()).toEqual([
      { doorId: 'lobby', contact: 'unknown', lock: 'unknown', mode: 'normal', tamper: false, online: false },
    ]);
    r.bus.emit('doorInput', { doorId: 'lobby', type: 'availability', data: { online: true } });
    r.bus.emit('doorReport', { doorId: 'lobby', contact: 'closed', lock: 'locked' });
    expect(r.statuses.at(-1)).toEqual({
      doorId: 'lobby',
      contact: 'closed',
      lock: 'locked',
      mode: 'normal',
      tamper: false,
      online: true,
    });
    r.bus.emit('doorInput', { doorId: 'lobby', type: 'availability', data: { online: false } });
    expect(r.manager.status()[0]?.online).toBe(false);
    // Connecting is not an event in itself, and a first "closed" is not a door closing.
    expect(r.eventTypes()).toEqual([]);
  });

  it('a granted decision sends an unlock with the pulse, then a lock when it ends', async () => {
    const r = await mqttRig();
    r.bus.emit('decided', card, { granted: true, reason: 'granted', unlockMs: 3000, personId: 'p1' });
    await vi.advanceTimersByTimeAsync(3000);
    expect(r.commands).toEqual([
      { t: 0, lock: 'lock' },
      { t: 0, lock: 'unlock', ms: 3000 },
      { t: 3000, lock: 'lock' },
    ]);
  });

  it('a denied decision sends nothing', async () => {
    const r = await mqttRig();
    r.bus.emit('decided', card, { granted: false, reason: 'revoked' });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(r.commands).toEqual([{ t: 0, lock: 'lock' }]);
  });

  it('relocks when the device reports the door closed after opening', async () => {
    const r = await mqttRig();
    r.bus.emit('doorReport', { doorId: 'lobby', contact: 'closed', lock: 'locked' });
    r.bus.emit('decided', card, { granted: true, reason: 'granted', unlockMs: 5000, personId: 'p1' });
    await vi.advanceTimersByTimeAsync(1000);
    r.bus.emit('doorReport', { doorId: 'lobby', contact: 'open', lock: 'unlocked' });
    await vi.advanceTimersByTimeAsync(1000);
    r.bus.emit('doorReport', { doorId: 'lobby', contact: 'closed', lock: 'unlocked' });
    await settle();
    expect(r.commands.at(-1)).toEqual({ t: 2000, lock: 'lock' });
    expect(r.events.map((e) => [e.type, e.personId])).toEqual([
      ['door.opened', 'p1'],
      ['door.closed', null],
    ]);
  });

  it('raises forced open when the device reports an open door nobody was let through', async () => {
    const r = await mqttRig();
    r.bus.emit('doorReport', { doorId: 'lobby', contact: 'closed', lock: 'locked' });
    r.bus.emit('doorReport', { doorId: 'lobby', contact: 'open', lock: 'locked' });
    expect(r.eventTypes()).toEqual(['alarm.forced_open']);
  });

  it('REX from the device unlocks; tamper and fire are alarms; fire holds the lock open', async () => {
    const r = await mqttRig();
    r.bus.emit('doorInput', { doorId: 'lobby', type: 'rex' });
    await settle();
    expect(r.commands.at(-1)).toEqual({ t: 0, lock: 'unlock', ms: 5000 });
    r.bus.emit('doorInput', { doorId: 'lobby', type: 'tamper', data: { active: true } });
    r.bus.emit('doorReport', { doorId: 'lobby', tamper: false });
    r.bus.emit('doorInput', { doorId: 'lobby', type: 'fire', data: { active: true } });
    await vi.advanceTimersByTimeAsync(60_000);
    // Held open: a long unlock, repeated before it runs out, and no relock when the REX pulse ends.
    expect(r.commands).toEqual([
      { t: 0, lock: 'lock' },
      // The first message proves the device is online: it is told the current state.
      { t: 0, lock: 'lock' },
      { t: 0, lock: 'unlock', ms: 5000 },
      { t: 0, lock: 'unlock', ms: 60_000 },
      { t: 20_000, lock: 'unlock', ms: 60_000 },
      { t: 40_000, lock: 'unlock', ms: 60_000 },
      { t: 60_000, lock: 'unlock', ms: 60_000 },
    ]);
    r.bus.emit('doorInput', { doorId: 'lobby', type: 'fire', data: { active: false } });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(r.commands.slice(7)).toEqual([{ t: 60_000, lock: 'lock' }]);
    expect(r.eventTypes()).toEqual([
      'door.rex',
      'alarm.tamper',
      'alarm.tamper_cleared',
      'alarm.fire',
      'alarm.fire_cleared',
    ]);
  });

  it('re-sends the lock state when the device comes back online', async () => {
    const r = await mqttRig();
    r.manager.setMode('lobby', 'unlocked');
    r.bus.emit('doorInput', { doorId: 'lobby', type: 'availability', data: { online: true } });
    r.bus.emit('doorInput', { doorId: 'lobby', type: 'availability', data: { online: false } });
    await vi.advanceTimersByTimeAsync(1000);
    r.bus.emit('doorInput', {
      doorId: 'lobby',
      type: 'availability',
      data: { online: true, deviceId: 'dev1' },
    });
    await settle();
    expect(r.commands).toEqual([
      { t: 0, lock: 'lock' },
      { t: 0, lock: 'unlock', ms: 60_000 },
      { t: 0, lock: 'unlock', ms: 60_000 },
      { t: 1000, lock: 'unlock', ms: 60_000 },
    ]);
  });

  it('ignores malformed reports and inputs: no unlock, no alarm, no crash', async () => {
    const r = await mqttRig();
    const bad: unknown[] = [
      { doorId: 'lobby', contact: 'ajar' },
      { doorId: 'lobby', lock: 1 },
      { doorId: 'lobby', tamper: 'yes' },
    ];
    for (const b of bad) r.bus.emit('doorReport', b as { doorId: string });
    r.bus.emit('doorInput', { doorId: 'lobby', type: 'fire', data: { active: 'maybe' } });
    r.bus.emit('doorInput', { doorId: 'lobby', type: 'availability', data: {} });
    r.bus.emit('doorInput', { doorId: 'lobby', type: 'self-destruct' });
    r.bus.emit('doorInput', null as unknown as { doorId: string; type: string });
    r.bus.emit('doorReport', { doorId: 'nowhere', contact: 'open' });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(r.commands).toEqual([{ t: 0, lock: 'lock' }]);
    expect(r.events).toEqual([]);
    expect(r.manager.status()[0]).toMatchObject({ contact: 'unknown', tamper: false });
  });

  it('a doorbell is one event per ring; presses within 2 s are folded into the next ring', async () => {
    const r = await mqttRig();
    const ring = () =>
      r.bus.emit('doorInput', { doorId: 'lobby', type: 'doorbell', data: { junk: 'x'.repeat(500) } });
    for (let i = 0; i < 1000; i++) ring();
    await vi.advanceTimersByTimeAsync(1999);
    ring();
    expect(r.events.filter((e) => e.type === 'door.doorbell')).toEqual([
      expect.objectContaining({ doorId: 'lobby', data: {} }),
    ]);
    await vi.advanceTimersByTimeAsync(1);
    ring();
    const rings = r.events.filter((e) => e.type === 'door.doorbell');
    expect(rings.map((e) => e.data)).toEqual([{}, { ignored: 1000 }]);
    // A doorbell is not an alarm, and unlocks nothing.
    expect(r.eventTypes().filter((t) => t.startsWith('alarm.'))).toEqual([]);
    expect(r.commands.filter((c) => c.lock === 'unlock')).toEqual([]);
  });

  it('event types a device makes up are kept by name, a few a minute, then counted', async () => {
    const r = await mqttRig();
    for (let i = 0; i < 100; i++) {
      r.bus.emit('doorInput', { doorId: 'lobby', type: `custom_${i}`, data: { pin: '1234' } });
    }
    expect(r.events.map((e) => e.data)).toEqual([
      { event: 'custom_0' },
      { event: 'custom_1' },
      { event: 'custom_2' },
      { event: 'custom_3' },
      { event: 'custom_4' },
    ]);
    await vi.advanceTimersByTimeAsync(60_000);
    r.bus.emit('doorInput', { doorId: 'lobby', type: 'custom_again' });
    expect(r.events.slice(5).map((e) => e.data)).toEqual([
      { suppressed: 95, windowMs: 60_000 },
      { event: 'custom_again' },
    ]);
    expect(r.eventTypes().every((t) => t === 'door.device_event')).toBe(true);
  });

  it('reports for a wired door from the bus are ignored: its own inputs are the truth', async () => {
    const bus = new EventBus();
    const events: NewEvent[] = [];
    const { SimDoor } = await import('../../hub/doors/sim-door.js');
    const sim = new SimDoor({ failMode: 'secure' });
    const manager = new DoorManager({
      doors: [doorRecord({ id: 'cellar', transport: 'sim' })],
      bus,
      emitEvent: (e) => events.push(e),
      wiredIo: () => sim.createIo(),
    });
    managers.push(manager);
    await manager.start();
    bus.emit('doorInput', { doorId: 'cellar', type: 'fire', data: { active: true } });
    bus.emit('doorInput', { doorId: 'cellar', type: 'rex' });
    await settle();
    expect(sim.isUnlocked()).toBe(false);
    expect(events).toEqual([]);
  });
});
