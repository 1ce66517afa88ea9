// The Wiegand decoder, driven by real pulse trains (edge timestamps at the spec's extremes) on simulated lines.
import { afterEach, describe, expect, it } from 'vitest';
import { parseWiredDoors } from '../../adapters/config.js';
import { nowUs } from '../../adapters/gpio/lines.js';
import { SimLineBoard } from '../../adapters/sim/lines.js';
import { pulseTrain, SimWiegandTransmitter, type TrainEdge } from '../../adapters/sim/wiegand.js';
import { type FrameResult, WiegandFrameAssembler } from '../../adapters/wiegand/decoder.js';
import {
  BUILTIN_FORMATS,
  decodeCard,
  decodeKey,
  encodeCard,
  encodeKey,
  resolveFormats,
} from '../../adapters/wiegand/formats.js';
import { WiegandKeypad, WiegandLink, WiegandReader } from '../../adapters/wiegand/reader.js';

const bitsOf = (s: string) => [...s].map((c) => (c === '1' ? 1 : 0));
const ALL = Object.values(BUILTIN_FORMATS);

// Independent packers written from the published bit-mask form of the HID layouts (value bit 0 = last bit sent).
const parity = (x: bigint) => {
  let n = 0;
  for (let v = x; v > 0n; v >>= 1n) n += Number(v & 1n);
  return n % 2;
};
function packC1k35(fc: number, cn: number): string {
  let v = (BigInt(fc & 0xfff) << 21n) | (BigInt(cn & 0xfffff) << 1n);
  v |= BigInt(parity(v & 0x1b6db6db6n)) << 33n; // even, 2 of every 3 bits
  v |= BigInt(1 - parity(v & 0x36db6db6cn)); // odd, the other pattern, includes bit 33
  v |= BigInt(1 - parity(v & 0x3ffffffffn)) << 34n; // odd over everything
  return v.toString(2).padStart(35, '0');
}
function packC1k48(fc: number, cn: number): string {
  let v = (BigInt(fc & 0x3fffff) << 24n) | (BigInt(cn & 0x7fffff) << 1n);
  v |= BigInt(parity(v & 0x1b6db6db6db6n)) << 46n;
  v |= BigInt(1 - parity(v & 0x36db6db6db6cn));
  v |= BigInt(1 - parity(v & 0x7fffffffffffn)) << 47n;
  return v.toString(2).padStart(48, '0');
}

describe('card formats', () => {
  it('decodes a hand-built 26-bit H10301 frame (facility 1, card 1) to its payload hex', () => {
    // even parity over 000000010000 (one 1) = 1; odd parity over 000000000001 (one 1) = 0
    const frame = bitsOf(`1${'00000001'}${'0000000000000001'}0`);
    expect(decodeCard(frame, ALL)).toEqual({ ok: true, format: 'h10301', valueHex: '010001' });
  });

  it('matches independent Corporate 1000 35- and 48-bit packers', () => {
    for (const [fc, cn] of [
      [0, 0],
      [1, 1],
      [0xabc, 0x12345],
      [0xfff, 0xfffff],
      [1234, 98765],
    ] as const) {
      const bits = packC1k35(fc, cn);
      const hex = ((BigInt(fc) << 20n) | BigInt(cn)).toString(16).toUpperCase().padStart(8, '0');
      expect(encodeCard(hex, BUILTIN_FORMATS.c1k35).join('')).toBe(bits);
      expect(decodeCard(bitsOf(bits), ALL)).toEqual({ ok: true, format: 'c1k35', valueHex: hex });
    }
    for (const [fc, cn] of [
      [0x3abcde, 0x7fffff],
      [42, 4242],
      [0, 1],
    ] as const) {
      const bits = packC1k48(fc, cn);
      const hex = ((BigInt(fc) << 23n) | BigInt(cn)).toString(16).toUpperCase().padStart(12, '0');
      expect(encodeCard(hex, BUILTIN_FORMATS.c1k48).join('')).toBe(bits);
      expect(decodeCard(bitsOf(bits), ALL)).toEqual({ ok: true, format: 'c1k48', valueHex: hex });
    }
  });

  it('round-trips every built-in format and rejects every single-bit error', () => {
    const samples: Record<string, string> = {
      h10301: '7B1A2C',
      h10306: 'DEADBEEF',
      c1k35: 'ABC12345',
      h10304: '5A5A5A5A5',
      c1k48: '1ABCDEF01234',
    };
    for (const f of ALL) {
      const value = samples[f.name]!;
      const frame = encodeCard(value, f);
      expect(frame).toHaveLength(f.bits);
      expect(decodeCard(frame, ALL)).toEqual({ ok: true, format: f.name, valueHex: value });
      for (let i = 0; i < frame.length; i++) {
        const flipped = [...frame];
        flipped[i] = 1 - flipped[i]!;
        expect(decodeCard(flipped, ALL), `${f.name} bit ${i}`).toEqual({
          ok: false,
          reason: 'parity',
          bits: f.bits,
        });
      }
    }
  });

  it('rejects lengths no configured format has, never guessing', () => {
    expect(decodeCard(new Array(27).fill(0), ALL)).toEqual({ ok: false, reason: 'length', bits: 27 });
    const only26 = resolveFormats(['h10301']);
    expect(decodeCard(encodeCard('DEADBEEF', BUILTIN_FORMATS.h10306), only26).ok).toBe(false);
  });

  it('decodes a custom layout from config', () => {
    const [door] = parseWiredDoors([
      {
        door: 'gate',
        lock: { gpio: 17 },
        readers: [
          {
            id: 'acme',
            type: 'wiegand',
            d0: 5,
            d1: 6,
            formats: [
              {
                name: 'acme-12',
                bits: 12,
                payload: { from: 1, length: 10 },
                parity: [{ bit: 11, type: 'odd', over: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] }],
              },
            ],
          },
        ],
      },
    ]);
    const reader = door!.readers![0]!;
    if (reader.type !== 'wiegand') throw new Error('expected wiegand');
    const formats = resolveFormats(reader.formats);
    const frame = encodeCard('3FF', formats[0]!);
    expect(decodeCard(frame, formats)).toEqual({ ok: true, format: 'acme-12', valueHex: '3FF' });
    frame[3] = 1 - frame[3]!;
    expect(decodeCard(frame, formats).ok).toBe(false);
  });

  it('decodes 4-bit and 8-bit key bursts and rejects a broken complement', () => {
    for (const k of '0123456789*#') {
      expect(decodeKey(encodeKey(k, 4))).toEqual({ ok: true, key: k });
      expect(decodeKey(encodeKey(k, 8))).toEqual({ ok: true, key: k });
    }
    const bad = encodeKey('5', 8);
    bad[0] = 1 - bad[0]!;
    expect(decodeKey(bad)).toEqual({ ok: false, reason: 'parity' });
    expect(decodeKey(bitsOf('1111'))).toEqual({ ok: false, reason: 'key' });
  });
});

