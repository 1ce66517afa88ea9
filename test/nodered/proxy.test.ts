// /flows/ on the hub's real HTTP server, in front of a stand-in for Node-RED at its protocol boundary:
// a node:http server and a ws server on loopback that, like Node-RED with adminAuth tokens, refuse
// anything without the token header and record what reached them. Roles, the token added, the session
// cookie and forged tokens stripped, the WebSocket, budgets and hostile paths. The real Node-RED behind
// the real hub is in proxy-nodered.test.ts.
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { EventBus } from '../../hub/bus.js';
import { buildHttpApp } from '../../hub/http/app.js';
import { FLOWS_BODY_LIMIT_BYTES, FLOWS_REQUEST_BURST } from '../../hub/http/flows-proxy.js';
import { HttpServer } from '../../hub/http/server.js';
import { silentLogger } from '../../hub/logger.js';
import type { NodeRedTarget } from '../../hub/nodered/target.js';
import { type StoreBench, storeBench } from '../commands/helpers.js';
import { rawRequest } from '../http/raw.js';

const TOKEN_HEADER = 'x-node-red-token';
const PASSWORD = 'correct horse battery';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Stands in for Node-RED: httpAdminRoot /flows, comms at /flows/comms, 401 without the token. */
class FakeNodeRed {
  readonly seen: Seen[] = [];
  readonly upgrades: IncomingHttpHeaders[] = [];
  token = 'tok-1';
  server!: Server;
  wss!: WebSocketServer;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        this.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        if (req.headers[TOKEN_HEADER] !== this.token) {
          res.writeHead(401, { 'content-type': 'text/plain' }).end('Unauthorized');
          return;
        }
        if (req.url === '/flows/redirect') {
          res.writeHead(302, { location: '/flows/elsewhere' }).end();
          return;
        }
        res
          .writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'fake' })
          .end(JSON.stringify({ method: req.method, url: req.url, bytes: body.length }));
      });
    });
    this.wss = new WebSocketServer({ noServer: true });
    this.server.on('upgrade', (req, socket, head) => {
      this.upgrades.push(req.headers);
      if (req.url !== '/flows/comms' || req.headers[TOKEN_HEADER] !== this.token) {
        socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data) => ws.send(`echo:${data.toString()}`));
        ws.send(JSON.stringify([{ topic: 'hello' }]));
      });
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
  }

  target(): NodeRedTarget {
    return {
      origin: `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`,
      header: TOKEN_HEADER,
      token: this.token,
    };
  }

  async stop(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

let bench: StoreBench;
let upstream: FakeNodeRed;
let http: HttpServer;
let port: number;
let running = true;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  bench = storeBench();
  upstream = new FakeNodeRed();
  await upstream.start();
  for (const [name, role] of [
    ['ivan', 'installer'],
    ['alice', 'admin'],
    ['sam', 'staff'],
  ] as const) {
    const user = await bench.store.users.add(name, PASSWORD, role);
    tokens[name] = bench.store.users.createSession(user.id, 3_600_000);
  }
  http = new HttpServer(
    {
      store: bench.store,
      bus: new EventBus(),
      commands: bench.commands,
      status: () => ({ nodeRed: { state: running ? 'running' : 'backoff' } }),
      sessionHours: 1,
      logger: silentLogger(),
      nodeRed: () => (running ? upstream.target() : null),
    },
    {
      http: { enabled: true, host: '127.0.0.1', port: 0 },
      https: { enabled: false, host: '127.0.0.1', port: 0, keyPem: '', certPem: '' },
      socketPath: null,
    },
  );
  await http.start();
  port = http.ports().http!;
});

afterAll(async () => {
  await http?.stop();
  await upstream?.stop();
  await bench?.cleanup();
});

beforeEach(() => {
  running = true;
  upstream.seen.length = 0;
  upstream.upgrades.length = 0;
});

const cookie = (name: string) => `gatehouse_session=${tokens[name]}`;
const own = () => ({ 'sec-fetch-site': 'same-origin', origin: `http://127.0.0.1:${port}` });

