// Shared setup for the cloud tests: a real hub store, a real development cloud on loopback (TLS),
// and a mirror between them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevCloud } from '../../deploy/dev-cloud/server.js';
import { type CloudConfig, parseCloudConfig } from '../../hub/cloud/config.js';
import { CloudMirror } from '../../hub/cloud/mirror.js';
import type { CloudCommandHandler } from '../../hub/cloud/port.js';
import { StoreCloudPort } from '../../hub/cloud/store-port.js';
import { ensureCertificates } from '../../hub/pki/certificates.js';
import { openDatabase } from '../../hub/store/db.js';
import { HubKeys } from '../../hub/store/keys.js';
import { Store } from '../../hub/store/store.js';

export const HUB_ID = 'hub-1';

export function tempDir(prefix = 'gatehouse-cloud-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface TestHub {
  dir: string;
  store: Store;
  close(): Promise<void>;
}

export function openHub(dir: string): TestHub {
  const db = openDatabase(join(dir, 'gatehouse.db'));
  const keys = HubKeys.loadOrCreate(dir);
  const store = new Store(db, keys);
  return {
    dir,
    store,
    async close() {
      await store.stop();
      db.close();
    },
  };
}

export interface TestCloud {
  cloud: DevCloud;
  port: number;
  caFile: string;
  token: string;
}

/** A dev cloud with a generated CA on 127.0.0.1; `port` 0 picks a free one. */
export async function startCloud(dir: string, port = 0, token?: string): Promise<TestCloud> {
  const tlsDir = join(dir, 'cloud-tls');
  const certs = await ensureCertificates(tlsDir, { hostnames: ['localhost'] });
  const cloud = new DevCloud({
    dbFile: join(dir, 'cloud.db'),
    listen: `127.0.0.1:${port}`,
    tls: { certPem: certs.serverCertPem, keyPem: certs.serverKeyPem },
    commandTimeoutMs: 5000,
  });
  const started = await cloud.start();
  const hubToken =
    cloud.hubs().some((hub) => hub.id === HUB_ID) && token ? token : cloud.addHub(HUB_ID, token);
  return { cloud, port: started.port, caFile: join(tlsDir, 'ca.crt'), token: hubToken };
}

export function mirrorConfig(
  cloud: { port: number; caFile: string; token: string },
  extra: Record<string, unknown> = {},
): CloudConfig {
  return parseCloudConfig({
    enabled: true,
    address: `127.0.0.1:${cloud.port}`,
    hubId: HUB_ID,
    token: cloud.token,
    caFile: cloud.caFile,
    serverName: 'localhost',
    backoff: { minMs: 50, maxMs: 400 },
    keepaliveMs: 300,
    ackTimeoutMs: 2000,
    connectTimeoutMs: 2000,
    maxEventsPerSecond: 1_000_000, // tests want the drain unpaced
    ...extra,
  });
}

export class RecordingCommands implements CloudCommandHandler {
  readonly calls: Array<{ kind: string; doorId: string; arg: number | string }> = [];
  unlock(doorId: string, ms: number): void {
    if (doorId === 'no-such-door') throw new Error(`unknown door '${doorId}'`);
    this.calls.push({ kind: 'unlock', doorId, arg: ms });
  }
  setMode(doorId: string, mode: string): void {
    this.calls.push({ kind: 'set_mode', doorId, arg: mode });
  }
}

export function startMirror(
  store: Store,
  config: CloudConfig,
  commands: CloudCommandHandler = new RecordingCommands(),
): CloudMirror {
  return new CloudMirror({ config, port: new StoreCloudPort(store), commands, software: 'gatehouse/test' });
}

export async function waitFor<T>(
  probe: () => T | undefined | null | false,
  timeoutMs = 8000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Adds n decision-like events through the real event log (group-committed). */
export function appendEvents(store: Store, n: number, type = 'decision'): void {
  for (let i = 0; i < n; i++) {
    store.events.append({
      type,
      doorId: 'front',
      personId: null,
      credentialId: null,
      data: { i, granted: false, reason: 'unknown_credential' },
    });
  }
  store.events.flush();
}