/** Collects what the assembler would hand on, from pulse-end events (the rising edge of each pulse). */
function assemble(edges: TrainEdge[]): FrameResult[] {
  const frames: FrameResult[] = [];
  const asm = new WiegandFrameAssembler((f) => frames.push(f));
  for (const e of edges) if (e.level === 1) asm.edge(e.line, e.atUs);
  asm.end();
  return frames;
}

describe('frame assembly at the spec timing extremes', () => {
  const formats = resolveFormats(undefined);
  const random = (n: number) => Math.floor(Math.random() * n);

  it('decodes 2,000 random frames at Tpw 20 µs/Tpi 200 µs and Tpw 100 µs/Tpi 20 ms without one error', () => {
    const timings = [
      { pulseUs: 20, intervalUs: 200 },
      { pulseUs: 100, intervalUs: 20_000 },
    ];
    let t = 0;
    const edges: TrainEdge[] = [];
    const expected: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const f = ALL[i % ALL.length]!;
      const value = BigInt(random(2 ** 30)) * BigInt(random(2 ** 15) + 1);
      const hex = (value & ((1n << BigInt(f.payload.length)) - 1n))
        .toString(16)
        .toUpperCase()
        .padStart(Math.ceil(f.payload.length / 4), '0');
      const timing = timings[i % 2]!;
      const train = pulseTrain(encodeCard(hex, f), timing, t);
      edges.push(...train);
      expected.push(hex);
      t = train.at(-1)!.atUs + 30_000;
    }
    const frames = assemble(edges);
    const decoded = frames.map((fr) => (fr.ok ? decodeCard(fr.bits, formats) : fr));
    expect(decoded.filter((d) => !d.ok)).toEqual([]);
    expect(decoded.map((d) => (d.ok ? d.valueHex : ''))).toEqual(expected);
  });

  it('rejects frames with a glitch, a merged edge, a missed bit or both lines at once — never misreads', () => {
    const good = encodeCard('7B1A2C', BUILTIN_FORMATS.h10301);
    const train = pulseTrain(good, { pulseUs: 50, intervalUs: 1000 }, 0);
    const glitch = [
      ...train,
      { line: 1 as const, level: 0 as const, atUs: 5030 },
      { line: 1 as const, level: 1 as const, atUs: 5040 },
    ];
    glitch.sort((a, b) => a.atUs - b.atUs);
    const missed = train.filter((_, i) => i !== 20 && i !== 21);
    const extraBit = [...train, ...pulseTrain([1], { pulseUs: 50, intervalUs: 1000 }, 26_000)];
    const other = (1 - train[11]!.line) as 0 | 1;
    const bothLines = [
      ...train.slice(0, 12),
      { line: other, level: 1 as const, atUs: train[11]!.atUs },
      ...train.slice(12),
    ];
    for (const [name, edges] of Object.entries({ glitch, missed, extraBit, bothLines })) {
      const frames = assemble(edges);
      const cards = frames.map((f) => (f.ok ? decodeCard(f.bits, formats) : f)).filter((d) => d.ok);
      expect(cards, name).toEqual([]);
      expect(frames.length, name).toBeGreaterThan(0);
    }
  });

  it('splits frames on a gap longer than the frame gap and joins bits up to 20 ms apart', () => {
    const bits = encodeCard('010001', BUILTIN_FORMATS.h10301);
    const frames = assemble(pulseTrain(bits, { pulseUs: 100, intervalUs: 20_000 }, 0));
    expect(frames).toHaveLength(1);
    const split = assemble([
      ...pulseTrain(bits.slice(0, 10), { pulseUs: 50, intervalUs: 1000 }, 0),
      ...pulseTrain(bits.slice(10), { pulseUs: 50, intervalUs: 1000 }, 10_000 + 26_000),
    ]);
    expect(split.map((f) => (f.ok ? f.bits.length : -1))).toEqual([10, 16]);
  });
});

