// A small JSON-over-HTTP admin API for the development cloud (the CLI talks to it). Bind it to
// 127.0.0.1: it has no authentication beyond an optional shared admin token.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DevCloud, IssueCodeRequest } from './server.js';

/** Bulk change loads (tens of thousands of records) fit; this API is for development only. */
const MAX_BODY = 16 * 1024 * 1024;

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'body too large');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'body is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new HttpError(400, 'body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

function int(value: string | null, fallback: number): number {
  if (value === null) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new HttpError(400, `not a non-negative integer: ${value}`);
  return n;
}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new HttpError(400, `${key} must be a string`);
  return value;
}

function optionalInt(body: Record<string, unknown>, key: string): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new HttpError(400, `${key} must be a non-negative integer`);
  return value;
}

/** The body of POST /hubs/{hub}/codes, checked field by field. */
function issueRequest(body: Record<string, unknown>): IssueCodeRequest {
  const kind = body['kind'];
  if (kind !== 'daily' && kind !== 'window' && kind !== 'once' && kind !== 'first-use')
    throw new HttpError(400, 'kind must be daily, window, once or first-use');
  if (body['site'] !== undefined && typeof body['site'] !== 'boolean')
    throw new HttpError(400, 'site must be true or false');
  const request: IssueCodeRequest = { kind, site: body['site'] === true };
  const fields = {
    personId: optionalString(body, 'personId'),
    label: optionalString(body, 'label'),
    doorId: optionalString(body, 'doorId'),
    groupId: optionalString(body, 'groupId'),
    date: optionalString(body, 'date'),
    from: optionalInt(body, 'from'),
    hours: optionalInt(body, 'hours'),
  };
  for (const [key, value] of Object.entries(fields))
    if (value !== undefined) (request as unknown as Record<string, unknown>)[key] = value;
  return request;
}

export class DevCloudAdmin {
  readonly #cloud: DevCloud;
  readonly #listen: { host: string; port: number };
  readonly #adminToken: string | undefined;
  #server: Server | undefined;

  constructor(cloud: DevCloud, listen: { host: string; port: number }, adminToken?: string) {
    this.#cloud = cloud;
    this.#listen = listen;
    this.#adminToken = adminToken;
  }

