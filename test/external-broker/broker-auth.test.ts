// The HTTP endpoints EMQX and VerneMQ call to check logins and topics against the hub's device accounts
// (docs/external-broker.md): a real hub in external mode on a real HTTP port, real fetch. They need the
// shared secret, are budgeted per address, and refuse hostile input without deciding anything.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { freePort } from './mosquitto.js';

const SECRET = 'broker-shared-secret-0123456789';
const HUB_PASSWORD = 'the-hub-password';
let dir: string;
let hub: Hub;
let base: string;
let doorSecret: string;
let flowsSecret: string;

beforeAll(async () => {
  dir = tempDataDir();
  writeFileSync(path.join(dir, 'broker.secret'), `${SECRET}\n`, { mode: 0o600 });
  writeFileSync(path.join(dir, 'mqtt-broker.password'), `${HUB_PASSWORD}\n`, { mode: 0o600 });
  // Nothing listens there: the hub keeps trying in the background and serves HTTP meanwhile.
  const nowhere = await freePort();
  hub = await startHub(dir, {
    mqtt: {
      broker: 'external',
      external: {
        url: `mqtt://127.0.0.1:${nowhere}`,
        provisioning: 'none',
        authSecretFile: 'broker.secret',
        reconnectMinMs: 1000,
      },
    },
    homeAssistant: { enabled: true },
  });
  base = `http://127.0.0.1:${hub.addresses().http.http}/api/v1/broker`;
  hub.store.doors.add({ id: 'front', name: 'Front', transport: 'mqtt' });
  hub.store.doors.add({ id: 'back', name: 'Back', transport: 'mqtt' });
  doorSecret = hub.store.devices.add('front-reader', { role: 'door', doors: ['front'] }).secret;
  flowsSecret = hub.store.devices.add('flows', { role: 'integration' }).secret;
}, 60_000);

afterAll(async () => {
  await hub?.stop();
  removeDir(dir);
});

async function call(
  route: string,
  body: unknown,
  headers: Record<string, string> = { 'x-gatehouse-broker-secret': SECRET },
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}/${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {}
  return { status: res.status, json };
}

describe('broker auth endpoints (EMQX)', () => {
  it('lets a device in with its secret, and nobody with a wrong one', async () => {
    expect((await call('emqx/auth', { username: 'front-reader', password: doorSecret })).json).toEqual({
      result: 'allow',
      is_superuser: false,
    });
    expect((await call('emqx/auth', { username: 'front-reader', password: 'guess' })).json.result).toBe(
      'deny',
    );
    expect((await call('emqx/auth', { username: 'nobody', password: doorSecret })).json.result).toBe('deny');
    expect((await call('emqx/auth', { username: '', password: '' })).json.result).toBe('deny');
    expect((await call('emqx/auth', { username: 'gatehouse-hub', password: HUB_PASSWORD })).json.result).toBe(
      'allow',
    );
    expect((await call('emqx/auth', { username: 'gatehouse-hub', password: 'x' })).json.result).toBe('deny');
  });

  it('applies the v1 ACL per door, and hides credential topics from door devices', async () => {
    const acl = async (username: string, topic: string, action: string) =>
      (await call('emqx/acl', { username, topic, action })).json.result;
    expect(await acl('front-reader', 'gatehouse/door/front/credential', 'publish')).toBe('allow');
    expect(await acl('front-reader', 'gatehouse/door/back/credential', 'publish')).toBe('deny');
    expect(await acl('front-reader', 'gatehouse/door/front/decision', 'publish')).toBe('deny');
    expect(await acl('front-reader', 'gatehouse/door/front/decision', 'subscribe')).toBe('allow');
    expect(await acl('front-reader', 'gatehouse/door/front/#', 'subscribe')).toBe('deny');
    expect(await acl('front-reader', 'gatehouse/door/+/decision', 'subscribe')).toBe('deny');
    expect(await acl('front-reader', '$SYS/#', 'subscribe')).toBe('deny');
    expect(await acl('flows', 'gatehouse/bridge/request/door.list', 'publish')).toBe('allow');
    expect(await acl('flows', 'gatehouse/door/+/state', 'subscribe')).toBe('allow');
    expect(await acl('flows', 'gatehouse/door/+/credential', 'subscribe')).toBe('deny');
    expect(await acl('removed', 'gatehouse/door/front/credential', 'publish')).toBe('deny');
    expect(flowsSecret).toBeTruthy();
  });

  it("gives Home Assistant its topics while the integration runs, and no integration the others' commands", async () => {
    const acl = async (username: string, topic: string, action: string) =>
      (await call('emqx/acl', { username, topic, action })).json.result;
    // The hub publishes discovery under the prefix and hears Home Assistant's commands and birth.
    expect(await acl('gatehouse-hub', 'homeassistant/lock/x/front/config', 'publish')).toBe('allow');
    expect(await acl('gatehouse-hub', 'homeassistant/status', 'subscribe')).toBe('allow');
    expect(await acl('gatehouse-hub', 'elsewhere/lock/front/config', 'publish')).toBe('deny');
    // An integration account reads discovery and states, and sends commands...
    expect(await acl('flows', 'homeassistant/#', 'subscribe')).toBe('allow');
    expect(await acl('flows', 'gatehouse/ha/door/front/state', 'subscribe')).toBe('allow');
    expect(await acl('flows', 'gatehouse/ha/door/front/set', 'publish')).toBe('allow');
    // ...but cannot listen to the commands others send the hub.
    expect(await acl('flows', 'gatehouse/ha/door/front/set', 'subscribe')).toBe('deny');
    expect(await acl('flows', 'gatehouse/ha/#', 'subscribe')).toBe('deny');
    expect(await acl('flows', 'gatehouse/ha/door/+/+', 'subscribe')).toBe('deny');
    // A door device gets none of it.
    expect(await acl('front-reader', 'homeassistant/#', 'subscribe')).toBe('deny');
    expect(await acl('front-reader', 'gatehouse/ha/door/front/set', 'publish')).toBe('deny');
  });
});

