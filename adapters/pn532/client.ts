// One conversation with a PN532 at a time: commands are queued, each waits for its ACK and its own response,
// with timeouts. A stale or corrupt frame cannot resolve the wrong command (pn532@1.0.0 defects 3 and 4).
import { ACK, Command, encodeCommand, type Frame, FrameDecoder, PN532_TO_HOST, WAKEUP } from './frame.js';

export interface ByteTransport {
  write(data: Buffer): Promise<void>;
  onData(listener: (chunk: Buffer) => void): () => void;
}

export type Pn532ErrorKind = 'timeout' | 'no-ack' | 'nack' | 'chip-error' | 'closed' | 'write';

export class Pn532Error extends Error {
  override readonly name = 'Pn532Error';
  readonly kind: Pn532ErrorKind;
  constructor(kind: Pn532ErrorKind, message: string) {
    super(message);
    this.kind = kind;
  }
}

export interface Pn532ClientOptions {
  /** Time for the whole command, ACK and response. */
  timeoutMs?: number;
  /** Time for the ACK alone, from the moment the frame has been written; a real PN532 acknowledges within about 1 ms. */
  ackTimeoutMs?: number;
}

interface Pending {
  responseCode: number;
  acked: boolean;
  resolve: (data: Buffer) => void;
  reject: (err: Pn532Error) => void;
  onNack: () => void;
}

export interface Pn532ClientStats {
  commands: number;
  timeouts: number;
  strayFrames: number;
}

export class Pn532Client {
  readonly #transport: ByteTransport;
  readonly #timeoutMs: number;
  readonly #ackTimeoutMs: number;
  readonly decoder = new FrameDecoder();
  readonly stats: Pn532ClientStats = { commands: 0, timeouts: 0, strayFrames: 0 };
  #queue: Promise<unknown> = Promise.resolve();
  #pending: Pending | null = null;
  #off: () => void;
  #closed = false;

