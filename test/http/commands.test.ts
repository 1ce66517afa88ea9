// HTTP routes generated from a command table (hub/http/commands.ts), with small commands of the test's
// own on a real store: path parameters, body and query string from the input schema, roles, the actor
// recorded for a staff login and for the CLI on the control socket, refusals as {error, code}, and the
// OpenAPI document at /api/docs.
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../hub/bus.js';
import { CommandError, Commands, defineCommand, routeParams } from '../../hub/commands/command.js';
import { buildHttpApp } from '../../hub/http/app.js';
import { convertTextFields, httpSchemaOf } from '../../hub/http/commands.js';
import { COMMAND_BURST_PER_CALLER, cliActor } from '../../hub/http/deps.js';
import { silentLogger } from '../../hub/logger.js';
import { HubKeys, openDatabase, Store } from '../../hub/store/index.js';
import { removeDir, tempDataDir } from '../helpers/hub.js';

const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' });

const DEFS = [
  defineCommand({
    name: 'person.add',
    summary: 'Add a person',
    input: Type.Object(
      {
        id: Type.Optional(Id),
        name: Type.String({ minLength: 1, maxLength: 128 }),
        kind: Type.Union([Type.Literal('resident'), Type.Literal('guest')]),
      },
      { additionalProperties: false },
    ),
    roles: ['admin', 'staff'],
    runs: 'store',
    http: { method: 'POST', path: '/people', status: 201 },
    run: (ctx, input) => ({ person: ctx.store.people.add(input) }),
  }),
  defineCommand({
    name: 'person.suspend',
    summary: 'Suspend a person',
    input: Type.Object(
      { id: Id, reason: Type.Optional(Type.String({ maxLength: 200 })) },
      { additionalProperties: false },
    ),
    roles: ['admin', 'staff'],
    runs: 'store',
    http: { method: 'POST', path: '/people/:id/suspend' },
    run: (ctx, input) => {
      ctx.store.people.setSuspended(input.id, true, input.reason);
      return { person: ctx.store.people.get(input.id) };
    },
  }),
  defineCommand({
    name: 'person.list',
    summary: 'List people',
    input: Type.Object(
      { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })) },
      { additionalProperties: false },
    ),
    roles: ['admin', 'staff', 'installer', 'integration'],
    runs: 'store',
    readOnly: true,
    http: { method: 'GET', path: '/people' },
    run: (ctx, input) => ({ people: ctx.store.people.list().slice(0, input.limit ?? 100) }),
  }),
  defineCommand({
    name: 'person.remove',
    summary: 'Remove a person',
    input: Type.Object({ id: Id }, { additionalProperties: false }),
    roles: ['admin'],
    runs: 'store',
    http: { method: 'DELETE', path: '/people/:id' },
    run: (ctx, input) => {
      ctx.store.people.remove(input.id);
    },
  }),
  defineCommand({
    name: 'door.unlock',
    summary: 'Unlock a door for a moment',
    input: Type.Object(
      { id: Id, ms: Type.Optional(Type.Integer({ minimum: 1000, maximum: 60000 })) },
      { additionalProperties: false },
    ),
    roles: ['admin', 'staff', 'installer', 'integration'],
    runs: 'store',
    http: { method: 'POST', path: '/doors/:id/unlock' },
    run: (_ctx, input) => {
      throw new CommandError('refused', `door '${input.id}' is in lockdown`);
    },
  }),
  defineCommand({
    name: 'clock.accept',
    summary: 'Needs the running hub',
    input: Type.Object({}, { additionalProperties: false }),
    roles: ['admin'],
    runs: 'hub',
    http: { method: 'POST', path: '/clock/accept' },
    run: () => ({ ok: true }),
  }),
  defineCommand({
    name: 'cloud.only',
    summary: 'Only the cloud mirror calls this',
    input: Type.Object({}, { additionalProperties: false }),
    roles: ['cloud'],
    runs: 'store',
    http: { method: 'POST', path: '/cloud-only' },
    run: () => ({ ok: true }),
  }),
];

let dir: string;
let store: Store;
let db: ReturnType<typeof openDatabase>;
let apps: FastifyInstance[];
let admin: string;
let staff: string;
let installer: string;