describe('broker auth endpoints (VerneMQ webhooks)', () => {
  it('answers in the webhook format, with QoS 128 for refused filters', async () => {
    const basic = { authorization: `Basic ${Buffer.from(`gatehouse:${SECRET}`).toString('base64')}` };
    expect(
      (
        await call(
          'vernemq/auth_on_register',
          { username: 'front-reader', password: doorSecret, client_id: 'x' },
          basic,
        )
      ).json,
    ).toEqual({ result: 'ok' });
    expect((await call('vernemq/auth_on_register', { username: null, password: null }, basic)).json).toEqual({
      result: { error: 'not_allowed' },
    });
    expect(
      (
        await call(
          'vernemq/auth_on_publish',
          { username: 'front-reader', topic: 'gatehouse/door/back/state' },
          basic,
        )
      ).json,
    ).toEqual({ result: { error: 'not_allowed' } });
    const sub = await call(
      'vernemq/auth_on_subscribe',
      {
        username: 'front-reader',
        topics: [
          { topic: 'gatehouse/door/front/decision', qos: 1 },
          { topic: 'gatehouse/door/back/decision', qos: 1 },
        ],
      },
      basic,
    );
    expect(sub.json).toEqual({
      result: 'ok',
      topics: [
        { topic: 'gatehouse/door/front/decision', qos: 1 },
        { topic: 'gatehouse/door/back/decision', qos: 128 },
      ],
    });
  });
});

describe('broker auth endpoints refuse hostile input', () => {
  it('refuses calls without the shared secret', async () => {
    expect((await call('emqx/auth', { username: 'front-reader', password: doorSecret }, {})).status).toBe(
      401,
    );
    const wrong = { 'x-gatehouse-broker-secret': `${SECRET.slice(0, -1)}X` };
    expect((await call('emqx/auth', { username: 'front-reader', password: doorSecret }, wrong)).status).toBe(
      401,
    );
    const basicWrong = { authorization: `Basic ${Buffer.from('gatehouse:nope').toString('base64')}` };
    expect(
      (await call('vernemq/auth_on_register', { username: 'a', password: 'b' }, basicWrong)).status,
    ).toBe(401);
  });

  it('refuses malformed, oversized and hostile bodies with 4xx and never allows', async () => {
    const bad: unknown[] = [
      'not json',
      '[]',
      { username: 'front-reader' },
      { username: 42, password: doorSecret },
      { username: 'front-reader', password: 'x'.repeat(5000) },
    ];
    for (const body of bad) {
      const res = await call('emqx/auth', body);
      expect(res.status === 400 || res.json.result === 'deny' || res.status === 415).toBe(true);
      expect(res.json.result).not.toBe('allow');
    }
    // An own __proto__ member is refused by the hub's JSON parser: it makes nobody a superuser.
    const proto = await call(
      'emqx/auth',
      `{"username":"front-reader","password":"${doorSecret}","__proto__":{"is_superuser":true}}`,
    );
    expect(proto.status).toBe(400);
    expect(proto.json.result).toBeUndefined();
    const huge = await call('emqx/acl', {
      username: 'front-reader',
      topic: 'a'.repeat(20_000),
      action: 'publish',
    });
    expect(huge.status).toBe(413);
    const badAction = await call('emqx/acl', {
      username: 'front-reader',
      topic: 'gatehouse/door/front/state',
      action: 'rm',
    });
    expect(badAction.status).toBe(400);
    const nul = await call('emqx/acl', {
      username: 'front-reader',
      topic: 'gatehouse/door/front\u0000/state',
      action: 'publish',
    });
    expect(nul.json.result).toBe('deny');
    const many = await call('vernemq/auth_on_subscribe', {
      username: 'front-reader',
      topics: Array.from({ length: 100 }, () => ({ topic: 'a', qos: 0 })),
    });
    expect(many.status).toBe(400);
  });

  it('budgets wrong secrets per address: guessing is answered 429', async () => {
    const wrong = { 'x-gatehouse-broker-secret': 'guess' };
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++)
      statuses.push((await call('emqx/auth', { username: 'a', password: 'b' }, wrong)).status);
    expect(statuses).toContain(429);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(10);
    // The right secret still works: a guesser does not lock the broker out of its calls.
    expect((await call('emqx/auth', { username: 'front-reader', password: doorSecret })).json.result).toBe(
      'allow',
    );
  });
});
