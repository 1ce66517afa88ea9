// The device network on an external broker (mosquitto, EMQX, VerneMQ): the hub is one client of it. It
// hears every device message of the v1 contract, judges it with the same DeviceContract as the embedded
// broker and publishes the same answers. As a client the hub does not see who published a message: the
// broker's per-door ACL guarantees that only that door's devices may publish on a door's topics, so the
// sender is derived from the topic and the accounts the hub provisioned (docs/external-broker.md, §trust).
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { type Logger, pino } from 'pino';
import type { EventBus } from '../../bus.js';
import type { HubEvent } from '../../domain.js';
import type { SecretHandoff } from '../../store/secret-handoff.js';
import { shorten } from '../../text.js';
import type { DeviceIdentity } from '../acl.js';
import { parseTopic, TOPIC_SHOWN, topics } from '../contract.js';
import {
  type BridgeRequestHandler,
  type ContractPeer,
  checkOutsideTopic,
  DeviceContract,
  hubDoorTopic,
  type IntegrationTopics,
} from '../device-contract.js';
import { DEFAULT_MQTT_LIMITS, type MqttLimits } from '../limits.js';
import { externalCaPem, type MqttExternalConfig, readSecretLine } from './config.js';
import {
  CONTROL_RESPONSE_TOPIC,
  CONTROL_TOPIC,
  DynsecControl,
  type ExtraAcls,
  type ProvisionedDevice,
  type ReconcileResult,
  reconcile,
} from './dynsec.js';

export type ExternalState = 'connecting' | 'connected' | 'disconnected' | 'stopped';

/** What the hub knows about its devices and doors (the store). */
export interface ExternalDirectory {
  devices(): ProvisionedDevice[];
  doors(): string[];
  /** A device's grants (integration accounts). */
  identity(deviceId: string): DeviceIdentity | null;
}

export interface ExternalBrokerOptions {
  config: MqttExternalConfig;
  dataDir: string;
  /** The hub's own CA, used when config.caFile is empty. */
  hubCaPem: string;
  baseTopic: string;
  maxPayloadBytes: number;
  limits?: Partial<MqttLimits>;
  directory: ExternalDirectory;
  handoff: SecretHandoff;
  bus: EventBus;
  logger?: Logger;
  bridgeRequests?: BridgeRequestHandler;
}

/** Device-store events after which the broker's accounts are brought in step. */
const ACCOUNT_CHANGES = /^admin\.(device|door)\./;
/** Changes after which a device must reconnect with its new rights (the embedded broker does the same). */
const KICKING_CHANGES = /^admin\.device\.(secret_rotated|doors_changed)$/;
/** Several changes in a row (a CLI script) cost one reconcile. */
const RECONCILE_DEBOUNCE_MS = 50;

export class ExternalBroker {
  readonly #options: ExternalBrokerOptions;
  readonly #config: MqttExternalConfig;
  readonly #baseTopic: string;
  readonly #topics: ReturnType<typeof topics>;
  readonly #log: Logger;
  readonly #bus: EventBus;
  readonly #contract: DeviceContract;
  readonly #limits: MqttLimits;
  #client: MqttClient | null = null;
  #control: DynsecControl | null = null;
  #state: ExternalState = 'stopped';
  #since = Date.now();
  /** Why the last connection failed or closed (a TLS refusal, a wrong password), until the next success. */
  #lastError: { message: string; at: number } | null = null;
  #attempt = 0;
  /**
   * mosquitto checks a last will against the ACL at CONNECT, and a fresh hub account may not publish on
   * bridge/state until the hub gave itself its role: then it connects once without a will, reconciles,
   * and reconnects with it.
   */
  #withWill = true;
  #reconnectTimer: NodeJS.Timeout | null = null;
  #reconcileTimer: NodeJS.Timeout | null = null;
  #reconciling: Promise<void> | null = null;
  #reconcileAgain = false;
  #lastReconcile: (ReconcileResult & { at: number }) | null = null;
  readonly #kick = new Set<string>();
  readonly #shutOut = new Map<string, NodeJS.Timeout>();
  /** Door id → the door devices serving it; device id → identity. Rebuilt when accounts change. */
  #byDoor = new Map<string, DeviceIdentity[]>();
  #byId = new Map<string, DeviceIdentity>();

