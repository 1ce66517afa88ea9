// door.list on a running hub: a door wired to the hub carries its `hardware.doors` entry (what an installer
// checks against the wiring); other doors carry none; the CLI's store-only run has no live config.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { INSTALLER, STAFF, storeBench } from './helpers.js';

let dir: string;
let hub: Hub;

beforeAll(async () => {
  dir = tempDataDir();
  hub = await startHub(dir, {
    simulation: { door: 'front' },
    hardware: {
      driver: 'sim',
      doors: [
        {
          door: 'garage',
          lock: { gpio: 17, activeLow: true },
          contact: { gpio: 27 },
          readers: [{ id: 'garage-wiegand', type: 'wiegand', d0: 5, d1: 6 }],
        },
      ],
    },
  });
});

afterAll(async () => {
  await hub.stop();
  removeDir(dir);
});

type Listed = { doors: Array<Record<string, unknown> & { id: string }> };

describe('door.list hardware', () => {
  it('shows a wired door its configured lines and readers, to installers and staff', async () => {
    for (const caller of [INSTALLER, STAFF]) {
      const { doors } = (await hub.commands.execute('door.list', {}, caller)) as Listed;
      const garage = doors.find((d) => d.id === 'garage')!;
      expect(garage.transport).toBe('wired');
      expect(garage.hardware).toMatchObject({
        lock: { gpio: 17, activeLow: true },
        contact: { gpio: 27 },
        readers: [{ id: 'garage-wiegand', type: 'wiegand', d0: 5, d1: 6 }],
      });
      expect(garage.hardware).not.toHaveProperty('door');
      expect(doors.find((d) => d.id === 'front')).not.toHaveProperty('hardware');
    }
  });

  it('says null for a wired door the config does not describe, and nothing without a running hub', async () => {
    await hub.commands.execute('door.add', { id: 'cellar', transport: 'wired' }, INSTALLER);
    const { doors } = (await hub.commands.execute('door.list', {}, INSTALLER)) as Listed;
    expect(doors.find((d) => d.id === 'cellar')?.hardware).toBeNull();

    const bench = storeBench();
    try {
      await bench.commands.execute('door.add', { id: 'gate', transport: 'wired' }, INSTALLER);
      const listed = (await bench.commands.execute('door.list', {}, INSTALLER)) as Listed;
      expect(listed.doors.find((d) => d.id === 'gate')?.hardware).toBeNull();
    } finally {
      await bench.cleanup();
    }
  });
});
