// person.access and person.list as the staff UI calls them: a real hub, real HTTP with a staff login,
// simulated doors. What GET /people/:id/access says for each door and credential must be exactly what
// the door answers when that card or PIN is presented there: granted, lockdown, no group, outside the
// schedule, suspended, outside the access window, an expired card, and nobody holding anything.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import type { Person } from '../../hub/domain.js';
import { removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { eventually } from '../store/helpers.js';

interface CredentialRow {
  credentialId: string;
  kind: string;
  label: string;
  granted: boolean;
  reason: string;
}
interface DoorRow {
  doorId: string;
  name: string;
  granted: boolean;
  reason: string;
  why: string;
  credentials: CredentialRow[];
}
interface Access {
  at: number;
  person: Person;
  doors: DoorRow[];
}

const HOUR = 3_600_000;
const DOORS = ['front', 'garage', 'lobby', 'vault'];

let dir: string;
let hub: Hub;
let base: string;
let admin: string;
let staff: string;
/** credential id → how to present it at a door. */
const presentable = new Map<string, { kind: 'card' | 'code'; value: string }>();

async function call(
  method: string,
  url: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${base}/api/v1${url}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function ok(
  method: string,
  url: string,
  body?: unknown,
  token = staff,
): Promise<Record<string, unknown>> {
  const res = await call(method, url, token, body);
  expect(res.status, `${method} ${url}: ${JSON.stringify(res.json)}`).toBeLessThan(300);
  return res.json;
}

async function login(username: string, password: string): Promise<string> {
  const res = await fetch(`${base}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  return ((await res.json()) as { token: string }).token;
}

async function addCard(personId: string, card: string, window: Record<string, number> = {}): Promise<string> {
  const { credential } = (await ok('POST', '/credentials', { personId, card, ...window })) as {
    credential: { id: string };
  };
  presentable.set(credential.id, { kind: 'card', value: card });
  return credential.id;
}

async function access(personId: string): Promise<Access> {
  return (await ok('GET', `/people/${personId}/access`)) as unknown as Access;
}

/** Presents every credential of every door row at that simulated door: the door must say what the row says. */
async function expectDoorsAgree(explained: Access): Promise<void> {
  for (const door of explained.doors) {
    for (const row of door.credentials) {
      const how = presentable.get(row.credentialId)!;
      const answer = await ok('POST', `/sim/doors/${door.doorId}/${how.kind}`, { value: how.value }, admin);
      expect(answer.decision, `${row.label} at ${door.doorId}`).toEqual({
        granted: row.granted,
        reason: row.reason,
      });
    }
    expect(door.granted, door.doorId).toBe(door.credentials.some((c) => c.granted));
  }
}

const byDoor = (explained: Access) => Object.fromEntries(explained.doors.map((d) => [d.doorId, d]));

beforeAll(async () => {
  dir = tempDataDir();
  hub = await startHub(dir, { simulation: { door: 'front' }, timeZone: 'Europe/Berlin' });
  base = `http://127.0.0.1:${hub.addresses().http.http}`;
  const setupToken = readFileSync(path.join(dir, 'setup-token'), 'utf8').trim();
  await fetch(`${base}/api/v1/setup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'alice', password: 'correct horse battery', setupToken }),
  });
  admin = await login('alice', 'correct horse battery');
  await hub.store.users.add('sam', 'staff password long', 'staff');
  staff = await login('sam', 'staff password long');

  for (const id of ['garage', 'lobby', 'vault']) {
    await ok('POST', '/doors', { id, name: id[0]!.toUpperCase() + id.slice(1), transport: 'sim' }, admin);
  }
  await eventually(() => (DOORS.every((id) => hub.simDoors.has(id)) ? true : undefined));
  await ok('PUT', '/doors/vault/mode', { mode: 'lockdown' });
  const allDay = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun', 'hol'].map((day) => ({
    day,
    from: '00:00',
    to: '24:00',
  }));
  await ok('PUT', '/schedules/always', { name: 'Always', intervals: allDay });
  await ok('PUT', '/schedules/closed', { name: 'Closed', intervals: [] });
  await ok('POST', '/groups', { id: 'residents', name: 'Residents', scheduleId: 'always' });
  await ok('POST', '/groups', { id: 'night', name: 'Night shift', scheduleId: 'closed' });
  for (const [group, door] of [
    ['residents', 'front'],
    ['residents', 'vault'],
    ['night', 'garage'],
  ] as const) {
    await ok('POST', `/groups/${group}/doors`, { doorId: door });
  }
  await ok('POST', '/units', { id: '4b', name: 'Flat 4B' });
  await ok('POST', '/people', { id: 'ada', name: 'Ada Müller', kind: 'resident', unitId: '4b' });
  await ok('POST', '/people', { id: 'bob', name: 'Bob', kind: 'resident', unitId: '4b' });
  for (const group of ['residents', 'night']) {
    await ok('POST', `/groups/${group}/members`, { personId: 'ada' });
  }
  await ok('POST', '/groups/residents/members', { personId: 'bob' });
  await addCard('ada', '04A22B1C');
  const { credential: pin } = (await ok('POST', '/credentials/pins', { personId: 'ada', pin: '482913' })) as {
    credential: { id: string };
  };
  presentable.set(pin.id, { kind: 'code', value: '482913' });
});

afterAll(async () => {
  await hub?.stop();
  removeDir(dir);
});

describe('GET /people?query&limit', () => {
  it('searches by name, accents folded, and by unit; limit arrives as a query-string number', async () => {
    const names = async (qs: string) =>
      ((await ok('GET', `/people${qs}`)).people as Person[]).map((p) => p.id);
    expect(await names('?query=muller')).toEqual(['ada']);
    expect(await names('?query=4B&limit=20')).toEqual(['ada', 'bob']);
    expect(await names('?query=4b&limit=1')).toEqual(['ada']);
    expect(await names(`?query=${encodeURIComponent('%')}`)).toEqual([]);
    for (const qs of [
      '?limit=0',
      '?limit=501',
      '?limit=abc',
      '?limit=1.5',
      `?query=${'x'.repeat(81)}`,
      '?query=',
    ]) {
      const res = await call('GET', `/people${qs}`, staff);
      expect(res.status, qs).toBe(400);
      expect(res.json.code, qs).toBe('invalid');
    }
  });
});

describe('GET /people/:id/access', () => {
  it('answers per door what the door answers: granted, outside schedule, no group, lockdown', async () => {
    const explained = await access('ada');
    expect(explained.person).toMatchObject({ id: 'ada', accessFrom: null, accessUntil: null });
    expect(Math.abs(explained.at - Date.now())).toBeLessThan(60_000);
    expect(explained.doors.map((d) => d.doorId).sort()).toEqual([...DOORS].sort());
    const doors = byDoor(explained);
    expect(doors.front).toMatchObject({
      name: 'Simulated front door',
      granted: true,
      reason: 'granted',
      why: 'Granted: group residents, schedule always',
    });
    expect(doors.front!.credentials.map((c) => [c.kind, c.label, c.reason])).toEqual([
      ['card', 'card …2B1C', 'granted'],
      ['pin', 'PIN', 'granted'],
    ]);
    expect(doors.garage).toMatchObject({
      granted: false,
      reason: 'outside_schedule',
      why: 'Denied: outside schedule closed (group night)',
    });
    expect(doors.lobby).toMatchObject({
      granted: false,
      reason: 'no_access',
      why: 'Denied: no group gives this door',
    });
    expect(doors.vault).toMatchObject({
      granted: false,
      reason: 'lockdown',
      why: 'Denied: the door is in lockdown',
    });
    expect(JSON.stringify(explained)).not.toContain('482913');
    expect(JSON.stringify(explained)).not.toContain('04A22B1C');
    await expectDoorsAgree(explained);
  });

  it('names a suspension and its reason, and agrees with the doors', async () => {
    await ok('POST', '/people/ada/suspend', { reason: 'arrears' });
    const explained = await access('ada');
    const doors = byDoor(explained);
    for (const id of ['front', 'garage', 'lobby']) {
      expect(doors[id], id).toMatchObject({
        granted: false,
        reason: 'suspended',
        why: 'Denied: suspended (reason: arrears)',
      });
    }
    expect(doors.vault!.reason).toBe('lockdown'); // lockdown comes first in the kernel's order
    await expectDoorsAgree(explained);
    await ok('POST', '/people/ada/unsuspend');
  });

  it('names the access window, set over HTTP with a reason and the staff login as actor', async () => {
    const now = Date.now();
    const ended = await ok('POST', '/people/ada/window', {
      from: now - 48 * HOUR,
      until: now - HOUR,
      reason: 'contract ended',
    });
    expect(ended.person).toMatchObject({ id: 'ada', accessFrom: now - 48 * HOUR, accessUntil: now - HOUR });
    const event = hub.store.events.list({ type: 'admin.person.window_set', limit: 1 })[0]!;
    expect(event).toMatchObject({
      personId: 'ada',
      data: { from: now - 48 * HOUR, until: now - HOUR, reason: 'contract ended', actor: 'user:sam' },
    });
    const explained = await access('ada');
    const front = byDoor(explained).front!;
    expect(front).toMatchObject({ granted: false, reason: 'person_outside_window' });
    expect(front.why).toMatch(
      /^Denied: outside the access window \(from \d{4}-\d{2}-\d{2} \d{2}:\d{2} until \d{4}-\d{2}-\d{2} \d{2}:\d{2}\) \(reason: contract ended\)$/,
    );
    expect(byDoor(explained).lobby!.reason).toBe('person_outside_window'); // before "no group" in the order
    await expectDoorsAgree(explained);

    const refused = await call('POST', '/people/ada/window', staff, { from: now, until: now });
    expect(refused).toEqual({
      status: 400,
      json: { error: "'until' must be later than 'from'", code: 'invalid' },
    });

    await ok('POST', '/people/ada/window', { from: now - HOUR, until: now + HOUR });
    const inside = await access('ada');
    expect(byDoor(inside).front).toMatchObject({ granted: true, reason: 'granted' });
    await expectDoorsAgree(inside);
    await ok('POST', '/people/ada/window', { from: null, until: null });
  });

  it('shows each credential on its own: an expired card next to a working PIN', async () => {
    const now = Date.now();
    const expired = await addCard('ada', '0E0E0E', { validFrom: now - 3 * HOUR, validUntil: now - HOUR });
    const future = await addCard('ada', '0F0F0F', { validFrom: now + HOUR });
    const explained = await access('ada');
    const front = byDoor(explained).front!;
    expect(front).toMatchObject({ granted: true, reason: 'granted' });
    expect(front.credentials.find((c) => c.credentialId === expired)).toMatchObject({
      granted: false,
      reason: 'expired',
    });
    expect(front.credentials.find((c) => c.credentialId === future)).toMatchObject({
      granted: false,
      reason: 'not_yet_valid',
    });
    await expectDoorsAgree(explained);
    // Revoked credentials are history, not something the person holds: they are not listed.
    await ok('POST', `/credentials/${expired}/revoke`, { reason: 'old' });
    await ok('POST', `/credentials/${future}/revoke`, { reason: 'old' });
    expect(byDoor(await access('ada')).front!.credentials).toHaveLength(2);
  });

  it('lists every door for a person with nothing to present', async () => {
    const explained = await access('bob');
    expect(explained.doors).toHaveLength(DOORS.length);
    for (const door of explained.doors) {
      expect(door, door.doorId).toMatchObject({
        granted: false,
        reason: 'no_credential',
        why: 'Denied: no card, PIN or key',
        credentials: [],
      });
    }
  });

  it('is for admin and staff only, and says not found for nobody', async () => {
    await hub.store.users.add('ivan', 'installer password', 'installer');
    const installer = await login('ivan', 'installer password');
    expect((await call('GET', '/people/ada/access', installer)).status).toBe(403);
    expect((await call('GET', '/people/nobody/access', staff)).json).toEqual({
      error: "person 'nobody' not found",
      code: 'not_found',
    });
    expect((await call('GET', '/people/..%2F/access', staff)).status).toBe(400);
  });
});