  constructor(options: ExternalBrokerOptions) {
    this.#options = options;
    this.#config = options.config;
    this.#baseTopic = options.baseTopic;
    this.#topics = topics(options.baseTopic);
    this.#log = options.logger ?? pino({ enabled: false });
    this.#bus = options.bus;
    this.#limits = { ...DEFAULT_MQTT_LIMITS, ...options.limits };
    this.#contract = new DeviceContract({
      baseTopic: options.baseTopic,
      maxPayloadBytes: options.maxPayloadBytes,
      limits: this.#limits,
      bus: options.bus,
      logger: this.#log,
      bridgeRequests: options.bridgeRequests ?? null,
      transport: {
        publish: (topic, payload, retain) => this.#publish(topic, payload, retain),
        shutOut: (deviceId, seconds) => this.#shutOutDevice(deviceId, seconds),
      },
    });
  }

  /** Starts connecting; resolves at once (the hub decides for wired doors and HTTP keys meanwhile). */
  async start(): Promise<void> {
    if (this.#state !== 'stopped') return;
    this.#options.handoff.enable(this.#config.provisioning === 'dynsec');
    this.#refreshDirectory();
    this.#contract.start();
    this.#bus.on(this, 'event', (e) => this.#onStoreEvent(e));
    this.#connect();
  }

  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#contract.stopping();
    this.#bus.removeAll(this);
    for (const timer of [this.#reconnectTimer, this.#reconcileTimer, ...this.#shutOut.values()]) {
      if (timer) clearTimeout(timer);
    }
    this.#shutOut.clear();
    const client = this.#client;
    this.#client = null;
    this.#control?.failAll(new Error('the hub is stopping'));
    if (client) {
      if (client.connected) {
        await withDeadline(
          client.publishAsync(this.#topics.bridgeState(), JSON.stringify({ state: 'offline' }), {
            qos: 1,
            retain: true,
          }),
          2000,
        ).catch(() => {});
      }
      await withDeadline(client.endAsync(), 2000).catch(() => {});
      client.end(true);
    }
    this.#contract.stop();
  }

  /** No listeners in external mode. */
  addresses(): { tcp?: number; tls?: number } {
    return {};
  }

  onlineDevices(): string[] {
    return this.#contract.onlineDevices();
  }

  /** The broker counts device connections; the hub sees only its own. */
  connectedClients(): number {
    return this.#state === 'connected' ? 1 : 0;
  }

  connectingClients(): number {
    return 0;
  }

  /** How the link to the broker is, for the status endpoint and the tests. */
  status(): {
    state: ExternalState;
    since: number;
    url: string;
    provisioning: string;
    lastError: { message: string; at: number } | null;
    reconcile: {
      at: number;
      created: number;
      deleted: number;
      updated: number;
      withoutSecret: string[];
      errors: string[];
    } | null;
  } {
    const r = this.#lastReconcile;
    return {
      state: this.#state,
      since: this.#since,
      url: this.#config.url,
      provisioning: this.#config.provisioning,
      lastError: this.#lastError,
      reconcile: r
        ? {
            at: r.at,
            created: r.created.length,
            deleted: r.deleted.length,
            updated: r.updated.length,
            withoutSecret: r.withoutSecret.slice(0, 20),
            errors: r.errors.slice(0, 20),
          }
        : null,
    };
  }

  /** Resolves after the next reconcile has finished (tests, and `device add` followed by a login). */
  async reconciled(): Promise<void> {
    this.#scheduleReconcile(0);
    while (this.#reconcileTimer || this.#reconciling) {
      await (this.#reconciling ?? new Promise((r) => setTimeout(r, 10)));
    }
  }

  /**
   * The device was removed, or its rights or secret changed: the broker disconnects it (deleted with
   * its account, or disabled and enabled again) at the next reconcile, right away.
   */
  disconnectDevice(deviceId: string): number {
    this.#kick.add(deviceId);
    this.#scheduleReconcile(0);
    return 0;
  }

  publishToDoor(
    doorId: string,
    channel: 'challenge' | 'sync/snapshot' | 'sync/delta',
    payload: object,
    retain: boolean,
  ): Promise<void> {
    let topic: string;
    try {
      topic = hubDoorTopic(this.#baseTopic, doorId, channel);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#publish(topic, JSON.stringify(payload), retain);
  }

  /**
   * A part's topics (Home Assistant) on or off: the hub subscribes to what integrations publish there (or
   * stops), the roles get the rights, and once they have them the part sends its retained messages again.
   */
  useIntegrationTopics(extra: IntegrationTopics | null): void {
    const before = this.#contract.extra;
    this.#contract.extra = extra;
    if (before === extra) return;
    const client = this.#client;
    // Not connected yet: #onConnect subscribes, reconciles and tells the part.
    if (!client?.connected || this.#state !== 'connected') return;
    void (async () => {
      if (before) await client.unsubscribeAsync([...before.publishFilters]);
      if (extra) await client.subscribeAsync([...extra.publishFilters], { qos: 1 });
      await this.reconciled();
      if (extra && this.#contract.extra === extra && this.#client === client) extra.reconnected?.();
    })().catch((error: Error) =>
      this.#log.error({ err: error.message }, 'external broker: could not set up the integration topics'),
    );
  }

  publishOutside(topic: string, payload: string, retain: boolean): Promise<void> {
    try {
      checkOutsideTopic(this.#baseTopic, topic);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#publish(topic, payload, retain);
  }

  async publishBridgeEvent(payload: Record<string, unknown>): Promise<void> {
    try {
      await this.#publish(this.#topics.bridgeEvent(), JSON.stringify(payload), false);
    } catch (error) {
      this.#log.debug({ err: error }, 'bridge event not published');
    }
  }

  // ---- the connection ----

  #connect(): void {
    this.#setState('connecting');
    let options: IClientOptions;
    try {
      options = this.#clientOptions();
    } catch (error) {
      this.#log.error(
        { err: (error as Error).message },
        'external broker: cannot read the hub account or CA',
      );
      this.#scheduleReconnect();
      return;
    }
    const client = mqtt.connect(this.#config.url, options);
    this.#client = client;
    const control = new DynsecControl((payload) =>
      client.publishAsync(CONTROL_TOPIC, payload, { qos: 1 }).then(() => {}),
    );
    this.#control = control;
    client.on('connect', () => void this.#onConnect(client));
    client.on('message', (topic, payload, packet) => this.#onMessage(topic, payload, packet.retain));
    client.on('error', (error) => {
      if (this.#withWill && /not authori[sz]ed/i.test(error.message)) this.#withWill = false;
      this.#lastError = { message: shorten(error.message, 300), at: Date.now() };
      this.#contract.warn(
        'external:error',
        { err: error.message, url: this.#config.url },
        'external broker: connection error',
      );
    });
    client.on('close', () => {
      if (this.#client !== client) return;
      control.failAll(new Error('the connection to the broker closed'));
      if (this.#state === 'stopped') return;
      const was = this.#state;
      this.#setState('disconnected');
      if (was === 'connected')
        this.#log.warn({ url: this.#config.url }, 'external broker: connection lost; reconnecting');
      client.removeAllListeners('connect');
      client.end(true);
      this.#client = null;
      this.#scheduleReconnect();
    });
  }

  #clientOptions(): IClientOptions {
    const password = readSecretLine(this.#options.dataDir, this.#config.passwordFile);
    const ca = externalCaPem(this.#options.dataDir, this.#config, this.#options.hubCaPem);
    return {
      username: this.#config.username,
      password,
      clientId: this.#config.clientId,
      protocolVersion: 4,
      clean: true,
      keepalive: 30,
      reconnectPeriod: 0, // the hub's own back-off below
      connectTimeout: this.#config.connectTimeoutMs,
      ca,
      rejectUnauthorized: true,
      ...(this.#withWill
        ? {
            will: {
              topic: this.#topics.bridgeState(),
              payload: Buffer.from(JSON.stringify({ state: 'offline' })),
              qos: 1 as const,
              retain: true,
            },
          }
        : {}),
    };
  }

  #scheduleReconnect(): void {
    if (this.#state === 'stopped' || this.#reconnectTimer) return;
    const base = Math.min(
      this.#config.reconnectMaxMs,
      this.#config.reconnectMinMs * 2 ** Math.min(this.#attempt, 20),
    );
    const delay = Math.round(base / 2 + Math.random() * (base / 2)); // jitter: many hubs do not retry in step
    this.#attempt++;
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = null;
      if (this.#state !== 'stopped') this.#connect();
    }, delay);
    this.#reconnectTimer.unref();
  }

  async #onConnect(client: MqttClient): Promise<void> {
    if (this.#client !== client || this.#state === 'stopped') return;
    // Without TCP_NODELAY every QoS 1 round trip waits for a delayed ACK (tens of ms).
    (client.stream as unknown as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    this.#attempt = 0;
    const t = this.#topics;
    const b = this.#baseTopic;
    try {
      await client.subscribeAsync(
        [
          t.doorCredential('+'),
          t.doorState('+'),
          t.doorEvent('+'),
          t.doorSyncAck('+'),
          t.deviceAvailability('+'),
          `${b}/bridge/request/+`,
          ...(this.#contract.extra?.publishFilters ?? []),
          ...(this.#config.provisioning === 'dynsec' ? [CONTROL_RESPONSE_TOPIC] : []),
        ],
        { qos: 1 },
      );
      if (this.#config.provisioning === 'dynsec') await this.#reconcileNow();
      if (!this.#withWill) {
        // The hub may publish on bridge/state now: connect again, with the last will this time.
        this.#withWill = true;
        this.#attempt = 0;
        client.end(true);
        return;
      }
      await client.publishAsync(t.bridgeState(), JSON.stringify({ state: 'online' }), {
        qos: 1,
        retain: true,
      });
    } catch (error) {
      this.#log.error({ err: (error as Error).message }, 'external broker: setting up the connection failed');
      client.end(true);
      return;
    }
    this.#setState('connected');
    this.#lastError = null;
    this.#log.info({ url: this.#config.url }, 'external broker: connected');
    // The broker may have lost the part's retained messages, or refused them before the hub had its role.
    this.#contract.extra?.reconnected?.();
  }

  #setState(state: ExternalState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#since = Date.now();
  }

  // ---- accounts ----

  #onStoreEvent(e: HubEvent): void {
    if (!ACCOUNT_CHANGES.test(e.type)) return;
    this.#refreshDirectory();
    if (KICKING_CHANGES.test(e.type) && typeof e.data['deviceId'] === 'string')
      this.#kick.add(e.data['deviceId']);
    this.#scheduleReconcile(RECONCILE_DEBOUNCE_MS);
  }

  #refreshDirectory(): void {
    const byDoor = new Map<string, DeviceIdentity[]>();
    const byId = new Map<string, DeviceIdentity>();
    for (const device of this.#options.directory.devices()) {
      const identity = this.#options.directory.identity(device.id) ?? {
        id: device.id,
        role: device.role,
        doors: [...device.doors],
      };
      byId.set(device.id, identity);
      if (device.role !== 'door') continue;
      for (const door of device.doors) {
        const list = byDoor.get(door) ?? [];
        list.push(identity);
        byDoor.set(door, list);
      }
    }
    this.#byDoor = byDoor;
    this.#byId = byId;
  }

  #scheduleReconcile(delayMs: number): void {
    if (this.#config.provisioning !== 'dynsec' || this.#state === 'stopped') return;
    if (this.#reconciling) {
      this.#reconcileAgain = true;
      return;
    }
    if (this.#reconcileTimer) return;
    this.#reconcileTimer = setTimeout(() => {
      this.#reconcileTimer = null;
      if (this.#client?.connected) void this.#reconcileNow().catch(() => {});
    }, delayMs);
  }

  async #reconcileNow(): Promise<void> {
    if (this.#reconciling) {
      this.#reconcileAgain = true;
      return this.#reconciling;
    }
    const control = this.#control;
    if (!control) return;
    const run = async () => {
      do {
        this.#reconcileAgain = false;
        const kick = new Set(this.#kick);
        this.#kick.clear();
        try {
          const result = await reconcile(control, {
            baseTopic: this.#baseTopic,
            hubUsername: this.#config.username,
            doors: this.#options.directory.doors(),
            devices: this.#options.directory.devices(),
            pendingSecret: (id) => this.#options.handoff.peek(id),
            secretDelivered: (id) => this.#options.handoff.done(id),
            kick,
            shutOut: (id) => this.#shutOut.has(id),
            extra: extraAcls(this.#contract.extra),
            logger: this.#log,
          });
          this.#lastReconcile = { ...result, at: Date.now() };
          if (result.errors.length > 0) {
            this.#log.error(
              { errors: result.errors.slice(0, 10) },
              'external broker: some accounts could not be set up',
            );
          }
          if (result.created.length + result.deleted.length + result.updated.length > 0) {
            this.#log.info(
              {
                created: result.created.length,
                deleted: result.deleted.length,
                updated: result.updated.length,
              },
              'external broker: device accounts in step with the hub',
            );
          }
        } catch (error) {
          for (const id of kick) this.#kick.add(id);
          this.#log.error({ err: (error as Error).message }, 'external broker: reconciling accounts failed');
          throw error;
        }
      } while (this.#reconcileAgain);
    };
    this.#reconciling = run().finally(() => {
      this.#reconciling = null;
    });
    return this.#reconciling;
  }

  /** Over a budget: the broker refuses the device for `seconds` (disabled, which also disconnects it). */
  #shutOutDevice(deviceId: string, seconds: number): void {
    if (this.#config.provisioning !== 'dynsec' || !this.#byId.has(deviceId) || this.#shutOut.has(deviceId))
      return;
    const timer = setTimeout(() => {
      this.#shutOut.delete(deviceId);
      this.#control?.run([{ command: 'enableClient', username: deviceId }]).catch(() => {});
    }, seconds * 1000);
    timer.unref();
    this.#shutOut.set(deviceId, timer);
    this.#control
      ?.run([{ command: 'disableClient', username: deviceId }])
      .catch((error: Error) =>
        this.#log.error(
          { device: deviceId, err: error.message },
          'external broker: could not shut a device out',
        ),
      );
  }

  // ---- messages ----

  #onMessage(topic: string, payload: Buffer, retained: boolean): void {
    if (topic === CONTROL_RESPONSE_TOPIC) {
      this.#control?.onResponse(payload);
      return;
    }
    if (this.#state === 'stopped') return;
    // An empty message deletes a retained one (the hub clears refused retained messages this way).
    if (payload.length === 0) return;
    const peer = this.#peerOf(topic);
    if (!peer) return;
    try {
      const verdict = this.#contract.judge(peer, topic, payload);
      verdict.act?.();
      // The broker already stored a refused retained message: delete it so nobody gets it later.
      if (retained && !verdict.route) this.#publish(topic, '', true).catch(() => {});
      else if (!verdict.route || verdict.unretain) {
        // Nothing to undo for a live message: the broker delivered it already (docs/external-broker.md).
      }
    } catch (error) {
      this.#log.error({ err: error, topic: shorten(topic, TOPIC_SHOWN) }, 'handling a device message failed');
    }
  }

  /**
   * Who sent a message, from its topic and the accounts the hub provisioned: the broker lets only a
   * door's devices publish on its topics, only a device on its own availability, and only integration
   * accounts on bridge requests. Where several accounts could have sent it, the sender gets the least
   * rights of them all.
   */
  #peerOf(topic: string): ContractPeer | null {
    const parsed = parseTopic(this.#baseTopic, topic);
    let identity: DeviceIdentity | null = null;
    if (parsed === null && this.#contract.extra?.publishable(topic)) {
      // Home Assistant's commands and birth: the broker lets only integration accounts publish there.
      identity = leastIntegration([...this.#byId.values()].filter((d) => d.role === 'integration'));
    } else if (parsed?.area === 'door') {
      const devices = this.#byDoor.get(parsed.doorId) ?? [];
      if (devices.length === 1 && devices[0]) identity = devices[0];
      else if (devices.length > 1)
        identity = { id: `door.${parsed.doorId}`, role: 'door', doors: [parsed.doorId] };
    } else if (parsed?.area === 'device') {
      identity = this.#byId.get(parsed.deviceId) ?? null;
    } else if (parsed?.area === 'bridge' && parsed.channel === 'request') {
      identity = leastIntegration([...this.#byId.values()].filter((d) => d.role === 'integration'));
    }
    if (!identity) {
      this.#contract.warn(
        `external:unknown`,
        { topic: shorten(topic, TOPIC_SHOWN) },
        'message from no account the hub provisioned: ignored (check the broker ACL)',
      );
      return null;
    }
    const sender = identity;
    return {
      identity: sender,
      pause: () => {}, // the broker reads the device; its max_inflight_messages bounds it
      answerRateLimited: (answerTopic, answer) => {
        // QoS 0: a flood of refusals must not fill the hub's store of unacknowledged messages.
        if (!this.#client?.connected) return;
        this.#client.publish(answerTopic, JSON.stringify(answer), { qos: 0 });
      },
      hasOtherSession: () => false,
    };
  }

  #publish(topic: string, payload: string, retain: boolean): Promise<void> {
    const client = this.#client;
    // Never queue while the broker is away: mqtt.js would hold every message in memory until it is back.
    if (!client?.connected) return Promise.reject(new Error('the external broker is not connected'));
    return client.publishAsync(topic, payload, { qos: 1, retain }).then(() => {});
  }
}

function extraAcls(extra: IntegrationTopics | null): ExtraAcls | null {
  if (!extra) return null;
  return { subscribe: extra.subscribe, publish: extra.publishFilters, hubPublish: extra.hubPublishFilters };
}

/** One identity with the rights every integration account has (the sender of a bridge request is unknown). */
function leastIntegration(accounts: DeviceIdentity[]): DeviceIdentity | null {
  const first = accounts[0];
  if (!first) return null;
  if (accounts.length === 1) return first;
  const grants = (first.grants ?? []).filter((g) => accounts.every((a) => (a.grants ?? []).includes(g)));
  const scoped = accounts.filter((a) => a.doors.length > 0);
  let doors: string[] = [];
  if (scoped.length > 0) {
    doors = (scoped[0]?.doors ?? []).filter((d) => scoped.every((a) => a.doors.includes(d)));
    // No door in common: a door list no door id can match, never the empty list (which means every door).
    if (doors.length === 0) doors = ['/'];
  }
  return { id: 'integrations', role: 'integration', doors, grants };
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
