// Resource limits that keep a misbehaving client from tying up the broker.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closeClients, connect, FRONT, type Rig, startRig } from './helpers.js';

describe('broker limits', () => {
  let rig: Rig | undefined;
  afterEach(async () => {
    await closeClients();
    await rig?.stop();
    rig = undefined;
  });

  it('closes a socket that never sends CONNECT, and keeps serving others', async () => {
    rig = await startRig({ connectTimeoutMs: 300 });
    const port = rig.port;
    const outcome = await new Promise<string>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      const guard = setTimeout(() => {
        socket.destroy();
        resolve('still open after 5 s');
      }, 5000);
      socket.on('error', () => {});
      socket.on('close', () => {
        clearTimeout(guard);
        resolve('closed by the broker');
      });
      socket.resume();
    });
    expect(outcome).toBe('closed by the broker');
    expect((await connect(port, FRONT)).connected).toBe(true);
  });
});

describe('per-address connection limit', () => {
  it('refuses connections from one address beyond the limit; loopback is exempt by default', async () => {
    const rig = await startRig({ maxConnectionsPerAddress: 2, unlimitedAddresses: [] });
    try {
      await connect(rig.port, FRONT, { clientId: 'a' });
      await connect(rig.port, FRONT, { clientId: 'b' });
      const third = await new Promise<string>((resolve) => {
        const socket = net.connect(rig.port, '127.0.0.1');
        socket.on('error', () => {});
        socket.on('close', () => resolve('closed by the broker'));
        socket.resume();
      });
      expect(third).toBe('closed by the broker');
    } finally {
      await closeClients();
      await rig.stop();
    }

    const exempt = await startRig({ maxConnectionsPerAddress: 1 });
    try {
      await connect(exempt.port, FRONT, { clientId: 'a' });
      expect((await connect(exempt.port, FRONT, { clientId: 'b' })).connected).toBe(true);
    } finally {
      await closeClients();
      await exempt.stop();
    }
  });
});
