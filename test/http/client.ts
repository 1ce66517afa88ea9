// A plain node:http client for the API tests: full control of headers (Origin, Sec-Fetch-Site, Cookie)
// and of the source address (127.0.0.x stands for another machine: the hub does not trust proxies).
import { type IncomingMessage, request } from 'node:http';
import { rawRequest } from './raw.js';

export interface CallOptions {
  body?: unknown;
  token?: string;
  headers?: Record<string, string>;
  /** Source address, e.g. '127.0.0.23'; every 127.0.0.0/8 address is this machine on Linux. */
  from?: string;
}

export interface CallResult {
  status: number;
  headers: IncomingMessage['headers'];
  json: Record<string, unknown>;
}

export async function call(
  port: number,
  method: string,
  url: string,
  options: CallOptions = {},
): Promise<CallResult> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const answer = await rawRequest(port, `/api/v1${url}`, {
    method,
    ...(payload === undefined ? {} : { body: payload }),
    ...(options.from ? { from: options.from } : {}),
    headers: {
      ...(payload !== undefined
        ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }
        : {}),
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
  });
  let json: Record<string, unknown> = {};
  try {
    json = answer.text ? (JSON.parse(answer.text) as Record<string, unknown>) : {};
  } catch {
    json = { raw: answer.text };
  }
  return { status: answer.status, headers: answer.headers, json };
}

export interface OpenStream {
  status: number;
  /** Everything received so far. */
  text: () => string;
  /** Resolves with the time (Date.now()) the hub ended the stream. */
  ended: Promise<number>;
  close: () => void;
}

/** Opens GET /api/v1/stream and resolves once the status line (and, on 200, the hello event) arrived. */
export function openStream(port: number, token: string): Promise<OpenStream> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/api/v1/stream',
        headers: { authorization: `Bearer ${token}` },
        agent: false,
      },
      (res) => {
        let text = '';
        let endedAt: (t: number) => void = () => undefined;
        const ended = new Promise<number>((r) => {
          endedAt = r;
        });
        res.on('end', () => endedAt(Date.now()));
        res.on('close', () => endedAt(Date.now()));
        const stream: OpenStream = {
          status: res.statusCode ?? 0,
          text: () => text,
          ended,
          close: () => req.destroy(),
        };
        res.on('data', (c: Buffer) => {
          text += c.toString('utf8');
          if (text.includes('event: hello')) resolve(stream);
        });
        if (res.statusCode !== 200) res.on('end', () => resolve(stream));
      },
    );
    req.on('error', reject);
    req.end();
  });
}