function get(path: string, headers: Record<string, string> = {}) {
  return rawRequest(port, path, { headers });
}

function post(path: string, body: string, headers: Record<string, string> = {}) {
  return rawRequest(port, path, {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      ...headers,
    },
  });
}

/** Opens a WebSocket through the hub; resolves with the socket once open, or the HTTP status refused. */
function openSocket(
  path: string,
  headers: Record<string, string>,
): Promise<{ ws: WebSocket; first: Promise<string> } | { status: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers });
    const first = new Promise<string>((r) => ws.once('message', (d) => r(d.toString())));
    ws.once('open', () => resolve({ ws, first }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.once('error', () => resolve({ status: -1 }));
  });
}

describe('who may open /flows/', () => {
  it('anonymous: 401 JSON for scripts, a redirect to the login page and back for a browser', async () => {
    const api = await get('/flows/settings', { accept: 'application/json' });
    expect(api.status).toBe(401);
    expect(JSON.parse(api.text)).toMatchObject({ code: 'unauthenticated' });
    const page = await get('/flows/?x=1', { accept: 'text/html,application/xhtml+xml' });
    expect(page.status).toBe(302);
    expect(page.headers.location).toBe(`/login?next=${encodeURIComponent('/flows/?x=1')}`);
    expect(upstream.seen).toHaveLength(0);
  });

  it('a session that is expired, bogus or of a staff-role user is refused; Node-RED sees none of it', async () => {
    expect((await get('/flows/settings', { cookie: 'gatehouse_session=nope' })).status).toBe(401);
    const staff = await get('/flows/settings', { cookie: cookie('sam') });
    expect(staff.status).toBe(403);
    expect(JSON.parse(staff.text)).toMatchObject({ code: 'forbidden' });
    const staffBrowser = await get('/flows/', { cookie: cookie('sam'), accept: 'text/html' });
    expect(staffBrowser.status).toBe(403);
    expect(staffBrowser.headers['content-type']).toMatch(/text\/html/);
    expect(staffBrowser.text).toMatch(/installers and admins/);
    expect((await get('/flows/settings', { authorization: `Bearer ${tokens.sam}` })).status).toBe(403);
    expect(upstream.seen).toHaveLength(0);
  });

  it('installer and admin pass, by cookie or bearer; the token is added and the hub credentials stripped', async () => {
    for (const headers of [
      { cookie: `${cookie('ivan')}; theme=dark` } as Record<string, string>,
      { authorization: `Bearer ${tokens.alice}` },
    ]) {
      const res = await get('/flows/settings?a=1', {
        ...headers,
        [TOKEN_HEADER]: 'forged',
        'x-gatehouse-actor': 'x',
      });
      expect(res.status).toBe(200);
      expect(res.headers['x-upstream']).toBe('fake');
    }
    expect(upstream.seen).toHaveLength(2);
    const [byCookie, byBearer] = upstream.seen;
    expect(byCookie!.url).toBe('/flows/settings?a=1');
    for (const seen of [byCookie!, byBearer!]) {
      expect(seen.headers[TOKEN_HEADER]).toBe(upstream.token);
      expect(seen.headers.authorization).toBeUndefined();
      expect(seen.headers['x-gatehouse-actor']).toBeUndefined();
      expect(JSON.stringify(seen.headers)).not.toContain(tokens.ivan!);
      expect(JSON.stringify(seen.headers)).not.toContain(tokens.alice!);
    }
    expect(byCookie!.headers.cookie).toBe('theme=dark');
    expect(byBearer!.headers.cookie).toBeUndefined();
  });

  it('/flows redirects to /flows/ (the editor links relative to it); redirects from Node-RED stay under /flows', async () => {
    const bare = await get('/flows?q=2');
    expect(bare.status).toBe(308);
    expect(bare.headers.location).toBe('/flows/?q=2');
    const moved = await get('/flows/redirect', { cookie: cookie('ivan') });
    expect(moved.status).toBe(302);
    expect(moved.headers.location).toBe('/flows/elsewhere');
  });

  it('gives the editor its own CSP under /flows/ and keeps the strict one elsewhere', async () => {
    const editor = await get('/flows/', { cookie: cookie('ivan') });
    const csp = editor.headers['content-security-policy'] as string;
    expect(csp).toContain("script-src 'self' 'unsafe-inline' 'unsafe-eval'");
    expect(csp).toContain("frame-ancestors 'none'");
    const app = await get('/', { accept: 'text/html' });
    expect(app.headers['content-security-policy']).toContain("script-src 'self';");
  });
});

