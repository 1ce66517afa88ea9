// Composition: builds every part from config and wires them through the bus. Start order puts the
// locks in their safe state first and opens the network last; stop runs in reverse.
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import {
  attachToBus,
  createWiredDoors,
  resolveDriver,
  simulatedParts,
  type WiredDoorHardware,
} from '../adapters/factory.js';
import { commandBridge } from './broker/bridge-requests.js';
import { MqttBroker } from './broker/index.js';
import { Summarizer } from './budget.js';
import { type BusEvents, type DoorStatus, EventBus } from './bus.js';
import { SOCKET_NAME } from './cli/hub-client.js';
import { CloudMirror } from './cloud/mirror.js';
import { StoreCloudPort } from './cloud/store-port.js';
import { cloudCommands } from './commands/cloud.js';
import { ALL_COMMANDS, Commands } from './commands/index.js';
import { liveHubOf } from './commands/live.js';
import type { Config } from './config/index.js';
import { DecisionService } from './decisions.js';
import type { Door, HubEvent } from './domain.js';
import { DoorManager, SimDoor, WiredDoorIo } from './doors/index.js';
import { ReaderMonitor } from './doors/readers.js';
import { DoorSync, registerDoorSyncRoutes } from './doorsync/index.js';
import { HttpServer } from './http/server.js';
import { type Logger, silentLogger } from './logger.js';
import {
  IssuerKey,
  MobileAccess,
  MobileVerifier,
  registerMobileRoutes,
  trustedIssuers,
} from './mobile/index.js';
import { createOffline, type OfflineParts } from './offline/index.js';
import { type OpenedStore, openHubStore } from './open-store.js';
import { ensureCertificates } from './pki/certificates.js';
import { CARD_HASH_PURPOSE } from './store/migrations.js';
import type { Store } from './store/store.js';

export const VERSION = '0.1.0';

export interface HubOptions {
  config: Config;
  logger?: Logger;
  now?: () => number;
}

/** Event types that mean "re-read doors / devices" when another process (the CLI) made them. */
const DOOR_CHANGES = /^admin\.door\./;
/** A device whose rights shrank or vanished must reconnect (or stay out); a new device is not affected. */
/** Refused device messages audited one by one per device and minute; the rest are counted in one event. */
const REJECTIONS_AUDITED_PER_MINUTE = 10;
const DEVICE_CHANGES = /^admin\.device\.(removed|secret_rotated|doors_changed)$/;

export class Hub {
  readonly config: Config;
  readonly bus = new EventBus();
  readonly logger: Logger;
  readonly simDoors = new Map<string, SimDoor>();
  #opened: OpenedStore | null = null;
  #doors: DoorManager | null = null;
  #decisions: DecisionService | null = null;
  #mobile: MobileAccess | null = null;
  #offline: OfflineParts | null = null;
  #doorSync: DoorSync | null = null;
  #broker: MqttBroker | null = null;
  #http: HttpServer | null = null;
  #commands: Commands | null = null;
  #unwatch: (() => void) | null = null;
  #cloud: CloudMirror | null = null;
  #readers: ReaderMonitor | null = null;
  #startedAt = 0;
  readonly #now: () => number;

  constructor(options: HubOptions) {
    this.config = options.config;
    this.logger = options.logger ?? silentLogger();
    this.#now = options.now ?? Date.now;
  }

