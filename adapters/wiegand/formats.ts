// Wiegand card formats as data: frame length, payload bits and parity checks. Bit 0 is the first bit sent.
// A frame is accepted only when its length matches a format and every parity check passes; nothing is guessed.
import type { BuiltinWiegandFormat, CustomWiegandFormatDef } from '../config.js';

export interface ParityCheck {
  bit: number;
  type: 'even' | 'odd';
  over: readonly number[];
}

export interface WiegandFormat {
  name: string;
  bits: number;
  payload: { from: number; length: number };
  parity: readonly ParityCheck[];
}

const range = (from: number, to: number, keep: (p: number) => boolean = () => true): number[] => {
  const out: number[] = [];
  for (let p = from; p <= to; p++) if (keep(p)) out.push(p);
  return out;
};

/** The layouts of the common HID formats (public format descriptions; positions verified by round-trip tests). */
export const BUILTIN_FORMATS: Record<BuiltinWiegandFormat, WiegandFormat> = {
  // 26-bit H10301: E + 8-bit facility + 16-bit card + O.
  h10301: {
    name: 'h10301',
    bits: 26,
    payload: { from: 1, length: 24 },
    parity: [
      { bit: 0, type: 'even', over: range(1, 12) },
      { bit: 25, type: 'odd', over: range(13, 24) },
    ],
  },
  // 34-bit H10306: E + 16-bit facility + 16-bit card + O (also what many readers send for a 4-byte UID).
  h10306: {
    name: 'h10306',
    bits: 34,
    payload: { from: 1, length: 32 },
    parity: [
      { bit: 0, type: 'even', over: range(1, 16) },
      { bit: 33, type: 'odd', over: range(17, 32) },
    ],
  },
  // 35-bit HID Corporate 1000: O(all) E(2 of 3) + 12-bit company + 20-bit card + O(2 of 3).
  c1k35: {
    name: 'c1k35',
    bits: 35,
    payload: { from: 2, length: 32 },
    parity: [
      { bit: 1, type: 'even', over: range(2, 33, (p) => p % 3 !== 1) },
      { bit: 34, type: 'odd', over: range(1, 33, (p) => p % 3 !== 0) },
      { bit: 0, type: 'odd', over: range(1, 34) },
    ],
  },
  // 37-bit H10304: E + 16-bit facility + 19-bit card + O, overlapping halves.
  h10304: {
    name: 'h10304',
    bits: 37,
    payload: { from: 1, length: 35 },
    parity: [
      { bit: 0, type: 'even', over: range(1, 18) },
      { bit: 36, type: 'odd', over: range(18, 35) },
    ],
  },
  // 48-bit HID Corporate 1000: O(all) E(2 of 3) + 22-bit company + 23-bit card + O(2 of 3).
  c1k48: {
    name: 'c1k48',
    bits: 48,
    payload: { from: 2, length: 45 },
    parity: [
      { bit: 1, type: 'even', over: range(3, 46, (p) => p % 3 !== 2) },
      { bit: 47, type: 'odd', over: range(2, 45, (p) => p % 3 !== 1) },
      { bit: 0, type: 'odd', over: range(1, 47) },
    ],
  },
};

export function resolveFormats(
  formats: ReadonlyArray<BuiltinWiegandFormat | CustomWiegandFormatDef> | undefined,
): WiegandFormat[] {
  const list = formats ?? (Object.keys(BUILTIN_FORMATS) as BuiltinWiegandFormat[]);
  return list.map((f) => (typeof f === 'string' ? BUILTIN_FORMATS[f] : { ...f, parity: f.parity ?? [] }));
}

function parityHolds(bits: readonly number[], check: ParityCheck): boolean {
  let ones = bits[check.bit] ?? 0;
  for (const p of check.over) ones += bits[p] ?? 0;
  return check.type === 'even' ? ones % 2 === 0 : ones % 2 === 1;
}

/** Payload bits as canonical uppercase hex, left-padded to whole nibbles. */
export function payloadHex(bits: readonly number[], from: number, length: number): string {
  let value = 0n;
  for (let i = 0; i < length; i++) value = (value << 1n) | BigInt(bits[from + i] ?? 0);
  return value
    .toString(16)
    .toUpperCase()
    .padStart(Math.ceil(length / 4), '0');
}

export type CardDecode =
  | { ok: true; format: string; valueHex: string }
  | { ok: false; reason: 'length' | 'parity'; bits: number };

/** Decodes a complete card frame with the first format of matching length whose parity holds. */
export function decodeCard(bits: readonly number[], formats: readonly WiegandFormat[]): CardDecode {
  let lengthMatched = false;
  for (const f of formats) {
    if (f.bits !== bits.length) continue;
    lengthMatched = true;
    if (f.parity.every((c) => parityHolds(bits, c))) {
      return { ok: true, format: f.name, valueHex: payloadHex(bits, f.payload.from, f.payload.length) };
    }
  }
  return { ok: false, reason: lengthMatched ? 'parity' : 'length', bits: bits.length };
}

/** Builds the frame a reader would send for a payload (used by the emulator, tests and `hw` CLI). */
export function encodeCard(valueHex: string, format: WiegandFormat): number[] {
  if (!/^[0-9A-Fa-f]+$/.test(valueHex)) throw new Error(`not a hex value: "${valueHex}"`);
  const value = BigInt(`0x${valueHex}`);
  if (value >> BigInt(format.payload.length) !== 0n) {
    throw new Error(
      `value ${valueHex} does not fit the ${format.payload.length}-bit payload of ${format.name}`,
    );
  }
  const bits = new Array<number>(format.bits).fill(0);
  for (let i = 0; i < format.payload.length; i++) {
    bits[format.payload.from + i] = Number((value >> BigInt(format.payload.length - 1 - i)) & 1n);
  }
  // Parity bits can cover other parity bits (Corporate 1000): apply in the declared order.
  for (const c of format.parity) {
    let ones = 0;
    for (const p of c.over) ones += bits[p] ?? 0;
    bits[c.bit] = c.type === 'even' ? ones % 2 : (ones + 1) % 2;
  }
  return bits;
}

/** Keypad burst: 4 bits = key, or 8 bits = key with its complement in the high nibble. */
export type KeyDecode = { ok: true; key: string } | { ok: false; reason: 'length' | 'parity' | 'key' };

const KEYS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'];

export function decodeKey(bits: readonly number[]): KeyDecode {
  const nibble = (from: number) =>
    ((bits[from] ?? 0) << 3) |
    ((bits[from + 1] ?? 0) << 2) |
    ((bits[from + 2] ?? 0) << 1) |
    (bits[from + 3] ?? 0);
  let code: number;
  if (bits.length === 4) code = nibble(0);
  else if (bits.length === 8) {
    const high = nibble(0);
    code = nibble(4);
    if ((high ^ 0xf) !== code) return { ok: false, reason: 'parity' };
  } else return { ok: false, reason: 'length' };
  const key = KEYS[code];
  return key === undefined ? { ok: false, reason: 'key' } : { ok: true, key };
}

export function encodeKey(key: string, bitsPerKey: 4 | 8): number[] {
  const code = KEYS.indexOf(key);
  if (code < 0) throw new Error(`not a keypad key: "${key}"`);
  const nib = (n: number) => [(n >> 3) & 1, (n >> 2) & 1, (n >> 1) & 1, n & 1];
  return bitsPerKey === 4 ? nib(code) : [...nib(code ^ 0xf), ...nib(code)];
}
