// keypad.list also answers the guessing figure of each door (docs/offline-codes.md), for the hub
// health page: with the running hub's offline codes, and empty where no code secret is open.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hub } from '../../hub/app.js';
import { removeDir, tempDataDir, testConfig } from '../helpers/hub.js';
import { INSTALLER, STAFF, storeBench } from './helpers.js';

let dir: string;
let hub: Hub;

beforeAll(async () => {
  dir = tempDataDir();
  hub = new Hub({ config: testConfig(dir, { simulation: { door: 'front' } }) });
  await hub.start();
});

afterAll(async () => {
  await hub.stop();
  removeDir(dir);
});

describe('keypad.list guessing figure', () => {
  it('answers one figure per door, to staff and installers', async () => {
    await hub.commands.execute('door.add', { id: 'garage', transport: 'mqtt' }, INSTALLER);
    await hub.commands.execute('person.add', { id: 'ada', name: 'Ada', kind: 'resident' }, STAFF);
    await hub.commands.execute('credential.add_pin', { personId: 'ada', pin: '4821' }, STAFF);
    for (const caller of [STAFF, INSTALLER]) {
      const answer = (await hub.commands.execute('keypad.list', {}, caller)) as {
        keypads: unknown[];
        guessing: Array<Record<string, unknown>>;
      };
      expect(answer.keypads).toEqual([]);
      expect(answer.guessing.map((g) => g.doorId).sort()).toEqual(['front', 'garage']);
      for (const figure of answer.guessing) {
        expect(Object.keys(figure).sort()).toEqual(
          ['doorId', 'guessesPerDay', 'odds', 'overLimit', 'perDay', 'personalCodes', 'worstLength'].sort(),
        );
        expect(figure.perDay).toBeGreaterThanOrEqual(0);
        expect(figure.perDay).toBeLessThanOrEqual(1);
        expect(typeof figure.odds).toBe('string');
      }
    }
  });

  it('answers no figure from the store alone (no code secret open)', async () => {
    const bench = storeBench();
    try {
      await bench.run('door.add', { id: 'lobby', transport: 'mqtt' });
      expect(await bench.run('keypad.list', {})).toEqual({ keypads: [], guessing: [] });
    } finally {
      await bench.cleanup();
    }
  });
});
