// A store that cannot be read fails every card closed; the log gets a few lines a minute, not one per card.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { KeypadLockout } from '../../hub/access/index.js';
import { type Decision, EventBus } from '../../hub/bus.js';
import { DecisionService } from '../../hub/decisions.js';
import { type TempHub, tempHub } from './helpers.js';

let hub: TempHub;
afterEach(async () => hub?.cleanup());

describe('decision failures', () => {
  it('deny every card and log a bounded number of lines', async () => {
    hub = tempHub();
    const { store, db } = hub.open();
    store.doors.add({ id: 'front', name: 'front' });
    const lines: Array<Record<string, unknown>> = [];
    const bus = new EventBus();
    const service = new DecisionService({
      store,
      bus,
      lockout: new KeypadLockout(),
      timeZone: 'UTC',
      logger: pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) }),
    });
    await service.start();
    const answers: Decision[] = [];
    bus.on(answers, 'decided', (_p, d) => answers.push(d));
    db.close(); // every lookup now throws
    for (let i = 0; i < 200; i++)
      bus.emit('presented', { doorId: 'front', kind: 'card', value: '04A22B1C', readerId: 'r' });
    expect(answers).toHaveLength(200);
    expect(answers.every((d) => !d.granted)).toBe(true);
    expect(lines.length).toBeLessThanOrEqual(3);
    await service.stop();
  });
});
