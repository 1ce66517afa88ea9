// Loopback socket churn (docs/mqtt.md §9): sockets from 127.0.0.1 that never send CONNECT, re-opened as
// soon as the hub closes them. Loopback is exempt from the per-address limits; its own budget of new
// connections bounds how many the hub takes (the rest are dropped at accept), while a device that is
// already connected keeps its answers.
import net from 'node:net';
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { closeClients, connect, FRONT, type Rig, startRig } from './helpers.js';
import { connectPacket } from './raw.js';

const LOOPBACK_RATE = 100;
const LOOPBACK_BURST = 100;
const PENDING_PER_ADDRESS = 8;

/** Holds `count` sockets from 127.0.0.1 that never send anything, re-opening each one at once when closed. */
function churn(port: number, count: number) {
  let running = true;
  let opened = 0;
  const live = new Set<net.Socket>();
  const open = () => {
    if (!running) return;
    const socket = net.connect({ port, host: '127.0.0.1' });
    opened++;
    live.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => {
      live.delete(socket);
      setImmediate(open);
    });
  };
  for (let i = 0; i < count; i++) open();
  return {
    get opened() {
      return opened;
    },
    stop() {
      running = false;
      for (const socket of live) socket.destroy();
    },
  };
}

/** Presents a card on `door` and resolves with the decision's reason (rejects after 5 s). */
function present(device: MqttClient, door: string, id: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      device.off('message', onMessage);
      reject(new Error(`no decision for ${id} within 5 s`));
    }, 5000);
    const onMessage = (_topic: string, payload: Buffer) => {
      const decision = JSON.parse(payload.toString()) as { id?: string; reason?: string };
      if (decision.id !== id) return;
      clearTimeout(timer);
      device.off('message', onMessage);
      resolve(String(decision.reason));
    };
    device.on('message', onMessage);
    device.publish(`gatehouse/door/${door}/credential`, JSON.stringify({ id, kind: 'card', value: '01' }), {
      qos: 1,
    });
  });
}

describe('loopback churn of sockets that never send CONNECT', () => {
  let rig: Rig | undefined;
  let attack: ReturnType<typeof churn> | undefined;
  afterEach(async () => {
    attack?.stop();
    attack = undefined;
    await closeClients();
    await rig?.stop();
    rig = undefined;
  });

  it('the hub takes at most the loopback budget, holds at most the pending cap, and a connected door keeps its answers', async () => {
    rig = await startRig({
      limits: {
        loopbackConnectionsPerSecond: LOOPBACK_RATE,
        loopbackConnectionBurst: LOOPBACK_BURST,
        maxUnauthenticatedPerAddress: PENDING_PER_ADDRESS,
      },
    });
    const broker = rig.broker;
    rig.bus.on({}, 'presented', (p) => rig!.bus.emit('decided', p, { granted: true, reason: 'granted' }));
    const device = await connect(rig.port, FRONT);
    await device.subscribeAsync('gatehouse/door/front/decision', { qos: 1 });

    let maxPending = 0;
    const sampler = setInterval(() => {
      maxPending = Math.max(maxPending, broker.connectingClients());
    }, 2);
    const started = performance.now();
    attack = churn(rig.port, 300);
    const reasons: string[] = [];
    for (let i = 0; i < 20; i++) {
      reasons.push(await present(device, 'front', `c${i}`));
      await new Promise((r) => setTimeout(r, 50));
    }
    const pendingAtEnd = broker.connectingClients();
    const shed = broker.shedConnections();
    const seconds = (performance.now() - started) / 1000;
    const opened = attack.opened;
    attack.stop();
    clearInterval(sampler);

    expect(reasons).toEqual(Array(20).fill('granted'));
    expect(maxPending).toBeLessThanOrEqual(PENDING_PER_ADDRESS);
    // Every socket the hub took is pending, was pushed out by a newer one, or timed out.
    const taken = shed.pushedOut + shed.connectTimeout + pendingAtEnd;
    expect(taken).toBeLessThanOrEqual(LOOPBACK_BURST + LOOPBACK_RATE * seconds + PENDING_PER_ADDRESS);
    // The churn was real: most of it was dropped at accept, and counted.
    expect(shed.loopbackBudget).toBeGreaterThan(taken);
    expect(opened).toBeGreaterThan(2 * taken);
  }, 30_000);

  it('once the churn stops, a local tool connects again', async () => {
    rig = await startRig({ limits: { loopbackConnectionsPerSecond: 50, loopbackConnectionBurst: 20 } });
    attack = churn(rig.port, 100);
    await new Promise((r) => setTimeout(r, 300));
    attack.stop();
    attack = undefined;
    await new Promise((r) => setTimeout(r, 200));
    expect(rig.broker.shedConnections().loopbackBudget).toBeGreaterThan(0);
    expect((await connect(rig.port, FRONT)).connected).toBe(true);
  }, 15_000);

  it('a CONNECT whose first byte arrives alone is read whole (aedes takes a socket only at its first byte)', async () => {
    rig = await startRig();
    const bytes = connectPacket({ clientId: 'split', username: FRONT.id, password: FRONT.secret });
    const connack = await new Promise<Buffer>((resolve, reject) => {
      const socket = net.connect({ port: rig!.port, host: '127.0.0.1' });
      const timer = setTimeout(() => reject(new Error('no CONNACK within 3 s')), 3000);
      socket.on('error', reject);
      socket.once('data', (data: Buffer) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(data);
      });
      socket.on('connect', () => {
        socket.write(bytes.subarray(0, 1));
        setTimeout(() => socket.write(bytes.subarray(1)), 100);
      });
    });
    expect([...connack.subarray(0, 4)]).toEqual([0x20, 2, 0, 0]);
  });
});
