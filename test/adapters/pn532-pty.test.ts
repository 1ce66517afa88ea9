// The real serial path: serialport 13 on a pseudo-terminal made by socat, the emulator on the other end.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Pn532Reader } from '../../adapters/pn532/reader.js';
import { openSerialPort, SerialOpenError } from '../../adapters/pn532/serial.js';
import { Pn532Emulator } from '../../adapters/sim/pn532.js';
import { attachEmulator, SocatPtyPair } from '../../adapters/sim/serial.js';

const until = async (what: string, check: () => boolean, ms = 8000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('PN532 reader on a real serial port (socat pty)', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  it('reads a card, goes offline when the port vanishes mid-read, and comes back when it returns', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-pty-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const emulator = new Pn532Emulator();
    let pty = new SocatPtyPair(dir);
    await pty.start();
    cleanups.push(() => pty.stop());
    let device = await attachEmulator(emulator, pty.devicePath, openSerialPort);
    cleanups.push(() => device.detach());

    const reader = new Pn532Reader({
      id: 'nfc-pty',
      path: pty.hostPath,
      pollMs: 30,
      timeoutMs: 400,
      reopenMs: 200,
    });
    cleanups.push(() => reader.stop());
    const cards: string[] = [];
    reader.onCard((c) => cards.push(c));
    await reader.start();
    await until('online', () => reader.health().online);

    emulator.presentCard('04112233445566');
    await until('card', () => cards.length === 1);
    expect(cards).toEqual(['04112233445566']);

    // Garbage on the wire does not stall the reader.
    emulator.removeCard();
    emulator.injectGarbage(Buffer.from('noise on the line\u0000\u00ff', 'latin1'));
    emulator.presentCard('AABBCCDD');
    await until('card after garbage', () => cards.length === 2);

    // Unplug: socat dies and both ptys disappear while the reader is polling.
    emulator.removeCard();
    const unplugged = Date.now();
    await device.detach();
    await pty.stop();
    await until('offline', () => !reader.health().online);
    expect(Date.now() - unplugged).toBeLessThan(8000);

    // Replug at the same path.
    pty = new SocatPtyPair(dir);
    await pty.start();
    device = await attachEmulator(emulator, pty.devicePath, openSerialPort);
    await until('online again', () => reader.health().online);
    emulator.presentCard('0A0B0C0D');
    await until('card after replug', () => cards.includes('0A0B0C0D'));
    expect(reader.stats.opens).toBeGreaterThanOrEqual(2);
  });

  it('names the fix when the serial device does not exist, and the reader stays offline without crashing', async () => {
    await expect(openSerialPort('/dev/does-not-exist-gatehouse', 115200)).rejects.toBeInstanceOf(
      SerialOpenError,
    );
    await expect(openSerialPort('/dev/does-not-exist-gatehouse', 115200)).rejects.toThrow(/raspi-config/);
    const reader = new Pn532Reader({ id: 'missing', path: '/dev/does-not-exist-gatehouse', reopenMs: 50 });
    cleanups.push(() => reader.stop());
    await reader.start();
    await until('errors counted', () => reader.health().errors >= 2);
    expect(reader.health().online).toBe(false);
  });
});