describe('deploys and other changes', () => {
  it('a cookie POST needs the hub own Origin; a foreign page or no page is refused before Node-RED', async () => {
    const flows = JSON.stringify([{ id: 'a', type: 'tab' }]);
    const ok = await post('/flows/flows', flows, { cookie: cookie('ivan'), ...own() });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text)).toMatchObject({ method: 'POST', url: '/flows/flows', bytes: flows.length });
    expect(upstream.seen[0]!.body).toBe(flows);
    const foreign = await post('/flows/flows', flows, {
      cookie: cookie('ivan'),
      'sec-fetch-site': 'cross-site',
    });
    expect(foreign.status).toBe(403);
    const evilOrigin = await post('/flows/flows', flows, {
      cookie: cookie('ivan'),
      origin: 'http://evil.example',
    });
    expect(evilOrigin.status).toBe(403);
    const noPage = await post('/flows/flows', flows, { cookie: cookie('ivan') });
    expect(noPage.status).toBe(403);
    // A tool with the bearer token needs no Origin (no foreign page can attach it).
    expect((await post('/flows/flows', flows, { authorization: `Bearer ${tokens.ivan}` })).status).toBe(200);
    expect(upstream.seen).toHaveLength(2);
  });

  it('bounds the body: over the limit 413, a chunked body without a length 411', async () => {
    const over = await rawRequest(port, '/flows/flows', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${tokens.ivan}`,
        'content-type': 'application/json',
        'content-length': String(FLOWS_BODY_LIMIT_BYTES + 1),
      },
    }).catch((error: Error) => ({ status: -1, error }));
    expect(over.status).toBe(413);
    const big = `[${'"x",'.repeat(300_000)}"x"]`; // ~1.2 MB: a large building's flows pass
    expect((await post('/flows/flows', big, { authorization: `Bearer ${tokens.ivan}` })).status).toBe(200);
    const chunked = await rawRequest(port, '/flows/flows', {
      method: 'POST',
      body: '[]',
      headers: {
        authorization: `Bearer ${tokens.ivan}`,
        'transfer-encoding': 'chunked',
        'content-type': 'application/json',
      },
    });
    expect(chunked.status).toBe(411);
    expect(upstream.seen).toHaveLength(1);
  });
});

describe('hostile paths and headers', () => {
  it('never leaves /flows on Node-RED, nor reaches the hub API through it', async () => {
    for (const path of [
      '/flows/../api/v1/status',
      '/flows/%2e%2e/api/v1/status',
      '/flows/%2E%2E%2Fapi%2Fv1%2Fstatus',
      '/flows/..%2f..%2fetc/passwd',
      '/flows/..\\api',
    ]) {
      const res = await get(path, { cookie: cookie('ivan') });
      expect(res.status, path).toBe(400);
    }
    // A double slash is a path on Node-RED like any other, never another host.
    expect((await get('/flows//evil.example/x', { cookie: cookie('ivan') })).status).toBe(200);
    expect(upstream.seen.at(-1)!.url).toBe('/flows//evil.example/x');
    // Encoded twice is a file name with percent signs in it, passed on as it came (decoded once at most).
    expect((await get('/flows/%252e%252e/x', { cookie: cookie('ivan') })).status).toBe(200);
    expect(upstream.seen.at(-1)!.url).toBe('/flows/%252e%252e/x');
    for (const seen of upstream.seen) {
      expect(seen.url.startsWith('/flows/')).toBe(true);
      expect(seen.url).not.toMatch(/\.\.|api\/v1/);
    }
  });

  it('a huge header is refused by the server, not forwarded; the hub keeps answering', async () => {
    const res = await get('/flows/settings', { cookie: cookie('ivan'), 'x-big': 'a'.repeat(100_000) }).catch(
      () => ({ status: -1 }),
    );
    expect([431, -1]).toContain(res.status);
    expect(upstream.seen).toHaveLength(0);
    expect((await get('/flows/settings', { cookie: cookie('ivan') })).status).toBe(200);
  });

  it('a path or header that is not HTTP is answered 400, not passed on', async () => {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.end(
      `GET /flows/settings HTTP/1.1\r\nHost: x\r\nCookie: ${cookie('ivan')}\r\nX-Bad: a\u0000b\r\n\r\n`,
    );
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    expect(chunk.toString()).toMatch(/^HTTP\/1\.1 400/);
    socket.destroy();
    expect(upstream.seen).toHaveLength(0);
  });
});

describe('Node-RED not running', () => {
  it('answers 503 with a readable page for a browser and JSON for a script', async () => {
    running = false;
    const page = await get('/flows/', { cookie: cookie('ivan'), accept: 'text/html' });
    expect(page.status).toBe(503);
    expect(page.headers['retry-after']).toBe('5');
    expect(page.text).toMatch(/not running right now \(Node-RED is backoff\)/);
    const api = await get('/flows/settings', { cookie: cookie('ivan') });
    expect(api.status).toBe(503);
    expect(JSON.parse(api.text)).toMatchObject({ code: 'unavailable' });
    // Anonymous still learns nothing but "log in".
    expect((await get('/flows/settings')).status).toBe(401);
  });

  it('a port that refuses (Node-RED restarting) is a 503 too', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const saved = upstream.target.bind(upstream);
    upstream.target = () => ({ ...saved(), origin: `http://127.0.0.1:${deadPort}` });
    try {
      const res = await get('/flows/settings', { cookie: cookie('ivan') });
      expect(res.status).toBe(503);
    } finally {
      upstream.target = saved;
    }
  });
});

