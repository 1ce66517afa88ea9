// Shared set-up for door tests: a real EventBus, a real DoorController and a SimDoor, with the
// events and statuses a person (or the event log) would see collected in arrays.
import { vi } from 'vitest';
import type { DoorStatus } from '../../hub/bus.js';
import { EventBus } from '../../hub/bus.js';
import type { Door, DoorMode, FailMode, NewEvent } from '../../hub/domain.js';
import { DoorController } from '../../hub/doors/controller.js';
import { relayEnergised } from '../../hub/doors/io.js';
import { SimDoor } from '../../hub/doors/sim-door.js';

export const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);

export function doorRecord(overrides: Partial<Door> = {}): Door {
  return {
    id: 'front',
    name: 'Front door',
    transport: 'sim',
    mode: 'normal',
    failMode: 'secure',
    unlockMs: 5000,
    heldOpenMs: 30_000,
    createdAt: T0,
    ...overrides,
  };
}

export interface SimRig {
  bus: EventBus;
  sim: SimDoor;
  controller: DoorController;
  events: NewEvent[];
  statuses: DoorStatus[];
  /** Relay writes as lock states, with ms since T0. */
  lockTimeline(): Array<{ t: number; unlocked: boolean }>;
  eventTypes(): string[];
}

export async function simRig(
  options: {
    failMode?: FailMode;
    mode?: DoorMode;
    relayInitial?: boolean;
    startOpen?: boolean;
    fire?: boolean;
  } = {},
): Promise<SimRig> {
  const failMode = options.failMode ?? 'secure';
  const bus = new EventBus();
  const sim = new SimDoor({
    failMode,
    name: 'front',
    ...(options.relayInitial !== undefined ? { relayInitial: options.relayInitial } : {}),
    ...(options.startOpen !== undefined ? { startOpen: options.startOpen } : {}),
  });
  if (options.fire) sim.setFire(true);
  const events: NewEvent[] = [];
  const statuses: DoorStatus[] = [];
  bus.on(statuses, 'doorStatus', (s) => statuses.push(s));
  const controller = new DoorController({
    door: doorRecord({ failMode, mode: options.mode ?? 'normal' }),
    io: sim.createIo(),
    bus,
    emitEvent: (e) => events.push(e),
  });
  await controller.start();
  return {
    bus,
    sim,
    controller,
    events,
    statuses,
    lockTimeline: () =>
      sim.relay.history.map((h) => ({ t: h.at - T0, unlocked: h.on === relayEnergised(true, failMode) })),
    eventTypes: () => events.map((e) => e.type),
  };
}

/** Let queued relay writes settle without moving the clock. */
export async function settle(): Promise<void> {
  await vi.advanceTimersByTimeAsync(0);
}
