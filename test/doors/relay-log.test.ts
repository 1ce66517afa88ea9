// A wired door's relay changes are in the log (one info line each, a flapping loop summarised), and a
// simulated door says transport "sim".
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SimInput, SimOutput } from '../../adapters/sim/gpio.js';
import { EventBus } from '../../hub/bus.js';
import { DoorController } from '../../hub/doors/controller.js';
import { WiredDoorIo } from '../../hub/doors/io.js';
import { SimDoor } from '../../hub/doors/sim-door.js';
import { doorRecord, settle, T0 } from './helpers.js';

function captured(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

const controllers: DoorController[] = [];
beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(async () => {
  for (const c of controllers.splice(0)) await c.stop();
  vi.useRealTimers();
});

describe('relay logging', () => {
  it('logs each relay change of a wired door at info, and summarises a flapping loop', async () => {
    const { logger, lines } = captured();
    const relay = new SimOutput('front.relay', false);
    const io = new WiredDoorIo({ failMode: 'secure', relay, contact: new SimInput('front.contact') });
    const controller = new DoorController({
      door: doorRecord({ transport: 'wired' }),
      io,
      bus: new EventBus(),
      emitEvent: () => undefined,
      logger,
    });
    controllers.push(controller);
    await controller.start();
    expect(lines.find((l) => l.msg === 'door started')).toMatchObject({ transport: 'wired' });

    controller.grant(1000);
    await settle();
    await vi.advanceTimersByTimeAsync(1000);
    const relayLines = () => lines.filter((l) => l.msg === 'relay changed');
    expect(relayLines().map((l) => l.lock)).toEqual(['locked', 'unlocked', 'locked']);
    expect(relayLines()[1]).toMatchObject({ level: 30, door: 'front', transport: 'wired' });

    // A script opening the door 50 times in under a minute: at most 30 lines, then one summary.
    for (let i = 0; i < 50; i++) {
      controller.grant(1000);
      await settle();
      await vi.advanceTimersByTimeAsync(1000);
    }
    await vi.advanceTimersByTimeAsync(60_000);
    controller.grant(1000);
    await settle();
    expect(relayLines().length).toBeLessThanOrEqual(31); // 30 in the minute + the one after it
    const summary = lines.find((l) => String(l.msg).includes('more in the last minute'));
    expect(summary?.suppressed).toBeGreaterThan(60);
  });

  it('a simulated door says transport "sim", not "wired"', async () => {
    const { logger, lines } = captured();
    const sim = new SimDoor({ failMode: 'secure', name: 'front' });
    const controller = new DoorController({
      door: doorRecord(),
      io: sim.createIo(),
      bus: new EventBus(),
      emitEvent: () => undefined,
      logger,
    });
    controllers.push(controller);
    await controller.start();
    expect(controller.transport).toBe('sim');
    expect(lines.find((l) => l.msg === 'door started')).toMatchObject({ transport: 'sim' });
    expect(controller.status().online).toBe(true);
  });
});
