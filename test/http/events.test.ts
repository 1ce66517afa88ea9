// The event log over real HTTP on a real hub: filters, paging, times in both forms, hostile queries, the
// CSV export (escaping, injection guard, streaming) and what an installer may see.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../hub/app.js';
import type { HubEvent, NewEvent } from '../../hub/domain.js';
import { CSV_MAX_ROWS, csvCell, csvChunks } from '../../hub/http/events.js';
import { visibleEvent } from '../../hub/http/visibility.js';
import { removeDir, startHub, tempDataDir } from '../helpers/hub.js';
import { call } from './client.js';

const PASSWORD = 'correct horse battery';
/** 2025-01-01 12:00 UTC = 13:00 in Berlin; the fixture's events are one minute apart from here. */
const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const MIN = 60_000;

let dir: string;
let hub: Hub;
let port: number;
const tokens: Record<'admin' | 'staff' | 'installer', string> = { admin: '', staff: '', installer: '' };
/** The fixture's events by name, as stored. */
const ev: Record<string, HubEvent> = {};

const FIXTURE: Array<[string, NewEvent]> = [
  [
    'opened',
    { type: 'door.opened', doorId: 'front', personId: 'ada', credentialId: 'c-ada', data: { by: 'card' } },
  ],
  [
    'adaIn',
    {
      type: 'decision',
      doorId: 'front',
      personId: 'ada',
      credentialId: 'c-ada',
      data: { granted: true, reason: 'ok' },
    },
  ],
  [
    'bobOut',
    {
      type: 'decision',
      doorId: 'back',
      personId: 'bob',
      credentialId: 'c-bob',
      data: { granted: false, reason: 'revoked' },
    },
  ],
  [
    'forced',
    {
      type: 'alarm.forced_open',
      doorId: 'back',
      personId: null,
      credentialId: null,
      data: { mode: 'normal' },
    },
  ],
  [
    'added',
    {
      type: 'admin.person.added',
      doorId: null,
      personId: 'ada',
      credentialId: null,
      data: { actor: 'user:alice', name: 'Ada Lovelace', unitId: 'u1' },
    },
  ],
  [
    'lockdown',
    {
      type: 'admin.door.mode_changed',
      doorId: 'front',
      personId: null,
      credentialId: null,
      data: { actor: 'user:alice', from: 'normal', to: 'lockdown' },
    },
  ],
  [
    'rejected',
    {
      type: 'device.rejected',
      doorId: null,
      personId: null,
      credentialId: null,
      data: { device: 'dev1', topic: 'gatehouse/door/front/state', error: 'bad json', personId: 'ada' },
    },
  ],
  ['alarms', { type: 'alarms', doorId: 'front', personId: null, credentialId: null, data: {} }],
];
const WINDOW = `from=${T0}&until=${T0 + FIXTURE.length * MIN}`;

async function login(username: string): Promise<string> {
  const res = await call(port, 'POST', '/session', { body: { username, password: PASSWORD } });
  expect(res.status).toBe(200);
  return res.json.token as string;
}

async function get(
  url: string,
  role: keyof typeof tokens = 'staff',
): Promise<{ status: number; json: Record<string, unknown>; events: HubEvent[]; next: number | null }> {
  const res = await call(port, 'GET', url, { token: tokens[role] });
  return {
    status: res.status,
    json: res.json,
    events: (res.json.events ?? []) as HubEvent[],
    next: (res.json.next ?? null) as number | null,
  };
}

const seqs = (list: HubEvent[]) => list.map((e) => e.seq);
const named = (...names: string[]) => names.map((n) => ev[n]!.seq);

beforeAll(async () => {
  dir = tempDataDir();
  hub = await startHub(dir, {
    timeZone: 'Europe/Berlin',
    http: { http: { port: 0 }, https: { enabled: false } },
  });
  port = hub.addresses().http.http!;
  for (const role of ['admin', 'staff', 'installer'] as const) {
    await hub.store.users.add(`${role}1`, PASSWORD, role);
    tokens[role] = await login(`${role}1`);
  }
  FIXTURE.forEach(([name, event], i) => {
    ev[name] = hub.store.events.appendDurable({ ...event, ts: T0 + i * MIN });
  });
});

afterAll(async () => {
  await hub?.stop();
  removeDir(dir);
});

