// Hand-made MQTT 3.1.1 packets on a raw socket, for what mqtt.js refuses to send.
import net from 'node:net';

export function u16(n: number): Buffer {
  return Buffer.from([(n >> 8) & 0xff, n & 0xff]);
}

export function str(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([u16(bytes.length), bytes]);
}

function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

export function packet(firstByte: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([firstByte]), remainingLength(body.length), body]);
}

export function connectPacket(opts: {
  clientId: string;
  username?: string;
  password?: string;
  protocol?: string;
  level?: number;
}): Buffer {
  let flags = 0x02; // clean session
  if (opts.username !== undefined) flags |= 0x80;
  if (opts.password !== undefined) flags |= 0x40;
  return packet(
    0x10,
    Buffer.concat([
      str(opts.protocol ?? 'MQTT'),
      Buffer.from([opts.level ?? 4, flags]),
      u16(30),
      str(opts.clientId),
      ...(opts.username !== undefined ? [str(opts.username)] : []),
      ...(opts.password !== undefined ? [str(opts.password)] : []),
    ]),
  );
}

export function publishPacket(topic: string | Buffer, payload: string | Buffer, qos = 0, id = 1): Buffer {
  return packet(
    0x30 | (qos << 1),
    Buffer.concat([str(topic), ...(qos > 0 ? [u16(id)] : []), Buffer.from(payload)]),
  );
}

export function subscribePacket(filter: string | Buffer, id: number): Buffer {
  return packet(0x82, Buffer.concat([u16(id), str(filter), Buffer.from([1])]));
}

/** A raw connection that records every byte the broker sends and whether it closed the socket. */
export class RawClient {
  readonly socket: net.Socket;
  received = Buffer.alloc(0);
  closed = false;
  readonly #closedPromise: Promise<void>;

  constructor(port: number, localAddress?: string) {
    this.socket = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
    this.socket.on('data', (d: Buffer) => {
      this.received = Buffer.concat([this.received, d]);
    });
    this.socket.on('error', () => {});
    this.#closedPromise = new Promise((resolve) =>
      this.socket.on('close', () => {
        this.closed = true;
        resolve();
      }),
    );
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.readyState === 'open') resolve();
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Resolves true when the broker closed the connection within `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    const result = await Promise.race([this.#closedPromise.then(() => true), timeout]);
    clearTimeout(timer);
    return result;
  }

  /** Waits until `count` bytes have arrived (e.g. the 4-byte CONNACK). */
  async bytes(count: number, ms = 5000): Promise<Buffer> {
    const deadline = Date.now() + ms;
    while (this.received.length < count) {
      if (Date.now() > deadline || this.closed) throw new Error(`only ${this.received.length} bytes arrived`);
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.received;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
