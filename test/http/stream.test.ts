// The live stream over real HTTP on a real hub: ids, resumption from the log after a disconnect (no gap, no
// duplicate, also under a burst from this process and another one), reset when too far behind, what an
// installer sees, and a client that stops reading.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import type { NewEvent } from '../../hub/domain.js';
import { STREAM_REPLAY_MAX } from '../../hub/http/events.js';
import { ROOT, removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { call } from './client.js';
import { openSse, type SseClient } from './sse-client.js';

const PASSWORD = 'correct horse battery';

let dir: string;
let hub: Hub;
let port: number;
const tokens: Record<'staff' | 'installer', string> = { staff: '', installer: '' };

beforeAll(async () => {
  dir = tempDataDir();
  hub = await startHub(dir, {
    http: {
      http: { port: 0 },
      https: { enabled: false },
      streams: { perSession: 50, perUser: 100, total: 200 },
    },
  });
  port = hub.addresses().http.http!;
  for (const role of ['staff', 'installer'] as const) {
    await hub.store.users.add(`${role}1`, PASSWORD, role);
    const res = await call(port, 'POST', '/session', { body: { username: `${role}1`, password: PASSWORD } });
    tokens[role] = res.json.token as string;
  }
});

afterAll(async () => {
  await hub?.stop();
  removeDir(dir);
});

function event(doorId: string, extra: Partial<NewEvent> = {}): NewEvent {
  return { type: 'door.opened', doorId, personId: null, credentialId: null, data: {}, ...extra };
}

function appendMany(n: number, make: (i: number) => NewEvent): void {
  for (let i = 0; i < n; i++) hub.store.events.append(make(i));
  hub.store.events.flush();
}

/** Waits until the client has every event up to the log's end; checks seq order with no gap or duplicate. */
async function expectContiguous(client: SseClient, after: number): Promise<void> {
  const last = hub.store.events.lastSeq();
  await client.waitFor(() => client.lastId() === last, 20_000);
  const seqs = client.events().map((e) => e.seq);
  const expected = Array.from({ length: last - after }, (_, i) => after + 1 + i);
  expect(seqs).toEqual(expected);
  for (const m of client.messages)
    if (m.event === 'event') expect(m.id).toBe((m.data as { seq: number }).seq);
}

describe('resumption', () => {
  it('gives every event its seq as id and resumes after a disconnect without a gap or a duplicate', async () => {
    const first = await openSse(port, tokens.staff);
    expect(first.status).toBe(200);
    const hello = first.messages[0]!;
    expect(hello.event).toBe('hello');
    expect(hello.data.lastSeq).toBe(hub.store.events.lastSeq());
    const start = hub.store.events.lastSeq();
    for (let i = 0; i < 5; i++) hub.store.events.appendDurable(event('res', { data: { i } }));
    await expectContiguous(first, start);
    const seen = first.lastId()!;
    first.close();
    await first.ended;

    for (let i = 0; i < 7; i++) hub.store.events.appendDurable(event('res', { data: { i: 5 + i } }));
    hub.store.events.appendDurable({
      type: 'decision',
      doorId: 'res',
      personId: 'ada',
      credentialId: null,
      data: { granted: true },
    });

    // As EventSource reconnects: the Last-Event-ID header.
    const second = await openSse(port, tokens.staff, { lastEventId: seen });
    await expectContiguous(second, seen);
    expect(second.events()).toHaveLength(8);
    // Live events follow the replay.
    for (let i = 0; i < 3; i++) hub.store.events.appendDurable(event('res'));
    await expectContiguous(second, seen);
    second.close();

    // The same with ?lastEventId= (a client that cannot set headers).
    const third = await openSse(port, tokens.staff, { query: `?lastEventId=${seen}` });
    await expectContiguous(third, seen);
    third.close();
  });

  it('keeps order with no gap or duplicate when connecting during a burst from this process and another', async () => {
    const resumeFrom = hub.store.events.lastSeq();
    appendMany(50, (i) => event('burst', { data: { missed: i } }));

    // Another process (as the CLI would) appends to the same database: the hub sees its commits late.
    const script = path.join(dir, 'append.mts');
    writeFileSync(
      script,
      `import { openHubStore } from ${JSON.stringify(path.join(ROOT, 'hub/open-store.js'))};
const opened = openHubStore(${JSON.stringify(dir)});
for (let i = 0; i < 200; i++) {
  opened.store.events.appendDurable({ type: 'door.closed', doorId: 'other', personId: null, credentialId: null, data: { i } });
  if (i === 0) process.stdout.write('writing\\n');
  if (i % 5 === 0) await new Promise((r) => setTimeout(r, 5));
}
opened.close();
`,
    );
    const child = spawn(process.execPath, [path.join(ROOT, 'node_modules/tsx/dist/cli.mjs'), script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const childDone = new Promise<number | null>((r) => child.on('exit', r));
    // Both bursts at once: wait until the other process has committed its first event.
    await new Promise<void>((r) => child.stdout!.once('data', () => r()));

    // Fewer than STREAM_REPLAY_MAX are missing when each client connects: a replay, then live events.
    let bursting = true;
    const burst = (async () => {
      for (let round = 0; round < 100 && bursting; round++) {
        for (let i = 0; i < 5; i++) hub.store.events.append(event('burst', { data: { round, i } }));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await new Promise((r) => setTimeout(r, 30));
    const clients = [];
    for (let k = 0; k < 3; k++) {
      clients.push(await openSse(port, tokens.staff, { lastEventId: resumeFrom }));
      await new Promise((r) => setTimeout(r, 40));
    }
    await burst;
    bursting = false;
    expect(await childDone).toBe(0);
    hub.store.events.flush();
    // The other process's last commits reach the hub at its next look at the database.
    await new Promise((r) => setTimeout(r, 500));
    for (const client of clients) {
      await expectContiguous(client, resumeFrom);
      expect(client.messages.some((m) => m.event === 'reset')).toBe(false);
      client.close();
    }
  }, 60_000);

  it(`sends reset with lastSeq when more than ${STREAM_REPLAY_MAX} events are missing, then goes on live`, async () => {
    const behind = hub.store.events.lastSeq();
    appendMany(STREAM_REPLAY_MAX + 100, () => event('far'));
    const client = await openSse(port, tokens.staff, { lastEventId: behind });
    const lastSeq = hub.store.events.lastSeq();
    await client.waitFor((ms) => ms.some((m) => m.event === 'reset'));
    const reset = client.messages.find((m) => m.event === 'reset')!;
    expect(reset).toEqual({ id: lastSeq, event: 'reset', data: { lastSeq } });
    expect(client.events()).toEqual([]);
    hub.store.events.appendDurable(event('far'));
    await expectContiguous(client, lastSeq);
    client.close();

    // Exactly the maximum is replayed; an id from a log this client never saw (a restore) is a reset too.
    const edge = hub.store.events.lastSeq();
    appendMany(STREAM_REPLAY_MAX, () => event('edge'));
    const replayed = await openSse(port, tokens.staff, { lastEventId: edge });
    await expectContiguous(replayed, edge);
    expect(replayed.events()).toHaveLength(STREAM_REPLAY_MAX);
    replayed.close();
    const future = await openSse(port, tokens.staff, { lastEventId: hub.store.events.lastSeq() + 1000 });
    await future.waitFor((ms) => ms.some((m) => m.event === 'reset'));
    future.close();
  });

  it('refuses a Last-Event-ID that is not a seq, and unknown query parameters', async () => {
    expect((await openSse(port, tokens.staff, { lastEventId: 'abc' })).status).toBe(400);
    expect((await openSse(port, tokens.staff, { query: '?lastEventId=1;DROP' })).status).toBe(400);
    expect((await openSse(port, tokens.staff, { query: '?lastEventId=99999999999999999999' })).status).toBe(
      400,
    );
    expect((await openSse(port, tokens.staff, { query: '?since=5' })).status).toBe(400);
  });
});

describe('role filtering', () => {
  it('shows an installer door, alarm and device events without person data, and door status; live and on replay', async () => {
    const installer = await openSse(port, tokens.installer);
    const staff = await openSse(port, tokens.staff);
    const start = hub.store.events.lastSeq();
    const add = () => {
      hub.store.events.appendDurable({
        type: 'decision',
        doorId: 'vis',
        personId: 'ada',
        credentialId: 'c1',
        data: { granted: true },
      });
      hub.store.events.appendDurable({
        type: 'door.opened',
        doorId: 'vis',
        personId: 'ada',
        credentialId: 'c1',
        data: { by: 'card', person: 'Ada' },
      });
      hub.store.events.appendDurable({
        type: 'alarm.forced_open',
        doorId: 'vis',
        personId: null,
        credentialId: null,
        data: { mode: 'normal' },
      });
      hub.store.events.appendDurable({
        type: 'admin.person.added',
        doorId: null,
        personId: 'ada',
        credentialId: null,
        data: { name: 'Ada' },
      });
    };
    add();
    hub.bus.emit('doorStatus', {
      doorId: 'vis',
      contact: 'closed',
      lock: 'locked',
      mode: 'normal',
      tamper: false,
      online: true,
    });
    await expectContiguous(staff, start);
    await installer.waitFor((ms) => ms.some((m) => m.event === 'door'));
    await installer.waitFor(() => installer.events().length === 2);
    expect(installer.events().map((e) => e.type)).toEqual(['door.opened', 'alarm.forced_open']);
    const opened = installer.events()[0]!;
    expect(opened).toMatchObject({ personId: null, credentialId: null, data: { by: 'card' } });
    expect(JSON.stringify(installer.messages)).not.toMatch(/ada/i);
    expect(installer.messages.find((m) => m.event === 'door')!.data).toMatchObject({
      doorId: 'vis',
      lock: 'locked',
    });
    expect(staff.messages.some((m) => m.event === 'door')).toBe(true);

    // Replay after a disconnect holds only what the installer may see; hidden events do not count
    // toward the replay limit.
    const seen = installer.lastId()!;
    installer.close();
    staff.close();
    add();
    appendMany(STREAM_REPLAY_MAX + 50, (i) => ({
      type: 'decision',
      doorId: 'vis',
      personId: `p${i}`,
      credentialId: null,
      data: {},
    }));
    hub.store.events.appendDurable(event('vis'));
    const again = await openSse(port, tokens.installer, { lastEventId: seen });
    await again.waitFor(() => again.events().length === 3);
    expect(again.events().map((e) => e.type)).toEqual(['door.opened', 'alarm.forced_open', 'door.opened']);
    expect(again.messages.some((m) => m.event === 'reset')).toBe(false);
    expect(JSON.stringify(again.messages)).not.toMatch(/ada/i);
    again.close();
  });
});

describe('slow clients', () => {
  it('drops a stream whose client stopped reading; the client resumes from the log', async () => {
    // A raw socket that sends the request and never reads: the hub's writes back up.
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.pause();
    socket.write(
      `GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${tokens.staff}\r\n\r\n`,
    );
    await new Promise((r) => setTimeout(r, 200));
    const start = hub.store.events.lastSeq();
    const pad = 'x'.repeat(20_000);
    const total = 1200;
    for (let round = 0; round < total / 100; round++) {
      appendMany(100, (i) => event('slow', { data: { pad, n: round * 100 + i } }));
      await new Promise((r) => setImmediate(r));
    }
    // Now read what reached the socket: the hub has closed it, well before the end.
    let received = '';
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('data', (c: Buffer) => {
      received += c.toString('latin1');
    });
    socket.resume();
    await closed;
    const ids = [...received.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.length).toBeLessThan(total);
    expect(ids[0]).toBe(start + 1);

    // A healthy client reconnecting with the last complete id gets the rest (or a reset, when far behind).
    const complete = [...received.matchAll(/id: (\d+)\nevent: event\ndata: .*\n\n/g)].map((m) =>
      Number(m[1]),
    );
    const lastComplete = complete[complete.length - 1]!;
    const resumed = await openSse(port, tokens.staff, { lastEventId: lastComplete });
    await resumed.waitFor(
      (ms) => ms.some((m) => m.event === 'reset' || m.id === hub.store.events.lastSeq()),
      20_000,
    );
    if (!resumed.messages.some((m) => m.event === 'reset')) await expectContiguous(resumed, lastComplete);
    resumed.close();
  }, 60_000);

  it('keeps a reading client through a replay larger than the write buffer', async () => {
    const from = hub.store.events.lastSeq();
    const pad = 'y'.repeat(20_000);
    appendMany(400, (n) => event('big', { data: { pad, n } })); // 8 MB: more than the 1 MiB buffer limit
    const client = await openSse(port, tokens.staff, { lastEventId: from });
    await expectContiguous(client, from);
    expect(client.events()).toHaveLength(400);
    client.close();
  }, 60_000);
});
