// How often a hub whose cloud is down knocks (hub/cloud/mirror.ts, docs/cloud-protocol.md "Reconnecting"):
// each attempt of the hub's back-off opens one TCP connection, and grpc-js adds at most one more per failed
// attempt (its subchannel redials once after grpc.initial_reconnect_backoff_ms although the channel is
// closed: a known grpc-js behaviour). A listener that accepts and drops every connection counts them.
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { CloudConfig } from '../../hub/cloud/config.js';
import type { CloudMirror } from '../../hub/cloud/mirror.js';
import { HUB_ID, mirrorConfig, openHub, removeDir, startMirror, type TestHub, tempDir } from './helpers.js';

describe('cloud dials', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('at most two connections per attempt of the hub’s own back-off, never a storm', async () => {
    const accepted: number[] = [];
    const sockets = new Set<Socket>();
    const server: Server = createServer((socket) => {
      accepted.push(Date.now());
      sockets.add(socket);
      socket.destroy();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));

    const dir = tempDir();
    cleanups.push(() => removeDir(dir));
    const hub: TestHub = openHub(dir);
    cleanups.push(() => hub.close());
    // A plaintext cloud address: the attempt fails at the first bytes, as against a dead TLS endpoint.
    const {
      caFile: _ca,
      serverName: _name,
      ...plain
    } = mirrorConfig(
      { port, caFile: 'unused', token: 'token-for-the-test-0123456789' },
      { insecurePlaintext: true, backoff: { minMs: 300, maxMs: 600 } },
    );
    const config = plain as CloudConfig;
    expect(config.hubId).toBe(HUB_ID);
    const mirror: CloudMirror = startMirror(hub.store, config);
    cleanups.push(() => mirror.stop());
    await mirror.start();
    await new Promise((resolve) => setTimeout(resolve, 4000));
    const attempts = mirror.status().failedAttempts;
    await mirror.stop();
    await new Promise((resolve) => setTimeout(resolve, 1500)); // a dial grpc-js kept for itself shows here
    expect(attempts).toBeGreaterThanOrEqual(4);
    // The attempt under way when the window closed may or may not have been counted yet.
    expect(accepted.length).toBeGreaterThanOrEqual(attempts);
    expect(accepted.length).toBeLessThanOrEqual(2 * (attempts + 1));
  }, 20_000);
});
