// A thin framing layer between a device's socket and aedes' MQTT parser. It reads each packet's fixed
// header, refuses a packet that is too large before its body is buffered, checks what MQTT 3.1.1 says
// must close the connection (and aedes lets through), and hands aedes one whole packet at a time so
// the broker can stop reading from a device that is over its budget: the rest of the data waits in
// the kernel and TCP pushes back on the sender instead of the hub buffering it.
import { isUtf8 } from 'node:buffer';
import type { Duplex } from 'node:stream';

/** The parts of an aedes Client the gate works with (aedes' own fields, not in its typings). */
interface AedesClientInternals {
  _parser: { parse(buf: Buffer): unknown };
  /** aedes reads the socket again when this count of packets in progress falls to 0. */
  _parsingBatch: number;
  /** Before the CONNACK, aedes queues packets itself (and handles the first only at a count of 1). */
  connackSent: boolean;
  /** Counts one packet done; reads and parses the next chunk when none is left in progress. */
  _nextBatch: (error?: Error) => void;
  conn: Duplex;
}

/** Bytes that may pile up while a device is paused (aedes may read one more chunk per packet in flight). */
const MAX_HELD_BYTES = 1024 * 1024;

const CONNECT = 1;
const PUBLISH = 3;
const SUBSCRIBE = 8;
const UNSUBSCRIBE = 10;

export class PacketGate {
  readonly #client: AedesClientInternals;
  readonly #parse: (buf: Buffer) => unknown;
  readonly #maxPacketBytes: number;
  readonly #onViolation: (reason: string) => void;
  /** Unprocessed bytes: a partial packet, or whole packets held while paused. */
  #held: Buffer | null = null;
  #paused = false;
  #closed = false;
  #draining = false;
  /**
   * Whether the gate counts itself as a packet in progress (in `_parsingBatch`): while it hands
   * packets over or holds them, aedes must not read more from the socket.
   */
  #holding = false;
  #timer: NodeJS.Timeout | null = null;

