// MQTT bridge requests run commands (hub/broker/bridge-requests.ts): a real broker on a real socket, an
// mqtt.js integration account, small commands of the test's own on a real store. The answer carries the
// transaction; only commands open to the integration role run; door devices never call.
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import Type from 'typebox';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { commandBridge, integrationCommands } from '../../hub/broker/bridge-requests.js';
import { CommandError, Commands, defineCommand } from '../../hub/commands/command.js';
import { silentLogger } from '../../hub/logger.js';
import { HubKeys, openDatabase, Store } from '../../hub/store/index.js';
import { removeDir, tempDataDir } from '../helpers/hub.js';
import { closeClients, connect, FRONT, NODE_RED, nextMessage, type Rig, startRig } from './helpers.js';

const Id = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' });

const DEFS = [
  defineCommand({
    name: 'person.add',
    summary: 'Add a person',
    input: Type.Object(
      { id: Id, name: Type.String({ minLength: 1, maxLength: 128 }), kind: Type.Literal('guest') },
      { additionalProperties: false },
    ),
    roles: ['admin', 'staff', 'integration'],
    runs: 'store',
    http: { method: 'POST', path: '/people' },
    run: (ctx, input) => ({ person: ctx.store.people.add(input) }),
  }),
  defineCommand({
    name: 'person.remove',
    summary: 'Remove a person',
    input: Type.Object({ id: Id }, { additionalProperties: false }),
    roles: ['admin'],
    runs: 'store',
    http: { method: 'DELETE', path: '/people/:id' },
    run: (ctx, input) => ctx.store.people.remove(input.id),
  }),
  defineCommand({
    name: 'door.unlock',
    summary: 'Unlock a door for a moment',
    input: Type.Object({ id: Id }, { additionalProperties: false }),
    roles: ['admin', 'integration'],
    runs: 'store',
    http: { method: 'POST', path: '/doors/:id/unlock' },
    run: (_ctx, input) => {
      throw new CommandError('refused', `door '${input.id}' is in lockdown`);
    },
  }),
  defineCommand({
    name: 'bug.crash',
    summary: 'A command with a bug',
    input: Type.Object({}),
    roles: ['integration'],
    runs: 'store',
    http: { method: 'POST', path: '/crash' },
    run: () => {
      throw new Error('SQLITE_CORRUPT: secret detail');
    },
  }),
];

let dir: string;
let store: Store;
let db: ReturnType<typeof openDatabase>;
let rig: Rig;
let client: MqttClient;
let commands: Commands;

beforeEach(async () => {
  dir = tempDataDir();
  db = openDatabase(join(dir, 'gatehouse.db'));
  store = new Store(db, HubKeys.loadOrCreate(dir));
  await store.start();
  commands = new Commands(DEFS, { store, logger: silentLogger() });
  rig = await startRig({ bridgeRequests: commandBridge(commands, silentLogger()) });
  client = await connect(rig.port, NODE_RED);
  await client.subscribeAsync('gatehouse/bridge/response/+', { qos: 1 });
});

afterEach(async () => {
  await closeClients();
  await rig.stop();
  await store.stop();
  db.close();
  removeDir(dir);
});

/** Publishes a request and resolves with the response that carries its transaction. */
function ask(
  name: string,
  payload: Record<string, unknown> | string,
  transaction: unknown = `t-${Math.random()}`,
) {
  return new Promise<Record<string, unknown>>((resolve, reject) => {
    const topic = `gatehouse/bridge/response/${name}`;
    const timer = setTimeout(() => reject(new Error(`no response on ${topic}`)), 5000);
    const onMessage = (t: string, body: Buffer) => {
      if (t !== topic) return;
      const json = JSON.parse(body.toString()) as Record<string, unknown>;
      if (json.transaction !== transaction) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve(json);
    };
    client.on('message', onMessage);
    const text = typeof payload === 'string' ? payload : JSON.stringify({ ...payload, transaction });
    void client.publishAsync(`gatehouse/bridge/request/${name}`, text, { qos: 1 });
  });
}

describe('bridge requests run commands for integration accounts', () => {
  it('runs a command as device:<id> and answers ok with the result and the transaction', async () => {
    const answer = await ask('person.add', { id: 'vis-1', name: 'Visitor', kind: 'guest' }, 't-1');
    expect(answer).toMatchObject({ ok: true, transaction: 't-1', result: { person: { id: 'vis-1' } } });
    const audit = store.events.list({ limit: 1, type: 'admin.person.added' })[0];
    expect(audit?.data).toMatchObject({ actor: 'device:node-red' });
    // A numeric transaction is echoed as a number.
    expect(await ask('person.add', { id: 'vis-2', name: 'V2', kind: 'guest' }, 42)).toMatchObject({
      ok: true,
      transaction: 42,
    });
  });

  it('answers refusals with a code and the same message the other routes give', async () => {
    expect(await ask('door.unlock', { id: 'front' }, 'a')).toEqual({
      ok: false,
      error: { code: 'refused', message: "door 'front' is in lockdown" },
      transaction: 'a',
    });
    expect(await ask('person.remove', { id: 'vis-1' }, 'b')).toMatchObject({
      ok: false,
      error: { code: 'forbidden', message: "the integration role may not run 'person.remove'" },
    });
    expect(await ask('nothing.here', {}, 'c')).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(await ask('person.add', { id: 'x', name: 'X', kind: 'resident' }, 'd')).toMatchObject({
      ok: false,
      error: { code: 'invalid' },
    });
    // A hostile payload: an own __proto__ key is an unknown field, not a prototype.
    const proto = await ask(
      'person.add',
      '{"transaction":"e","id":"p","name":"P","kind":"guest","__proto__":{"admin":true}}',
      'e',
    );
    expect(proto).toMatchObject({ ok: false, error: { code: 'invalid' } });
    // A bug is answered without its details (they are in the hub log).
    expect(await ask('bug.crash', {}, 'f')).toEqual({
      ok: false,
      error: { code: 'internal', message: 'internal error: see the hub log' },
      transaction: 'f',
    });
    expect(store.people.list()).toEqual([]);
  });

  it('never runs a command for a door device', async () => {
    const door = await connect(rig.port, FRONT);
    await door.subscribeAsync(`gatehouse/device/${FRONT.id}/error`, { qos: 1 });
    const error = nextMessage(door, `gatehouse/device/${FRONT.id}/error`);
    await door.publishAsync(
      'gatehouse/bridge/request/person.add',
      JSON.stringify({ id: 'door-made', name: 'D', kind: 'guest', transaction: 'z' }),
      { qos: 1 },
    );
    expect(JSON.stringify((await error).json)).toMatch(/bridge/);
    // Behind the broker's ACL, the handler refuses on its own too.
    const handler = commandBridge(commands, silentLogger());
    const answer = await handler(
      'person.add',
      { id: 'door-made', name: 'D', kind: 'guest' },
      { id: FRONT.id, role: 'door', doors: FRONT.doors },
    );
    expect(answer).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(store.people.list()).toEqual([]);
  });

  it('lists the commands an integration may call', () => {
    expect(integrationCommands(commands)).toEqual(['bug.crash', 'door.unlock', 'person.add']);
  });
});
