// A dead PN532 on a wired door, through the whole hub: one alarm when it goes offline however many
// retries follow, one event when it is back, and its state in the status, the doors list and
// `gatehouse status` meanwhile (issue 8 §3: it used to write an alarm on every failed retry).
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSimDoorHardware, type SimDoorHardware } from '../../adapters/factory.js';
import type { Pn532Reader } from '../../adapters/pn532/reader.js';
import { Hub } from '../../hub/app.js';
import { createLogger } from '../../hub/logger.js';
import { cli, removeDir, tempDataDir, testConfig } from '../helpers/hub.js';

let dir: string;
let hub: Hub;
let hw: SimDoorHardware;
let baseUrl: string;
let token: string;
const logLines: Array<Record<string, unknown>> = [];

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Events of a type since `afterSeq` (what happened before the drill does not count). */
const events = (type: string, afterSeq = 0) =>
  hub.store.events.list({ type, doorId: 'garage', limit: 1000 }).filter((e) => e.seq > afterSeq);
const lastSeq = () => hub.store.events.list({ limit: 1 })[0]?.seq ?? 0;
const reader = () => hw.readers[0] as Pn532Reader;
const readerState = () =>
  (hub.status().doors as Array<{ doorId: string; readers?: Array<{ id: string; state: string }> }>).find(
    (d) => d.doorId === 'garage',
  )?.readers?.[0]?.state;

async function get(path: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${baseUrl}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

beforeAll(async () => {
  dir = tempDataDir();
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line));
      done();
    },
  });
  hub = new Hub({
    config: testConfig(dir, {
      hardware: {
        driver: 'sim',
        doors: [
          {
            door: 'garage',
            lock: { gpio: 17 },
            // Short timings: many retries in a few seconds (not the shortest: a busy test machine would
            // time out a healthy reader now and then, which is a real outage as far as the hub can tell).
            readers: [{ id: 'garage-nfc', type: 'pn532', path: '/dev/serial0', pollMs: 20, timeoutMs: 200 }],
          },
        ],
      },
    }),
    logger: createLogger('info', sink),
  });
  await hub.start();
  const found = hub.wiredHardware('garage');
  if (!found || !isSimDoorHardware(found)) throw new Error('expected simulated wired hardware');
  hw = found;
  baseUrl = `http://127.0.0.1:${hub.addresses().http.http}`;
  await hub.store.users.add('ines', 'installer passphrase', 'installer');
  const login = await fetch(`${baseUrl}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'ines', password: 'installer passphrase' }),
  });
  token = ((await login.json()) as { token: string }).token;
  await until('reader online', () => reader().health().online);
});

afterAll(async () => {
  await hub?.stop();
  removeDir(dir);
});

describe('a PN532 that stops answering', () => {
  it('is one alarm however many retries fail, shows offline everywhere, and one event when it is back', async () => {
    expect(readerState()).toBe('online');
    const emulator = hw.pn532('garage-nfc')!.emulator;
    const timeoutsBefore = reader().stats.timeouts;
    const linesBefore = logLines.length;
    hub.store.events.flush();
    const from = lastSeq();
    emulator.silent = true;

    await until('offline in status', () => readerState() === 'offline');
    // The retry loop keeps trying: let it fail many times.
    await until('30 failed retries', () => reader().stats.timeouts - timeoutsBefore >= 30, 30_000);
    hub.store.events.flush();
    expect(events('alarm.reader_offline', from)).toHaveLength(1);
    expect(events('alarm.reader_offline', from)[0]!.data).toMatchObject({ reader: 'garage-nfc' });
    expect(events('alarm.reader_offline_cleared', from)).toHaveLength(0);
    // The retries are quiet in the log too: one line for the change, not one per retry.
    const readerLines = logLines.slice(linesBefore).filter((l) => String(l.msg).startsWith('pn532'));
    expect(readerLines.length).toBeLessThanOrEqual(3);

    // Meanwhile: GET /status, the doors list and `gatehouse status` show the reader offline.
    const status = (await get('/status')) as {
      doors: Array<{ doorId: string; online: boolean; readers: unknown }>;
    };
    expect(status.doors.find((d) => d.doorId === 'garage')?.readers).toEqual([
      expect.objectContaining({ id: 'garage-nfc', state: 'offline', since: expect.any(Number) }),
    ]);
    const doors = (await get('/doors')) as { doors: Array<{ id: string; status: { readers: unknown } }> };
    expect(doors.doors.find((d) => d.id === 'garage')?.status.readers).toEqual([
      expect.objectContaining({ id: 'garage-nfc', state: 'offline', lastError: expect.any(String) }),
    ]);
    // The operator's view (the compiled CLI: `npm test` builds it first).
    const shown = await cli(dir, ['status']);
    expect(shown.stderr).toBe('');
    expect(shown.stdout).toMatch(/READERS/);
    expect(shown.stdout).toMatch(/garage-nfc OFFLINE since/);

    emulator.silent = false;
    await until('online again', () => readerState() === 'online', 20_000);
    hub.store.events.flush();
    expect(events('alarm.reader_offline', from)).toHaveLength(1);
    expect(events('alarm.reader_offline_cleared', from)).toHaveLength(1);
    expect((await get('/doors')).doors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          id: 'garage',
          status: expect.objectContaining({ readers: [expect.objectContaining({ state: 'online' })] }),
        }),
      ]),
    );
  }, 60_000);

  it('is one more alarm and one more event when its cable is unplugged and plugged back', async () => {
    const { cable } = hw.pn532('garage-nfc')!;
    const opensBefore = reader().stats.opens;
    hub.store.events.flush();
    const from = lastSeq();
    cable.unplug();
    await until('offline', () => readerState() === 'offline');
    // Reopening fails once a second while unplugged; several attempts go by.
    await new Promise((r) => setTimeout(r, 3500));
    hub.store.events.flush();
    expect(events('alarm.reader_offline', from)).toHaveLength(1);
    cable.replug();
    await until('online again', () => readerState() === 'online', 20_000);
    expect(reader().stats.opens).toBeGreaterThan(opensBefore);
    hub.store.events.flush();
    expect(events('alarm.reader_offline', from)).toHaveLength(1);
    expect(events('alarm.reader_offline_cleared', from)).toHaveLength(1);
  }, 30_000);
});