  /**
   * `client` is what aedes.handle() returned for `socket`. `maxPacketBytes` bounds a packet's
   * remaining length (everything after the fixed header). `onViolation` is called once, before the
   * connection is destroyed.
   */
  constructor(client: unknown, maxPacketBytes: number, onViolation: (reason: string) => void) {
    this.#client = client as AedesClientInternals;
    const parser = this.#client._parser;
    this.#parse = parser.parse.bind(parser);
    parser.parse = (buf: Buffer) => this.#feed(buf);
    this.#maxPacketBytes = maxPacketBytes;
    this.#onViolation = onViolation;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Stops handing packets to aedes after the current one and stops reading the socket, for `ms`
   * (or until resume()). Packets already read wait here, in order.
   */
  pause(ms: number): void {
    if (this.#closed) return;
    if (!this.#paused) {
      this.#paused = true;
      this.#client.conn.removeListener('readable', this.#client._nextBatch);
    }
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.resume(), Math.max(1, ms));
    this.#timer.unref();
  }

  resume(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (!this.#paused || this.#closed) return;
    this.#paused = false;
    // Re-adding the listener makes the stream emit 'readable' again if data waits in its buffer.
    this.#client.conn.on('readable', this.#client._nextBatch);
    this.#drain();
  }

  /** No more packets reach aedes (the connection is being closed). */
  close(): void {
    this.#closed = true;
    this.#held = null;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #feed(chunk: Buffer): void {
    if (this.#closed) return;
    this.#held = this.#held ? Buffer.concat([this.#held, chunk]) : chunk;
    if (this.#paused) {
      if (this.#held.length > MAX_HELD_BYTES) this.#violate('too much data while paused');
      return;
    }
    // aedes may read (and call this) from inside a packet handler; the running loop picks it up.
    if (!this.#draining) this.#drain();
  }

  /** Hands whole packets to aedes until the data runs out, a packet is incomplete, or a pause. */
  #drain(): void {
    if (!this.#holding && this.#client.connackSent) {
      this.#holding = true;
      this.#client._parsingBatch++;
    }
    this.#draining = true;
    try {
      this.#drainLoop();
    } finally {
      this.#draining = false;
    }
    if (this.#paused || this.#closed || !this.#holding) return;
    // Done with what was read: let aedes read the next chunk (which calls #feed again).
    this.#holding = false;
    this.#client._nextBatch();
  }

  #drainLoop(): void {
    let data = this.#held;
    if (!data) return;
    let offset = 0;
    while (offset < data.length && !this.#paused && !this.#closed) {
      // Fixed header: one type byte, then the remaining length in 1–4 bytes of 7 bits each.
      let length = 0;
      let multiplier = 1;
      let pos = offset + 1;
      let complete = false;
      for (let i = 0; i < 4 && pos < data.length; i++) {
        const byte = data[pos++] as number;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (pos - offset > 4) {
          this.#violate('malformed remaining length');
          return;
        }
        break; // the length bytes are split across reads
      }
      if (length > this.#maxPacketBytes) {
        this.#violate(`packet too large: ${length} bytes, limit ${this.#maxPacketBytes}`);
        return;
      }
      const end = pos + length;
      if (end > data.length) break;
      const problem = checkPacket(data, offset, pos, end);
      if (problem !== null) {
        this.#violate(problem);
        return;
      }
      this.#parse(data.subarray(offset, end));
      offset = end;
      // A packet handler may have closed the connection, or aedes appended a chunk it read meanwhile.
      if (this.#held !== data) {
        if (this.#held === null) return;
        data = Buffer.concat([data.subarray(offset), this.#held.subarray(data.length)]);
        offset = 0;
      }
    }
    if (this.#closed) return;
    this.#held = offset >= data.length ? null : offset === 0 ? data : data.subarray(offset);
  }

  #violate(reason: string): void {
    if (this.#closed) return;
    this.close();
    this.#onViolation(reason);
    this.#client.conn.destroy();
  }
}

/**
 * What MQTT 3.1.1 requires a server to close the connection for and aedes accepts: a protocol name
 * that does not fit its level, a topic that is not valid UTF-8 or contains U+0000, a packet
 * identifier of 0. `body` is where the variable header starts, `end` where the packet ends.
 */
export function checkPacket(data: Buffer, start: number, body: number, end: number): string | null {
  const type = (data[start] as number) >> 4;
  if (type === PUBLISH) {
    const qos = ((data[start] as number) >> 1) & 3;
    const topicEnd = body + 2 + readUint16(data, body);
    if (topicEnd > end) return null; // mqtt-packet reports the malformed packet itself
    const problem = checkText(data, body + 2, topicEnd, 'topic');
    if (problem) return problem;
    if (qos > 0 && topicEnd + 2 <= end && readUint16(data, topicEnd) === 0) {
      return 'packet identifier 0 on a QoS 1/2 PUBLISH';
    }
    return null;
  }
  if (type === SUBSCRIBE || type === UNSUBSCRIBE) {
    const what = type === SUBSCRIBE ? 'SUBSCRIBE' : 'UNSUBSCRIBE';
    if (body + 2 > end) return null;
    if (readUint16(data, body) === 0) return `packet identifier 0 on ${what}`;
    // Topic filters: length-prefixed strings, each followed by an options byte in SUBSCRIBE.
    let pos = body + 2;
    while (pos + 2 <= end) {
      const filterEnd = pos + 2 + readUint16(data, pos);
      if (filterEnd > end) return null;
      const problem = checkText(data, pos + 2, filterEnd, 'topic filter');
      if (problem) return problem;
      pos = filterEnd + (type === SUBSCRIBE ? 1 : 0);
    }
    return null;
  }
  if (type === CONNECT) {
    if (body + 2 > end) return null;
    const nameEnd = body + 2 + readUint16(data, body);
    if (nameEnd + 1 > end) return null;
    const name = data.toString('latin1', body + 2, nameEnd);
    const level = data[nameEnd] as number;
    if (name === 'MQIsdp' && level !== 3) return `protocol name MQIsdp with level ${level}`;
    if (name === 'MQTT' && level !== 4 && level !== 5) return `protocol name MQTT with level ${level}`;
    return null;
  }
  return null;
}

function readUint16(data: Buffer, at: number): number {
  return ((data[at] as number) << 8) | (data[at + 1] as number);
}

function checkText(data: Buffer, from: number, to: number, what: string): string | null {
  const text = data.subarray(from, to);
  if (!isUtf8(text)) return `${what} is not valid UTF-8`;
  if (text.includes(0)) return `${what} contains U+0000`;
  return null;
}
