// The staff API on a real hub over real HTTP and HTTPS: login, roles, validation, and actions that
// reach the doors.
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import { callHub } from '../../hub/cli/hub-client.js';
import { removeDir, startHub, tempDataDir } from '../helpers/hub.js';

let dir: string;
let hub: Hub;
let base: string;

async function call(
  method: string,
  url: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}/api/v1${url}`, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function login(username: string, password: string): Promise<string> {
  const res = await call('POST', '/session', { username, password });
  expect(res.status).toBe(200);
  return res.json.token as string;
}

beforeAll(async () => {
  dir = tempDataDir();
  hub = await startHub(dir, { simulation: { door: 'sim-front' } });
  base = `http://127.0.0.1:${hub.addresses().http.http}`;
});

afterAll(async () => {
  await hub?.stop();
  removeDir(dir);
});

describe('HTTP API', () => {
  it('serves health without login, and nothing else', async () => {
    const health = await call('GET', '/health');
    expect(health.status).toBe(200);
    expect(health.json.status).toBe('ok');
    expect(health.json.doors).toBeUndefined(); // details only behind a login
    for (const url of ['/status', '/doors', '/people', '/events', '/users']) {
      expect((await call('GET', url)).status).toBe(401);
    }
    expect((await call('GET', '/doors', undefined, 'forged-token')).status).toBe(401);
  });

  it('creates the first admin once through setup; there is no default password', async () => {
    expect((await call('POST', '/session', { username: 'admin', password: 'admin' })).status).toBe(401);
    const setupToken = readFileSync(path.join(dir, 'setup-token'), 'utf8').trim();
    const short = await call('POST', '/setup', { username: 'alice', password: 'short', setupToken });
    expect(short.status).toBe(400);
    const first = await call('POST', '/setup', {
      username: 'alice',
      password: 'correct horse battery',
      setupToken,
    });
    expect(first.status).toBe(201);
    const again = await call('POST', '/setup', {
      username: 'mallory',
      password: 'another long password',
      setupToken,
    });
    expect(again.status).toBe(409);
    expect((await call('POST', '/session', { username: 'alice', password: 'wrong password!' })).status).toBe(
      401,
    );
  });

  it('refuses malformed bodies with a clear 400', async () => {
    const token = await login('alice', 'correct horse battery');
    const notJson = await call('POST', '/people', '{"name": ', token);
    expect(notJson.status).toBe(400);
    const extra = await call('POST', '/people', { name: 'X', kind: 'resident', admin: true }, token);
    expect(extra.status).toBe(400);
    const wrongType = await call('POST', '/people', { name: 42, kind: 'resident' }, token);
    expect(wrongType.status).toBe(400);
    const badKind = await call('POST', '/people', { name: 'X', kind: 'overlord' }, token);
    expect(badKind.status).toBe(400);
    // A PIN has its own command and route (credential.add_pin); a card body there is an unknown field.
    const badPin = await call('POST', '/credentials/pins', { personId: 'nobody', pin: '12' }, token);
    expect(badPin.status).toBe(400);
    const pinAsCard = await call('POST', '/credentials', { personId: 'nobody', pin: '123456' }, token);
    expect(pinAsCard.json).toMatchObject({ code: 'invalid' });
    const unknownPerson = await call(
      'POST',
      '/credentials/pins',
      { personId: 'nobody', pin: '123456' },
      token,
    );
    expect(unknownPerson.status).toBe(404);
    expect(unknownPerson.json.code).toBe('not_found');
  });

  it('lets staff enrol, revoke and see it enforced at a simulated door', async () => {
    const token = await login('alice', 'correct horse battery');
    expect((await call('POST', '/people', { id: 'ada', name: 'Ada', kind: 'resident' }, token)).status).toBe(
      201,
    );
    const cred = await call('POST', '/credentials', { personId: 'ada', card: '04A22B1C' }, token);
    expect(cred.status).toBe(201);
    const credentialId = (cred.json.credential as { id: string }).id;
    hub.store.groups.add({ id: 'residents', name: 'Residents' });
    hub.store.groups.addDoor('residents', 'sim-front');
    hub.store.groups.addMember('residents', 'ada');

    const granted = await call('POST', '/sim/doors/sim-front/card', { value: '04A22B1C' }, token);
    expect(granted.json.decision).toEqual({ granted: true, reason: 'granted' });
    expect(hub.simDoors.get('sim-front')!.isUnlocked()).toBe(true);

    expect((await call('POST', `/credentials/${credentialId}/revoke`, undefined, token)).status).toBe(200);
    const denied = await call('POST', '/sim/doors/sim-front/card', { value: '04A22B1C' }, token);
    expect(denied.json.decision).toEqual({ granted: false, reason: 'revoked' });

    const listed = await call('GET', '/people/ada/credentials', undefined, token);
    expect(JSON.stringify(listed.json)).not.toContain('04A22B1C');
  });

  it('puts a door in lockdown: remote unlock is refused and a staff role matters', async () => {
    const admin = await login('alice', 'correct horse battery');
    await hub.store.users.add('ian', 'installer password', 'installer');
    const installer = await login('ian', 'installer password');
    expect((await call('PUT', '/doors/sim-front/mode', { mode: 'lockdown' }, installer)).status).toBe(403);
    expect((await call('GET', '/people', undefined, installer)).status).toBe(403);
    expect((await call('PUT', '/doors/sim-front/mode', { mode: 'lockdown' }, admin)).status).toBe(200);
    // Unlocking is staff work (hub/commands/doors.ts): an installer wires doors but does not open them.
    expect((await call('POST', '/doors/sim-front/unlock', {}, installer)).status).toBe(403);
    const unlock = await call('POST', '/doors/sim-front/unlock', {}, admin);
    expect(unlock.status).toBe(409);
    expect(unlock.json.error).toMatch(/lockdown/);
    expect((await call('PUT', '/doors/sim-front/mode', { mode: 'normal' }, admin)).status).toBe(200);
    expect((await call('POST', '/doors/sim-front/unlock', { ms: 2000 }, admin)).status).toBe(200);
    expect(hub.simDoors.get('sim-front')!.isUnlocked()).toBe(true);
    const events = await call('GET', '/events?limit=20', undefined, installer);
    const types = (events.json.events as Array<{ type: string }>).map((e) => e.type);
    expect(types).toContain('admin.door.unlocked');
  });

  it('shows staff the live status of every door', async () => {
    const token = await login('alice', 'correct horse battery');
    const status = await call('GET', '/status', undefined, token);
    expect((status.json.doors as Array<{ doorId: string }>).map((d) => d.doorId)).toEqual(['sim-front']);
    expect(status.json.cloud).toMatchObject({ state: 'disabled' });
  });

  it('logs out: the token stops working', async () => {
    const token = await login('alice', 'correct horse battery');
    expect((await call('DELETE', '/session', undefined, token)).status).toBe(200);
    expect((await call('GET', '/me', undefined, token)).status).toBe(401);
  });

  it('serves the CLI on the owner-only control socket, as the local admin', async () => {
    const { statSync } = await import('node:fs');
    expect(statSync(path.join(dir, 'hub.sock')).mode & 0o777).toBe(0o600);
    const status = await callHub(dir, 'GET', '/status');
    expect(status.status).toBe(200);
    // Rate-limited routes work there too (no client address on a unix socket).
    const login = await callHub(dir, 'POST', '/session', { username: 'nobody', password: 'wrong password' });
    expect(login.status).toBe(401);
  });

  it('serves the same API over HTTPS with the hub CA', async () => {
    const ca = readFileSync(path.join(dir, 'certs', 'ca.crt'));
    const port = hub.addresses().http.https!;
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', port, path: '/api/v1/health', ca, servername: 'localhost' },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => {
            text += d.toString();
          });
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(JSON.parse(body).status).toBe('ok');
  });
});
