// The PN532 client's timing: the ACK deadline runs from the moment the frame has left the host.
import { describe, expect, it } from 'vitest';
import { type ByteTransport, Pn532Client } from '../../adapters/pn532/client.js';
import { Pn532Emulator } from '../../adapters/sim/pn532.js';

/** A link whose write() takes `writeMs` to drain (a busy host, a slow USB-UART), then reaches the chip. */
function slowLink(emulator: Pn532Emulator, writeMs: number): ByteTransport {
  const listeners = new Set<(chunk: Buffer) => void>();
  emulator.onOutput((bytes) => {
    const copy = Buffer.from(bytes);
    setImmediate(() => {
      for (const l of listeners) l(copy);
    });
  });
  return {
    write: (data) =>
      new Promise((resolve) => {
        setTimeout(() => {
          emulator.feed(Buffer.from(data));
          resolve();
        }, writeMs);
      }),
    onData: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

describe('PN532 client timing', () => {
  it('does not report "did not acknowledge" when the write itself is slower than the ACK deadline', async () => {
    const emulator = new Pn532Emulator();
    const client = new Pn532Client(slowLink(emulator, 120), { ackTimeoutMs: 40, timeoutMs: 2000 });
    await expect(client.getFirmwareVersion()).resolves.toMatchObject({ ic: 0x32 });
    await client.samConfiguration();
    expect(client.stats.timeouts).toBe(0);
    client.close();
  });

  it('still reports a chip that never acknowledges, counted from the end of the write', async () => {
    const emulator = new Pn532Emulator();
    emulator.silent = true; // nothing comes back: no ACK, no answer
    const client = new Pn532Client(slowLink(emulator, 50), { ackTimeoutMs: 40, timeoutMs: 2000 });
    const started = Date.now();
    await expect(client.getFirmwareVersion()).rejects.toMatchObject({ kind: 'no-ack' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(85);
    client.close();
  });
});
