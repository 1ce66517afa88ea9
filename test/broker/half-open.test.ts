// Issue #8 §2 and §3: sockets that never log in cannot lock devices out, and abuse writes a bounded
// number of log lines. The attacker uses 127.0.0.2 (another host, as on a LAN); devices use 127.0.0.1.
import net from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BACK,
  closeClients,
  connect,
  connectRefused,
  FRONT,
  NODE_RED,
  type Rig,
  startRig,
} from './helpers.js';

const ATTACKER = '127.0.0.2';

/** Holds `count` sockets from `localAddress` that never send CONNECT, re-opening each one dropped. */
function holdSockets(port: number, count: number, localAddress = ATTACKER) {
  let running = true;
  let opened = 0;
  const live = new Set<net.Socket>();
  const open = () => {
    if (!running) return;
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    opened++;
    live.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => {
      live.delete(socket);
      setTimeout(open, 5);
    });
  };
  for (let i = 0; i < count; i++) open();
  return {
    get opened() {
      return opened;
    },
    stop() {
      running = false;
      for (const s of live) s.destroy();
    },
  };
}

function logSink() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(line);
      done();
    },
  });
  return { lines, stream };
}

/** The broker alone has no decision service: answer every presentation at once, granted. */
function decideEverything(rig: Rig): void {
  rig.bus.on({}, 'presented', (p) => rig.bus.emit('decided', p, { granted: true, reason: 'granted' }));
}

async function presentAndWait(
  port: number,
  account: { id: string; secret: string },
  door: string,
  n: number,
) {
  const device = await connect(port, account, { connectTimeout: 10_000 });
  await device.subscribeAsync(`gatehouse/door/${door}/decision`, { qos: 1 });
  const reasons: string[] = [];
  for (let i = 0; i < n; i++) {
    const answer = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no decision within 10 s')), 10_000);
      device.on('message', (_t, payload) => {
        const d = JSON.parse(payload.toString()) as { id: string; reason: string };
        if (d.id !== `p${i}`) return;
        clearTimeout(timer);
        resolve(d.reason);
      });
    });
    device.publish(`gatehouse/door/${door}/credential`, `{"id":"p${i}","kind":"card","value":"01"}`, {
      qos: 1,
    });
    reasons.push(await answer);
  }
  return reasons;
}

describe('connections that have not logged in', () => {
  let rig: Rig | undefined;
  let attack: ReturnType<typeof holdSockets> | undefined;
  afterEach(async () => {
    attack?.stop();
    attack = undefined;
    await closeClients();
    await rig?.stop();
    rig = undefined;
  });

  it('1,000 held sockets (re-opened when dropped) do not keep a device from connecting and being answered', async () => {
    const { lines, stream } = logSink();
    rig = await startRig({ logger: pino({ level: 'info' }, stream) });
    decideEverything(rig);
    attack = holdSockets(rig.port, 1000);
    await new Promise((r) => setTimeout(r, 1000));
    const started = lines.length;

    for (let round = 0; round < 3; round++) {
      expect(await presentAndWait(rig.port, FRONT, 'front', 5)).toEqual(Array(5).fill('granted'));
      await closeClients();
    }
    await new Promise((r) => setTimeout(r, 1000));
    attack.stop();
    // §3: a few lines per source and minute, not one per socket (231,097 lines for 600 sockets before).
    expect(attack.opened).toBeGreaterThan(1000);
    expect(lines.length - started).toBeLessThan(60);
  }, 60_000);

  it('do not count against maxClients, which only logged-in devices fill', async () => {
    rig = await startRig({ maxClients: 2 });
    decideEverything(rig);
    attack = holdSockets(rig.port, 300);
    await new Promise((r) => setTimeout(r, 500));
    expect(await presentAndWait(rig.port, FRONT, 'front', 2)).toEqual(['granted', 'granted']);
    expect((await connect(rig.port, BACK)).connected).toBe(true);
    // The third logged-in connection is over maxClients: CONNACK 3.
    expect(await connectRefused(rig.port, { username: NODE_RED.id, password: NODE_RED.secret })).toBe(3);
  }, 30_000);

  it('are closed after connectTimeoutMs; one address may hold only a few of them', async () => {
    rig = await startRig({ limits: { connectTimeoutMs: 300, maxUnauthenticatedPerAddress: 3 } });
    const sockets = Array.from({ length: 6 }, () =>
      net.connect({ port: rig!.port, host: '127.0.0.1', localAddress: ATTACKER }),
    );
    const closedAt = sockets.map(
      (s) =>
        new Promise<number>((resolve) => {
          const t0 = Date.now();
          s.on('error', () => {});
          s.on('close', () => resolve(Date.now() - t0));
        }),
    );
    const times = await Promise.all(closedAt);
    // The three oldest made room for the three newest at once; those timed out.
    expect(times.filter((t) => t < 250)).toHaveLength(3);
    expect(times.every((t) => t < 3000)).toBe(true);
  });

  it('a new-connection rate per address: beyond its burst, connections are closed at once', async () => {
    rig = await startRig({ limits: { connectionsPerSecondPerAddress: 1, connectionBurstPerAddress: 3 } });
    const sockets = Array.from({ length: 6 }, () =>
      net.connect({ port: rig!.port, host: '127.0.0.1', localAddress: ATTACKER }),
    );
    const closedSoon = sockets.map(
      (s) =>
        new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), 500);
          s.on('error', () => {});
          s.on('close', () => {
            clearTimeout(timer);
            resolve(true);
          });
        }),
    );
    const outcomes = await Promise.all(closedSoon);
    for (const s of sockets) s.destroy();
    expect(outcomes.filter((closed) => !closed)).toHaveLength(3);
  });

  it('200 wrong passwords write a handful of log lines', async () => {
    const { lines, stream } = logSink();
    rig = await startRig({ logger: pino({ level: 'info' }, stream) });
    for (let i = 0; i < 200; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, () =>
          connectRefused(rig!.port, { username: FRONT.id, password: 'wrong', clientId: `w${Math.random()}` }),
        ),
      );
    }
    expect(lines.filter((l) => l.includes('MQTT login refused')).length).toBeLessThanOrEqual(5);
    expect(lines.length).toBeLessThan(15);
  }, 30_000);
});