describe('the editor WebSocket (/flows/comms)', () => {
  it('connects for an installer from the hub page, with the token added and nothing else of the hub', async () => {
    const opened = await openSocket('/flows/comms', {
      cookie: cookie('ivan'),
      origin: `http://127.0.0.1:${port}`,
    });
    if (!('ws' in opened)) throw new Error(`refused: ${opened.status}`);
    expect(await opened.first).toBe(JSON.stringify([{ topic: 'hello' }]));
    const echo = new Promise<string>((r) => opened.ws.once('message', (d) => r(d.toString())));
    opened.ws.send('{"subscribe":"status/#"}');
    expect(await echo).toBe('echo:{"subscribe":"status/#"}');
    const headers = upstream.upgrades[0]!;
    expect(headers[TOKEN_HEADER]).toBe(upstream.token);
    expect(headers.cookie).toBeUndefined();
    expect(headers.authorization).toBeUndefined();
    opened.ws.close();
  });

  it('refuses anonymous, staff, a foreign Origin and no Origin with a cookie, before Node-RED', async () => {
    expect(await openSocket('/flows/comms', {})).toEqual({ status: 401 });
    expect(
      await openSocket('/flows/comms', { cookie: cookie('sam'), origin: `http://127.0.0.1:${port}` }),
    ).toEqual({
      status: 403,
    });
    expect(
      await openSocket('/flows/comms', { cookie: cookie('ivan'), origin: 'http://evil.example' }),
    ).toEqual({
      status: 403,
    });
    // ws sends no Origin unless told: a cookie without a page is refused like a state change.
    expect(await openSocket('/flows/comms', { cookie: cookie('ivan') })).toEqual({ status: 403 });
    expect(upstream.upgrades).toHaveLength(0);
  });

  it('ends when the session logs out', async () => {
    const user = bench.store.users.getByUsername('ivan')!;
    const session = bench.store.users.createSession(user.id, 3_600_000);
    const opened = await openSocket('/flows/comms', { authorization: `Bearer ${session}` });
    if (!('ws' in opened)) throw new Error(`refused: ${opened.status}`);
    await opened.first;
    const closed = once(opened.ws, 'close');
    const out = await rawRequest(port, '/api/v1/session', {
      method: 'DELETE',
      headers: { authorization: `Bearer ${session}` },
    });
    expect(out.status).toBe(200);
    await closed;
    expect(await openSocket('/flows/comms', { authorization: `Bearer ${session}` })).toEqual({ status: 401 });
  });

  it('refuses an upgrade while Node-RED is not running (503)', async () => {
    running = false;
    expect(await openSocket('/flows/comms', { authorization: `Bearer ${tokens.ivan}` })).toEqual({
      status: 503,
    });
  });
});

