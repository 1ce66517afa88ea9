// The PN532 HSU frame codec against byte sequences from the PN532 user manual, plus noise.
import { describe, expect, it } from 'vitest';
import { ACK, encodeCommand, encodeFrame, FrameDecoder, NACK } from '../../adapters/pn532/frame.js';
import { responseFrame } from '../../adapters/sim/pn532.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('PN532 frame codec', () => {
  it('encodes GetFirmwareVersion exactly as the user manual shows it', () => {
    expect(encodeCommand(0x02)).toEqual(hex('00 00 FF 02 FE D4 02 2A 00'));
  });

  it('writes DCS 00 when the data sums to 0 mod 256 (pn532@1.0.0 sends 01 here)', () => {
    // D4 + 2C = 0x100
    const frame = encodeFrame(0xd4, [0x2c]);
    expect(frame).toEqual(hex('00 00 FF 02 FE D4 2C 00 00'));
  });

  it('parses ACK, NACK, a data frame and the error frame, even split byte by byte', () => {
    const stream = Buffer.concat([
      ACK,
      responseFrame([0x03, 0x32, 0x01, 0x06, 0x07]),
      NACK,
      hex('00 00 FF 01 FF 7F 81 00'),
    ]);
    const d = new FrameDecoder();
    const frames = [...stream].flatMap((b) => d.push(Buffer.from([b])));
    expect(frames).toEqual([
      { type: 'ack' },
      { type: 'data', tfi: 0xd5, data: hex('03 32 01 06 07') },
      { type: 'nack' },
      { type: 'error' },
    ]);
    expect(d.stats.discardedBytes).toBe(0);
  });

  it('skips garbage before, between and inside frames and drops a frame with a bad checksum', () => {
    const good = responseFrame([0x4b, 0x00]);
    const corrupt = Buffer.from(good);
    corrupt[corrupt.length - 2] = (corrupt[corrupt.length - 2]! + 1) & 0xff;
    const d = new FrameDecoder();
    const frames = d.push(
      Buffer.concat([hex('FF 13 37 FF 00 FF 05'), corrupt, hex('AA 55'), good, hex('FE')]),
    );
    expect(frames).toEqual([{ type: 'data', tfi: 0xd5, data: hex('4B 00') }]);
    expect(d.stats.badChecksums).toBeGreaterThanOrEqual(2);
    expect(d.stats.discardedBytes).toBeGreaterThan(0);
    // The decoder is not stuck: the next frame still comes through.
    expect(d.push(good)).toEqual([{ type: 'data', tfi: 0xd5, data: hex('4B 00') }]);
  });

  it('round-trips an extended frame (more than 255 data bytes)', () => {
    const payload = Array.from({ length: 300 }, (_, i) => i & 0xff);
    const frame = encodeFrame(0xd5, payload);
    expect(frame.subarray(0, 5)).toEqual(hex('00 00 FF FF FF'));
    expect(new FrameDecoder(2048).push(frame)).toEqual([
      { type: 'data', tfi: 0xd5, data: Buffer.from(payload) },
    ]);
  });
});