describe('Wiegand reader and keypad on simulated lines', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  async function rig(
    options: { interDigitTimeoutMs?: number; onTimeout?: 'submit' | 'discard'; frameGapMs?: number } = {},
  ) {
    const { frameGapMs, ...keypadOptions } = options;
    const board = new SimLineBoard();
    const link = new WiegandLink(
      await board.input(5, 'd0', 'pulse-end'),
      await board.input(6, 'd1', 'pulse-end'),
      {
        ...(frameGapMs ? { frameGapMs } : {}),
      },
    );
    const reader = new WiegandReader({ id: 'r1', link, formats: resolveFormats(undefined) });
    const keypad = new WiegandKeypad({ id: 'k1', link, ...keypadOptions });
    const cards: string[] = [];
    const codes: string[] = [];
    reader.onCard((c) => cards.push(c));
    keypad.onCode((c) => codes.push(c));
    await reader.start();
    await keypad.start();
    cleanups.push(async () => {
      await reader.stop();
      await keypad.stop();
      await board.close();
    });
    return { board, reader, keypad, cards, codes, tx: new SimWiegandTransmitter(board, 5, 6) };
  }

  const until = async (check: () => boolean, ms = 3000) => {
    const end = Date.now() + ms;
    while (!check()) {
      if (Date.now() > end) throw new Error('timed out waiting');
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  it('reports a card sent with real-time pacing (2 ms bit interval) once the frame gap passes', async () => {
    // Timers pace these bits, so allow for a busy test machine with a longer frame gap.
    const r = await rig({ frameGapMs: 100 });
    await r.tx.sendBitsRealtime(encodeCard('7B1A2C', BUILTIN_FORMATS.h10301), 2);
    await until(() => r.cards.length > 0);
    expect(r.cards).toEqual(['7B1A2C']);
    expect(r.reader.health()).toMatchObject({ online: true, errors: 0 });
  });

  it('rejects and counts a frame with bad parity; nothing reaches the door', async () => {
    const r = await rig();
    const frame = encodeCard('7B1A2C', BUILTIN_FORMATS.h10301);
    frame[25] = 1 - frame[25]!;
    r.tx.sendBits(frame, { pulseUs: 20, intervalUs: 200 }, nowUs() - 10_000);
    await until(() => r.reader.health().errors > 0);
    expect(r.cards).toEqual([]);
    expect(r.reader.stats.rejected.parity).toBe(1);
  });

  it('assembles key bursts: # submits, * clears, 8-bit bursts work, a corrupt key clears the entry', async () => {
    const r = await rig();
    r.tx.sendKeys('1234#');
    await until(() => r.codes.length === 1);
    r.tx.sendKeys('99*5678#', 8);
    await until(() => r.codes.length === 2);
    expect(r.codes).toEqual(['1234', '5678']);
    const bad = encodeKey('7', 8);
    bad[1] = 1 - bad[1]!;
    // 1, 2, a corrupt 7, then # — each burst 40 ms after the previous one.
    const t0 = nowUs();
    [encodeKey('1', 8), encodeKey('2', 8), bad, encodeKey('#', 8)].forEach((bits, i) => {
      r.tx.sendBits(bits, undefined, t0 + i * 40_000);
    });
    await until(() => r.keypad.stats.rejectedKeys === 1);
    await new Promise((res) => setTimeout(res, 100));
    expect(r.codes).toEqual(['1234', '5678']);
    expect(r.cards).toEqual([]);
  });

  it('submits (or discards, if configured) digits after the inter-digit timeout', async () => {
    const submit = await rig({ interDigitTimeoutMs: 500 });
    submit.tx.sendKeys('4711');
    await until(() => submit.codes.length === 1);
    expect(submit.codes).toEqual(['4711']);

    const discard = await rig({ interDigitTimeoutMs: 500, onTimeout: 'discard' });
    discard.tx.sendKeys('4711');
    await until(() => discard.keypad.stats.discardedEntries === 1);
    expect(discard.codes).toEqual([]);
  });
});
