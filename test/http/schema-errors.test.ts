// Schema refusals over HTTP read as the command layer's own: 400 `{error, code: 'invalid'}` with the
// field named first in quotes, for the body, the query string and the path alike, on the routes generated
// from the real command table and on the hand-written ones (login, setup, events, simulated doors).
// A real store and the real app; requests through inject().
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventBus } from '../../hub/bus.js';
import { Commands } from '../../hub/commands/command.js';
import { ALL_COMMANDS } from '../../hub/commands/index.js';
import { buildHttpApp } from '../../hub/http/app.js';
import { silentLogger } from '../../hub/logger.js';
import { HubKeys, openDatabase, Store } from '../../hub/store/index.js';
import { removeDir, tempDataDir } from '../helpers/hub.js';

let dir: string;
let store: Store;
let db: ReturnType<typeof openDatabase>;
let api: FastifyInstance;
let admin: string;

beforeEach(async () => {
  dir = tempDataDir();
  db = openDatabase(join(dir, 'gatehouse.db'));
  store = new Store(db, HubKeys.loadOrCreate(dir));
  await store.start();
  admin = store.users.createSession(
    (await store.users.add('alice', 'correct horse battery', 'admin')).id,
    3_600_000,
  );
  api = await buildHttpApp({
    store,
    bus: new EventBus(),
    commands: new Commands(ALL_COMMANDS, { store, logger: silentLogger() }),
    status: () => ({}),
    sessionHours: 1,
    secure: false,
    logger: silentLogger(),
    sim: { present: () => null, act: () => false },
  });
});

afterEach(async () => {
  await api.close();
  await store.stop();
  db.close();
  removeDir(dir);
});

