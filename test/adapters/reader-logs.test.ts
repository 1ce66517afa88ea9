// Line noise on a Wiegand reader must not write a log line per rejected frame (the SD card): a few a
// minute, counted after that, and never announced as a health change (the reader's state does not change).
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseWiredDoors } from '../../adapters/config.js';
import { createSimDoorHardware, type SimDoorHardware } from '../../adapters/factory.js';
import { Pn532Reader } from '../../adapters/pn532/reader.js';
import { Pn532Emulator } from '../../adapters/sim/pn532.js';
import { EmulatedSerialCable } from '../../adapters/sim/serial.js';
import type { ReaderHealth } from '../../adapters/types.js';
import { BUILTIN_FORMATS, encodeCard } from '../../adapters/wiegand/formats.js';

const [DOOR] = parseWiredDoors([
  { door: 'side', lock: { gpio: 17 }, readers: [{ id: 'side-wiegand', type: 'wiegand', d0: 5, d1: 6 }] },
]);

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

let hw: SimDoorHardware | null = null;
afterEach(async () => {
  await hw?.close();
  hw = null;
});

function logSink(): { lines: Array<Record<string, unknown>>; logger: pino.Logger } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, logger: pino({ level: 'info' }, sink) };
}

describe('reader log budget', () => {
  it('a dead PN532: one line going offline, one count a minute while retrying, one line when back', async () => {
    const { lines, logger } = logSink();
    const clock = { now: Date.now() };
    const emulator = new Pn532Emulator();
    const cable = new EmulatedSerialCable(emulator);
    const reader = new Pn532Reader({
      id: 'nfc1',
      path: '/dev/sim',
      open: cable.open,
      pollMs: 20,
      timeoutMs: 50,
      logger,
      now: () => clock.now,
    });
    const changes: string[] = [];
    reader.onHealth((h) => changes.push(h.state));
    try {
      await reader.start();
      await until('online', () => reader.health().online);
      emulator.silent = true;
      await until('offline', () => reader.health().state === 'offline');
      const atOffline = reader.stats.timeouts;
      await until('30 failed retries', () => reader.stats.timeouts - atOffline >= 30);
      clock.now += 61_000; // a minute of retries has gone by
      const counted = reader.stats.timeouts;
      await until('the next retry', () => reader.stats.timeouts > counted);
      emulator.silent = false;
      await until('online again', () => reader.health().online);
      expect(changes).toEqual(['online', 'offline', 'online']);
      const messages = lines.map((l) => String(l.msg));
      expect(messages.filter((m) => m.startsWith('pn532 reader offline'))).toHaveLength(1);
      const summaries = messages.filter((m) => m.startsWith('pn532 reader still offline'));
      // The minute that ended, then what was left when the reader came back.
      expect(summaries).toHaveLength(2);
      expect(summaries[0]).toMatch(/…and \d+ more failed retries in the last minute/);
      expect(messages.filter((m) => m === 'pn532 reader online')).toHaveLength(2);
      expect(lines.length).toBeLessThanOrEqual(6);
    } finally {
      await reader.stop();
    }
  }, 60_000);

  it('logs 5 rejected Wiegand frames a minute and counts the rest into one summary line', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    hw = await createSimDoorHardware(DOOR!, { logger: pino({ level: 'info' }, sink) });
    const reader = hw.readers[0]!;
    const changes: ReaderHealth[] = [];
    reader.onHealth((h) => changes.push(h));
    await reader.start();
    expect(reader.health()).toMatchObject({ state: 'unsupervised', online: true });

    const bad = encodeCard('7B1A2C', BUILTIN_FORMATS.h10301);
    bad[7] = 1 - bad[7]!;
    for (let i = 0; i < 40; i++) {
      hw.wiegand('side-wiegand')!.sendBits(bad);
      await new Promise((r) => setTimeout(r, 2)); // a frame gap between frames
      await until(`frame ${i + 1} rejected`, () => reader.health().errors === i + 1);
    }
    const rejected = () => lines.filter((l) => String(l.msg).startsWith('wiegand frame'));
    expect(rejected()).toHaveLength(5);
    expect(changes).toEqual([]);
    // Stopping (or the next minute) writes the count once.
    await reader.stop();
    expect(lines.filter((l) => String(l.msg).includes('…and 35 more in the last minute'))).toHaveLength(1);
  }, 60_000);
});