async function app(localAdmin = false): Promise<FastifyInstance> {
  const bus = new EventBus();
  const built = await buildHttpApp({
    store,
    bus,
    commands: new Commands(DEFS, { store, logger: silentLogger() }),
    status: () => ({}),
    sessionHours: 1,
    secure: false,
    localAdmin,
    logger: silentLogger(),
  });
  apps.push(built);
  return built;
}

beforeEach(async () => {
  dir = tempDataDir();
  db = openDatabase(join(dir, 'gatehouse.db'));
  store = new Store(db, HubKeys.loadOrCreate(dir));
  await store.start();
  apps = [];
  const session = async (name: string, role: 'admin' | 'staff' | 'installer') =>
    store.users.createSession((await store.users.add(name, 'correct horse battery', role)).id, 3_600_000);
  admin = await session('alice', 'admin');
  staff = await session('sam', 'staff');
  installer = await session('ivan', 'installer');
});

afterEach(async () => {
  for (const a of apps) await a.close();
  await store.stop();
  db.close();
  removeDir(dir);
});

function send(
  target: FastifyInstance,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  url: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
) {
  return target.inject({
    method,
    url: `/api/v1${url}`,
    headers: {
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    ...(options.body !== undefined ? { payload: JSON.stringify(options.body) } : {}),
  });
}

function lastAudit(type: string) {
  return store.events.list({ limit: 5, type })[0];
}

describe('routes generated from the command table', () => {
  it('splits the input into path parameters and body, and refuses a table mistake', () => {
    expect(routeParams('/people/:id/suspend')).toEqual(['id']);
    const { params, rest } = httpSchemaOf(DEFS[1]!);
    expect(Object.keys(params.properties)).toEqual(['id']);
    expect(Object.keys(rest.properties)).toEqual(['reason']);
    expect(() =>
      httpSchemaOf(
        defineCommand({
          name: 'bad.path',
          summary: 'A path parameter that is not a field',
          input: Type.Object({ id: Id }),
          roles: ['admin'],
          runs: 'store',
          http: { method: 'DELETE', path: '/people/:personId' },
          run: () => null,
        }),
      ),
    ).toThrow(/':personId' is not a field/);
  });

  it('turns query-string text into numbers and booleans only where the field takes them, strictly', () => {
    const schema = Type.Object({
      limit: Type.Optional(Type.Integer()),
      ratio: Type.Optional(Type.Number()),
      all: Type.Optional(Type.Boolean()),
      until: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
      query: Type.Optional(Type.String()),
      either: Type.Optional(Type.Union([Type.String(), Type.Integer()])),
    });
    expect(
      convertTextFields(schema, {
        limit: '20',
        ratio: '-0.25',
        all: 'false',
        until: '1700000000000',
        query: '123',
        either: '7',
        other: '5',
      }),
    ).toEqual({
      limit: 20,
      ratio: -0.25,
      all: false,
      until: 1_700_000_000_000,
      query: '123',
      either: '7',
      other: '5',
    });
    for (const text of ['1.5', '1e2', '0x10', ' 20', '20 ', '', '+1', '12345678901234567', 'NaN']) {
      expect(convertTextFields(schema, { limit: text }), text).toEqual({ limit: text });
    }
    for (const text of ['1', 'yes', 'TRUE', '']) {
      expect(convertTextFields(schema, { all: text }), text).toEqual({ all: text });
    }
    expect(convertTextFields(schema, { limit: ['1', '2'] })).toEqual({ limit: ['1', '2'] });
    const polluted = convertTextFields(schema, JSON.parse('{"__proto__": "1"}')) as object;
    expect(Object.keys(polluted)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(polluted)).toBe(Object.prototype);
  });

  it('runs a command as the signed-in user and records user:<name> as the actor', async () => {
    const api = await app();
    const added = await send(api, 'POST', '/people', {
      token: staff,
      body: { id: 'ada', name: 'Ada', kind: 'resident' },
    });
    expect(added.statusCode).toBe(201);
    expect(added.json()).toMatchObject({ person: { id: 'ada', name: 'Ada' } });
    expect(lastAudit('admin.person.added')?.data).toMatchObject({ actor: 'user:sam' });

    // A POST without any body is the empty input; the path parameter is the id.
    const suspended = await send(api, 'POST', '/people/ada/suspend', { token: admin });
    expect(suspended.statusCode).toBe(200);
    expect(lastAudit('admin.person.suspended')?.data).toMatchObject({ actor: 'user:alice' });

    // GET: the rest of the input is the query string, converted by its schema.
    const listed = await send(api, 'GET', '/people?limit=1', { token: installer });
    expect(listed.statusCode).toBe(200);
    expect((listed.json() as { people: unknown[] }).people).toHaveLength(1);

    const removed = await send(api, 'DELETE', '/people/ada', { token: admin });
    expect(removed.statusCode).toBe(200);
    expect(removed.json()).toEqual({ ok: true });
  });

  it('checks roles before the command runs, and registers no route a staff role cannot call', async () => {
    const api = await app();
    expect((await send(api, 'GET', '/people')).statusCode).toBe(401);
    const forbidden = await send(api, 'DELETE', '/people/ada', { token: staff });
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.json()).toMatchObject({ code: 'forbidden' });
    expect(
      (await send(api, 'POST', '/people', { token: installer, body: { name: 'X', kind: 'guest' } }))
        .statusCode,
    ).toBe(403);
    expect((await send(api, 'POST', '/cloud-only', { token: admin })).statusCode).toBe(404);
    expect(store.people.list()).toEqual([]);
  });

  it('answers refusals with the command error status, message and code', async () => {
    const api = await app();
    const refused = await send(api, 'POST', '/doors/front/unlock', { token: installer, body: { ms: 2000 } });
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toEqual({ error: "door 'front' is in lockdown", code: 'refused' });
    const missing = await send(api, 'POST', '/people/nobody/suspend', { token: staff });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'not_found' });
    const hubOnly = await send(api, 'POST', '/clock/accept', { token: admin });
    expect(hubOnly.statusCode).toBe(503);
    expect(hubOnly.json()).toEqual({
      error: "'clock.accept' needs the running hub: start it first",
      code: 'unavailable',
    });
  });

  it('gives each login its own command budget: over it 429 with retry-after, others unaffected', async () => {
    const api = await app();
    // Ask until refused: the whole burst passes first (the bucket also refills at 20/s meanwhile).
    let passed = 0;
    let refused = await send(api, 'GET', '/people', { token: staff });
    while (refused.statusCode === 200 && passed < 1000) {
      passed++;
      refused = await send(api, 'GET', '/people', { token: staff });
    }
    expect(passed).toBeGreaterThanOrEqual(COMMAND_BURST_PER_CALLER);
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toEqual({
      error: 'too many requests from this login: slow down',
      code: 'rate_limited',
    });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await send(api, 'GET', '/people', { token: admin })).statusCode).toBe(200);
  });

  it('refuses hostile input with 400 invalid before anything runs', async () => {
    const api = await app();
    const cases: Array<[string, string, unknown]> = [
      ['POST', '/people', { name: 'X', kind: 'resident', admin: true }],
      ['POST', '/people', { name: 42, kind: 'resident' }],
      ['POST', '/people', { name: 'X', kind: 'overlord' }],
      ['POST', '/people', ['X']],
      ['POST', '/people', { id: '../../etc', name: 'X', kind: 'guest' }],
      ['POST', `/people/${'a'.repeat(65)}/suspend`, {}],
      ['POST', '/people/ada/suspend', { id: 'bob' }], // the id comes from the path only
      ['POST', '/doors/front/unlock', { ms: 10 }],
    ];
    for (const [method, url, body] of cases) {
      const res = await send(api, method as 'POST', url, { token: admin, body });
      expect(res.statusCode, `${method} ${url} ${JSON.stringify(body)}`).toBe(400);
      expect(res.json()).toMatchObject({ code: 'invalid' });
    }
    // A query-string number is plain digits: no exponent, hex, fraction, sign tricks or padding.
    for (const limit of ['1e9', '1e2', '0x10', '1.5', '1.0', '%2020', '20%20', '', 'Infinity', '-1', '0']) {
      const query = await send(api, 'GET', `/people?limit=${limit}`, { token: admin });
      expect(query.statusCode, limit).toBe(400);
      expect(query.json(), limit).toMatchObject({ code: 'invalid' });
    }
    expect((await send(api, 'GET', '/people?limit=1&limit=2', { token: admin })).statusCode).toBe(400);
    expect((await send(api, 'GET', '/people?__proto__=1', { token: admin })).statusCode).toBe(400);
    expect((await send(api, 'GET', '/people?limit=100', { token: admin })).statusCode).toBe(200);
    const proto = await api.inject({
      method: 'POST',
      url: '/api/v1/people',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      payload: '{"name":"X","kind":"guest","__proto__":{"role":"admin"}}',
    });
    expect(proto.statusCode).toBe(400);
    expect(store.people.list()).toEqual([]);
  });

  it('on the control socket calls as cli:<os user> from the CLI header, sanitised; elsewhere ignores it', async () => {
    const local = await app(true);
    const add = (id: string, actor?: string) =>
      send(local, 'POST', '/people', {
        body: { id, name: id, kind: 'guest' },
        ...(actor !== undefined ? { headers: { 'x-gatehouse-actor': actor } } : {}),
      });
    expect((await add('p1', 'maria')).statusCode).toBe(201);
    expect(lastAudit('admin.person.added')?.data).toMatchObject({ actor: 'cli:maria' });
    await add('p2', 'evil\nuser;rm -rf /');
    expect(lastAudit('admin.person.added')?.data).toMatchObject({ actor: 'cli:eviluserrm-rf' });
    await add('p3', 'x'.repeat(500));
    expect(lastAudit('admin.person.added')?.data).toMatchObject({ actor: `cli:${'x'.repeat(64)}` });
    await add('p4', '%%%');
    expect(lastAudit('admin.person.added')?.data).toMatchObject({ actor: 'cli:local' });
    await add('p5');
    expect(lastAudit('admin.person.added')?.data).toMatchObject({ actor: 'cli:local' });

    const lan = await app(false);
    await send(lan, 'POST', '/people', {
      token: staff,
      body: { id: 'p6', name: 'p6', kind: 'guest' },
      headers: { 'x-gatehouse-actor': 'root' },
    });
    expect(lastAudit('admin.person.added')?.data).toMatchObject({ actor: 'user:sam' });
    expect(cliActor(['a', 'b'])).toBe('cli:a');
  });

  it('serves the OpenAPI document of every command route to signed-in staff', async () => {
    const api = await app();
    expect((await api.inject({ method: 'GET', url: '/api/docs' })).statusCode).toBe(401);
    const res = await api.inject({
      method: 'GET',
      url: '/api/docs',
      headers: { authorization: `Bearer ${installer}` },
    });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as {
      openapi: string;
      paths: Record<string, Record<string, Record<string, unknown>>>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    const operations = Object.values(doc.paths).flatMap((p) => Object.values(p));
    for (const def of DEFS.filter((d) => d.name !== 'cloud.only')) {
      const path = `/api/v1${def.http.path.replace(/:([A-Za-z_]+)/g, '{$1}')}`;
      const op = doc.paths[path]?.[def.http.method.toLowerCase()];
      expect(op, `${def.name} at ${path}`).toMatchObject({ operationId: def.name, summary: def.summary });
    }
    expect(operations.map((o) => o.operationId)).not.toContain('cloud.only');
    const add = doc.paths['/api/v1/people']!.post as {
      requestBody: { content: { 'application/json': { schema: { properties: Record<string, unknown> } } } };
    };
    expect(Object.keys(add.requestBody.content['application/json'].schema.properties)).toEqual([
      'id',
      'name',
      'kind',
    ]);
    const suspend = doc.paths['/api/v1/people/{id}/suspend']!.post as {
      parameters: Array<{ name: string; in: string }>;
    };
    expect(suspend.parameters).toContainEqual(expect.objectContaining({ name: 'id', in: 'path' }));
    // The hand-written routes are in it too.
    expect(doc.paths['/api/v1/session']).toBeDefined();
  });
});
