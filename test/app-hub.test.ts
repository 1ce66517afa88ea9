// The composition (hub/app.ts) as parts: the locks are safe before any listener opens, stop runs in
// reverse, a part that cannot start leaves nothing open, each part reports its status, and no log line
// names a part twice.
import net from 'node:net';
import { Writable } from 'node:stream';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { isSimDoorHardware } from '../adapters/factory.js';
import { Hub } from '../hub/app.js';
import { createLogger } from '../hub/logger.js';
import { removeDir, tempDataDir, testConfig } from './helpers/hub.js';

/** The order the composition promises (docs/architecture.md, "Start and stop order"). */
const PARTS = [
  'store',
  'hardware',
  'doors',
  'offline',
  'commands',
  'metrics',
  'decisions',
  'mobile',
  'readers',
  'certificates',
  'device-audit',
  'broker',
  'bridge-events',
  'http',
  'cloud',
  'backups',
  'retention',
  'watch',
];

const WIRED = {
  driver: 'sim',
  doors: [
    {
      door: 'garage',
      lock: { gpio: 17 },
      contact: { gpio: 27 },
      readers: [{ id: 'garage-nfc', type: 'pn532', path: '/dev/serial0', pollMs: 20, timeoutMs: 300 }],
      keypads: [{ id: 'garage-keypad', type: 'wiegand', d0: 5, d1: 6 }],
    },
  ],
};

interface Captured {
  hub: Hub;
  dir: string;
  raw: string[];
  lines: Array<Record<string, unknown>>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function capturedHub(extra: Record<string, unknown> = {}, dir = tempDataDir()): Captured {
  const raw: string[] = [];
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) {
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const hub = new Hub({
    config: testConfig(dir, { simulation: { door: 'front' }, ...extra }),
    logger: createLogger('debug', sink),
  });
  cleanups.push(async () => {
    await hub.stop();
    removeDir(dir);
  });
  return { hub, dir, raw, lines };
}

/** Keys that appear twice in one JSON object of `json`, at any depth (JSON.parse keeps only the last). */
function duplicateKeys(json: string): string[] {
  const found: string[] = [];
  const objects: Array<Set<string> | null> = []; // null: an array
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let end = i + 1;
      while (json[end] !== '"') end += json[end] === '\\' ? 2 : 1;
      const keys = objects.at(-1);
      if (keys && expectKey) {
        const key = JSON.parse(json.slice(i, end + 1)) as string;
        if (keys.has(key)) found.push(key);
        keys.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === '{') {
      objects.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      objects.push(null);
      expectKey = false;
    } else if (c === '}' || c === ']') {
      objects.pop();
    } else if (c === ',') {
      expectKey = objects.at(-1) != null;
    }
  }
  return found;
}