  constructor(transport: ByteTransport, options: Pn532ClientOptions = {}) {
    this.#transport = transport;
    this.#timeoutMs = options.timeoutMs ?? 1000;
    this.#ackTimeoutMs = Math.min(options.ackTimeoutMs ?? 250, this.#timeoutMs);
    this.#off = transport.onData((chunk) => {
      for (const f of this.decoder.push(chunk)) this.#onFrame(f);
    });
  }

  #onFrame(frame: Frame): void {
    const p = this.#pending;
    if (!p) {
      if (frame.type !== 'ack') this.stats.strayFrames++;
      return;
    }
    switch (frame.type) {
      case 'ack':
        p.acked = true;
        return;
      case 'nack':
        p.onNack();
        return;
      case 'error':
        p.reject(
          new Pn532Error('chip-error', 'PN532 answered with an application error frame (syntax error)'),
        );
        return;
      case 'data':
        // A response that is not ours is a leftover from a command that timed out: drop it.
        if (frame.tfi !== PN532_TO_HOST || frame.data[0] !== p.responseCode) {
          this.stats.strayFrames++;
          return;
        }
        p.acked = true;
        p.resolve(frame.data.subarray(1));
    }
  }

  /** Sends the wake-up preamble (needed once after power-up or after the chip went to sleep). */
  async wakeUp(): Promise<void> {
    await this.#enqueue(async () => {
      this.decoder.reset();
      await this.#write(WAKEUP);
    });
  }

  /** Runs one command; resolves with the response bytes after the response code. */
  command(code: number, params: readonly number[] = [], timeoutMs = this.#timeoutMs): Promise<Buffer> {
    return this.#enqueue(() => this.#run(code, params, timeoutMs));
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Pn532Error('closed', 'PN532 connection is closed'));
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #write(data: Buffer): Promise<void> {
    try {
      await this.#transport.write(data);
    } catch (err) {
      throw new Pn532Error(
        'write',
        `cannot write to the PN532: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  #run(code: number, params: readonly number[], timeoutMs: number): Promise<Buffer> {
    if (this.#closed) return Promise.reject(new Pn532Error('closed', 'PN532 connection is closed'));
    this.stats.commands++;
    const frame = encodeCommand(code, params);
    return new Promise<Buffer>((resolve, reject) => {
      let nacks = 0;
      const timers: NodeJS.Timeout[] = [];
      const finish = (err: Pn532Error | null, data?: Buffer) => {
        if (this.#pending !== pending) return;
        this.#pending = null;
        for (const t of timers) clearTimeout(t);
        if (err) {
          if (err.kind === 'timeout' || err.kind === 'no-ack') {
            this.stats.timeouts++;
            // An ACK from the host aborts whatever the chip is still doing; drop half-received bytes.
            this.decoder.reset();
            this.#transport.write(ACK).catch(() => undefined);
          }
          reject(err);
        } else resolve(data ?? Buffer.alloc(0));
      };
      const pending: Pending = {
        responseCode: (code + 1) & 0xff,
        acked: false,
        resolve: (d) => finish(null, d),
        reject: (e) => finish(e),
        onNack: () => {
          nacks++;
          if (nacks > 2) finish(new Pn532Error('nack', 'PN532 kept answering NACK (line noise?)'));
          else this.#write(frame).catch((e: Pn532Error) => finish(e));
        },
      };
      this.#pending = pending;
      timers.push(
        setTimeout(
          () =>
            finish(
              new Pn532Error('timeout', `PN532 did not answer command 0x${hex(code)} in ${timeoutMs} ms`),
            ),
          timeoutMs,
        ),
      );
      // The ACK clock starts once the frame is on the wire (the write has drained), not when it was
      // queued: on a busy host the write itself can take longer than a healthy chip takes to answer.
      this.#write(frame).then(
        () => {
          if (this.#pending !== pending || pending.acked) return;
          timers.push(
            setTimeout(() => {
              if (!pending.acked)
                finish(new Pn532Error('no-ack', `PN532 did not acknowledge command 0x${hex(code)}`));
            }, this.#ackTimeoutMs),
          );
        },
        (e: Pn532Error) => finish(e),
      );
    });
  }

  /** Fails the command in flight and every queued one; later calls fail at once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#off();
    this.#pending?.reject(new Pn532Error('closed', 'PN532 connection closed'));
  }

  // Typed commands -------------------------------------------------------------------------------------------

  async getFirmwareVersion(): Promise<{ ic: number; version: number; revision: number; support: number }> {
    const d = await this.command(Command.GetFirmwareVersion);
    if (d.length < 4) throw new Pn532Error('chip-error', 'short GetFirmwareVersion response');
    return { ic: d[0]!, version: d[1]!, revision: d[2]!, support: d[3]! };
  }

  /** Normal mode, no SAM; the chip answers only when asked (no IRQ line needed on HSU). */
  async samConfiguration(): Promise<void> {
    await this.command(Command.SAMConfiguration, [0x01, 0x14, 0x00]);
  }

  /**
   * Bounded passive-activation retries: with the default 0xFF an InListPassiveTarget without a card never
   * returns, which is indistinguishable from a dead reader. 0x02 retries return "no card" in a few ms.
   */
  async setMaxRetries(passiveActivation = 0x02): Promise<void> {
    await this.command(Command.RFConfiguration, [0x05, 0xff, 0x01, passiveActivation]);
  }

  /** One ISO14443A target at 106 kbps; resolves with its UID or null when no card is in the field. */
  async listPassiveTarget(): Promise<{ uid: Buffer; atqa: Buffer; sak: number } | null> {
    const d = await this.command(Command.InListPassiveTarget, [0x01, 0x00]);
    const count = d[0] ?? 0;
    if (count === 0) return null;
    // Tg, SENS_RES (2), SEL_RES, NFCIDLength, NFCID1...
    if (d.length < 6) throw new Pn532Error('chip-error', 'short InListPassiveTarget response');
    const uidLength = d[5]!;
    if (![4, 7, 10].includes(uidLength) || d.length < 6 + uidLength) {
      throw new Pn532Error('chip-error', `implausible UID length ${uidLength}`);
    }
    return { atqa: d.subarray(2, 4), sak: d[4]!, uid: Buffer.from(d.subarray(6, 6 + uidLength)) };
  }

  async release(): Promise<void> {
    await this.command(Command.InRelease, [0x00]);
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}
