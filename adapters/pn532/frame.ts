// PN532 HSU (UART) frame codec, written from the PN532 user manual §6.2. Replaces pn532@1.0.0's parser, which
// does not verify checksums, computes a wrong DCS when the sum is 0 mod 256, and stalls on a garbage byte.
//
// Normal frame:  00 00 FF LEN LCS TFI PD0..PDn DCS 00   LEN = bytes in TFI+PD, LEN+LCS ≡ 0, TFI+PD+DCS ≡ 0 (mod 256)
// Extended:      00 00 FF FF FF LENM LENL LCS TFI PD.. DCS 00
// ACK 00 00 FF 00 FF 00 · NACK 00 00 FF FF 00 00 · application error frame 00 00 FF 01 FF 7F 81 00.

export const HOST_TO_PN532 = 0xd4;
export const PN532_TO_HOST = 0xd5;

export const ACK = Buffer.from([0x00, 0x00, 0xff, 0x00, 0xff, 0x00]);
export const NACK = Buffer.from([0x00, 0x00, 0xff, 0xff, 0x00, 0x00]);
/** Sent before the first command: wakes the PN532's HSU from power-down (user manual §7.2.11). */
export const WAKEUP = Buffer.from([0x55, 0x55, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);

export const Command = {
  GetFirmwareVersion: 0x02,
  GetGeneralStatus: 0x04,
  SAMConfiguration: 0x14,
  RFConfiguration: 0x32,
  InDataExchange: 0x40,
  InListPassiveTarget: 0x4a,
  InRelease: 0x52,
} as const;

const MAX_NORMAL_DATA = 254;

function checksum(bytes: Iterable<number>): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xff;
  return (0x100 - sum) & 0xff;
}

/** Encodes a frame with the given TFI (D4 host→PN532, D5 PN532→host, 7F error) and payload. */
export function encodeFrame(tfi: number, payload: Uint8Array | readonly number[]): Buffer {
  const body = Buffer.from([tfi, ...payload]);
  const dcs = checksum(body);
  if (body.length <= MAX_NORMAL_DATA + 1) {
    const len = body.length;
    return Buffer.from([0x00, 0x00, 0xff, len, checksum([len]), ...body, dcs, 0x00]);
  }
  const lenM = (body.length >> 8) & 0xff;
  const lenL = body.length & 0xff;
  return Buffer.from([0x00, 0x00, 0xff, 0xff, 0xff, lenM, lenL, checksum([lenM, lenL]), ...body, dcs, 0x00]);
}

export function encodeCommand(command: number, params: Uint8Array | readonly number[] = []): Buffer {
  return encodeFrame(HOST_TO_PN532, [command, ...params]);
}

export type Frame =
  | { type: 'ack' }
  | { type: 'nack' }
  /** A data frame: `tfi` and the bytes after it (command code first), checksums verified. */
  | { type: 'data'; tfi: number; data: Buffer }
  /** The application-level error frame (TFI 7F; the 81 that follows it is its checksum). */
  | { type: 'error' };

export interface DecoderStats {
  frames: number;
  /** Bytes thrown away while looking for a frame start: line noise, partial frames after a replug. */
  discardedBytes: number;
  badChecksums: number;
}

/**
 * Incremental parser. Bytes that do not start a valid frame are discarded one at a time, so garbage on the line
 * costs only those bytes; a frame with a bad length or data checksum is dropped whole.
 */
export class FrameDecoder {
  #buf: Buffer = Buffer.alloc(0);
  readonly stats: DecoderStats = { frames: 0, discardedBytes: 0, badChecksums: 0 };
  readonly #maxBuffered: number;

  constructor(maxBuffered = 1024) {
    this.#maxBuffered = maxBuffered;
  }

  get buffered(): number {
    return this.#buf.length;
  }

  reset(): void {
    this.stats.discardedBytes += this.#buf.length;
    this.#buf = Buffer.alloc(0);
  }

  push(chunk: Uint8Array): Frame[] {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : Buffer.from(chunk);
    const out: Frame[] = [];
    for (;;) {
      const r = this.#next();
      if (r === 'need-more') break;
      if (r !== 'skipped') out.push(r);
    }
    if (this.#buf.length > this.#maxBuffered) this.reset();
    return out;
  }

  #skip(n: number): 'skipped' {
    this.stats.discardedBytes += n;
    this.#buf = this.#buf.subarray(n);
    return 'skipped';
  }

  #next(): Frame | 'need-more' | 'skipped' {
    const b = this.#buf;
    // Find the start code 00 FF; preamble zeros before it are optional on the wire.
    let i = 0;
    while (i + 1 < b.length && !(b[i] === 0x00 && b[i + 1] === 0xff)) i++;
    if (i > 0) {
      // Leading zeros are preamble, not garbage.
      let garbage = 0;
      for (let k = 0; k < i; k++) if (b[k] !== 0x00) garbage++;
      this.stats.discardedBytes += garbage;
      this.#buf = b.subarray(i);
      return this.#buf.length >= 2 ? 'skipped' : 'need-more';
    }
    if (b.length < 4) return 'need-more';
    const len = b[2]!;
    const lcs = b[3]!;
    if (len === 0x00 && lcs === 0xff) {
      this.#buf = b.subarray(4);
      this.stats.frames++;
      return { type: 'ack' };
    }
    if (len === 0xff && lcs === 0x00) {
      this.#buf = b.subarray(4);
      this.stats.frames++;
      return { type: 'nack' };
    }
    let dataLen: number;
    let headerLen: number;
    if (len === 0xff && lcs === 0xff) {
      if (b.length < 7) return 'need-more';
      dataLen = (b[4]! << 8) | b[5]!;
      if (((b[4]! + b[5]! + b[6]!) & 0xff) !== 0 || dataLen === 0) {
        this.stats.badChecksums++;
        return this.#skip(1);
      }
      headerLen = 7;
    } else {
      if (((len + lcs) & 0xff) !== 0 || len === 0) {
        this.stats.badChecksums++;
        return this.#skip(1);
      }
      dataLen = len;
      headerLen = 4;
    }
    if (headerLen + dataLen + 1 > this.#maxBuffered) return this.#skip(1);
    if (b.length < headerLen + dataLen + 1) return 'need-more';
    const body = b.subarray(headerLen, headerLen + dataLen);
    const dcs = b[headerLen + dataLen]!;
    if (checksum(body) !== dcs) {
      this.stats.badChecksums++;
      return this.#skip(1);
    }
    // The postamble is optional for the parser; consume it when present.
    let end = headerLen + dataLen + 1;
    if (b[end] === 0x00) end++;
    this.#buf = b.subarray(end);
    this.stats.frames++;
    const tfi = body[0]!;
    if (tfi === 0x7f) return { type: 'error' };
    return { type: 'data', tfi, data: Buffer.from(body.subarray(1)) };
  }
}
