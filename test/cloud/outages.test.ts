import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CloudMirror } from '../../hub/cloud/mirror.js';
import { startHub } from '../helpers/hub.js';
import {
  appendEvents,
  HUB_ID,
  mirrorConfig,
  openHub,
  removeDir,
  startCloud,
  startMirror,
  type TestCloud,
  type TestHub,
  tempDir,
  waitFor,
} from './helpers.js';

function expectExactlyOnce(cloud: TestCloud, total: number): void {
  const events = cloud.cloud.events(HUB_ID, 0, total + 10);
  expect(events).toHaveLength(total);
  expect(events.map((e) => e.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
  for (let i = 1; i < events.length; i++) expect(events[i]!.prevHash).toBe(events[i - 1]!.hash);
}

/** A TCP relay whose traffic can be silently dropped, like a blackholed route. */
class Blackhole {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  dropping = false;
  port = 0;

  constructor(targetPort: number) {
    this.#server = createServer((client) => {
      const upstream = new Socket();
      upstream.connect(targetPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => this.#sockets.delete(socket));
      }
      client.on('data', (chunk) => {
        if (!this.dropping) upstream.write(chunk);
      });
      upstream.on('data', (chunk) => {
        if (!this.dropping) client.write(chunk);
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  async start(): Promise<void> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.port = (this.#server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

describe('outages', () => {
  let dir: string;
  let hub: TestHub;
  let cloud: TestCloud;
  let mirror: CloudMirror | undefined;

  beforeEach(async () => {
    dir = tempDir();
    hub = openHub(dir);
    cloud = await startCloud(dir);
  });

  afterEach(async () => {
    await mirror?.stop();
    mirror = undefined;
    await cloud.cloud.stop().catch(() => {});
    await hub.close();
    removeDir(dir);
  });

  it('events made while the cloud is stopped all arrive once after it returns', async () => {
    mirror = startMirror(hub.store, mirrorConfig(cloud));
    await mirror.start();
    appendEvents(hub.store, 300);
    await waitFor(
      () => mirror!.status().backlog === 0 && mirror!.status().lastSeq === 300,
      8000,
      'first drain',
    );

    await cloud.cloud.stop();
    await waitFor(() => !mirror!.status().connected, 5000, 'link down');
    appendEvents(hub.store, 700);
    const down = mirror.status();
    expect(down.connected).toBe(false);
    expect(down.backlog).toBe(700);
    expect(down.oldestUnsentSeq).toBe(301);
    expect(down.lastError).not.toBeNull();

    cloud = await startCloud(dir, cloud.port, cloud.token);
    await waitFor(
      () => mirror!.status().connected && mirror!.status().backlog === 0,
      10_000,
      'drained after return',
    );
    expectExactlyOnce(cloud, 1000);
  });

  it('survives a blackholed port: detects the dead link, reconnects, loses and duplicates nothing', async () => {
    const hole = new Blackhole(cloud.port);
    await hole.start();
    try {
      mirror = startMirror(hub.store, mirrorConfig({ ...cloud, port: hole.port }));
      await mirror.start();
      appendEvents(hub.store, 200);
      await waitFor(() => mirror!.status().connected && mirror!.status().backlog === 0, 8000, 'first drain');

      hole.dropping = true;
      appendEvents(hub.store, 500);
      await waitFor(() => !mirror!.status().connected, 8000, 'dead link detected');
      expect(mirror.status().backlog).toBeGreaterThan(0);

      hole.dropping = false;
      await waitFor(
        () => mirror!.status().connected && mirror!.status().backlog === 0,
        15_000,
        'drained after unblock',
      );
      expectExactlyOnce(cloud, 700);
    } finally {
      await mirror?.stop();
      mirror = undefined;
      await hole.stop();
    }
  });

  it('a whole hub killed with kill -9 mid-batch resends nothing twice in effect and loses nothing', async () => {
    await hub.close();
    const total = 3000;
    // The cloud stores but does not ack: when the hub dies its acked seq is behind what the cloud holds.
    cloud.cloud.faults.dropAcks = true;
    const config = { ...mirrorConfig(cloud), batchSize: 50, ackTimeoutMs: 60_000 };
    const child: ChildProcess = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        fileURLToPath(new URL('./fixtures/hub-child.ts', import.meta.url)),
        dir,
        JSON.stringify(config),
        String(total),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await waitFor(
        () => cloud.cloud.hubs()[0]!.storedSeq >= 100,
        15_000,
        'cloud received events from the child',
      );
    } finally {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    const storedAtKill = cloud.cloud.hubs()[0]!.storedSeq;

    // The same data directory, opened by a whole hub again (as after systemd restarts it).
    const restarted = await startHub(dir);
    try {
      const lastSeq = restarted.store.events.lastSeq();
      expect(lastSeq).toBeGreaterThanOrEqual(storedAtKill);
      cloud.cloud.faults.dropAcks = false;
      mirror = startMirror(restarted.store, mirrorConfig(cloud));
      await mirror.start();
      await waitFor(
        () => mirror!.status().connected && mirror!.status().backlog === 0,
        10_000,
        'drained after restart',
      );
      expectExactlyOnce(cloud, restarted.store.events.lastSeq());
      // It resumed from what the cloud holds, not from its own stale ack: nothing was even re-sent.
      expect(cloud.cloud.duplicatesIgnored).toBe(0);
      expect(restarted.store.events.verify().ok).toBe(true);
    } finally {
      await mirror?.stop();
      mirror = undefined;
      await restarted.stop();
      hub = openHub(dir); // for afterEach
    }
  });
});
