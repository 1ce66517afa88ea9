// A raw HTTP(S) GET for the UI-serving tests: the path goes on the wire exactly as written (no URL
// normalisation of `..`, no decoding of brotli or gzip), so tests see the bytes a browser would receive.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface RawResponse {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
  text: string;
}

export interface RawOptions {
  method?: string;
  headers?: Record<string, string>;
  /** HTTPS with this CA (PEM); plain HTTP without. */
  ca?: string;
  body?: string;
  /** Source address, e.g. '127.0.0.23'; every 127.0.0.0/8 address is this machine on Linux. */
  from?: string;
}

export function rawRequest(port: number, path: string, options: RawOptions = {}): Promise<RawResponse> {
  const request = options.ca ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: options.method ?? 'GET',
        path,
        headers: options.headers ?? {},
        agent: false,
        ...(options.from ? { localAddress: options.from } : {}),
        ...(options.ca ? { ca: options.ca, servername: 'localhost' } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8') });
        });
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}