describe('budgets', () => {
  it('refused requests from one address are capped (429), so a scanner costs no lookup each', async () => {
    let limited = 0;
    for (let i = 0; i < 80; i++) {
      const res = await rawRequest(port, '/flows/settings', { from: '127.0.0.77' });
      if (res.status === 429) limited++;
      else expect(res.status).toBe(401);
    }
    expect(limited).toBeGreaterThan(0);
    // Another address, and signed-in installers, are not affected.
    expect((await rawRequest(port, '/flows/settings', { from: '127.0.0.78' })).status).toBe(401);
    expect((await get('/flows/settings', { cookie: cookie('alice') })).status).toBe(200);
  });

  /** The same app on fastify's inject, without listeners. */
  const injectableApp = (extra: { nodeRed?: () => null }) =>
    buildHttpApp({
      store: bench.store,
      bus: new EventBus(),
      commands: bench.commands,
      status: () => ({}),
      sessionHours: 1,
      secure: false,
      logger: silentLogger(),
      ...extra,
    });

  it('requests per session are capped past the burst of opening the editor (429 with Retry-After)', async () => {
    // The same app on fastify's inject, with Node-RED down: each admitted request is a quick 503, so the
    // loop outruns the refill (50/s) even on a loaded machine and no request reaches the stand-in.
    const app = await injectableApp({ nodeRed: () => null });
    try {
      const user = bench.store.users.getByUsername('alice')!;
      const session = bench.store.users.createSession(user.id, 3_600_000);
      let admitted = 0;
      let limited: { headers: Record<string, unknown> } | null = null;
      for (let i = 0; i < 5000 && !limited; i++) {
        const res = await app.inject({
          url: '/flows/icons/x.svg',
          headers: { authorization: `Bearer ${session}` },
        });
        if (res.statusCode === 429) limited = res;
        else {
          expect(res.statusCode).toBe(503);
          admitted++;
        }
      }
      expect(limited).not.toBeNull();
      expect(admitted).toBeGreaterThanOrEqual(FLOWS_REQUEST_BURST);
      expect(Number(limited!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      // Another user's session is not slowed down.
      const other = await app.inject({
        url: '/flows/x',
        headers: { authorization: `Bearer ${tokens.ivan}` },
      });
      expect(other.statusCode).toBe(503);
    } finally {
      await app.close();
    }
  });

  it('with Node-RED switched off, still asks for a login, then says the editor is off (no proxy loaded)', async () => {
    const app = await injectableApp({});
    try {
      expect((await app.inject({ url: '/flows/settings' })).statusCode).toBe(401);
      const staff = await app.inject({
        url: '/flows/settings',
        headers: { authorization: `Bearer ${tokens.sam}` },
      });
      expect(staff.statusCode).toBe(403);
      const off = await app.inject({
        url: '/flows/settings',
        headers: { authorization: `Bearer ${tokens.alice}` },
      });
      expect(off.statusCode).toBe(503);
      expect(off.json().error).toContain('switched off on this hub');
      expect((await app.inject({ url: '/flows' })).statusCode).toBe(308);
    } finally {
      await app.close();
    }
  });
});
