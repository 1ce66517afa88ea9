// A door wired to the hub, through the whole hub: emulated PN532 and Wiegand keypad → real decoders →
// the same decision path as LAN doors → the lock relay, with alarms from the contact line.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSimDoorHardware, type SimDoorHardware } from '../../adapters/factory.js';
import type { Hub } from '../../hub/app.js';
import { removeDir, startHub, tempDataDir } from '../helpers/hub.js';

let dir: string;
let hub: Hub;
let hw: SimDoorHardware;

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const decisions = () => hub.store.events.list({ type: 'decision', doorId: 'garage', limit: 50 });

beforeAll(async () => {
  dir = tempDataDir();
  hub = await startHub(dir, {
    hardware: {
      driver: 'sim',
      doors: [
        {
          door: 'garage',
          lock: { gpio: 17 },
          contact: { gpio: 27 },
          rex: { gpio: 22 },
          readers: [{ id: 'garage-nfc', type: 'pn532', path: '/dev/serial0', pollMs: 20, timeoutMs: 300 }],
          keypads: [{ id: 'garage-keypad', type: 'wiegand', d0: 5, d1: 6 }],
        },
      ],
    },
  });
  const found = hub.wiredHardware('garage');
  if (!found || !isSimDoorHardware(found)) throw new Error('expected simulated wired hardware');
  hw = found;
  const { store } = hub;
  store.people.add({ id: 'ada', name: 'Ada', kind: 'resident' });
  store.credentials.addCard('ada', '04A2B3C4D5E6F7');
  store.credentials.addPin('ada', '482913');
  store.groups.add({ id: 'residents', name: 'Residents' });
  store.groups.addDoor('residents', 'garage');
  store.groups.addMember('residents', 'ada');
  store.doors.update('garage', { unlockMs: 1000 });
  await until('door controller reloaded', () => hub.doors.get('garage')?.settings.unlockMs === 1000);
  await until('reader online', () => hw.readers[0]!.health().online);
});

afterAll(async () => {
  await hub?.stop();
  removeDir(dir);
});

describe('a door wired to the hub', () => {
  it('was created as a wired door and starts locked', () => {
    expect(hub.store.doors.get('garage')).toMatchObject({ transport: 'wired', failMode: 'secure' });
    expect(hw.lockEnergised()).toBe(false);
  });

  it('unlocks for a known NFC card for the pulse, then relocks', async () => {
    const before = decisions().length;
    hw.presentCard('04a2b3c4d5e6f7', { readerId: 'garage-nfc' });
    await until('relay energised', () => hw.lockEnergised());
    await until('decision recorded', () => decisions().length > before);
    expect(decisions()[0]).toMatchObject({ personId: 'ada', data: { granted: true, reader: 'garage-nfc' } });
    await until('relay released after the pulse', () => !hw.lockEnergised(), 3000);
  });

  it('keeps the lock shut for an unknown card', async () => {
    const before = decisions().length;
    hw.presentCard('DEADBEEF', { readerId: 'garage-nfc' });
    await until(
      'decision recorded',
      () => decisions().length > before && decisions()[0]!.data.reason !== 'granted',
    );
    expect(decisions()[0]!.data).toMatchObject({ granted: false, reason: 'unknown_credential' });
    expect(hw.lockEnergised()).toBe(false);
  });

  it('unlocks for a PIN typed on the Wiegand keypad, and relocks when the door closes', async () => {
    hw.typeKeys('482913#');
    await until('relay energised', () => hw.lockEnergised());
    hw.openDoor();
    await new Promise((r) => setTimeout(r, 50));
    hw.closeDoor();
    await until('relocked on close', () => !hw.lockEnergised(), 1000);
  });

  it('raises a forced-open alarm when the door opens without a grant', async () => {
    hw.openDoor();
    await until(
      'alarm',
      () => hub.store.events.list({ type: 'alarm.forced_open', limit: 5 }).length > 0,
      2000,
    );
    hw.closeDoor();
  });
});
