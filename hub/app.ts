// Composition: an ordered list of parts (hub/parts.ts) built from config and wired through the bus. Start
// order puts the locks in their safe state first and opens the network last; stop runs in reverse.
import { existsSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import {
  createWiredDoors,
  resolveDriver,
  simulatedParts,
  type WiredDoorHardware,
} from '../adapters/factory.js';
import { listAlarms } from './alarms.js';
import { type BackupScheduler, createBackupScheduler, registerBackupRoutes } from './backups/index.js';
import { BridgeEvents } from './broker/bridge-events.js';
import { commandBridge } from './broker/bridge-requests.js';
import type { ExternalBroker } from './broker/external/client.js';
import { externalCaPem, readSecretLine } from './broker/external/config.js';
import { type DeviceNetwork, MqttBroker } from './broker/index.js';
import { Summarizer } from './budget.js';
import { type BusEvents, type DoorStatus, EventBus } from './bus.js';
import { SOCKET_NAME } from './cli/hub-client.js';
import { issuedCodeLearner } from './cloud/issued-codes.js';
import { CloudMirror } from './cloud/mirror.js';
import { StoreCloudPort } from './cloud/store-port.js';
import { cloudCommands } from './commands/cloud.js';
import { ALL_COMMANDS, Commands } from './commands/index.js';
import { liveHubOf } from './commands/live.js';
import type { Config } from './config/index.js';
import { DecisionService } from './decisions.js';
import type { Door, HubEvent } from './domain.js';
import { DoorManager, SimDoor, WiredDoorIo, wiredLines } from './doors/index.js';
import { openOfflineAlarms } from './doors/presence.js';
import { attachToBus } from './doors/presentations.js';
import { ReaderMonitor } from './doors/readers.js';
import { DoorSync, registerDoorSyncRoutes } from './doorsync/index.js';
import { defaultNodeId, EXTERNAL_REASON, HomeAssistant } from './homeassistant/index.js';
import { registerBrokerAuthRoutes } from './http/routes/broker-auth.js';
import { HttpServer } from './http/server.js';
import { packageRootOf } from './http/static.js';
import { type Logger, silentLogger } from './logger.js';
import { Observability } from './metrics/index.js';
import {
  IssuerKey,
  MobileAccess,
  MobileVerifier,
  registerMobileRoutes,
  trustedIssuers,
} from './mobile/index.js';
import {
  brokerConnection,
  disabledNodeRedStatus,
  NodeRedSupervisor,
  provisionNodeRedAccount,
} from './nodered/index.js';
import { createOffline, type OfflineParts } from './offline/index.js';
import { type OpenedStore, openHubStore } from './open-store.js';
import { Held, Lifecycle, type Part, service } from './parts.js';
import { ensureCertificates, type HubCertificates } from './pki/certificates.js';
import { CARD_HASH_PURPOSE } from './store/migrations.js';
import { diskStatus } from './store/reserve.js';
import { EventRetention } from './store/retention.js';
import { SecretHandoff } from './store/secret-handoff.js';
import type { Store } from './store/store.js';

export const VERSION = '0.1.0';

export interface HubOptions {
  config: Config;
  logger?: Logger;
  now?: () => number;
  /** The built web UI to serve; default `<package root>/ui/dist` (hub/http/static.ts). */
  uiDir?: string;
  /** Node package folders Node-RED loads; default `<package root>/flows` when it holds a package.json. */
  nodeRedPackages?: string[];
}

/** Event types that mean "re-read doors / devices" when another process (the CLI) made them. */
const DOOR_CHANGES = /^admin\.door\./;
/** Refused device messages audited one by one per device and minute; the rest are counted in one event. */
const REJECTIONS_AUDITED_PER_MINUTE = 10;
/** A device whose rights shrank or vanished must reconnect (or stay out); a new device is not affected. */
const DEVICE_CHANGES = /^admin\.device\.(removed|secret_rotated|doors_changed)$/;

export interface HubStopOptions {
  /** The whole stop gets this long; main.ts keeps it under its forced exit (see Lifecycle.stop). */
  deadlineMs?: number;
}

export class Hub {
  readonly config: Config;
  readonly bus = new EventBus();
  readonly logger: Logger;
  readonly simDoors = new Map<string, SimDoor>();
  readonly #now: () => number;
  readonly #uiDir: string | undefined;
  readonly #nodeRedPackages: string[] | undefined;
  readonly #lifecycle: Lifecycle;
  #startedAt = 0;

  // The parts, in start order (docs/architecture.md, "Start and stop order"). Each is built when it
  // starts, from the parts before it, with the logger the lifecycle named for it ({ part: <name> }).

  /** Everything a decision needs is local. Closed last, once the event log is on disk. */
  readonly #store = new Held<OpenedStore>('store', {
    build: ({ logger }) => openHubStore(this.config.dataDir, { now: this.#now, logger }),
    start: (opened, { logger }) => this.#prepareStore(opened.store, logger),
    stop: async (opened) => {
      await opened.store.events.whenOnDisk();
      opened.close();
    },
    status: () => ({ disk: diskStatus(this.config.dataDir) }),
  });

  /** Wired locks go to their safe state before anything else (docs/wiring.md). */
  readonly #hardware: Part = {
    name: 'hardware',
    start: ({ logger }) => this.#startWiredHardware(this.store, logger),
    stop: async () => {
      for (const hw of this.#wired.values()) await hw.close().catch(() => undefined);
      this.#wired.clear();
    },
    status: () => ({}),
  };

  /** Every controller starts locked, all before any network listener opens. */
  readonly #doors = service(
    'doors',
    ({ logger }) =>
      new DoorManager({
        doors: this.store.doors.list(),
        bus: this.bus,
        emitEvent: (e) => this.store.events.append(e),
        wiredIo: (door) => this.#wiredIo(door),
        offlineGraceMs: this.config.doors.offlineGraceSeconds * 1000,
        backAfterStartMs: this.config.doors.backAfterStartSeconds * 1000,
        openOfflineAlarms: () =>
          openOfflineAlarms(this.store.events.list({ limit: 1000, type: 'alarm.door_offline*' })),
        controllers: () => this.store.devices.list().filter((d) => d.role === 'door'),
        decorateStatus: (s) => this.#withReaders(s),
        logger,
      }),
    { status: (doors) => ({ doors: (doors?.status() ?? []).map((s) => this.#withReaders(s)) }) },
  );

  /** Offline doorcodes, the keypad daily failure cap and the trusted clock (docs/offline-codes.md). */
  readonly #offline = new Held<OfflineParts>('offline', {
    build: ({ logger }) =>
      createOffline({
        store: this.store,
        dataDir: this.config.dataDir,
        timeZone: this.config.timeZone,
        config: this.config.offline,
        keypadPolicy: {
          maxFailures: this.config.keypad.maxFailures,
          windowMs: this.config.keypad.windowSeconds * 1000,
          baseLockMs: this.config.keypad.lockSeconds * 1000,
          maxLockMs: this.config.keypad.maxLockSeconds * 1000,
        },
        logger,
        systemNow: this.#now,
      }),
    start: async (offline) => {
      await offline.clock.start();
      await offline.codes.start();
    },
    stop: async (offline) => {
      await offline.codes.stop();
      await offline.clock.stop();
    },
    status: (offline) => ({ clock: offline?.clock.status() ?? null }),
  });

  /** Every change, with its policy and actor: the CLI, HTTP, MQTT integrations and the cloud call these. */
  readonly #commands = new Held<Commands>('commands', {
    build: ({ logger }) =>
      new Commands(ALL_COMMANDS, {
        store: this.store,
        hub: liveHubOf({
          store: this.store,
          doors: this.doors,
          bus: this.bus,
          logger,
          offline: this.#offline.get(),
          timeZone: this.config.timeZone,
          doorStatus: () => this.doors.status().map((s) => this.#withReaders(s)),
          wiring: (doorId) => {
            const def = this.config.hardware.doors?.find((d) => d.door === doorId);
            if (!def) return null;
            const { door: _door, ...lines } = def;
            return lines;
          },
        }),
        logger,
      }),
  });

  /** Counts decisions for /metrics and answers /api/v1/health (docs/monitoring.md); before decisions. */
  readonly #observability = service(
    'metrics',
    () =>
      new Observability({
        bus: this.bus,
        store: this.store,
        dataDir: this.config.dataDir,
        config: this.config.metrics,
        status: () => this.status(),
        isDoor: (doorId) => this.#doors.current?.get(doorId) !== undefined,
      }),
  );

  readonly #decisions = service('decisions', ({ logger }) => {
    const offline = this.#offline.get();
    return new DecisionService({
      store: this.store,
      bus: this.bus,
      lockout: offline.lockout,
      timeZone: this.config.timeZone,
      now: () => offline.clock.nowMs(),
      offlineCodes: offline.codes,
      logger,
    });
  });

  /** Mobile keys: verified offline by challenge–response (docs/mobile-keys.md). */
  readonly #mobile = new Held<{ access: MobileAccess; issuer: IssuerKey }>('mobile', {
    build: ({ logger }) => this.#buildMobile(logger),
    start: ({ access }) => access.start(),
    stop: ({ access }) => access.stop(),
  });

  /** Readers start only once decisions are being made, so no card is read into the void. */
  readonly #readers: Part = {
    name: 'readers',
    start: ({ logger }) => this.#attachReaders(this.store, logger),
    stop: () => this.#detachReaders(),
    status: () => ({}),
  };

  readonly #certificates = new Held<HubCertificates>('certificates', {
    build: () =>
      ensureCertificates(path.join(this.config.dataDir, 'certs'), {
        hostnames: [hostname(), ...this.config.certificates.hostnames],
        ips: this.config.certificates.ips,
      }),
  });

  /**
   * Refused device messages are audited a few times a minute per device, then summarised in one
   * `device.rejected` event with the count, so a looping device cannot fill the disk. It stops after
   * the broker, so the last minute's "…and N more" is recorded, not lost.
   */
  readonly #deviceAudit = new Held<{ rejections: Summarizer; timer: NodeJS.Timeout }>('device-audit', {
    build: () => {
      const rejections = this.#rejectionSummarizer(this.store);
      // A device that went quiet still gets its "…and N more" within a minute, not at the next stop.
      return { rejections, timer: setInterval(() => rejections.flush(), 60_000).unref() };
    },
    start: ({ rejections }) =>
      this.bus.on(rejections, 'deviceRejected', (r) => this.#auditRejection(this.store, rejections, r)),
    stop: ({ rejections, timer }) => {
      clearInterval(timer);
      this.bus.removeAll(rejections);
      rejections.flush(true);
    },
  });

  readonly #broker = service('broker', ({ logger }) => this.#buildBroker(logger), {
    status: (broker) => ({
      mqtt: broker?.addresses() ?? {},
      devicesOnline: broker?.onlineDevices().length ?? 0,
      mqttClients: broker?.connectedClients() ?? 0,
      mqttConnecting: broker?.connectingClients() ?? 0,
      // The device network is the embedded broker or the connection to an external one (#buildBroker).
      ...(broker instanceof MqttBroker
        ? { mqttShed: broker.shedConnections() }
        : broker
          ? { mqttExternal: (broker as ExternalBroker).status() }
          : {}),
    }),
    stopDeadlineMs: 5_000, // bridge offline, then clients and listeners each within 2 s
  });

  /** Integrations hear about decisions, door states, alarms and doorbells after the door has its answer. */
  readonly #bridgeEvents = service(
    'bridge-events',
    ({ logger }) =>
      new BridgeEvents({
        bus: this.bus,
        publish: (payload) => this.#broker.current?.publishBridgeEvent(payload),
        eventsPerSecond: this.config.mqtt.limits.bridgeEventsPerSecond,
        eventBurst: this.config.mqtt.limits.bridgeEventBurst,
        logger,
      }),
  );

  /** Home Assistant MQTT discovery and its lock commands (docs/home-assistant.md). */
  readonly #homeAssistant = new Held<HomeAssistant>('home-assistant', {
    build: ({ logger }) => this.#buildHomeAssistant(logger),
    start: (ha) => ha.start(),
    stop: (ha) => ha.stop(),
    status: (ha) => ({ homeAssistant: ha?.status() ?? { state: 'stopped' } }),
  });

  /** Door-side sync: signed copies for LAN door controllers (docs/mqtt.md §8). */
  readonly #doorSync = service(
    'doorsync',
    ({ logger }) =>
      new DoorSync({
        store: this.store,
        bus: this.bus,
        signingKey: this.#mobile.get().issuer.privateKey,
        publish: this.#publishToDoor,
        pinKey: this.#store.get().keys.subkey('pin'),
        cardKey: this.#store.get().keys.subkey(CARD_HASH_PURPOSE),
        timeZone: this.config.timeZone,
        now: this.#now,
        logger,
      }),
    { status: (sync) => ({ doorSync: sync?.staleness() ?? [] }) },
  );

  readonly #http = service('http', ({ logger }) => this.#buildHttp(logger), {
    status: (http) => ({ http: http?.ports() ?? {} }),
    stopDeadlineMs: 3_000,
  });

  /** Node-RED for installer flows, a child process the hub supervises but never waits for (docs/architecture.md). */
  readonly #nodeRed = service('node-red', ({ logger }) => this.#buildNodeRed(logger), {
    status: (nodeRed) => ({
      nodeRed: nodeRed?.status() ?? { ...disabledNodeRedStatus(this.config.nodeRed, 0), state: 'stopped' },
    }),
    stopDeadlineMs: 5_000, // SIGTERM, SIGKILL after 3 s
  });

  /** The cloud mirror: events up, changes down. Nothing on the access path waits for it. */
  readonly #cloud = service('cloud', ({ logger }) => this.#buildCloud(logger), {
    status: (cloud) => ({ cloud: cloud?.status() ?? { state: 'stopped' } }),
  });

  /** Scheduled encrypted backups, off the decision path (docs/replace-a-hub.md). */
  readonly #backups = service(
    'backups',
    ({ logger }) =>
      createBackupScheduler({
        config: this.config.backups,
        dataDir: this.config.dataDir,
        db: this.#store.get().db,
        store: this.store,
        now: this.#now,
        logger,
      }),
    { status: (backups) => ({ backups: backups?.status() ?? null }), stopDeadlineMs: 5_000 },
  );

  /** Event-log retention: a daily pruning pass in small batches (docs/storage.md). */
  readonly #retention = service(
    'retention',
    ({ logger }) =>
      new EventRetention({
        config: this.config.events.retention,
        db: this.#store.get().db,
        ackedSeq: () => (this.config.cloud.enabled ? this.store.cloudState.read('acked_seq') : null),
        now: this.#now,
        logger,
      }),
    { status: (retention) => ({ eventLog: retention?.status() ?? null }) },
  );

  /** Changes made by other processes (the CLI) reach the running parts within ~200 ms. */
  readonly #watch = new Held<() => void>('watch', {
    build: () =>
      this.store.watch(200, (events) => {
        // A `code secret-rotate` from the CLI: switch codes to the new secret and hand it to the cloud.
        if (events.some((e) => e.type === 'admin.code.secret_rotated')) this.#offline.get().share.check();
        this.#onStoredEvents(events);
        this.bus.emit('storeChanged');
      }),
    stop: (unwatch) => unwatch(),
  });

  constructor(options: HubOptions) {
    this.config = options.config;
    this.logger = options.logger ?? silentLogger();
    this.#now = options.now ?? Date.now;
    this.#uiDir = options.uiDir;
    this.#nodeRedPackages = options.nodeRedPackages;
    this.#lifecycle = new Lifecycle(
      [
        this.#store,
        this.#hardware,
        this.#doors,
        this.#offline,
        this.#commands,
        this.#observability,
        this.#decisions,
        this.#mobile,
        this.#readers,
        this.#certificates,
        this.#deviceAudit,
        this.#broker,
        this.#bridgeEvents,
        ...(this.config.homeAssistant.enabled ? [this.#homeAssistant] : []),
        ...(this.config.doorSync.enabled ? [this.#doorSync] : []),
        this.#http,
        ...(this.config.nodeRed.enabled ? [this.#nodeRed] : []),
        this.#cloud,
        this.#backups,
        this.#retention,
        this.#watch,
      ],
      this.logger,
    );
  }

  get store(): Store {
    return this.#store.get().store;
  }

  get doors(): DoorManager {
    return this.#doors.get();
  }

  /** Every change, with its policy and actor (hub/commands/). */
  get commands(): Commands {
    return this.#commands.get();
  }

  /** The device network: the embedded broker, or the hub's connection to an external one (mqtt.broker). */
  get broker(): DeviceNetwork {
    return this.#broker.get();
  }

  /** The backup scheduler; null while the hub is not running. */
  get backups(): BackupScheduler | null {
    return this.#backups.current;
  }

  /** The Node-RED supervisor; null when Node-RED is disabled or the hub is not started. */
  get nodeRed(): NodeRedSupervisor | null {
    return this.#nodeRed.current;
  }

  /** Actual listening ports (useful when configured as 0). */
  addresses(): { mqtt: { tcp?: number; tls?: number }; http: { http?: number; https?: number } } {
    return { mqtt: this.#broker.current?.addresses() ?? {}, http: this.#http.current?.ports() ?? {} };
  }

  /** Starts the parts in order; when one fails, the ones before it are stopped again and it throws. */
  async start(): Promise<void> {
    mkdirSync(this.config.dataDir, { recursive: true, mode: 0o700 });
    await this.#lifecycle.start();
    this.#startedAt = this.#now();
    this.logger.info({ ...this.addresses(), doors: this.store.doors.list().length }, 'deciding');
  }

  /** Stops the parts in reverse: the network first, the doors late, the store last. */
  async stop(options: HubStopOptions = {}): Promise<void> {
    await this.#lifecycle.stop(options);
    this.#startedAt = 0;
  }

  /** The hub's status: each part's fields, and `parts` with the lifecycle state of each. */
  status(): Record<string, unknown> {
    return {
      version: VERSION,
      uptimeS: this.#startedAt ? Math.round((this.#now() - this.#startedAt) / 1000) : 0,
      ...this.#lifecycle.status(),
      ...(this.config.nodeRed.enabled
        ? {}
        : { nodeRed: disabledNodeRedStatus(this.config.nodeRed, this.#startedAt) }),
    };
  }

  /** Journal recovery, change notifications and the first-boot simulated door. */
  #prepareStore(store: Store, logger: Logger): void {
    // Decisions reach this journal before their answer; a crash leaves the tail to replay here.
    const recovered = store.events.useJournal(path.join(this.config.dataDir, 'events.journal'), {
      reserveBytes: this.config.storage.reserveMb * 1024 * 1024,
      heldEvents: this.config.storage.heldEvents,
    });
    if (recovered > 0)
      logger.warn({ recovered }, 'recovered decisions from the journal after an unclean stop');
    // Own changes (this process) and other processes' (the CLI, via watch) take the same path.
    store.events.onStored((events) => this.#onStoredEvents(events));
    this.#ensureSimulatedDoor(store, logger);
  }

  /** Sends to a LAN door's device; refused while the broker is not running. */
  readonly #publishToDoor = (
    doorId: string,
    channel: 'challenge' | 'sync/snapshot' | 'sync/delta',
    payload: object,
    retain: boolean,
  ): Promise<void> => {
    const broker = this.#broker.current;
    return broker
      ? broker.publishToDoor(doorId, channel, payload, retain)
      : Promise.reject(new Error('broker is not running'));
  };

  #buildMobile(logger: Logger): { access: MobileAccess; issuer: IssuerKey } {
    const { config, store } = this;
    const clock = this.#offline.get().clock;
    const issuer = IssuerKey.loadOrCreate(config.dataDir, logger);
    const access = new MobileAccess({
      store,
      bus: this.bus,
      verifier: new MobileVerifier({
        store,
        issuers: trustedIssuers(issuer, config.mobile.cloudIssuerPublicKey),
        timeZone: config.timeZone,
        now: () => clock.nowMs(),
        challengeTtlMs: config.mobile.challengeSeconds * 1000,
        maxOutstandingChallenges: config.mobile.maxLiveChallenges,
      }),
      publishToDoor: this.#publishToDoor,
      limits: {
        challengesPerMinutePerAddress: config.mobile.requestsPerMinutePerAddress,
        responsesPerMinutePerAddress: config.mobile.requestsPerMinutePerAddress,
        perAddressBurst: config.mobile.burstPerAddress,
        challengesPerSecondPerDoor: config.mobile.challengesPerSecondPerDoor,
      },
      logger,
    });
    return { access, issuer };
  }

  async #buildBroker(logger: Logger): Promise<DeviceNetwork> {
    const { config, store } = this;
    const certs = this.#certificates.get();
    const handoff = new SecretHandoff(store.kv, this.#store.get().keys);
    if (config.mqtt.broker === 'external') {
      // Loaded only in external mode: the MQTT client library costs the embedded hub memory for nothing.
      const { ExternalBroker } = await import('./broker/external/client.js');
      return new ExternalBroker({
        config: config.mqtt.external,
        dataDir: config.dataDir,
        hubCaPem: certs.caCertPem,
        baseTopic: config.mqtt.baseTopic,
        maxPayloadBytes: config.mqtt.maxPayloadBytes,
        limits: config.mqtt.limits,
        directory: {
          devices: () => store.devices.list(),
          doors: () => store.doors.list().map((d) => d.id),
          identity: (id) => store.devices.get(id),
        },
        handoff,
        bus: this.bus,
        logger,
        bridgeRequests: commandBridge(this.commands, logger),
      });
    }
    handoff.disable(() => store.devices.list().map((d) => d.id));
    if (config.mqtt.tcp.enabled && !['127.0.0.1', '::1', 'localhost'].includes(config.mqtt.tcp.host)) {
      logger.warn(
        { host: config.mqtt.tcp.host },
        'plain MQTT is open beyond this machine: device secrets cross the LAN unencrypted',
      );
    }
    return new MqttBroker({
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
      bus: this.bus,
      logger,
      // Integration accounts run commands with bridge requests (docs/mqtt.md §6).
      bridgeRequests: commandBridge(this.commands, logger),
    });
  }

  #buildHomeAssistant(logger: Logger): HomeAssistant {
    const { config, store } = this;
    const broker = this.broker;
    return new HomeAssistant({
      config: config.homeAssistant,
      baseTopic: config.mqtt.baseTopic,
      nodeId: config.homeAssistant.nodeId ?? defaultNodeId(this.#certificates.get().caCertPem),
      version: VERSION,
      broker,
      bus: this.bus,
      commands: this.commands,
      doors: () => store.doors.list(),
      doorStatus: () => this.doors.status(),
      activeAlarms: () =>
        listAlarms(store, { now: this.#now() })
          .filter((a) => a.active)
          .map((a) => ({ type: a.type, doorId: a.doorId })),
      health: () => ({
        devicesOnline: broker.onlineDevices().length,
        cloud: this.#cloud.current?.status().state ?? 'stopped',
      }),
      ...(config.mqtt.broker === 'external' ? { commandReason: EXTERNAL_REASON } : {}),
      logger,
    });
  }

  #buildHttp(logger: Logger): HttpServer {
    const { config, store } = this;
    const certs = this.#certificates.get();
    const { access: mobile, issuer } = this.#mobile.get();
    const doorSync = this.#doorSync.current;
    return new HttpServer(
      {
        store,
        bus: this.bus,
        commands: this.commands,
        status: () => this.status(),
        sim: this.#simControl(),
        sessionHours: config.http.sessionHours,
        ...(this.#uiDir === undefined ? {} : { uiDir: this.#uiDir }),
        caCertPem: certs.caCertPem,
        timeZone: config.timeZone,
        metrics: this.#observability.get().endpoint,
        health: () => this.#observability.get().health.report(),
        // Without Node-RED the proxy (and its HTTP client library) is not even loaded: /flows/ says it is off.
        ...(config.nodeRed.enabled ? { nodeRed: () => this.#nodeRed.current?.target() ?? null } : {}),
        routes: [
          (api) => registerMobileRoutes(api, { mobile, store, issuer }),
          ...(doorSync ? [(api: FastifyInstance) => registerDoorSyncRoutes(api, { doorSync })] : []),
          registerBackupRoutes(() => this.#backups.current),
          ...this.#brokerAuthRoutes(logger),
        ],
        logger,
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
  }

  /** EMQX / VerneMQ call these to check logins and topics (docs/external-broker.md); only with a shared secret. */
  #brokerAuthRoutes(logger: Logger): Array<(api: FastifyInstance) => Promise<void>> {
    const { config, store } = this;
    const external = config.mqtt.external;
    if (config.mqtt.broker !== 'external' || external.authSecretFile === '') return [];
    let secret: string;
    try {
      secret = readSecretLine(config.dataDir, external.authSecretFile);
    } catch (err) {
      logger.error({ err }, 'mqtt.external.authSecretFile cannot be read: the broker auth endpoints are off');
      return [];
    }
    if (secret.length < 16) {
      logger.error(
        'mqtt.external.authSecretFile holds fewer than 16 characters: the broker auth endpoints are off',
      );
      return [];
    }
    return [
      (api) =>
        registerBrokerAuthRoutes(api, {
          baseTopic: config.mqtt.baseTopic,
          secret,
          hub: {
            username: external.username,
            password: () => readSecretLine(config.dataDir, external.passwordFile),
          },
          verify: (username, password) => store.devices.verify(username, password),
          device: (username) => store.devices.get(username),
          extra: () => this.#homeAssistant.current,
        }),
    ];
  }

  #buildNodeRed(logger: Logger): NodeRedSupervisor {
    const { config } = this;
    const ownPackage = path.join(packageRootOf(import.meta.dirname), 'flows');
    return new NodeRedSupervisor({
      config: config.nodeRed,
      userDir: path.join(config.dataDir, 'node-red'),
      nodesDirs:
        this.#nodeRedPackages ?? (existsSync(path.join(ownPackage, 'package.json')) ? [ownPackage] : []),
      credentialSecret: this.#store.get().keys.subkey('node-red-credentials').toString('hex'),
      // External broker: the rotated secret reaches the broker through the secret hand-off (the broker
      // part started first); the Gatehouse nodes retry their login with back-off until it is there.
      mqttPassword: provisionNodeRedAccount(this.store),
      connection: brokerConnection(config.mqtt, this.broker.addresses(), this.#certificates.get().caCertPem, {
        externalCaPem: () =>
          externalCaPem(config.dataDir, config.mqtt.external, this.#certificates.get().caCertPem),
      }),
      logLevel: config.log.level,
      logger,
      now: this.#now,
    });
  }

  #buildCloud(logger: Logger): CloudMirror {
    const { store } = this;
    const offline = this.#offline.get();
    return new CloudMirror({
      config: this.config.cloud,
      // cloud-offline: doorcode revocations from the cloud go to the durable denylist (OfflineCodes.revoke,
      // the per-serial step of applyRevocations, keeping the cloud's reason); the cloud's clock
      // confirms trusted time when it agrees with ours (docs/cloud-protocol.md).
      port: new StoreCloudPort(store, {
        revokeOfflineCode: (serial, reason) =>
          !offline.codes.revoke(serial, { actor: 'cloud', ...(reason === null ? {} : { reason }) })
            .alreadyRevoked,
        // cloudcode: codes the cloud issued while the link was down; the secret goes up over TLS only.
        learnOfflineCode: issuedCodeLearner({
          store,
          codes: offline.codes,
          share: offline.share,
          timeZone: this.config.timeZone,
        }),
      }),
      codeSecret: () => offline.share.current(),
      onCloudTime: (cloudMs) => void offline.clock.confirm('cloud', cloudMs),
      logger,
      software: `gatehouse/${VERSION}`,
      commands: cloudCommands(this.commands),
      // Cloud writes use this process's connection, so store.watch does not see them.
      onChangesApplied: (kinds) => {
        if (kinds.has('door')) void this.#doors.current?.reload(store.doors.list());
        this.bus.emit('storeChanged');
      },
    });
  }

  /** A door's live status with its readers' state (wired doors). */
  #withReaders(status: DoorStatus): DoorStatus {
    const readers = this.#readerMonitor?.forDoor(status.doorId);
    return readers ? { ...status, readers } : status;
  }

  #ensureSimulatedDoor(store: Store, logger: Logger): void {
    const id = this.config.simulation.door;
    if (!id || store.doors.list().length > 0) return;
    store.as('hub').doors.add({
      id,
      name: 'Simulated front door',
      transport: 'sim',
      unlockMs: this.config.doors.unlockMs,
      heldOpenMs: this.config.doors.heldOpenMs,
    });
    logger.info({ door: id }, 'first boot: created a simulated door (drive it with `npx gatehouse sim`)');
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
      ...wiredLines(hw),
      ownsLines: false,
    });
  }

  readonly #wired = new Map<string, WiredDoorHardware>();

  /** The hardware of a wired door (with driver 'sim' it can present cards and open the door). */
  wiredHardware(doorId: string): WiredDoorHardware | undefined {
    return this.#wired.get(doorId);
  }
  #readerMonitor: ReaderMonitor | null = null;
  #readerDetach: Array<() => void> = [];

  /** Builds the configured wired doors (locks first) and makes sure each has a door record. */
  async #startWiredHardware(store: Store, log: Logger): Promise<void> {
    const defs = this.config.hardware.doors ?? [];
    if (defs.length === 0) return;
    const sysfsRoot = this.config.hardware.sysfsRoot ?? '/sys/class/gpio';
    const driver = await resolveDriver(this.config.hardware.driver, sysfsRoot);
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

  async #attachReaders(store: Store, logger: Logger): Promise<void> {
    if (this.#wired.size === 0) return;
    // One alarm when a reader goes offline, one event when it is back (docs/doors.md).
    const monitor = new ReaderMonitor({
      emitEvent: (e) => store.events.append(e),
      onChange: (doorId) => {
        const status = this.#doors.current?.get(doorId)?.status();
        if (status) this.bus.emit('doorStatus', this.#withReaders(status));
      },
      logger,
    });
    this.#readerMonitor = monitor;
    for (const hw of this.#wired.values()) {
      this.#readerDetach.push(attachToBus(hw, this.bus));
      for (const r of hw.readers) this.#readerDetach.push(monitor.watch(hw.doorId, r));
      for (const r of [...hw.readers, ...hw.keypads]) await r.start();
    }
  }

  async #detachReaders(): Promise<void> {
    this.#readerMonitor?.stop();
    this.#readerMonitor = null;
    for (const off of this.#readerDetach.splice(0)) off();
    for (const hw of this.#wired.values()) {
      for (const r of [...hw.readers, ...hw.keypads]) await r.stop().catch(() => undefined);
    }
  }

  #simControl() {
    return {
      present: (doorId: string, kind: 'card' | 'keypad', value: string) => {
        if (!this.simDoors.has(doorId)) return null;
        return this.#decisions.get().decide({
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

  #rejectionSummarizer(store: Store): Summarizer {
    return new Summarizer({
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
  }

  #auditRejection(store: Store, rejections: Summarizer, r: BusEvents['deviceRejected'][0]): void {
    if (!r.budgeted && !rejections.allow(r.deviceId)) return;
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
        this.#broker.current?.disconnectDevice(e.data.deviceId);
      }
    }
    const doors = this.#doors.current;
    const opened = this.#store.current;
    if (doorsChanged && doors && opened) void doors.reload(opened.store.doors.list());
  }
}