  get store(): Store {
    if (!this.#opened) throw new Error('hub is not started');
    return this.#opened.store;
  }

  get doors(): DoorManager {
    if (!this.#doors) throw new Error('hub is not started');
    return this.#doors;
  }

  /** Every change, with its policy and actor (hub/commands/). */
  get commands(): Commands {
    if (!this.#commands) throw new Error('hub is not started');
    return this.#commands;
  }

  get broker(): MqttBroker {
    if (!this.#broker) throw new Error('hub is not started');
    return this.#broker;
  }

  /** Actual listening ports (useful when configured as 0). */
  addresses(): { mqtt: { tcp?: number; tls?: number }; http: { http?: number; https?: number } } {
    return { mqtt: this.#broker?.addresses() ?? {}, http: this.#http?.ports() ?? {} };
  }

  async start(): Promise<void> {
    const { config, logger, bus } = this;
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });

    // 1. Store: everything a decision needs is local.
    this.#opened = openHubStore(config.dataDir, { now: this.#now, logger: logger.child({ part: 'store' }) });
    const store = this.#opened.store;
    // Decisions reach this journal before their answer; a crash leaves the tail to replay here.
    const recovered = store.events.useJournal(path.join(config.dataDir, 'events.journal'), {
      reserveBytes: config.storage.reserveMb * 1024 * 1024,
      heldEvents: config.storage.heldEvents,
    });
    if (recovered > 0)
      logger.warn({ recovered }, 'recovered decisions from the journal after an unclean stop');
    // Own changes (this process) and other processes' (the CLI, via watch below) take the same path.
    store.events.onStored((events) => this.#onStoredEvents(events));
    this.#ensureSimulatedDoor(store);

    // 2. Doors first: wired locks go to their safe state before anything else, then every controller
    // starts locked, all before any network listener opens.
    await this.#startWiredHardware(store);
    this.#doors = new DoorManager({
      doors: store.doors.list(),
      bus,
      emitEvent: (e) => store.events.append(e),
      wiredIo: (door) => this.#wiredIo(door),
      logger: logger.child({ part: 'doors' }),
    });
    await this.#doors.start();

    // 3. The access path.
    // Offline doorcodes, the keypad daily failure cap and the trusted clock (docs/offline-codes.md).
    const offline = createOffline({
      store,
      dataDir: config.dataDir,
      timeZone: config.timeZone,
      config: config.offline,
      keypadPolicy: {
        maxFailures: config.keypad.maxFailures,
        windowMs: config.keypad.windowSeconds * 1000,
        baseLockMs: config.keypad.lockSeconds * 1000,
        maxLockMs: config.keypad.maxLockSeconds * 1000,
      },
      logger,
      systemNow: this.#now,
    });
    this.#offline = offline;
    await offline.clock.start();
    await offline.codes.start();
    const commands = new Commands(ALL_COMMANDS, {
      store,
      hub: liveHubOf({ store, doors: this.#doors, offline, timeZone: config.timeZone }),
      logger: logger.child({ part: 'commands' }),
    });
    this.#commands = commands;
    this.#decisions = new DecisionService({
      store,
      bus,
      lockout: offline.lockout,
      timeZone: config.timeZone,
      now: () => offline.clock.nowMs(),
      offlineCodes: offline.codes,
      logger: logger.child({ part: 'access' }),
    });
    await this.#decisions.start();
    // Mobile keys: verified offline by challenge–response (docs/mobile-keys.md).
    const issuer = IssuerKey.loadOrCreate(config.dataDir);
    const publishToDoor = (
      doorId: string,
      channel: 'challenge' | 'sync/snapshot' | 'sync/delta',
      payload: object,
      retain: boolean,
    ) =>
      this.#broker
        ? this.#broker.publishToDoor(doorId, channel, payload, retain)
        : Promise.reject(new Error('broker is not running'));
    this.#mobile = new MobileAccess({
      store,
      bus,
      verifier: new MobileVerifier({
        store,
        issuers: trustedIssuers(issuer, config.mobile.cloudIssuerPublicKey),
        timeZone: config.timeZone,
        now: () => offline.clock.nowMs(),
        challengeTtlMs: config.mobile.challengeSeconds * 1000,
        maxOutstandingChallenges: config.mobile.maxLiveChallenges,
      }),
      publishToDoor,
      limits: {
        challengesPerMinutePerAddress: config.mobile.requestsPerMinutePerAddress,
        responsesPerMinutePerAddress: config.mobile.requestsPerMinutePerAddress,
        perAddressBurst: config.mobile.burstPerAddress,
        challengesPerSecondPerDoor: config.mobile.challengesPerSecondPerDoor,
      },
      logger: logger.child({ part: 'mobile' }),
    });
    await this.#mobile.start();
    await this.#attachReaders(store);

    // 4. Network: broker, then web server.
    const certs = await ensureCertificates(path.join(config.dataDir, 'certs'), {
      hostnames: [hostname(), ...config.certificates.hostnames],
      ips: config.certificates.ips,
    });
    this.#broker = new MqttBroker({
      baseTopic: config.mqtt.baseTopic,
      tcp: config.mqtt.tcp.enabled ? { host: config.mqtt.tcp.host, port: config.mqtt.tcp.port } : null,
      tls: config.mqtt.tls.enabled
        ? {
            host: config.mqtt.tls.host,
            port: config.mqtt.tls.port,
            keyPem: certs.serverKeyPem,
            certPem: certs.serverCertPem,
          }
        : null,
      maxPayloadBytes: config.mqtt.maxPayloadBytes,
      maxClients: config.mqtt.maxClients,
      limits: config.mqtt.limits,
      directory: { authenticate: (username, secret) => store.devices.verify(username, secret) },
      bus,
      logger: logger.child({ part: 'broker' }),
      // Integration accounts run commands with bridge requests (docs/mqtt.md §6).
      bridgeRequests: commandBridge(commands, logger.child({ part: 'bridge' })),
    });
    await this.#broker.start();
    if (config.mqtt.tcp.enabled && !['127.0.0.1', '::1', 'localhost'].includes(config.mqtt.tcp.host)) {
      logger.warn(
        { host: config.mqtt.tcp.host },
        'plain MQTT is open beyond this machine: device secrets cross the LAN unencrypted',
      );
    }
    // Integrations hear about decisions and door states after the door has its answer.
    const bridge = (payload: Record<string, unknown>) =>
      setImmediate(() => setImmediate(() => void this.#broker?.publishBridgeEvent(payload)));
    // Door-side sync: signed copies for LAN door controllers (docs/mqtt.md §8).
    this.#doorSync = !config.doorSync.enabled
      ? null
      : new DoorSync({
          store,
          bus,
          signingKey: issuer.privateKey,
          publish: publishToDoor,
          pinKey: this.#opened.keys.subkey('pin'),
          cardKey: this.#opened.keys.subkey(CARD_HASH_PURPOSE),
          timeZone: config.timeZone,
          now: this.#now,
          logger: logger.child({ part: 'doorsync' }),
        });
    await this.#doorSync?.start();
    const mobile = this.#mobile;
    const doorSync = this.#doorSync;
    bus.on(this, 'decided', (p, d) =>
      bridge({ type: 'decision', door: p.doorId, kind: p.kind, granted: d.granted, reason: d.reason }),
    );
    bus.on(this, 'doorStatus', (s) => bridge({ type: 'door', ...s }));
    bus.on(this, 'deviceRejected', (r) => this.#auditRejection(store, r));

    this.#http = new HttpServer(
      {
        store,
        bus,
        commands,
        status: () => this.status(),
        sim: this.#simControl(),
        sessionHours: config.http.sessionHours,
        routes: [
          (api) => registerMobileRoutes(api, { mobile, store, issuer }),
          ...(doorSync ? [(api: FastifyInstance) => registerDoorSyncRoutes(api, { doorSync })] : []),
        ],
        logger: logger.child({ part: 'http' }),
      },
      {
        http: config.http.http,
        https: { ...config.http.https, keyPem: certs.serverKeyPem, certPem: certs.serverCertPem },
        socketPath: path.join(config.dataDir, SOCKET_NAME),
        dataDir: config.dataDir,
        streams: config.http.streams,
        login: config.http.login,
      },
    );
    await this.#http.start();

    // 5. The cloud mirror: events up, changes down. Nothing on the access path waits for it.
    this.#cloud = new CloudMirror({
      config: config.cloud,
      // cloud-offline: doorcode revocations from the cloud go to the durable denylist (OfflineCodes.revoke,
      // the per-serial step of applyRevocations, keeping the cloud's reason); the cloud's clock
      // confirms trusted time when it agrees with ours (docs/cloud-protocol.md).
      port: new StoreCloudPort(store, {
        revokeOfflineCode: (serial, reason) =>
          !offline.codes.revoke(serial, { actor: 'cloud', ...(reason === null ? {} : { reason }) })
            .alreadyRevoked,
      }),
      onCloudTime: (cloudMs) => void offline.clock.confirm('cloud', cloudMs),
      logger: logger.child({ part: 'cloud' }),
      software: `gatehouse/${VERSION}`,
      commands: cloudCommands(commands),
      // Cloud writes use this process's connection, so store.watch does not see them.
      onChangesApplied: (kinds) => {
        if (kinds.has('door')) void this.#doors?.reload(store.doors.list());
        this.bus.emit('storeChanged');
      },
    });
    await this.#cloud.start();

    // 6. Changes made by other processes (the CLI) reach the running parts within ~200 ms.
    this.#unwatch = store.watch(200, (events) => {
      this.#onStoredEvents(events);
      bus.emit('storeChanged');
    });
    // A device that went quiet still gets its "…and N more" within a minute, not at the next stop.
    this.#rejectionsTimer = setInterval(() => this.#rejections?.flush(), 60_000).unref();
    this.#startedAt = this.#now();
    logger.info({ ...this.addresses(), doors: store.doors.list().length }, 'deciding');
  }

  async stop(): Promise<void> {
    this.#unwatch?.();
    this.#unwatch = null;
    if (this.#rejectionsTimer) clearInterval(this.#rejectionsTimer);
    this.#rejectionsTimer = null;
    this.bus.removeAll(this);
    await this.#cloud?.stop();
    this.#cloud = null;
    await this.#http?.stop();
    await this.#broker?.stop();
    await this.#detachReaders();
    await this.#doorSync?.stop();
    await this.#mobile?.stop();
    await this.#decisions?.stop();
    await this.#offline?.codes.stop();
    await this.#offline?.clock.stop();
    this.#offline = null;
    await this.#doors?.stop();
    for (const hw of this.#wired.values()) await hw.close().catch(() => undefined);
    this.#wired.clear();
    this.#rejections?.flush(true); // the last minute's "…and N more" is recorded, not lost
    this.#rejections = null;
    await this.#opened?.store.events.whenOnDisk();
    this.#opened?.close();
    this.#http = null;
    this.#broker = null;
    this.#decisions = null;
    this.#mobile = null;
    this.#doorSync = null;
    this.#doors = null;
    this.#commands = null;
    this.#opened = null;
  }

  status(): Record<string, unknown> {
    return {
      version: VERSION,
      uptimeS: this.#startedAt ? Math.round((this.#now() - this.#startedAt) / 1000) : 0,
      mqtt: this.#broker?.addresses() ?? {},
      http: this.#http?.ports() ?? {},
      devicesOnline: this.#broker?.onlineDevices().length ?? 0,
      cloud: this.#cloud?.status() ?? { state: 'stopped' },
      clock: this.#offline?.clock.status() ?? null,
      doors: (this.#doors?.status() ?? []).map((s) => this.#withReaders(s)),
    };
  }

  /** A door's live status with its readers' state (wired doors). */
  #withReaders(status: DoorStatus): DoorStatus {
    const readers = this.#readers?.forDoor(status.doorId);
    return readers ? { ...status, readers } : status;
  }

  #ensureSimulatedDoor(store: Store): void {
    const id = this.config.simulation.door;
    if (!id || store.doors.list().length > 0) return;
    store.as('hub').doors.add({
      id,
      name: 'Simulated front door',
      transport: 'sim',
      unlockMs: this.config.doors.unlockMs,
      heldOpenMs: this.config.doors.heldOpenMs,
    });
    this.logger.info(
      { door: id },
      'first boot: created a simulated door (drive it with `npx gatehouse sim`)',
    );
  }

  #wiredIo(door: Door) {
    if (door.transport === 'sim') {
      let sim = this.simDoors.get(door.id);
      if (!sim || sim.failMode !== door.failMode) {
        sim = new SimDoor({ failMode: door.failMode, name: door.id });
        const log = this.logger.child({ part: 'sim', door: door.id });
        sim.relay.watch((on) => log.info({ relay: on ? 'energised' : 'released' }, 'relay'));
        this.simDoors.set(door.id, sim);
      }
      return sim.createIo();
    }
    const hw = this.#wired.get(door.id);
    if (!hw)
      throw new Error(
        `door '${door.id}' is wired but hardware.doors has no entry for it (see docs/wiring.md)`,
      );
    return new WiredDoorIo({
      failMode: door.failMode,
      relay: hw.lock,
      ...(hw.contact ? { contact: hw.contact } : {}),
      ...(hw.rex ? { rex: hw.rex } : {}),
      ...(hw.tamper ? { tamper: hw.tamper } : {}),
      ...(hw.fire ? { fire: hw.fire } : {}),
      ownsLines: false,
    });
  }

  readonly #wired = new Map<string, WiredDoorHardware>();

  /** The hardware of a wired door (with driver 'sim' it can present cards and open the door). */
  wiredHardware(doorId: string): WiredDoorHardware | undefined {
    return this.#wired.get(doorId);
  }
  #readerDetach: Array<() => void> = [];

  /** Builds the configured wired doors (locks first) and makes sure each has a door record. */
  async #startWiredHardware(store: Store): Promise<void> {
    const defs = this.config.hardware.doors ?? [];
    if (defs.length === 0) return;
    const sysfsRoot = this.config.hardware.sysfsRoot ?? '/sys/class/gpio';
    const driver = await resolveDriver(this.config.hardware.driver, sysfsRoot);
    const log = this.logger.child({ part: 'hardware' });
    // Which parts are simulated (GPIO lines, emulated PN532s), so a rehearsal is never mistaken for the building.
    const simulated = Object.fromEntries(defs.map((d) => [d.door, simulatedParts(d, driver)]));
    log.info({ driver, doors: defs.map((d) => d.door), simulated }, 'wired doors');
    for (const hw of await createWiredDoors(defs, { driver, logger: log, sysfsRoot })) {
      this.#wired.set(hw.doorId, hw);
      const door = store.doors.get(hw.doorId);
      if (!door) {
        store
          .as('hub')
          .doors.add({ id: hw.doorId, name: hw.doorId, transport: 'wired', failMode: hw.failMode });
      } else if (door.transport !== 'wired' || door.failMode !== hw.failMode) {
        log.error(
          { door: hw.doorId, transport: door.transport, failMode: door.failMode, configured: hw.failMode },
          'door record does not match hardware.doors (transport must be wired, fail mode must match)',
        );
      }
    }
  }

  /** Readers start only once decisions are being made, so no card is read into the void. */
  async #attachReaders(store: Store): Promise<void> {
    if (this.#wired.size === 0) return;
    // One alarm when a reader goes offline, one event when it is back (docs/doors.md).
    const monitor = new ReaderMonitor({
      emitEvent: (e) => store.events.append(e),
      onChange: (doorId) => {
        const status = this.#doors?.get(doorId)?.status();
        if (status) this.bus.emit('doorStatus', this.#withReaders(status));
      },
      logger: this.logger.child({ part: 'readers' }),
    });
    this.#readers = monitor;
    for (const hw of this.#wired.values()) {
      this.#readerDetach.push(attachToBus(hw, this.bus));
      for (const r of hw.readers) this.#readerDetach.push(monitor.watch(hw.doorId, r));
      for (const r of [...hw.readers, ...hw.keypads]) await r.start();
    }
  }

  async #detachReaders(): Promise<void> {
    this.#readers?.stop();
    this.#readers = null;
    for (const off of this.#readerDetach.splice(0)) off();
    for (const hw of this.#wired.values()) {
      for (const r of [...hw.readers, ...hw.keypads]) await r.stop().catch(() => undefined);
    }
  }

  #simControl() {
    return {
      present: (doorId: string, kind: 'card' | 'keypad', value: string) => {
        if (!this.simDoors.has(doorId)) return null;
        return this.#decisions!.decide({
          doorId,
          kind,
          value,
          readerId: `${doorId}.${kind === 'card' ? 'reader' : 'keypad'}`,
        });
      },
      act: (doorId: string, action: 'open' | 'close' | 'rex') => {
        const sim = this.simDoors.get(doorId);
        if (!sim) return false;
        if (action === 'open') sim.open();
        else if (action === 'close') sim.close();
        else sim.pressRex();
        return true;
      },
    };
  }

  /**
   * Refused device messages are audited a few times a minute per device, then summarised in one
   * `device.rejected` event with the count, so a looping device cannot fill the disk.
   */
  #rejections: Summarizer | null = null;
  #rejectionsTimer: NodeJS.Timeout | null = null;

  #auditRejection(store: Store, r: BusEvents['deviceRejected'][0]): void {
    this.#rejections ??= new Summarizer({
      perWindow: REJECTIONS_AUDITED_PER_MINUTE,
      now: this.#now,
      onSuppressed: ({ key, suppressed }) =>
        store.events.append({
          type: 'device.rejected',
          doorId: null,
          personId: null,
          credentialId: null,
          data: {
            device: key,
            suppressed,
            error: `…and ${suppressed} more refused messages in the last minute`,
          },
        }),
    });
    if (!r.budgeted && !this.#rejections.allow(r.deviceId)) return;
    const credential = r.requestId !== undefined;
    store.events.append({
      type: credential ? 'decision' : 'device.rejected',
      doorId: credential && r.doorId && store.doors.get(r.doorId) ? r.doorId : null,
      personId: null,
      credentialId: null,
      data: credential
        ? {
            granted: false,
            reason: 'invalid_request',
            device: r.deviceId,
            error: r.error,
            ...(r.requestId ? { request: r.requestId } : {}),
          }
        : { device: r.deviceId, topic: r.topic, error: r.error },
    });
  }

  #onStoredEvents(events: HubEvent[]): void {
    let doorsChanged = false;
    for (const e of events) {
      this.bus.emit('event', e);
      if (DOOR_CHANGES.test(e.type)) doorsChanged = true;
      if (DEVICE_CHANGES.test(e.type) && typeof e.data.deviceId === 'string') {
        // A removed device or one whose doors changed reconnects with its new rights (or not at all).
        this.#broker?.disconnectDevice(e.data.deviceId);
      }
    }
    if (doorsChanged && this.#doors && this.#opened) void this.#doors.reload(this.#opened.store.doors.list());
  }
}
