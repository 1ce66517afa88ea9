// What the web UI relies on besides its files, on a real hub over real HTTP: login and first-run setup
// refuse a foreign page (login CSRF) but not tools, /me names the commands the role may run, and the
// hub's console shows a setup link whose token never reaches a server.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { ALL_COMMANDS } from '../../hub/commands/index.js';
import { removeDir, spawnHub, startHub, tempDataDir } from '../helpers/hub.js';
import { call } from './client.js';

const PASSWORD = 'correct horse battery';

/** Each request from its own source address, so the per-address login limit stays out of the way. */
let nextAddress = 40;
function from(): string {
  return `127.0.0.${nextAddress++}`;
}

describe('login and setup from other sites (login CSRF)', () => {
  let dir: string;
  let hub: Hub;
  let port: number;

  beforeAll(async () => {
    dir = tempDataDir();
    hub = await startHub(dir, { http: { http: { port: 0 }, https: { enabled: false } } });
    port = hub.addresses().http.http!;
  });

  afterAll(async () => {
    await hub?.stop();
    removeDir(dir);
  });

  const foreign: Array<Record<string, string>> = [
    { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
    { 'sec-fetch-site': 'cross-site' },
    { 'sec-fetch-site': 'same-site', origin: 'http://127.0.0.1:1880' },
    { origin: 'https://evil.example' },
    { origin: 'null' },
    // A page of the hub's own address but another port (Node-RED next door) is another origin.
    { origin: 'http://127.0.0.1:1' },
  ];

  it('refuses first-run setup from a foreign page even with the right token; a tool or the own page may', async () => {
    const setupToken = readFileSync(path.join(dir, 'setup-token'), 'utf8').trim();
    const body = { username: 'mallory', password: PASSWORD, setupToken };
    for (const headers of foreign) {
      const res = await call(port, 'POST', '/setup', { body, headers, from: from() });
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(res.json.code).toBe('forbidden');
      expect(String(res.json.error)).toMatch(/cross-site request refused/);
    }
    expect(hub.store.users.count()).toBe(0);
    const own = `http://127.0.0.1:${port}`;
    const res = await call(port, 'POST', '/setup', {
      body: { ...body, username: 'alice' },
      headers: { 'sec-fetch-site': 'same-origin', origin: own },
      from: from(),
    });
    expect(res.status).toBe(201);
    expect(hub.store.users.count()).toBe(1);
  });

  it('refuses a login posted by a foreign page and sets no cookie; the own page and tools log in', async () => {
    if (hub.store.users.count() === 0) await hub.store.users.add('alice', PASSWORD, 'admin');
    const body = { username: 'alice', password: PASSWORD };
    for (const headers of foreign) {
      const res = await call(port, 'POST', '/session', { body, headers, from: from() });
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.json.token).toBeUndefined();
    }
    const own = `http://127.0.0.1:${port}`;
    for (const headers of [
      { 'sec-fetch-site': 'same-origin', origin: own },
      { 'sec-fetch-site': 'same-origin' },
      { origin: own },
      {}, // curl, scripts
    ]) {
      const res = await call(port, 'POST', '/session', { body, headers, from: from() });
      expect(res.status, JSON.stringify(headers)).toBe(200);
      expect(String(res.headers['set-cookie'])).toMatch(/gatehouse_session=/);
    }
  });
});

describe('GET /api/v1/me', () => {
  let dir: string;
  let hub: Hub;
  let port: number;

  beforeAll(async () => {
    dir = tempDataDir();
    hub = await startHub(dir, { http: { http: { port: 0 }, https: { enabled: false } } });
    port = hub.addresses().http.http!;
    await hub.store.users.add('ada', PASSWORD, 'admin');
    await hub.store.users.add('sam', PASSWORD, 'staff');
    await hub.store.users.add('ivan', PASSWORD, 'installer');
  });

  afterAll(async () => {
    await hub?.stop();
    removeDir(dir);
  });

  async function me(username: string): Promise<{ user: Record<string, unknown>; may: string[] }> {
    const login = await call(port, 'POST', '/session', {
      body: { username, password: PASSWORD },
      from: from(),
    });
    const res = await call(port, 'GET', '/me', { token: login.json.token as string });
    expect(res.status).toBe(200);
    return res.json as { user: Record<string, unknown>; may: string[] };
  }

  it('names the commands the role may run, from the command table', async () => {
    for (const [username, role] of [
      ['ada', 'admin'],
      ['sam', 'staff'],
      ['ivan', 'installer'],
    ] as const) {
      const answer = await me(username);
      expect(answer.user).toMatchObject({ username, role });
      const expected = ALL_COMMANDS.filter((def) => def.roles.includes(role))
        .map((def) => def.name)
        .sort();
      expect(answer.may).toEqual(expected);
    }
    const admin = (await me('ada')).may;
    const staff = (await me('sam')).may;
    const installer = (await me('ivan')).may;
    expect(admin).toEqual(
      expect.arrayContaining(['user.add', 'clock.accept', 'credential.revoke', 'device.add']),
    );
    expect(staff).toEqual(expect.arrayContaining(['person.add', 'credential.revoke', 'door.unlock']));
    expect(staff).not.toContain('user.add');
    expect(staff).not.toContain('device.add');
    expect(installer).toEqual(expect.arrayContaining(['door.add', 'device.add']));
    expect(installer).not.toContain('door.unlock');
    expect(installer).not.toContain('person.add');
  });

  it('matches what the API lets each role do', async () => {
    const sam = await call(port, 'POST', '/session', {
      body: { username: 'sam', password: PASSWORD },
      from: from(),
    });
    const token = sam.json.token as string;
    const { may } = await me('sam');
    // Not in `may`: refused by the API too.
    expect(may).not.toContain('user.list');
    expect((await call(port, 'GET', '/users', { token })).status).toBe(403);
    expect(may).toContain('person.list');
    expect((await call(port, 'GET', '/people', { token })).status).toBe(200);
  });
});

describe('the first-run setup link', () => {
  let dir: string;
  let stop: (() => Promise<void>) | null = null;

  afterEach(async () => {
    await stop?.();
    stop = null;
    removeDir(dir);
  });

  it('is printed in the hub log with the token in the fragment, for HTTPS and the local HTTP listener', async () => {
    dir = tempDataDir();
    const hub = await spawnHub(dir);
    stop = async () => {
      hub.child.kill('SIGTERM');
      await hub.exited;
    };
    const token = readFileSync(path.join(dir, 'setup-token'), 'utf8').trim();
    const line = hub.logs.find((l) => String(l.msg).startsWith('First-run setup'));
    const msg = String(line?.msg);
    expect(msg).toMatch(new RegExp(`https://127\\.0\\.0\\.1:\\d+/setup#${token} `));
    expect(msg).toMatch(new RegExp(`http://127\\.0\\.0\\.1:\\d+/setup#${token}\\)`));
    expect(msg).toContain('npx gatehouse user add <name> --role admin');
    // The link works: the page it opens is the UI's (or the not-built page), never a 404.
    const port = Number(/http:\/\/127\.0\.0\.1:(\d+)\/setup/.exec(msg)![1]);
    const res = await fetch(`http://127.0.0.1:${port}/setup#${token}`, { headers: { accept: 'text/html' } });
    expect([200, 503]).toContain(res.status);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
  });
});
