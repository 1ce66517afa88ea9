// A PN532 emulator speaking the real HSU frame protocol: ACK/NACK, LCS/DCS checks, GetFirmwareVersion,
// SAMConfiguration, RFConfiguration, InListPassiveTarget, InDataExchange (MIFARE READ), InRelease.
// Its frame parser is independent of adapters/pn532/frame.ts on purpose, so the two check each other.
// Fault switches (silence, garbage, dropped or corrupted responses) let tests play a flaky reader or cable.

const ACK = [0x00, 0x00, 0xff, 0x00, 0xff, 0x00];

function sum(bytes: readonly number[]): number {
  return bytes.reduce((a, b) => (a + b) & 0xff, 0);
}

/** Builds a PN532→host frame (TFI D5) the way the chip does. */
export function responseFrame(payload: readonly number[], tfi = 0xd5): Buffer {
  const body = [tfi, ...payload];
  const len = body.length;
  return Buffer.from([
    0x00,
    0x00,
    0xff,
    len,
    (0x100 - len) & 0xff,
    ...body,
    (0x100 - sum(body)) & 0xff,
    0x00,
  ]);
}

export interface EmulatedCard {
  uid: Buffer;
  atqa: [number, number];
  sak: number;
  /** MIFARE blocks of 16 bytes for READ (0x30). */
  blocks: Map<number, Buffer>;
}

export interface Pn532EmulatorStats {
  commands: Record<string, number>;
  badFrames: number;
  nacksReceived: number;
  abortsReceived: number;
}

const NAMES = new Map<number, string>([
  [0x02, 'GetFirmwareVersion'],
  [0x04, 'GetGeneralStatus'],
  [0x14, 'SAMConfiguration'],
  [0x32, 'RFConfiguration'],
  [0x40, 'InDataExchange'],
  [0x4a, 'InListPassiveTarget'],
  [0x52, 'InRelease'],
]);

export class Pn532Emulator {
  readonly #out = new Set<(bytes: Buffer) => void>();
  #buf: number[] = [];
  #card: EmulatedCard | null = null;
  #listed = false;
  #samConfigured = false;
  #mxRtyPassive = 0xff;
  #lastResponse: Buffer | null = null;
  #waitingForCard: (() => void) | null = null;
  /** Answers nothing at all, as a reader with a cut cable or no power. */
  silent = false;
  /** Delay of each response after its ACK (a real chip needs a few ms for RF work). */
  responseDelayMs: number;
  #dropNext = 0;
  #corruptNext = 0;
  readonly stats: Pn532EmulatorStats = { commands: {}, badFrames: 0, nacksReceived: 0, abortsReceived: 0 };

  constructor(options: { responseDelayMs?: number } = {}) {
    this.responseDelayMs = options.responseDelayMs ?? 2;
  }

  onOutput(listener: (bytes: Buffer) => void): () => void {
    this.#out.add(listener);
    return () => this.#out.delete(listener);
  }

  get samConfigured(): boolean {
    return this.#samConfigured;
  }

