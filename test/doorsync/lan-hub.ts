// The hub's LAN side on real parts, wired as hub/app.ts wires them: store (temp dir), bus, the real
// MQTT broker on 127.0.0.1 port 0, door sync and mobile access. Other processes (the CLI) reach
// the running parts through store.watch, as in the hub.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MqttBroker } from '../../hub/broker/index.js';
import { EventBus } from '../../hub/bus.js';
import { DoorSync } from '../../hub/doorsync/service.js';
import { IssuerKey, trustedIssuers } from '../../hub/mobile/issuer.js';
import { MobileAccess } from '../../hub/mobile/service.js';
import { MobileVerifier } from '../../hub/mobile/verifier.js';
import { type OpenedStore, openHubStore } from '../../hub/open-store.js';

export interface LanHub {
  dataDir: string;
  opened: OpenedStore;
  bus: EventBus;
  issuer: IssuerKey;
  broker: MqttBroker;
  doorSync: DoorSync;
  mobile: MobileAccess;
  port: number;
  /** Runs `fn` on a second connection, as the CLI (another process) does. */
  cli<T>(fn: (store: OpenedStore['store']) => T): T;
  stop(): Promise<void>;
}

export async function startLanHub(
  seed: (store: OpenedStore['store']) => void,
  watchMs = 200,
): Promise<LanHub> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gh-lan-'));
  const opened = openHubStore(dataDir);
  const { store } = opened;
  seed(store);
  const bus = new EventBus();
  store.events.onStored((events) => {
    for (const e of events) bus.emit('event', e);
  });
  const issuer = IssuerKey.loadOrCreate(dataDir);
  const broker = new MqttBroker({
    baseTopic: 'gatehouse',
    tcp: { host: '127.0.0.1', port: 0 },
    tls: null,
    directory: { authenticate: (username, secret) => store.devices.verify(username, secret) },
    bus,
  });
  const doorSync = new DoorSync({
    store,
    bus,
    signingKey: issuer.privateKey,
    publish: (doorId, channel, message, retain) => broker.publishToDoor(doorId, channel, message, retain),
    pinKey: opened.keys.subkey('pin'),
    cardKey: opened.keys.subkey('card'),
    timeZone: 'Europe/Berlin',
  });
  const verifier = new MobileVerifier({ store, issuers: trustedIssuers(issuer), timeZone: 'Europe/Berlin' });
  const mobile = new MobileAccess({
    store,
    bus,
    verifier,
    publishToDoor: (doorId, channel, payload, retain) =>
      broker.publishToDoor(doorId, channel, payload, retain),
  });
  await broker.start();
  await mobile.start();
  await doorSync.start();
  const unwatch = store.watch(watchMs, (events) => {
    for (const e of events) bus.emit('event', e);
    bus.emit('storeChanged');
  });
  return {
    dataDir,
    opened,
    bus,
    issuer,
    broker,
    doorSync,
    mobile,
    port: broker.addresses().tcp ?? 0,
    cli(fn) {
      const other = openHubStore(dataDir);
      try {
        return fn(other.store.as('cli'));
      } finally {
        other.close();
      }
    },
    async stop() {
      unwatch();
      await doorSync.stop();
      await mobile.stop();
      await broker.stop();
      await store.stop();
      opened.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
