// An installer on a laptop: GPIO simulated (driver sim), a real PN532 on a serial port. Here the
// "real" reader is the emulator on the far side of a socat pty pair, reached through serialport.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { registerHardwareCommands } from '../../adapters/cli.js';
import { createDoorHardware, createSimDoorHardware } from '../../adapters/factory.js';
import { openSerialPort } from '../../adapters/pn532/serial.js';
import { SimLineBoard } from '../../adapters/sim/lines.js';
import { Pn532Emulator } from '../../adapters/sim/pn532.js';
import { attachEmulator, SocatPtyPair } from '../../adapters/sim/serial.js';

async function hw(args: string[], config: unknown) {
  const out: string[] = [];
  const err: string[] = [];
  const program = new Command('gatehouse').exitOverride();
  registerHardwareCommands(program, async () => config as { hardware?: unknown; doors?: unknown }, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  await program.parseAsync(['node', 'gatehouse', ...args]);
  return { out, err };
}

const config = (path: string, emulated?: boolean) => ({
  hardware: { driver: 'sim' },
  doors: [
    {
      door: 'front',
      lock: { gpio: 17, activeLow: true },
      readers: [
        { id: 'front-nfc', type: 'pn532', path, pollMs: 20, ...(emulated === undefined ? {} : { emulated }) },
      ],
    },
  ],
});

describe('simulated GPIO with a real serial PN532', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    process.exitCode = 0;
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  it('reads a card through the real serial port while the lines are simulated, and hw list says which is which', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-pty-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const emulator = new Pn532Emulator();
    const pty = new SocatPtyPair(dir);
    await pty.start();
    cleanups.push(() => pty.stop());
    const device = await attachEmulator(emulator, pty.devicePath, openSerialPort);
    cleanups.push(() => device.detach());

    const listed = await hw(['hw', 'list'], config(pty.hostPath, false));
    expect(listed.out).toContain('driver: sim');
    expect(listed.out.some((l) => l.startsWith('simulated: every GPIO line'))).toBe(true);
    expect(
      listed.out.some(
        (l) =>
          l.includes(`front-nfc: pn532 on ${pty.hostPath}`) && l.endsWith(`real serial port ${pty.hostPath}`),
      ),
    ).toBe(true);
    const emulatedList = await hw(['hw', 'list'], config('/dev/serial0'));
    expect(
      emulatedList.out.some((l) => l.endsWith('emulated PN532 (set emulated: false to use /dev/serial0)')),
    ).toBe(true);

    // The hub's path: a sim door whose reader opens the pty with serialport.
    const door = await createSimDoorHardware(config(pty.hostPath, false).doors[0] as never, {});
    cleanups.push(() => door.close());
    expect(door.pn532('front-nfc')).toBeUndefined(); // no built-in emulator behind it
    expect(() => door.presentCard('04A1B2C3')).toThrow(/real serial reader/);
    const cards: string[] = [];
    door.readers[0]!.onCard((c) => cards.push(c));
    await door.readers[0]!.start();
    emulator.presentCard('04A1B2C3D4E5F6');
    const deadline = Date.now() + 8000;
    while (cards.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(cards).toEqual(['04A1B2C3D4E5F6']);
    expect(emulator.stats.commands.InListPassiveTarget).toBeGreaterThan(0);
  });

  it('refuses emulated: true on real GPIO: a real door needs a real reader', async () => {
    const def = config('/dev/serial0', true).doors[0] as never;
    await expect(createDoorHardware(def, { driver: 'gpio', lines: new SimLineBoard() })).rejects.toThrow(
      /emulated: true works only with hardware.driver sim/,
    );
  });
});
