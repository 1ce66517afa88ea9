// First-run setup on a real hub over real HTTP: atomic (one admin however many race), and only with the
// one-time setup token from the hub's log or data directory; the control socket needs none.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Hub } from '../../hub/app.js';
import { callHub } from '../../hub/cli/hub-client.js';
import { createLogger } from '../../hub/logger.js';
import { removeDir, tempDataDir, testConfig } from '../helpers/hub.js';
import { call } from './client.js';

const PASSWORD = 'correct horse battery';

let dir: string;
let hub: Hub | null = null;

afterEach(async () => {
  await hub?.stop();
  hub = null;
  removeDir(dir);
});

/** A fresh hub whose log lines are collected, as an installer would read them on the console. */
async function freshHub(): Promise<{ port: number; logs: Array<Record<string, unknown>> }> {
  dir = tempDataDir();
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line));
      done();
    },
  });
  hub = new Hub({ config: testConfig(dir), logger: createLogger('info', sink) });
  await hub.start();
  return { port: hub.addresses().http.http!, logs };
}

function tokenFile(): string {
  return path.join(dir, 'setup-token');
}

describe('first-run setup', () => {
  it('prints one copyable line with the setup token and keeps the token in a 0600 file', async () => {
    const { logs } = await freshHub();
    const token = readFileSync(tokenFile(), 'utf8').trim();
    expect(token).toMatch(/^[a-z2-9]{5}(-[a-z2-9]{5}){3}$/);
    expect(statSync(tokenFile()).mode & 0o777).toBe(0o600);
    const line = logs.find((l) => String(l.msg).startsWith('First-run setup'));
    expect(line?.msg).toContain(`setup token ${token}`);
    expect(line?.msg).toContain('npx gatehouse user add');
    // The setup link carries the token in its #fragment, which a browser never sends to a server.
    const { http, https } = hub!.addresses().http;
    expect(line?.msg).toContain(`https://127.0.0.1:${https}/setup#${token} `);
    expect(line?.msg).toContain(`http://127.0.0.1:${http}/setup#${token})`);
    expect(line?.msg).toContain('POST /api/v1/setup');
  });

  it('refuses setup without the token or with a wrong one, from this machine too', async () => {
    const { port } = await freshHub();
    const body = { username: 'mallory', password: PASSWORD };
    const none = await call(port, 'POST', '/setup', { body });
    expect(none.status).toBe(403);
    expect(String(none.json.error)).toMatch(/setup token/);
    const wrong = await call(port, 'POST', '/setup', {
      body: { ...body, setupToken: 'aaaaa-bbbbb-ccccc-ddddd' },
    });
    expect(wrong.status).toBe(403);
    expect(hub!.store.users.count()).toBe(0);
    expect(existsSync(tokenFile())).toBe(true);
  });

  it('creates exactly one admin when 20 setups race; the rest get 409 and the token is gone', async () => {
    const { port } = await freshHub();
    const setupToken = readFileSync(tokenFile(), 'utf8').trim();
    // Different source addresses, so the per-address rate limit does not answer for the race.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call(port, 'POST', '/setup', {
          body: { username: `admin${i}`, password: PASSWORD, setupToken },
          from: `127.0.0.${10 + i}`,
        }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    const users = hub!.store.users.list();
    expect(users).toHaveLength(1);
    expect(users[0]!.role).toBe('admin');
    expect(existsSync(tokenFile())).toBe(false);
    // The used token is worthless now.
    const again = await call(port, 'POST', '/setup', {
      body: { username: 'late', password: PASSWORD, setupToken },
      from: '127.0.0.40',
    });
    expect(again.status).toBe(409);
  });

  it('keeps the token across a restart until setup is done; none is made once a staff user exists', async () => {
    await freshHub();
    const first = readFileSync(tokenFile(), 'utf8').trim();
    await hub!.stop();
    hub = new Hub({ config: testConfig(dir) });
    await hub.start();
    expect(readFileSync(tokenFile(), 'utf8').trim()).toBe(first);
    // A staff user added some other way (here in-process, like the CLI) retires the token at once.
    await hub.store.users.add('root', PASSWORD, 'admin');
    expect(existsSync(tokenFile())).toBe(false);
    await hub.stop();
    hub = new Hub({ config: testConfig(dir) });
    await hub.start();
    expect(existsSync(tokenFile())).toBe(false);
  });

  it('lets the control socket (the CLI, which owns the data directory) set up without a token', async () => {
    await freshHub();
    const res = await callHub(dir, 'POST', '/setup', { username: 'local-admin', password: PASSWORD });
    expect(res.status).toBe(201);
    expect(hub!.store.users.list().map((u) => u.username)).toEqual(['local-admin']);
    expect(existsSync(tokenFile())).toBe(false);
  });
});

describe('refused requests', () => {
  it('log a few lines per address and one summary, not a line per request', async () => {
    const { port, logs } = await freshHub();
    const body = { username: 'mallory', password: PASSWORD, setupToken: 'wrong' };
    for (let i = 0; i < 200; i++) {
      const answer = await call(port, 'POST', '/setup', { body });
      expect(answer.status).toBeGreaterThanOrEqual(400);
    }
    await hub?.stop(); // flushes the summaries
    hub = null;
    const refusals = logs.filter((l) => /refused|more .* in the last minute/.test(String(l.msg)));
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals.length).toBeLessThanOrEqual(15);
  });
});
