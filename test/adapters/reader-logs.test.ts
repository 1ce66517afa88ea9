// Line noise on a Wiegand reader must not write a log line per rejected frame (the SD card): a few a
// minute, counted after that, and never announced as a health change (the reader's state does not change).
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseWiredDoors } from '../../adapters/config.js';
import { createSimDoorHardware, type SimDoorHardware } from '../../adapters/factory.js';
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

describe('reader log budget', () => {
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