  /** Puts a card in the field (UID as hex, 4, 7 or 10 bytes). */
  presentCard(
    uidHex: string,
    options: { atqa?: [number, number]; sak?: number; blocks?: Map<number, Buffer> } = {},
  ): void {
    const uid = Buffer.from(uidHex.replace(/[^0-9a-fA-F]/g, ''), 'hex');
    if (![4, 7, 10].includes(uid.length))
      throw new Error(`a card UID has 4, 7 or 10 bytes, got ${uid.length}`);
    this.#card = {
      uid,
      atqa: options.atqa ?? (uid.length === 4 ? [0x00, 0x04] : [0x00, 0x44]),
      sak: options.sak ?? (uid.length === 4 ? 0x08 : 0x00),
      blocks: options.blocks ?? new Map(),
    };
    this.#listed = false;
    this.#waitingForCard?.();
  }

  removeCard(): void {
    this.#card = null;
    this.#listed = false;
  }

  get cardPresent(): boolean {
    return this.#card !== null;
  }

  /** Sends raw bytes to the host, as line noise would. */
  injectGarbage(bytes: Uint8Array): void {
    this.#send(Buffer.from(bytes));
  }

  /** The next `n` commands are acknowledged but never answered (a lost frame). */
  dropResponses(n = 1): void {
    this.#dropNext += n;
  }

  /** The next `n` responses carry a wrong data checksum. */
  corruptResponses(n = 1): void {
    this.#corruptNext += n;
  }

  #send(bytes: Buffer): void {
    if (this.silent) return;
    for (const l of [...this.#out]) l(bytes);
  }

  /** Bytes from the host. */
  feed(chunk: Uint8Array): void {
    if (this.silent) return;
    for (const b of chunk) this.#buf.push(b);
    this.#parse();
  }

  #parse(): void {
    for (;;) {
      // Skip wake-up 0x55s, preamble zeros and anything before a start code.
      let start = -1;
      for (let i = 0; i + 1 < this.#buf.length; i++) {
        if (this.#buf[i] === 0x00 && this.#buf[i + 1] === 0xff) {
          start = i;
          break;
        }
      }
      if (start < 0) {
        this.#buf = this.#buf.slice(-1);
        return;
      }
      const b = this.#buf.slice(start);
      if (b.length < 4) {
        this.#buf = b;
        return;
      }
      const len = b[2]!;
      const lcs = b[3]!;
      if (len === 0x00 && lcs === 0xff) {
        // ACK from the host aborts the command in progress.
        this.stats.abortsReceived++;
        this.#waitingForCard = null;
        this.#buf = b.slice(4);
        continue;
      }
      if (len === 0xff && lcs === 0x00) {
        this.stats.nacksReceived++;
        this.#buf = b.slice(4);
        if (this.#lastResponse) this.#send(this.#lastResponse);
        continue;
      }
      if (((len + lcs) & 0xff) !== 0) {
        this.stats.badFrames++;
        this.#buf = b.slice(2);
        continue;
      }
      if (b.length < 4 + len + 1) {
        this.#buf = b;
        return;
      }
      const body = b.slice(4, 4 + len);
      const dcs = b[4 + len]!;
      this.#buf = b.slice(4 + len + 1);
      if (((sum(body) + dcs) & 0xff) !== 0 || body[0] !== 0xd4 || body.length < 2) {
        // A real PN532 ignores a corrupt frame: no ACK, so the host times out.
        this.stats.badFrames++;
        continue;
      }
      this.#send(Buffer.from(ACK));
      this.#handle(body[1]!, body.slice(2));
    }
  }

  #respond(payload: number[]): void {
    if (this.#dropNext > 0) {
      this.#dropNext--;
      return;
    }
    let frame = responseFrame(payload);
    this.#lastResponse = frame;
    if (this.#corruptNext > 0) {
      this.#corruptNext--;
      frame = Buffer.from(frame);
      frame[frame.length - 2] = (frame[frame.length - 2]! + 1) & 0xff;
    }
    setTimeout(() => this.#send(frame), this.responseDelayMs);
  }

  #handle(cmd: number, params: number[]): void {
    const name = NAMES.get(cmd) ?? `0x${cmd.toString(16)}`;
    this.stats.commands[name] = (this.stats.commands[name] ?? 0) + 1;
    switch (cmd) {
      case 0x02:
        this.#respond([0x03, 0x32, 0x01, 0x06, 0x07]);
        break;
      case 0x04:
        this.#respond([0x05, 0x00, this.#listed ? 1 : 0, 0x00]);
        break;
      case 0x14:
        this.#samConfigured = true;
        this.#respond([0x15]);
        break;
      case 0x32:
        if (params[0] === 0x05 && params.length >= 4) this.#mxRtyPassive = params[3]!;
        this.#respond([0x33]);
        break;
      case 0x4a:
        this.#listPassiveTarget(params);
        break;
      case 0x40:
        this.#dataExchange(params);
        break;
      case 0x52:
        this.#listed = false;
        this.#respond([0x53, 0x00]);
        break;
      default:
        // Application-level error frame (TFI 7F).
        this.#send(Buffer.from([0x00, 0x00, 0xff, 0x01, 0xff, 0x7f, 0x81, 0x00]));
    }
  }

  #listPassiveTarget(params: number[]): void {
    if (params[1] !== 0x00) {
      this.#respond([0x4b, 0x00]);
      return;
    }
    const answer = () => {
      const card = this.#card;
      if (!card) {
        this.#respond([0x4b, 0x00]);
        return;
      }
      this.#listed = true;
      this.#respond([0x4b, 0x01, 0x01, card.atqa[0], card.atqa[1], card.sak, card.uid.length, ...card.uid]);
    };
    if (this.#card || this.#mxRtyPassive !== 0xff) {
      answer();
      return;
    }
    // Like the chip with infinite retries: answer only when a card arrives (or the host aborts).
    this.#waitingForCard = () => {
      this.#waitingForCard = null;
      answer();
    };
  }

  #dataExchange(params: number[]): void {
    const card = this.#card;
    if (!card || !this.#listed || params[0] !== 0x01) {
      this.#respond([0x41, 0x01]);
      return;
    }
    if (params[1] === 0x30 && params[2] !== undefined) {
      const block = card.blocks.get(params[2]) ?? Buffer.alloc(16);
      this.#respond([0x41, 0x00, ...block]);
      return;
    }
    this.#respond([0x41, 0x00]);
  }
}