/** Sends `body` as raw JSON text, so keys like __proto__ arrive as sent. */
async function send(method: string, url: string, body?: string) {
  const res = await api.inject({
    method: method as 'POST',
    url: `/api/v1${url}`,
    headers: {
      authorization: `Bearer ${admin}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { payload: body } : {}),
  });
  return { status: res.statusCode, json: res.json() as Record<string, unknown> };
}

/** Expects 400 `{error, code: 'invalid'}` with exactly `error`. */
async function refused(method: string, url: string, body: string | undefined, error: string) {
  const res = await send(method, url, body);
  expect(res.status, `${method} ${url} ${body ?? ''}`).toBe(400);
  expect(res.json, `${method} ${url} ${body ?? ''}`).toEqual({ error, code: 'invalid' });
}

const ID_RULE = "must be 1-64 characters: letters, digits, '_', '.', '-', starting with a letter or digit";

describe('schema refusals over HTTP', () => {
  it('name the body field first, in the command layer words', async () => {
    await refused(
      'PUT',
      '/doors/front/mode',
      '{"mode":"open-sesame"}',
      "'mode' must be one of: normal, lockdown, unlocked",
    );
    await refused(
      'PUT',
      '/doors/front/mode',
      '{"mode":["normal"]}',
      "'mode' must be one of: normal, lockdown, unlocked",
    );
    await refused('PUT', '/doors/front/mode', '{}', "'mode' is required");
    await refused('POST', '/codes', '{}', "'doors', 'kind' are required");
    await refused(
      'PUT',
      '/users/alice/role',
      '{"role":"god"}',
      "'role' must be one of: admin, staff, installer",
    );
    await refused('POST', '/people', '{"name":"X","kind":"resident","admin":true}', "unknown field 'admin'");
    await refused('POST', '/people', '{"name":42,"kind":"resident"}', "'name' must be string");
    await refused('POST', '/people', '{"name":{"first":"Ada"},"kind":"resident"}', "'name' must be string");
    await refused(
      'POST',
      '/people',
      `{"name":"${'x'.repeat(129)}","kind":"resident"}`,
      "'name' must not have more than 128 characters",
    );
    await refused('POST', '/credentials/pins', '{"personId":"ada","pin":"12"}', "'pin' must be 4-12 digits");
    await refused('POST', '/people', `{"id":"../../etc","name":"X","kind":"guest"}`, `'id' ${ID_RULE}`);
  });

  it('say what Commands.execute says (the MQTT bridge and the CLI) for the same input', async () => {
    const commands = new Commands(ALL_COMMANDS, { store, logger: silentLogger() });
    const caller = { actor: 'user:alice', role: 'admin' as const };
    const cases: Array<[string, string, string, Record<string, unknown>]> = [
      ['door.set_mode', 'PUT', '/doors/front/mode', { id: 'front', mode: 'open-sesame' }],
      ['door.set_mode', 'PUT', '/doors/front/mode', { id: 'front' }],
      ['door.set_mode', 'PUT', '/doors/front/mode', { id: 'front', mode: 'normal', extra: 1 }],
      ['person.add', 'POST', '/people', { name: 'X', kind: 'resident', unitId: '../u' }],
      ['credential.add_pin', 'POST', '/credentials/pins', { personId: 'ada', pin: 'abcd' }],
      ['door.unlock', 'POST', '/doors/front/unlock', { id: 'front', ms: 10 }],
    ];
    for (const [name, method, url, input] of cases) {
      const viaCommands = await commands.execute(name, input, caller).then(
        () => 'ran',
        (err: Error) => err.message,
      );
      const { id: _inPath, ...body } = input; // the id travels in the path
      const viaHttp = await send(method, url, JSON.stringify(body));
      expect(viaHttp.json, `${name} ${JSON.stringify(input)}`).toEqual({
        error: viaCommands,
        code: 'invalid',
      });
    }
  });

  it('refuse numbers that are too big, infinite, fractional or text', async () => {
    await refused('POST', '/doors/front/unlock', '{"ms":1e400}', "'ms' must be integer");
    await refused('POST', '/doors/front/unlock', '{"ms":99999999999999999999999}', "'ms' must be <= 60000");
    await refused('POST', '/doors/front/unlock', '{"ms":"5000"}', "'ms' must be integer");
    await refused('POST', '/doors/front/unlock', '{"ms":1500.5}', "'ms' must be integer");
    await refused('GET', '/people?limit=99999999999999999999', undefined, "'limit' must be integer");
    await refused('GET', '/people?limit=1e9', undefined, "'limit' must be integer");
    await refused('GET', '/people?limit=1&limit=2', undefined, "'limit' must be integer");
  });

  it('refuse arrays, text and null where an object goes', async () => {
    await refused('PUT', '/doors/front/mode', '[]', 'input must be a JSON object');
    await refused('PUT', '/doors/front/mode', '[{"mode":"normal"}]', 'input must be a JSON object');
    await refused('PUT', '/doors/front/mode', '"normal"', 'input must be a JSON object');
    await refused('POST', '/session', '["alice","password"]', 'input must be a JSON object');
  });

  it('name __proto__ and constructor keys as unknown fields, wherever they are', async () => {
    await refused(
      'PUT',
      '/doors/front/mode',
      '{"mode":"normal","__proto__":{"x":1}}',
      "unknown field '__proto__'",
    );
    await refused(
      'PUT',
      '/doors/front/mode',
      '{"mode":"normal","constructor":{"prototype":{"x":1}}}',
      "unknown field 'constructor'",
    );
    await refused(
      'PUT',
      '/doors/front/mode',
      '{"mode":"normal","constructor":1}',
      "unknown field 'constructor'",
    );
    await refused(
      'POST',
      '/people',
      '{"name":{"__proto__":{"admin":true}},"kind":"guest"}',
      "unknown field '__proto__' in 'name'",
    );
    await refused(
      'POST',
      '/session',
      '{"username":"a","password":"b","__proto__":{}}',
      "unknown field '__proto__'",
    );
    await refused('GET', '/people?__proto__=1', undefined, "unknown field '__proto__'");
    await refused('GET', '/people?constructor=1', undefined, "unknown field 'constructor'");
    await refused('GET', '/events?__proto__=1', undefined, "unknown field '__proto__'");
    expect(store.people.list()).toEqual([]);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('name path parameters the same way', async () => {
    await refused('PUT', `/doors/${'a'.repeat(65)}/mode`, '{"mode":"normal"}', `'id' ${ID_RULE}`);
    await refused('PUT', '/doors/..%2Fetc/mode', '{"mode":"normal"}', `'id' ${ID_RULE}`);
    await refused(
      'POST',
      '/sim/doors/front/explode',
      '{}',
      "'action' must be one of: card, code, open, close, rex",
    );
    await refused('POST', '/sim/doors/-front/open', '{}', `'id' ${ID_RULE}`);
  });

  it('apply to the hand-written routes: login, setup, events, simulated doors', async () => {
    await refused('POST', '/session', '{"username":"alice"}', "'password' is required");
    await refused(
      'POST',
      '/session',
      `{"username":"${'a'.repeat(65)}","password":"x"}`,
      "'username' must not have more than 64 characters",
    );
    await refused(
      'POST',
      '/session',
      '{"username":"a","password":"b","remember":true}',
      "unknown field 'remember'",
    );
    await refused(
      'POST',
      '/setup',
      '{"username":"","password":"x"}',
      "'username' must not have fewer than 1 characters",
    );
    await refused('POST', '/sim/doors/front/card', '{"value":1}', "'value' must be string");
    await refused('GET', '/events?door=../x', undefined, `'door' ${ID_RULE}`);
    await refused('GET', '/events?limit=lots', undefined, "'limit' must be a whole number (up to 4 digits)");
    await refused('GET', '/events?before=-1', undefined, "'before' must be an event number (digits)");
    await refused(
      'GET',
      '/events?type=ALARM',
      undefined,
      "'type' must be an event type like 'alarm' or 'admin.cred*': lower-case letters, digits, '_', '.'",
    );
    await refused('GET', '/events?nope=1', undefined, "unknown field 'nope'");
    await refused('GET', '/events.csv?door=a%00b', undefined, `'door' ${ID_RULE}`);
  });

  it('answers a body that is not JSON as invalid too', async () => {
    const broken = await send('POST', '/people', '{"name": ');
    expect(broken.status).toBe(400);
    expect(broken.json.code).toBe('invalid');
    const empty = await send('POST', '/session', '');
    expect(empty.status).toBe(400);
    expect(empty.json.code).toBe('invalid');
  });

  it('keeps the first refusal short when the field name is hostile', async () => {
    const res = await send('POST', '/people', `{"name":"X","kind":"guest","${'k'.repeat(5000)}":1}`);
    expect(res.status).toBe(400);
    expect(res.json.code).toBe('invalid');
    expect(String(res.json.error).length).toBeLessThan(100);
  });
});
