// Talks to the running hub over its local control socket (data/hub.sock, mode 0600).
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';

export const SOCKET_NAME = 'hub.sock';

export class HubNotRunningError extends Error {
  constructor(dataDir: string) {
    super(`the hub is not running (no control socket in ${dataDir}); start it with \`npx gatehouse start\``);
    this.name = 'HubNotRunningError';
  }
}

export async function callHub(
  dataDir: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
  /** How long the hub may stay silent; commands that wait for a person (door capture-card) need more. */
  timeoutMs = 10_000,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const socketPath = path.join(dataDir, SOCKET_NAME);
  if (!existsSync(socketPath)) throw new HubNotRunningError(dataDir);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method,
        path: `/api/v1${url}`,
        headers: payload
          ? { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
          : headers,
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: Record<string, unknown> = {};
          try {
            parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
          } catch {
            parsed = { error: text };
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('timeout', () =>
      req.destroy(new Error(`the hub did not answer within ${Math.round(timeoutMs / 1000)} s`)),
    );
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? new HubNotRunningError(dataDir) : err),
    );
    if (payload) req.write(payload);
    req.end();
  });
}