describe('GET /api/v1/events', () => {
  it('filters by door, person, type (with sub-types, or a prefix with *) and time, newest first', async () => {
    expect(seqs((await get(`/events?${WINDOW}`)).events)).toEqual(
      named('alarms', 'rejected', 'lockdown', 'added', 'forced', 'bobOut', 'adaIn', 'opened'),
    );
    expect(seqs((await get(`/events?door=front&${WINDOW}`)).events)).toEqual(
      named('alarms', 'lockdown', 'adaIn', 'opened'),
    );
    expect(seqs((await get('/events?person=ada')).events)).toEqual(named('added', 'adaIn', 'opened'));
    expect(seqs((await get('/events?type=alarm')).events)).toEqual(named('forced')); // not 'alarms'
    expect(seqs((await get('/events?type=alarm*')).events)).toEqual(named('alarms', 'forced'));
    expect(seqs((await get('/events?type=decision')).events)).toEqual(named('bobOut', 'adaIn'));
    expect(seqs((await get(`/events?type=admin&${WINDOW}`)).events)).toEqual(named('lockdown', 'added'));
    // from is inclusive, until exclusive.
    expect(seqs((await get(`/events?from=${T0 + 2 * MIN}&until=${T0 + 4 * MIN}`)).events)).toEqual(
      named('forced', 'bobOut'),
    );
    expect(seqs((await get(`/events?until=${T0 + MIN}`)).events)).toEqual(named('opened'));
  });

  it('combines filters', async () => {
    expect(seqs((await get('/events?door=front&type=decision')).events)).toEqual(named('adaIn'));
    expect(seqs((await get('/events?person=ada&door=front')).events)).toEqual(named('adaIn', 'opened'));
    expect(seqs((await get(`/events?person=ada&type=door&from=${T0}`)).events)).toEqual(named('opened'));
    expect(
      seqs((await get(`/events?door=back&type=decision&from=${T0}&until=${T0 + 3 * MIN}`)).events),
    ).toEqual(named('bobOut'));
    expect((await get('/events?person=bob&door=front')).events).toEqual([]);
  });

  it('takes times as epoch ms or ISO 8601: with Z, an offset, or on the building clock', async () => {
    const expected = named('forced', 'bobOut');
    for (const [from, until] of [
      [`${T0 + 2 * MIN}`, `${T0 + 4 * MIN}`],
      ['2025-01-01T12:02:00Z', '2025-01-01T12:04:00.000Z'],
      ['2025-01-01T13:02+01:00', '2025-01-01T07:04:00-05:00'],
      ['2025-01-01T13:02', '2025-01-01 13:04:00'], // Europe/Berlin, the hub's timeZone
    ]) {
      const page = await get(`/events?from=${encodeURIComponent(from!)}&until=${encodeURIComponent(until!)}`);
      expect(page.status, `${from} ${until}`).toBe(200);
      expect(seqs(page.events), `${from} ${until}`).toEqual(expected);
    }
    // A date alone is its local midnight: 2025-01-01 00:00 in Berlin is 2024-12-31 23:00 UTC.
    expect(seqs((await get('/events?from=2025-01-01&until=2025-01-02')).events)).toHaveLength(FIXTURE.length);
  });

  it('pages backwards with next until null, each event once', async () => {
    for (const limit of [3, 4, 8, 1]) {
      const seen: number[] = [];
      let before: number | null = null;
      let pages = 0;
      do {
        const page = await get(
          `/events?${WINDOW}&limit=${limit}${before === null ? '' : `&before=${before}`}`,
        );
        expect(page.status).toBe(200);
        expect(page.events.length).toBeLessThanOrEqual(limit);
        seen.push(...seqs(page.events));
        before = page.next;
        if (before !== null) expect(before).toBe(page.events[page.events.length - 1]!.seq);
        pages++;
      } while (before !== null);
      expect(seen).toEqual(
        named('alarms', 'rejected', 'lockdown', 'added', 'forced', 'bobOut', 'adaIn', 'opened'),
      );
      expect(pages).toBe(Math.ceil(FIXTURE.length / limit));
    }
    // The default page is 100; the answer is exactly { events, next }.
    const all = await get('/events');
    expect(Object.keys(all.json).sort()).toEqual(['events', 'next']);
  });

  it('keeps every field of an event; data.actor says who did it', async () => {
    const added = await call(port, 'POST', '/doors', {
      token: tokens.admin,
      body: { id: 'side', transport: 'sim' },
    });
    expect(added.status).toBe(201);
    const { events } = await get('/events?door=side&type=admin.door', 'staff');
    expect(events[0]).toMatchObject({
      type: 'admin.door.added',
      doorId: 'side',
      data: { actor: 'user:admin1' },
    });
    expect(Object.keys(events[0]!).sort()).toEqual([
      'credentialId',
      'data',
      'doorId',
      'hash',
      'personId',
      'prevHash',
      'seq',
      'ts',
      'type',
    ]);
  });

  it('refuses hostile and unknown query values with 400 before reading the log', async () => {
    const bad = [
      'limit=0',
      'limit=1001',
      'limit=99999',
      'limit=-1',
      'limit=1.5',
      'limit=1e3',
      'before=abc',
      'before=99999999999999999999',
      'before=-5',
      "door=x'%20OR%201=1%20--",
      'door=front;DROP%20TABLE%20events',
      "type=decision'%20OR%20'1'='1",
      'type=DROP%20TABLE%20events',
      'type=*',
      `type=${'a'.repeat(80)}`,
      'person=%27%29%3B--',
      'from=yesterday',
      'from=2025-02-30',
      'from=2025-01-01T25:00Z',
      'from=9999999999999999',
      `from=${'1'.repeat(41)}`,
      `from=${T0 + MIN}&until=${T0}`,
      'door=front&door=back',
      'foo=1',
      'Limit=5',
    ];
    for (const query of bad) {
      const res = await get(`/events?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.json.code, query).toBe('invalid');
    }
    expect(hub.store.events.verify().ok).toBe(true);
    expect((await get('/events?limit=1000')).status).toBe(200);
    expect((await call(port, 'GET', '/events')).status).toBe(401);
  });

  it('shows an installer only provisioning events, without person data; the person filter is refused', async () => {
    const page = await get(`/events?${WINDOW}`, 'installer');
    expect(page.status).toBe(200);
    expect(seqs(page.events)).toEqual(named('rejected', 'lockdown', 'forced', 'opened'));
    for (const e of page.events) {
      expect(e.personId).toBeNull();
      expect(e.credentialId).toBeNull();
      expect(JSON.stringify(e.data)).not.toMatch(/ada/i);
    }
    expect(page.events.find((e) => e.type === 'admin.door.mode_changed')!.data).toEqual({
      actor: 'user:alice',
      from: 'normal',
      to: 'lockdown',
    });
    expect((await get('/events?type=decision', 'installer')).events).toEqual([]);
    expect((await get('/events?type=admin.person', 'installer')).events).toEqual([]);
    const refused = await get('/events?person=ada', 'installer');
    expect(refused.status).toBe(403);
    expect(refused.json.code).toBe('forbidden');
    // Paging covers only what the installer sees: no empty pages in between.
    const first = await get(`/events?${WINDOW}&limit=2`, 'installer');
    expect(seqs(first.events)).toEqual(named('rejected', 'lockdown'));
    const second = await get(`/events?${WINDOW}&limit=2&before=${first.next}`, 'installer');
    expect(seqs(second.events)).toEqual(named('forced', 'opened'));
    expect(second.next).toBeNull();
  });
});

describe('role visibility', () => {
  it('is one function: admin and staff see the event unchanged; unknown types are hidden from installers', () => {
    const e = ev.opened!;
    expect(visibleEvent('admin', e)).toBe(e);
    expect(visibleEvent('staff', e)).toBe(e);
    expect(visibleEvent('installer', e)).toMatchObject({
      personId: null,
      credentialId: null,
      data: { by: 'card' },
    });
    expect(visibleEvent('installer', ev.adaIn!)).toBeNull();
    expect(visibleEvent('installer', { ...e, type: 'doors.other' })).toBeNull();
    expect(
      visibleEvent('installer', { ...e, type: 'door', data: { nested: [{ person: 'Ada', reader: 'r1' }] } })!
        .data,
    ).toEqual({
      nested: [{ reader: 'r1' }],
    });
  });
});

/** A minimal RFC 4180 reader (quoted cells, doubled quotes, CRLF inside quotes). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += c;
  }
  if (cell !== '' || row.length > 0) rows.push([...row, cell]);
  return rows;
}

function download(
  url: string,
  token: string,
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: `/api/v1${url}`,
        headers: { authorization: `Bearer ${token}` },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('GET /api/v1/events.csv', () => {
  it('is a CSV download with the same filters, RFC 4180 quoting and a formula guard', async () => {
    const ts = T0 + 100 * MIN;
    const hostile = [
      '=HYPERLINK("http://evil.example","click")',
      '+1+1',
      '-2+3',
      '@SUM(A1)',
      '\tcmd',
      '\rcmd',
      'Zoë "the boss", line\r\nbreak',
    ];
    hostile.forEach((actor, i) => {
      hub.store.events.appendDurable({
        type: 'admin.door.note',
        doorId: 'csvdoor',
        personId: null,
        credentialId: null,
        ts: ts + i,
        data: { actor, note: '=1+2', n: i },
      });
    });
    const res = await download(`/events.csv?door=csvdoor&from=${ts}&until=${ts + 60_000}`, tokens.staff);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe(
      'attachment; filename="gatehouse-events-20250101T134000Z-20250101T134100Z.csv"',
    );
    expect(res.text.startsWith('\ufeff')).toBe(true);
    const rows = parseCsv(res.text.slice(1));
    expect(rows[0]).toEqual([
      'seq',
      'time',
      'local_time',
      'type',
      'door',
      'person',
      'credential',
      'actor',
      'details',
    ]);
    const body = rows.slice(1);
    expect(body).toHaveLength(hostile.length);
    // Newest first; each actor as typed, with an apostrophe before a formula start.
    expect(body.map((r) => r[7])).toEqual(
      hostile.map((a) => (/^[=+\-@\t\r]/.test(a) ? `'${a}` : a)).reverse(),
    );
    const last = body[body.length - 1]!;
    expect(last[1]).toBe('2025-01-01T13:40:00.000Z');
    expect(last[2]).toBe('2025-01-01 14:40:00'); // Europe/Berlin
    expect(last[3]).toBe('admin.door.note');
    expect(last[4]).toBe('csvdoor');
    expect(JSON.parse(last[8]!)).toEqual({ note: '=1+2', n: 0 }); // details: the data without the actor
    // Every row has the nine columns, whatever the quotes and line breaks inside.
    for (const row of rows) expect(row).toHaveLength(9);
  });

  it('applies the cell guard and quoting to any cell', () => {
    expect(csvCell(null)).toBe('');
    expect(csvCell(42)).toBe('42');
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('=cmd|"/c calc"!A1')).toBe('"\'=cmd|""/c calc""!A1"');
    expect(csvCell('-1')).toBe("'-1");
    expect(csvCell('\r\n')).toBe('"\'\r\n"');
  });

  it('refuses what /events refuses, and an installer gets the filtered log', async () => {
    expect((await download('/events.csv?limit=5', tokens.staff)).status).toBe(400);
    expect((await download('/events.csv?from=never', tokens.staff)).status).toBe(400);
    expect((await download('/events.csv?person=ada', tokens.installer)).status).toBe(403);
    const res = await download(`/events.csv?${WINDOW}`, tokens.installer);
    expect(res.status).toBe(200);
    expect(res.headers['content-disposition']).toContain(
      'gatehouse-events-20250101T120000Z-20250101T120800Z.csv',
    );
    const rows = parseCsv(res.text.slice(1)).slice(1);
    expect(rows.map((r) => Number(r[0]))).toEqual(named('rejected', 'lockdown', 'forced', 'opened'));
    for (const row of rows) {
      expect(row[5]).toBe('');
      expect(row[6]).toBe('');
    }
    expect(res.text).not.toMatch(/ada/i);
  });

  it('streams 20,000 events from the database in pages', async () => {
    const ts = Date.UTC(2024, 5, 1);
    for (let i = 0; i < 20_000; i++) {
      hub.store.events.append({
        type: 'decision',
        doorId: 'bulk',
        personId: `p${i % 50}`,
        credentialId: null,
        ts: ts + i * 1000,
        data: { granted: i % 3 !== 0, reason: i % 3 === 0 ? 'no_access' : 'ok', i },
      });
    }
    hub.store.events.flush();
    const res = await download('/events.csv?door=bulk', tokens.admin);
    expect(res.status).toBe(200);
    // Sent in chunks as pages are read, not built whole first.
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(res.headers['content-length']).toBeUndefined();
    const rows = parseCsv(res.text.slice(1)).slice(1);
    expect(rows).toHaveLength(20_000);
    const seqList = rows.map((r) => Number(r[0]));
    expect(new Set(seqList).size).toBe(20_000);
    expect(seqList.every((s, i) => i === 0 || s < seqList[i - 1]!)).toBe(true);
    expect(JSON.parse(rows[0]![8]!)).toMatchObject({ i: 19_999 });
    expect(res.text).not.toContain('# capped');
  });

  it(`stops at the row cap (${CSV_MAX_ROWS} over HTTP) with a last comment line saying so`, () => {
    const text = [...csvChunks(hub.store, 'staff', { doorId: 'bulk' }, 'UTC', 1500)].join('');
    const lines = text.split('\r\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1 + 1500 + 1);
    expect(lines[lines.length - 1]).toMatch(/^# capped at 1500 rows/);
    const exact = [...csvChunks(hub.store, 'staff', { doorId: 'bulk' }, 'UTC', 20_000)].join('');
    expect(exact).not.toContain('# capped');
  });
});
