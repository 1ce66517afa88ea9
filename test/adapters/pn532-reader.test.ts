// The PN532 reader against the emulator: cards, a flaky line, lost frames, an unplugged reader.
import { afterEach, describe, expect, it } from 'vitest';
import { Pn532Client } from '../../adapters/pn532/client.js';
import { Pn532Reader } from '../../adapters/pn532/reader.js';
import { Pn532Emulator } from '../../adapters/sim/pn532.js';
import { EmulatedSerialCable } from '../../adapters/sim/serial.js';
import type { ReaderHealth } from '../../adapters/types.js';

const until = async (what: string, check: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('PN532 reader over an emulated serial cable', () => {
  const readers: Pn532Reader[] = [];
  afterEach(async () => {
    for (const r of readers.splice(0)) await r.stop();
  });

  function rig(options: { timeoutMs?: number; pollMs?: number } = {}) {
    const emulator = new Pn532Emulator();
    const cable = new EmulatedSerialCable(emulator);
    const reader = new Pn532Reader({
      id: 'nfc1',
      path: '/dev/sim-pn532',
      open: cable.open,
      pollMs: options.pollMs ?? 20,
      timeoutMs: options.timeoutMs ?? 300,
      reopenMs: 100,
    });
    readers.push(reader);
    const cards: string[] = [];
    const health: ReaderHealth[] = [];
    reader.onCard((c) => cards.push(c));
    reader.onHealth((h) => health.push(h));
    return { emulator, cable, reader, cards, health };
  }

  it('initialises the chip, then reports each presented card once as uppercase hex', async () => {
    const r = rig();
    await r.reader.start();
    await until('online', () => r.reader.health().online);
    expect(r.emulator.samConfigured).toBe(true);
    expect(r.reader.firmware).toBe('PN532 v1.6');

    r.emulator.presentCard('04a2b3c4d5e6f7');
    await until('card', () => r.cards.length === 1);
    // Held in the field for several polls: still one presentation.
    const polls = r.emulator.stats.commands.InListPassiveTarget ?? 0;
    await until('more polls', () => (r.emulator.stats.commands.InListPassiveTarget ?? 0) > polls + 3);
    r.emulator.removeCard();
    await until('polls without card', () => (r.emulator.stats.commands.InListPassiveTarget ?? 0) > polls + 6);
    r.emulator.presentCard('DEADBEEF');
    r.emulator.presentCard('04a2b3c4d5e6f7');
    await until('second card', () => r.cards.length >= 2);
    expect(r.cards[0]).toBe('04A2B3C4D5E6F7');
    expect(r.reader.health()).toMatchObject({ online: true, errors: 0 });
  });

  it('keeps reading cards through garbage bytes, lost responses and corrupt checksums', async () => {
    const r = rig();
    await r.reader.start();
    await until('online', () => r.reader.health().online);
    r.emulator.injectGarbage(Buffer.from([0x00, 0xff, 0x42, 0x13, 0x37, 0xff, 0x00, 0x00, 0xff]));
    r.emulator.dropResponses(1);
    await until('an error', () => r.reader.health().errors >= 1);
    r.emulator.corruptResponses(1);
    await until('two errors', () => r.reader.health().errors >= 2);
    r.emulator.presentCard('11223344');
    await until('card', () => r.cards.length === 1);
    expect(r.cards).toEqual(['11223344']);
    expect(r.reader.health().online).toBe(true);
  });

  it('reports offline when the reader stops answering and online again when it returns', async () => {
    const r = rig();
    await r.reader.start();
    await until('online', () => r.reader.health().online);
    const wentOffline = Date.now();
    r.emulator.silent = true;
    await until('offline', () => !r.reader.health().online, 8000);
    expect(Date.now() - wentOffline).toBeLessThan(8000);
    r.emulator.silent = false;
    await until('online again', () => r.reader.health().online, 8000);
    r.emulator.presentCard('CAFEBABE');
    await until('card', () => r.cards.length === 1);
    expect(r.health.map((h) => h.online)).toContain(false);
  });

  it('survives being unplugged mid-read and picks up after replug', async () => {
    const r = rig();
    await r.reader.start();
    await until('online', () => r.reader.health().online);
    r.emulator.responseDelayMs = 50;
    r.emulator.presentCard('A1B2C3D4');
    r.cable.unplug();
    await until('offline', () => !r.reader.health().online);
    await new Promise((res) => setTimeout(res, 300));
    expect(r.reader.health().online).toBe(false);
    r.cable.replug();
    r.emulator.responseDelayMs = 2;
    await until('online again', () => r.reader.health().online, 8000);
    await until('card after replug', () => r.cards.includes('A1B2C3D4'));
    expect(r.reader.stats.opens).toBeGreaterThanOrEqual(2);
  });

  it('never lets one command resolve another: queued commands each get their own answer', async () => {
    const emulator = new Pn532Emulator();
    const cable = new EmulatedSerialCable(emulator);
    const link = await cable.open('/dev/sim', 115200);
    const client = new Pn532Client(link, { timeoutMs: 300 });
    const results = await Promise.allSettled([
      client.getFirmwareVersion(),
      client.samConfiguration(),
      client.listPassiveTarget(),
      client.setMaxRetries(),
      client.listPassiveTarget(),
    ]);
    expect(results[0]).toEqual({
      status: 'fulfilled',
      value: { ic: 0x32, version: 1, revision: 6, support: 7 },
    });
    expect(results[1].status).toBe('fulfilled');
    // Retries were still infinite (0xFF): like a real chip the emulator waits for a card. The client times out
    // and aborts with an ACK instead of hanging forever (pn532@1.0.0 defect 3), and the queue moves on.
    expect(results[2]).toMatchObject({ status: 'rejected', reason: { kind: 'timeout' } });
    expect(results[3].status).toBe('fulfilled');
    expect(results[4]).toEqual({ status: 'fulfilled', value: null });
    expect(emulator.stats.abortsReceived).toBe(1);
    client.close();
    await link.close();
  });
});
