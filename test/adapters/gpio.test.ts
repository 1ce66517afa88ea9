// GPIO: sysfs line resolution against fake sysfs trees, the onoff driver's errors, relay polarity and debounce.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HardwareConfigError, parseHardwareSettings, parseWiredDoors } from '../../adapters/config.js';
import { createDoorHardware, createWiredDoors, resolveDriver } from '../../adapters/factory.js';
import { DebouncedInput, RelayOutput } from '../../adapters/gpio/lines.js';
import { OnoffLineDriver } from '../../adapters/gpio/onoff.js';
import {
  explainFsError,
  findHeaderChip,
  GpioSetupError,
  gpioAccessible,
  resolveSysfsLine,
} from '../../adapters/gpio/sysfs.js';
import { SimLineBoard } from '../../adapters/sim/lines.js';

const temps: string[] = [];
afterEach(async () => {
  for (const d of temps.splice(0)) await rm(d, { recursive: true, force: true });
});

async function fakeSysfs(chips: Array<{ name: string; base: number; ngpio: number; label: string }>) {
  const root = await mkdtemp(join(tmpdir(), 'gatehouse-sysfs-'));
  temps.push(root);
  await writeFile(join(root, 'export'), '');
  await writeFile(join(root, 'unexport'), '');
  for (const c of chips) {
    await mkdir(join(root, c.name));
    await writeFile(join(root, c.name, 'base'), `${c.base}\n`);
    await writeFile(join(root, c.name, 'ngpio'), `${c.ngpio}\n`);
    await writeFile(join(root, c.name, 'label'), `${c.label}\n`);
  }
  return root;
}

describe('BCM → sysfs line resolution', () => {
  it('adds the chip base on Raspberry Pi OS kernels 6.6+ (Pi 4: base 512, Pi 5: base 571)', async () => {
    const pi4 = await fakeSysfs([
      { name: 'gpiochip512', base: 512, ngpio: 58, label: 'pinctrl-bcm2711' },
      { name: 'gpiochip570', base: 570, ngpio: 8, label: 'raspberrypi-exp-gpio' },
    ]);
    expect(await resolveSysfsLine(17, pi4)).toBe(529);
    const pi5 = await fakeSysfs([
      { name: 'gpiochip512', base: 512, ngpio: 32, label: 'gpio-brcmstb@107d508500' },
      { name: 'gpiochip571', base: 571, ngpio: 54, label: 'pinctrl-rp1' },
    ]);
    expect(await resolveSysfsLine(17, pi5)).toBe(588);
    const oldKernel = await fakeSysfs([{ name: 'gpiochip0', base: 0, ngpio: 54, label: 'pinctrl-bcm2835' }]);
    expect(await resolveSysfsLine(17, oldKernel)).toBe(17);
    expect((await findHeaderChip(pi5)).label).toBe('pinctrl-rp1');
  });

  it('explains a machine without a Pi GPIO chip, a pin that does not exist, and a missing sysfs tree', async () => {
    const laptop = await fakeSysfs([{ name: 'gpiochip0', base: 0, ngpio: 8, label: 'INT3450:00' }]);
    await expect(resolveSysfsLine(17, laptop)).rejects.toThrow(
      /no Raspberry Pi GPIO chip.*INT3450[\s\S]*driver: sim/,
    );
    const pi4 = await fakeSysfs([{ name: 'gpiochip512', base: 512, ngpio: 58, label: 'pinctrl-bcm2711' }]);
    await expect(resolveSysfsLine(58, pi4)).rejects.toThrow(/BCM number.*not the physical header pin/);
    await expect(resolveSysfsLine(17, join(pi4, 'nope'))).rejects.toBeInstanceOf(GpioSetupError);
    expect(await gpioAccessible(join(pi4, 'nope'))).toBe(false);
    expect(await gpioAccessible(pi4)).toBe(true);
    expect(await gpioAccessible(laptop)).toBe(false);
  });

  it('maps permission and busy errors to the fix an installer can apply', () => {
    const eacces = explainFsError(
      Object.assign(new Error('EACCES'), { code: 'EACCES' }),
      '/sys/class/gpio/export',
    );
    expect(eacces.message).toMatch(/usermod -aG gpio/);
    const ebusy = explainFsError(
      Object.assign(new Error('EBUSY'), { code: 'EBUSY' }),
      '/sys/class/gpio/gpio529',
      17,
    );
    expect(ebusy.message).toMatch(/BCM 17.*busy[\s\S]*config\.txt/);
  });

  it('the onoff driver loads onoff on demand and names the fix when the kernel has no sysfs GPIO', async () => {
    // The fake tree passes our checks; onoff itself writes to the real /sys/class/gpio, absent on this machine.
    const pi4 = await fakeSysfs([{ name: 'gpiochip512', base: 512, ngpio: 58, label: 'pinctrl-bcm2711' }]);
    const driver = new OnoffLineDriver({ sysfsRoot: pi4 });
    const err = await driver.output(17, 0, 'front.lock').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpioSetupError);
    expect(String(err)).toMatch(/GPIO BCM 17 \(.*gpio529\)[\s\S]*fix:/);
    await driver.close();
    const missing = new OnoffLineDriver({ sysfsRoot: join(pi4, 'missing') });
    await expect(missing.input(27, 'contact', 'both')).rejects.toThrow(/not found[\s\S]*driver: sim/);
  });

  it('building wired doors on a machine without GPIO fails with the fix and leaves nothing half-open', async () => {
    const pi4 = await fakeSysfs([{ name: 'gpiochip512', base: 512, ngpio: 58, label: 'pinctrl-bcm2711' }]);
    const doors = parseWiredDoors([{ door: 'front', lock: { gpio: 17 }, contact: { gpio: 27 } }]);
    await expect(createWiredDoors(doors, { driver: 'gpio', sysfsRoot: pi4 })).rejects.toThrow(
      /GPIO BCM 17[\s\S]*fix:/,
    );
  });

  it("'auto' picks the simulator where GPIO is not accessible", async () => {
    expect(await resolveDriver('auto', '/definitely/not/sysfs')).toBe('sim');
    expect(await resolveDriver('gpio', '/definitely/not/sysfs')).toBe('gpio');
    expect(parseHardwareSettings(undefined)).toEqual({ driver: 'auto', sysfsRoot: '/sys/class/gpio' });
  });
});

