// Sessions on a real hub over real HTTP: live streams end with their session and are capped, login
// attempts are limited per username across addresses (a slow-down, not a lockout), and cookie sessions
// refuse cross-site state changes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { call, openStream } from './client.js';

const PASSWORD = 'correct horse battery';

let dir: string;
let hub: Hub;
let port: number;

/** Each login from its own source address, so the per-address limit stays out of the way. */
let nextAddress = 100;
async function login(username: string, from = `127.0.0.${nextAddress++}`): Promise<string> {
  const res = await call(port, 'POST', '/session', { body: { username, password: PASSWORD }, from });
  expect(res.status).toBe(200);
  return res.json.token as string;
}

beforeAll(async () => {
  dir = tempDataDir();
  hub = await startHub(dir, {
    http: { http: { port: 0 }, https: { enabled: false }, streams: { perSession: 2, perUser: 3, total: 5 } },
  });
  port = hub.addresses().http.http!;
  for (const name of ['alice', 'bob', 'carol', 'dave', 'erin'])
    await hub.store.users.add(name, PASSWORD, 'admin');
});

afterAll(async () => {
  await hub?.stop();
  removeDir(dir);
});

describe('live streams', () => {
  it('end at once when their session logs out', async () => {
    const token = await login('alice');
    const stream = await openStream(port, token);
    expect(stream.status).toBe(200);
    const loggedOutAt = Date.now();
    expect((await call(port, 'DELETE', '/session', { token })).status).toBe(200);
    const endedAt = await stream.ended;
    expect(endedAt - loggedOutAt).toBeLessThan(1000);
  });

  it('end when their user is disabled or removed, or their session expires', async () => {
    const bobToken = await login('bob');
    const bobStream = await openStream(port, bobToken);
    const disabledAt = Date.now();
    hub.store.users.setDisabled('bob', true);
    expect((await bobStream.ended) - disabledAt).toBeLessThan(1000);

    const carolStream = await openStream(port, await login('carol'));
    const removedAt = Date.now();
    hub.store.users.remove('carol');
    expect((await carolStream.ended) - removedAt).toBeLessThan(1000);

    // A session that expires on its own: the stream ends at the next re-check.
    const dave = hub.store.users.getByUsername('dave')!;
    const shortToken = hub.store.users.createSession(dave.id, 1500);
    const daveStream = await openStream(port, shortToken);
    expect(daveStream.status).toBe(200);
    const expiresAt = Date.now() + 1500;
    expect((await daveStream.ended) - expiresAt).toBeLessThan(2000);
  });

  it('are capped per session, per user and in total (429 beyond)', async () => {
    const held = [];
    const first = await login('erin');
    held.push(await openStream(port, first), await openStream(port, first));
    const overSession = await openStream(port, first);
    expect(overSession.status).toBe(429);
    const second = await login('erin');
    held.push(await openStream(port, second));
    const overUser = await openStream(port, second);
    expect(overUser.status).toBe(429);
    expect(overUser.text()).toMatch(/this user already has 3/);
    const other = await login('dave');
    held.push(await openStream(port, other), await openStream(port, other));
    expect(held.map((s) => s.status)).toEqual([200, 200, 200, 200, 200]);
    await hub.store.users.add('frank', PASSWORD, 'staff');
    const overTotal = await openStream(port, await login('frank'));
    expect(overTotal.status).toBe(429);
    expect(overTotal.text()).toMatch(/live streams/);
    // Closing one frees its place.
    held.pop()!.close();
    await new Promise((r) => setTimeout(r, 200));
    const again = await openStream(port, await login('frank'));
    expect(again.status).toBe(200);
    for (const s of [...held, again]) s.close();
  });
});

describe('login limits', () => {
  it('slows down guessing one username from 30 addresses; an address with a good history still gets in', async () => {
    await hub.store.users.add('gina', PASSWORD, 'staff');
    const home = '127.0.0.2';
    await login('gina', home);
    const answers = [];
    for (let i = 0; i < 30; i++) {
      answers.push(
        await call(port, 'POST', '/session', {
          body: { username: 'gina', password: `wrong guess ${i}` },
          from: `127.0.1.${i + 1}`,
        }),
      );
    }
    const statuses = answers.map((a) => a.status);
    // attemptsPerUser (default 5) counts every attempt from an untrusted address: gina's own first login
    // was one of them.
    expect(statuses.slice(0, 4)).toEqual([401, 401, 401, 401]);
    expect(statuses.slice(4).every((s) => s === 429)).toBe(true);
    const retryAfter = Number(answers[29]!.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Not a lockout: gina logs in from where she logged in before.
    await login('gina', home);
    // A new address is slowed down too, even with the right password (documented trade-off).
    const fresh = await call(port, 'POST', '/session', {
      body: { username: 'gina', password: PASSWORD },
      from: '127.0.1.200',
    });
    expect(fresh.status).toBe(429);
    // Other usernames are not affected.
    await login('alice', '127.0.1.201');
  });
});

describe('cross-site requests with a cookie session', () => {
  it('refuses cross-site state changes, accepts same-origin ones; bearer tokens are unaffected', async () => {
    const res = await call(port, 'POST', '/session', {
      body: { username: 'alice', password: PASSWORD },
      from: '127.0.1.210',
    });
    const cookie = String(res.headers['set-cookie']).split(';')[0]!;
    const token = res.json.token as string;
    const own = `http://127.0.0.1:${port}`;
    const person = (id: string) => ({ id, name: id, kind: 'guest' });
    const post = (id: string, headers: Record<string, string>, bearer?: string) =>
      call(port, 'POST', '/people', { body: person(id), headers, ...(bearer ? { token: bearer } : {}) });

    expect((await post('x1', { cookie, origin: 'https://evil.example' })).status).toBe(403);
    expect(
      (await post('x2', { cookie, 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' })).status,
    ).toBe(403);
    expect(
      (await post('x3', { cookie, 'sec-fetch-site': 'same-site', origin: `http://127.0.0.1:${port + 1}` }))
        .status,
    ).toBe(403);
    expect((await post('x4', { cookie })).status).toBe(403); // no Origin: not a browser page, use the bearer token
    expect(hub.store.people.list().map((p) => p.id)).not.toContain('x1');

    expect((await post('ok1', { cookie, origin: own })).status).toBe(201);
    expect((await post('ok2', { cookie, 'sec-fetch-site': 'same-origin', origin: own })).status).toBe(201);
    expect((await post('ok3', { origin: 'https://evil.example' }, token)).status).toBe(201);
    expect((await post('ok4', {}, token)).status).toBe(201);
    // Reading is not a state change.
    expect(
      (await call(port, 'GET', '/people', { headers: { cookie, origin: 'https://evil.example' } })).status,
    ).toBe(200);
  });
});