const partsThat = (lines: Array<Record<string, unknown>>, msg: string) =>
  lines.filter((l) => l.msg === msg && typeof l.part === 'string').map((l) => l.part as string);

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('the hub as an ordered list of parts', () => {
  it('the duplicate-key check sees a part named twice', () => {
    expect(duplicateKeys('{"level":30,"part":"doors","part":"door","msg":"x"}')).toEqual(['part']);
    expect(duplicateKeys('{"a":{"a":1,"b":"a,a"},"b":["a","a",{"c":1}],"c":"{\\"a\\""}')).toEqual([]);
  });

  it('starts every part in order, the locks safe before any listener opens, and stops them in reverse', async () => {
    const { hub, lines } = capturedHub({ hardware: WIRED });
    await hub.start();
    expect(partsThat(lines, 'started')).toEqual(PARTS);

    const index = (check: (l: Record<string, unknown>) => boolean) => lines.findIndex(check);
    const firstListener = index((l) => /listening/i.test(String(l.msg)));
    expect(firstListener).toBeGreaterThan(0);
    for (const door of ['front', 'garage']) {
      // Every lock was driven to its safe state (fail-secure: locked) before the first listener opened.
      const locked = index((l) => l.msg === 'relay changed' && l.door === door && l.lock === 'locked');
      expect(locked, door).toBeGreaterThanOrEqual(0);
      expect(locked, door).toBeLessThan(firstListener);
    }
    const hw = hub.wiredHardware('garage');
    if (!hw || !isSimDoorHardware(hw)) throw new Error('expected simulated wired hardware');
    expect(hw.lockEnergised()).toBe(false);
    expect(index((l) => l.msg === 'started' && l.part === 'doors')).toBeLessThan(firstListener);

    await hub.stop();
    expect(partsThat(lines, 'stopped')).toEqual([...PARTS].reverse());
    expect(() => hub.store).toThrow('hub is not started');
  });

  it('reports each part in its status, with the fields the API and CLI read', async () => {
    const { hub } = capturedHub();
    const stopped = hub.status();
    expect(stopped).toMatchObject({
      uptimeS: 0,
      mqtt: {},
      http: {},
      devicesOnline: 0,
      cloud: { state: 'stopped' },
      clock: null,
      doors: [],
    });
    expect(Object.values(stopped.parts as object).every((s) => s === 'stopped')).toBe(true);

    await hub.start();
    const running = hub.status();
    expect(Object.keys(running.parts as object)).toEqual(PARTS.filter((p) => p !== 'doorsync'));
    expect(Object.values(running.parts as object).every((s) => s === 'running')).toBe(true);
    expect(running).toMatchObject({
      version: expect.any(String),
      mqtt: { tcp: expect.any(Number), tls: expect.any(Number) },
      http: { http: expect.any(Number), https: expect.any(Number) },
      devicesOnline: 0,
      cloud: { state: 'disabled' },
      clock: { trusted: expect.any(Boolean) },
      doors: [{ doorId: 'front', lock: 'locked' }],
    });
    expect(hub.addresses()).toEqual({ mqtt: running.mqtt, http: running.http });

    await hub.stop();
    expect(hub.status()).toMatchObject({ mqtt: {}, http: {}, doors: [], cloud: { state: 'stopped' } });
  });

  it('lists door sync as a part when it is enabled', async () => {
    const { hub } = capturedHub({ doorSync: { enabled: true } });
    await hub.start();
    const parts = Object.keys(hub.status().parts as object);
    expect(parts.indexOf('doorsync')).toBeGreaterThan(parts.indexOf('broker'));
    expect(parts.indexOf('doorsync')).toBeLessThan(parts.indexOf('http'));
  });

  it('a part that cannot start leaves nothing open: the parts before it are stopped in reverse', async () => {
    // The HTTPS port is taken, so the http part fails after its plain HTTP listener opened.
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => blocker.close(() => resolve())));
    const taken = (blocker.address() as net.AddressInfo).port;
    const dir = tempDataDir();
    const { hub, lines } = capturedHub(
      { http: { http: { port: 0 }, https: { port: taken, host: '127.0.0.1' } } },
      dir,
    );

    await expect(hub.start()).rejects.toThrow(/EADDRINUSE/);
    const parts = hub.status().parts as Record<string, string>;
    expect(parts.http).toBe('failed');
    for (const name of PARTS.filter((p) => p !== 'http')) expect(parts[name], name).toBe('stopped');
    const started = partsThat(lines, 'started');
    expect(started).toEqual(PARTS.slice(0, PARTS.indexOf('http')));
    // The failing part first: it releases what it had opened (the plain HTTP listener).
    expect(partsThat(lines, 'stopped')).toEqual(['http', ...[...started].reverse()]);
    expect(lines.some((l) => l.part === 'http' && /could not start/.test(String(l.msg)))).toBe(true);

    // What had opened is closed again: the MQTT listeners and the plain HTTP one.
    const mqttPort = (lines.find((l) => l.msg === 'MQTT listening (plain TCP)')!.address as { port: number })
      .port;
    const httpPort = Number(
      /:(\d+)$/.exec(String(lines.find((l) => /^Server listening at http:/.test(String(l.msg)))!.msg))![1],
    );
    expect(await refused(mqttPort)).toBe(true);
    expect(await refused(httpPort)).toBe(true);
    expect(() => hub.store).toThrow('hub is not started');

    // The data directory is fine for the next start.
    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    const again = new Hub({ config: testConfig(dir, { simulation: { door: 'front' } }) });
    cleanups.push(() => again.stop());
    await again.start();
    expect(again.store.doors.list().map((d) => d.id)).toEqual(['front']);
  });

  it('emits no log line with a duplicated key, whatever the parts log', async () => {
    const { hub, raw } = capturedHub({ hardware: WIRED, doorSync: { enabled: true } });
    await hub.start();
    const { store } = hub;
    store.people.add({ id: 'ada', name: 'Ada', kind: 'resident' });
    store.credentials.addCard('ada', '04A2B3C4D5E6F7');
    store.groups.add({ id: 'residents', name: 'Residents' });
    store.groups.addDoor('residents', 'garage');
    store.groups.addMember('residents', 'ada');
    const hw = hub.wiredHardware('garage');
    if (!hw || !isSimDoorHardware(hw)) throw new Error('expected simulated wired hardware');
    await until('reader online', () => hw.readers[0]!.health().online);
    // A grant (doors, decisions, relay), an unknown card, a door left open, a refused MQTT login, an API call.
    hw.presentCard('04a2b3c4d5e6f7', { readerId: 'garage-nfc' });
    await until('relay energised', () => hw.lockEnergised());
    hw.presentCard('DEADBEEF', { readerId: 'garage-nfc' });
    const sim = hub.simDoors.get('front')!;
    sim.open();
    sim.close();
    const client = mqtt.connect(`mqtt://127.0.0.1:${hub.addresses().mqtt.tcp}`, {
      username: 'nobody',
      password: 'wrong',
      reconnectPeriod: 0,
    });
    await new Promise<void>((resolve) =>
      client.once('error', () => resolve()).once('close', () => resolve()),
    );
    client.end(true);
    await fetch(`http://127.0.0.1:${hub.addresses().http.http}/api/v1/health`);
    await until('relay released', () => !hw.lockEnergised());
    await hub.stop();

    expect(raw.length).toBeGreaterThan(40);
    const doubled = raw.filter((line) => duplicateKeys(line).length > 0);
    expect(doubled).toEqual([]);
    // Door lines say which door in their own key.
    expect(raw.some((l) => l.includes('"part":"doors"') && l.includes('"door":"garage"'))).toBe(true);
  });
});