describe('relay and inputs on lines', () => {
  it('applies active-low wiring to the relay and refuses writes once released', async () => {
    const board = new SimLineBoard();
    const relay = new RelayOutput(await board.output(17, 1, 'lock'), true);
    expect(relay.read()).toBe(false);
    await relay.write(true);
    expect(board.level(17)).toBe(0);
    expect(relay.read()).toBe(true);
    await relay.write(false);
    expect(board.level(17)).toBe(1);
    await relay.close();
    await expect(relay.write(true)).rejects.toThrow(/closed/);
    expect(board.level(17)).toBe(1);
  });

  it('drives every lock to its locked level at boot, for both fail modes and polarities', async () => {
    const doors = parseWiredDoors([
      { door: 'strike', lock: { gpio: 17 } },
      { door: 'strike-al', lock: { gpio: 18, activeLow: true } },
      { door: 'maglock', lock: { gpio: 22, failMode: 'safe' } },
      { door: 'maglock-al', lock: { gpio: 23, failMode: 'safe', activeLow: true } },
    ]);
    const board = new SimLineBoard();
    const hw = await createWiredDoors(doors, { driver: 'sim', lines: board });
    // Physical levels: a strike's coil is off, a maglock's coil is on; active-low boards invert the level.
    expect([17, 18, 22, 23].map((g) => board.level(g))).toEqual([0, 1, 1, 0]);
    expect(hw.map((h) => h.lock.read())).toEqual([false, false, true, true]);
    // Nothing was ever written through the other level.
    expect([17, 18, 22, 23].map((g) => board.outputHistory(g).length)).toEqual([0, 0, 0, 0]);
    for (const h of hw) await h.close();
  });

  it('debounces a bouncing contact into one change and reports active-low inputs as active', async () => {
    const board = new SimLineBoard();
    const input = new DebouncedInput(await board.input(27, 'contact', 'both'), true, 20);
    const seen: boolean[] = [];
    input.watch((a) => seen.push(a));
    expect(input.read()).toBe(false);
    for (let i = 0; i < 10; i++) board.drive(27, i % 2 === 0 ? 0 : 1);
    board.drive(27, 0);
    await new Promise((r) => setTimeout(r, 60));
    expect(seen).toEqual([true]);
    expect(input.read()).toBe(true);
    // A glitch shorter than the debounce time is not reported.
    board.drive(27, 1);
    board.drive(27, 0);
    await new Promise((r) => setTimeout(r, 60));
    expect(seen).toEqual([true]);
    await input.close();
  });

  it('rejects a config that uses one GPIO twice or has unknown fields, with the path in the message', async () => {
    expect(() => parseWiredDoors([{ door: 'a', lock: { gpio: 17 }, contact: { gpio: 17 } }])).toThrow(
      /GPIO 17 is used twice/,
    );
    expect(() => parseWiredDoors([{ door: 'a', lock: { gpio: 17, polarity: 'x' } }])).toThrow(
      HardwareConfigError,
    );
    expect(() => parseWiredDoors([{ door: 'a', lock: { gpio: 99 } }])).toThrow(
      /hardware\.doors\/0\/lock\/gpio/,
    );
    // A reader and a keypad in one housing may share D0/D1.
    const shared = parseWiredDoors([
      {
        door: 'a',
        lock: { gpio: 17 },
        readers: [{ id: 'r', type: 'wiegand', d0: 5, d1: 6 }],
        keypads: [{ id: 'k', type: 'wiegand', d0: 5, d1: 6 }],
      },
    ]);
    expect(shared[0]!.contact).toBeUndefined();
    const hw = await createDoorHardware(shared[0]!, { driver: 'sim' });
    expect(hw.readers.map((r) => r.id)).toEqual(['r']);
    expect(hw.keypads.map((k) => k.id)).toEqual(['k']);
    await hw.close();
  });
});