  async start(): Promise<number> {
    const server = createServer((req, res) => {
      this.#route(req, res).catch((err: unknown) => {
        const status = err instanceof HttpError ? err.status : 400;
        this.#send(res, status, { error: (err as Error).message });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#listen.port, this.#listen.host, () => resolve());
    });
    this.#server = server;
    return (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #send(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(`${JSON.stringify(body, null, 2)}\n`);
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.#adminToken && req.headers.authorization !== `Bearer ${this.#adminToken}`) {
      throw new HttpError(401, 'admin token required');
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const method = req.method ?? 'GET';
    const cloud = this.#cloud;
    const reply = (body: unknown, status = 200) => this.#send(res, status, body);

    if (parts[0] === 'grpc' && parts.length === 2 && method === 'POST') {
      // Cut or restore every hub's link (demos and tests of the offline path).
      if (parts[1] === 'stop') {
        await cloud.stopListening();
        return reply({ listening: false });
      }
      if (parts[1] === 'start') return reply({ listening: true, ...(await cloud.startListening()) });
    }
    if (parts[0] !== 'hubs') throw new HttpError(404, 'see deploy/dev-cloud/README.md for the routes');
    if (parts.length === 1) {
      if (method === 'GET') return reply(cloud.hubs());
      if (method === 'POST') {
        const body = await readJson(req);
        const id = String(body['id'] ?? '');
        const token = cloud.addHub(id, typeof body['token'] === 'string' ? body['token'] : undefined);
        return reply({ id, token }, 201);
      }
    }
    const hubId = parts[1]!;
    if (!cloud.hubs().some((hub) => hub.id === hubId)) throw new HttpError(404, `unknown hub '${hubId}'`);
    const [, , collection, recordId, action] = parts;

    if (method === 'GET' && collection === 'events') {
      const type = url.searchParams.get('type') ?? undefined;
      return reply(
        cloud.events(
          hubId,
          int(url.searchParams.get('after'), 0),
          Math.min(int(url.searchParams.get('limit'), 100), 10_000),
          type,
        ),
      );
    }
    if (method === 'GET' && collection === 'changes') {
      return reply(cloud.store.changesAfter(hubId, int(url.searchParams.get('after'), 0), 1000));
    }
    if (method === 'GET' && collection === 'rejections') return reply(cloud.store.rejections(hubId));
    if (method === 'GET' && collection === 'codes') return reply(cloud.issuedCodes(hubId));
    if (method === 'GET' && collection === 'code-secret') {
      const secret = cloud.codeSecret(hubId);
      if (!secret) throw new HttpError(404, `hub '${hubId}' has not handed over its doorcode secret`);
      const { secretHex: _never, ...shown } = secret;
      return reply(shown);
    }
    if (method !== 'POST') throw new HttpError(405, 'method not allowed');
    const body = await readJson(req);

    if (collection === 'changes' && recordId === undefined && Array.isArray(body['changes'])) {
      // Many changes at once (bulk load, flood tests): [{kind, op, id, data}, ...].
      const changes = (body['changes'] as Array<Record<string, unknown>>).map((change) => ({
        kind: String(change['kind'] ?? ''),
        op: change['op'] === 'delete' ? ('delete' as const) : ('upsert' as const),
        id: String(change['id'] ?? ''),
        data: (change['data'] as Record<string, unknown> | undefined) ?? {},
      }));
      return reply({ changeNo: cloud.pushChanges(hubId, changes) }, 201);
    }
    if (collection === 'changes' && recordId === undefined) {
      const op = body['op'] === 'delete' ? 'delete' : 'upsert';
      const changeNo = cloud.pushChange(hubId, {
        kind: String(body['kind'] ?? ''),
        op,
        id: String(body['id'] ?? ''),
        data: (body['data'] as Record<string, unknown> | undefined) ?? {},
      });
      return reply({ changeNo }, 201);
    }
    if (collection === 'people' && recordId !== undefined) {
      if (action === undefined) return reply({ changeNo: cloud.upsertPerson(hubId, recordId, body) }, 201);
      if (action === 'suspend')
        return reply({ changeNo: cloud.suspend(hubId, recordId, body['suspended'] !== false) });
      if (action === 'unsuspend') return reply({ changeNo: cloud.suspend(hubId, recordId, false) });
      if (action === 'logout-everywhere') return reply({ changeNo: cloud.bumpKeyEpoch(hubId, recordId) });
      if (action === 'delete')
        return reply({ changeNo: cloud.pushChange(hubId, { kind: 'person', op: 'delete', id: recordId }) });
    }
    if (collection === 'credentials' && recordId !== undefined) {
      if (action === undefined)
        return reply({ changeNo: cloud.upsertCredential(hubId, recordId, body) }, 201);
      if (action === 'revoke') return reply({ changeNo: cloud.revoke(hubId, recordId) });
    }
    if (collection === 'codes' && recordId === undefined) {
      return reply(cloud.issueCode(hubId, issueRequest(body)), 201);
    }
    if (collection === 'codes' && recordId !== undefined && action === 'revoke') {
      const reason = body['reason'];
      if (reason !== undefined && typeof reason !== 'string')
        throw new HttpError(400, 'reason must be a string');
      return reply({ changeNo: cloud.revokeCode(hubId, recordId, reason) }, 201);
    }
    if (collection === 'commands' && recordId === undefined) {
      const outcome = await cloud.sendCommand(hubId, {
        kind: String(body['kind'] ?? ''),
        doorId: String(body['doorId'] ?? ''),
        ms: typeof body['ms'] === 'number' ? body['ms'] : undefined,
        mode: typeof body['mode'] === 'string' ? body['mode'] : undefined,
      });
      return reply(outcome, outcome.ok ? 200 : 409);
    }
    throw new HttpError(404, 'no such route');
  }
}
