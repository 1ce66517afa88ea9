// The embedded MQTT broker: aedes on a loopback TCP listener and a LAN TLS listener, with device
// authentication, the topic ACL and the v1 contract enforced on every message before it is routed.
import net from 'node:net';
import tls from 'node:tls';
import {
  Aedes,
  type AedesOptions,
  type AuthenticateError,
  type Client,
  type ConnectPacket,
  type PublishPacket,
  type Subscription,
} from 'aedes';
import { type Logger, pino } from 'pino';
import { KeyedBuckets, TokenBucket } from '../budget.js';
import type { EventBus } from '../bus.js';
import { shorten } from '../text.js';
import { canPublish, type DeviceDirectory, type DeviceIdentity, filterCovers } from './acl.js';
import { isTopicSafeId, parseAvailability, parseTopic, TOPIC_SHOWN, topics } from './contract.js';
import {
  type BridgeRequestHandler,
  type ContractPeer,
  checkOutsideTopic,
  DeviceContract,
  hubDoorTopic,
  type IntegrationTopics,
  type Verdict,
} from './device-contract.js';
import { PacketGate } from './gate.js';
import { DEFAULT_MQTT_LIMITS, type MqttLimits } from './limits.js';

export interface ListenerOptions {
  host?: string;
  port?: number;
}

export interface TlsListenerOptions extends ListenerOptions {
  keyPem: string;
  certPem: string;
}

export type { BridgeRequestHandler, IntegrationTopics } from './device-contract.js';
export { DEFAULT_UNLOCK_MS } from './device-contract.js';

export interface MqttBrokerOptions {
  /** First level of every topic. Default `gatehouse`. */
  baseTopic?: string;
  /** Plain MQTT. Default 127.0.0.1:1883; null turns it off. */
  tcp?: ListenerOptions | null;
  /** MQTT over TLS. Default host 0.0.0.0, port 8883; null or absent turns it off (it needs a certificate). */
  tls?: TlsListenerOptions | null;
  /**
   * Device payloads above this are refused with an error. Default 4096. A packet whose remaining
   * length is over this + PACKET_OVERHEAD_BYTES closes the connection before anything in it is handled.
   */
  maxPayloadBytes?: number;
  /** Logged-in connections beyond this are refused (CONNACK 3). Default 500. */
  maxClients?: number;
  /** Budgets (docs/mqtt.md "Limits and budgets"); unset ones take DEFAULT_MQTT_LIMITS. */
  limits?: Partial<MqttLimits>;
  /** Same as limits.maxConnectionsPerAddress. */
  maxConnectionsPerAddress?: number;
  /** Exempt from the per-address connection cap and rate (local tools, Node-RED). Default 127.0.0.1 and ::1. */
  unlimitedAddresses?: string[];
  /** Same as limits.connectTimeoutMs. */
  connectTimeoutMs?: number;
  directory: DeviceDirectory;
  bus: EventBus;
  logger?: Logger;
  bridgeRequests?: BridgeRequestHandler;
}

/** Room for the topic and headers on top of the payload limit in one MQTT packet. */
export const PACKET_OVERHEAD_BYTES = 1024;
/**
 * Deliveries aedes runs at once, hub-wide (aedes' default is 100). Every hub message, decisions of
 * every door included, shares this window; a slow reader must not be able to fill it.
 */
const DELIVERY_CONCURRENCY = 1000;
/** Synchronous nesting allowed in aedes' message emitter before it continues on the next turn. */
const MAX_EMITTER_DEPTH = 64;
/** stop() gives aedes this long to close its clients before the sockets are destroyed anyway. */
const STOP_DEADLINE_MS = 2000;
const MAX_USERNAME_LENGTH = 128;
const MAX_SECRET_LENGTH = 1024;

type Done = (error?: Error) => void;

/** A connection from accept until it closes; `authenticated` once its CONNECT was accepted. */
interface Conn {
  address: string;
  authenticated: boolean;
  deadline: NodeJS.Timeout | null;
  socket: net.Socket;
}
/** Why a connection was closed before it logged in, by a connection budget (docs/mqtt.md §9). */
export interface ShedConnections {
  /**
   * Dropped by a listener while it sheds a flood of new connections from 127.0.0.1/::1 (over
   * limits.loopbackConnectionsPerSecond), before anything was read. Node cannot tell addresses apart
   * there: any new connection to that listener is dropped meanwhile.
   */
  loopbackBudget: number;
  /** Over the new-connection rate of its address. */
  addressRate: number;
  /** Over the open connections of its address. */
  addressCap: number;
  /** Pushed out of the slots for connections that have not logged in, by a newer one. */
  pushedOut: number;
  /** No login within connectTimeoutMs. */
  connectTimeout: number;
}

/** A listener's budget of new connections from the addresses exempt from the per-address limits. */
interface LoopbackBudget {
  server: net.Server;
  bucket: TokenBucket;
  /** Set while the listener drops new connections; it takes them again when this fires. */
  reopen: NodeJS.Timeout | null;
  /** The server's own maxConnections, put back when the budget has refilled. */
  maxConnections: number;
}

type RawPublish = (packet: PublishPacket, client: Client | null, done?: Done) => void;

type LoginResult =
  | { ok: true; identity: DeviceIdentity }
  | { ok: false; returnCode: 2 | 3 | 4 | 5; why: string; device?: string };

/**
 * aedes can only refuse a publish by closing the connection. This subclass lets authorizePublish
 * mark a packet instead: marked packets are acknowledged but not routed, so a device that sent a
 * bad message stays connected and gets an explanation on its error topic.
 */
class GatehouseAedes extends Aedes {
  readonly verdicts = new WeakMap<object, Verdict>();
  onActionError: (error: unknown) => void = () => {};

  override publish(packet: PublishPacket, clientOrDone?: Client | null | Done, maybeDone?: Done): void {
    const client = typeof clientOrDone === 'function' ? null : (clientOrDone ?? null);
    const done = typeof clientOrDone === 'function' ? clientOrDone : maybeDone;
    const verdict = this.verdicts.get(packet);
    if (verdict) {
      this.verdicts.delete(packet);
      try {
        verdict.act?.();
      } catch (error) {
        this.onActionError(error);
      }
      if (!verdict.route) {
        done?.();
        return;
      }
    }
    (Aedes.prototype.publish as unknown as RawPublish).call(this, packet, client, done);
  }
}

export class MqttBroker {
  readonly #baseTopic: string;
  readonly #topics: ReturnType<typeof topics>;
  readonly #tcpOptions: ListenerOptions | null;
  readonly #tlsOptions: TlsListenerOptions | null;
  readonly #maxPayloadBytes: number;
  readonly #maxPacketBytes: number;
  readonly #maxClients: number;
  readonly #limits: MqttLimits;
  readonly #unlimitedAddresses: ReadonlySet<string>;
  /** Open sockets per address (logged in or not). */
  readonly #perAddress = new Map<string, number>();
  /** Connections by `address|port` (the same for a TLS socket and the TCP socket under it). */
  readonly #conns = new Map<string, Conn>();
  /** Connections that have not logged in, oldest first. */
  readonly #unauthenticated = new Set<Conn>();
  readonly #unauthenticatedPerAddress = new Map<string, number>();
  #authenticatedCount = 0;
  readonly #connectionRate: KeyedBuckets;
  readonly #loopbackBudgets = new Map<net.Server, LoopbackBudget>();
  readonly #shed: ShedConnections = {
    loopbackBudget: 0,
    addressRate: 0,
    addressCap: 0,
    pushedOut: 0,
    connectTimeout: 0,
  };
  readonly #gates = new WeakMap<Client, PacketGate>();
  /** The v1 contract: ACL, schemas, budgets, answers (shared with the external-broker transport). */
  readonly #contract: DeviceContract;
  readonly #directory: DeviceDirectory;
  readonly #bus: EventBus;
  readonly #log: Logger;

  #aedes: GatehouseAedes | null = null;
  #tcpServer: net.Server | null = null;
  #tlsServer: tls.Server | null = null;
  /** Raw TCP sockets of both listeners, counted against maxClients. */
  readonly #sockets = new Set<net.Socket>();
  /** Authenticated connections and who they are. */
  readonly #sessions = new Map<Client, DeviceIdentity>();
  /** How the contract sees each authenticated connection. */
  readonly #peers = new WeakMap<Client, ContractPeer>();
  readonly #willTopics = new WeakMap<Client, NonNullable<ConnectPacket['will']>>();
  #stopping = false;

  constructor(opts: MqttBrokerOptions) {
    const baseTopic = opts.baseTopic ?? 'gatehouse';
    if (!isTopicSafeId(baseTopic) || baseTopic.startsWith('$')) {
      throw new Error(`mqtt: base topic '${baseTopic}' must be one topic level without + # / or a leading $`);
    }
    this.#baseTopic = baseTopic;
    this.#topics = topics(baseTopic);
    this.#tcpOptions = opts.tcp === null ? null : { host: '127.0.0.1', port: 1883, ...opts.tcp };
    this.#tlsOptions = opts.tls ? { host: '0.0.0.0', port: 8883, ...opts.tls } : null;
    this.#maxPayloadBytes = opts.maxPayloadBytes ?? 4096;
    // One hard cap on a packet, checked before its body is read: room for an oversized payload to be
    // answered with an error, but a client can never make the broker buffer or handle more.
    this.#maxPacketBytes = this.#maxPayloadBytes + PACKET_OVERHEAD_BYTES;
    this.#maxClients = opts.maxClients ?? 500;
    this.#limits = {
      ...DEFAULT_MQTT_LIMITS,
      ...opts.limits,
      ...(opts.connectTimeoutMs !== undefined ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
      ...(opts.maxConnectionsPerAddress !== undefined
        ? { maxConnectionsPerAddress: opts.maxConnectionsPerAddress }
        : {}),
    };
    this.#unlimitedAddresses = new Set(opts.unlimitedAddresses ?? ['127.0.0.1', '::1', '::ffff:127.0.0.1']);
    this.#connectionRate = new KeyedBuckets({
      ratePerSecond: this.#limits.connectionsPerSecondPerAddress,
      burst: this.#limits.connectionBurstPerAddress,
      maxKeys: 10_000,
    });
    this.#directory = opts.directory;
    this.#bus = opts.bus;
    this.#log = opts.logger ?? pino({ enabled: false });
    this.#contract = new DeviceContract({
      baseTopic,
      maxPayloadBytes: this.#maxPayloadBytes,
      limits: this.#limits,
      bus: this.#bus,
      logger: this.#log,
      bridgeRequests: opts.bridgeRequests ?? null,
      transport: {
        publish: (topic, payload, retain) => this.#publish(topic, payload, retain),
        shutOut: (deviceId) => this.#shutOut(deviceId),
      },
    });
  }

  async start(): Promise<void> {
    if (this.#aedes) return;
    this.#stopping = false;
    const options: AedesOptions = {
      connectTimeout: this.#limits.connectTimeoutMs,
      concurrency: DELIVERY_CONCURRENCY,
      // A reader that does not read its socket gets nothing more until it does (no unbounded queue).
      authorizeForward: (client, packet) => {
        if (!client.conn.writableNeedDrain) return packet;
        this.#warn(
          `slow:${client.id}`,
          { clientId: client.id },
          'message dropped: the client is not reading',
        );
        return null;
      },
      preConnect: (client, packet, callback) => {
        if (packet.will) this.#willTopics.set(client, packet.will);
        callback(null, true);
      },
      authenticate: (client, username, password, callback) =>
        this.#authenticate(client, username, password, callback),
      authorizePublish: (client, packet, callback) => this.#authorizePublish(client, packet, callback),
      authorizeSubscribe: (client, subscription, callback) =>
        this.#authorizeSubscribe(client, subscription, callback),
    };
    const aedes = new GatehouseAedes(options);
    boundEmitterDepth(aedes);
    aedes.onActionError = (error) => this.#log.error({ err: error }, 'handling a device message failed');
    await aedes.listen();
    this.#aedes = aedes;

    aedes.on('clientError', (client, error) =>
      this.#warn(
        `client:${remoteOf(client) ?? ''}`,
        { clientId: client?.id, device: this.#sessions.get(client)?.id, err: error.message },
        'client error',
      ),
    );
    // Port scanners and junk bytes end here; debug keeps them out of the normal log.
    aedes.on('connectionError', (_client, error) =>
      this.#log.debug({ err: error.message }, 'connection error before CONNECT'),
    );
    (aedes as NodeJS.EventEmitter).on('error', (error: Error) =>
      this.#log.error({ err: error }, 'broker error'),
    );

    this.#contract.start();
    await this.#publish(this.#topics.bridgeState(), { state: 'online' }, true);

    try {
      if (this.#tcpOptions) {
        const server = net.createServer({ noDelay: true }, (socket) => {
          if (this.#admit(socket, 'tcp', budget)) this.#attachOnFirstData(socket, 'tcp');
        });
        const budget = this.#loopbackBudget(server);
        this.#tcpServer = server;
        await listen(server, this.#tcpOptions);
        this.#log.info({ address: server.address() }, 'MQTT listening (plain TCP)');
      }
      if (this.#tlsOptions) {
        const server = tls.createServer({
          key: this.#tlsOptions.keyPem,
          cert: this.#tlsOptions.certPem,
          minVersion: 'TLSv1.2',
          handshakeTimeout: this.#limits.connectTimeoutMs,
          noDelay: true,
        });
        const budget = this.#loopbackBudget(server);
        server.on('connection', (socket: net.Socket) => this.#admit(socket, 'tls', budget));
        server.on('secureConnection', (socket) => this.#attachOnFirstData(socket, 'tls'));
        server.on('tlsClientError', (error) =>
          this.#log.debug({ err: error.message }, 'TLS handshake failed'),
        );
        this.#tlsServer = server;
        await listen(server, this.#tlsOptions);
        this.#log.info({ address: server.address() }, 'MQTT listening (TLS)');
      }
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Publishes bridge offline, disconnects every client and closes the listeners. */
  async stop(): Promise<void> {
    const aedes = this.#aedes;
    if (!aedes) return;
    this.#stopping = true;
    this.#contract.stopping();
    try {
      await this.#publish(this.#topics.bridgeState(), { state: 'offline' }, true);
    } catch (error) {
      this.#log.warn({ err: error }, 'could not publish bridge offline');
    }
    // Let the offline message reach subscribers and their PUBACKs come back before the sockets close:
    // closing a socket with unread input sends a reset, which can discard what the client has not read yet.
    const deadline = Date.now() + 500;
    await new Promise((r) => setTimeout(r, 50));
    while (Date.now() < deadline && [...this.#sockets].some((s) => !s.destroyed && s.writableLength > 0)) {
      await new Promise((r) => setTimeout(r, 10));
    }
    // Whatever a client did, stop completes: aedes gets a deadline, then every socket is destroyed.
    await withDeadline(new Promise<void>((resolve) => aedes.close(() => resolve())), STOP_DEADLINE_MS);
    for (const socket of this.#sockets) socket.destroy();
    await withDeadline(
      Promise.all([closeServer(this.#tcpServer), closeServer(this.#tlsServer)]).then(() => {}),
      STOP_DEADLINE_MS,
    );
    this.#contract.stop();
    for (const budget of this.#loopbackBudgets.values()) if (budget.reopen) clearTimeout(budget.reopen);
    this.#loopbackBudgets.clear();
    this.#tcpServer = null;
    this.#tlsServer = null;
    this.#aedes = null;
    this.#sessions.clear();
  }

  /** Actual listening ports (useful with port 0). */
  addresses(): { tcp?: number; tls?: number } {
    const result: { tcp?: number; tls?: number } = {};
    const tcp = this.#tcpServer?.address();
    const secure = this.#tlsServer?.address();
    if (tcp && typeof tcp === 'object') result.tcp = tcp.port;
    if (secure && typeof secure === 'object') result.tls = secure.port;
    return result;
  }

  /** Device ids (doors and integrations) with a live connection that did not announce `offline`. */
  onlineDevices(): string[] {
    return this.#contract.onlineDevices();
  }

  /** Authenticated MQTT connections (doors, integrations; a device may hold more than one). */
  connectedClients(): number {
    return this.#sessions.size;
  }

  /** Connections that have not logged in yet (bounded by limits.maxUnauthenticated). */
  connectingClients(): number {
    return this.#unauthenticated.size;
  }

  /** Connections closed by a connection budget since start, by reason (status and metrics). */
  shedConnections(): ShedConnections {
    return { ...this.#shed };
  }

  /** Closes every connection of a device (it was removed, or its doors changed). Returns how many. */
  disconnectDevice(deviceId: string): number {
    let count = 0;
    for (const [client, identity] of this.#sessions) {
      if (identity.id !== deviceId) continue;
      client.close();
      count++;
    }
    if (count > 0) this.#log.info({ device: deviceId, connections: count }, 'device disconnected by the hub');
    return count;
  }

  /**
   * Publishes a hub message on `door/{door}/{channel}`: mobile key challenges and door sync
   * (docs/mqtt.md §8). Rejects when the door id cannot be a topic level or the broker is stopped.
   */
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
    return this.#publish(topic, payload, retain);
  }

  /** Offers integration accounts the topics of a part (or withdraws them with null). */
  useIntegrationTopics(extra: IntegrationTopics | null): void {
    this.#contract.extra = extra;
  }

  /**
   * Publishes a hub message on a topic outside the v1 contract (Home Assistant discovery and states).
   * Contract topics, wildcards and `$` topics are refused: a part cannot speak for a door this way.
   */
  publishOutside(topic: string, payload: string, retain: boolean): Promise<void> {
    try {
      checkOutsideTopic(this.#baseTopic, topic);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#publish(topic, payload, retain);
  }

  /** Publishes on `bridge/event` for integrations. Keep it PII-minimised: no names, no card values. */
  async publishBridgeEvent(payload: Record<string, unknown>): Promise<void> {
    // Never rejects: callers fire and forget, and a stopped broker must not become an unhandled rejection.
    try {
      await this.#publish(this.#topics.bridgeEvent(), payload, false);
    } catch (error) {
      this.#log.debug({ err: error }, 'bridge event not published');
    }
  }

  // ---- connection handling ----

  /**
   * Admission at the TCP level (before any TLS handshake). A connection that has not logged in is
   * counted apart from maxClients, per address and in total, and has connectTimeoutMs to do so: when
   * those slots are full the oldest is closed, so sockets that never log in cannot lock devices out.
   */
  #admit(socket: net.Socket, transport: 'tcp' | 'tls', budget: LoopbackBudget): boolean {
    socket.on('error', (error) => this.#log.debug({ transport, err: error.message }, 'socket error'));
    const address = socket.remoteAddress ?? 'unknown';
    const limits = this.#limits;
    const fromAddress = this.#perAddress.get(address) ?? 0;
    const limited = !this.#unlimitedAddresses.has(address);
    let refusal: string | null = null;
    if (!this.#aedes || this.#stopping) refusal = 'broker is stopping';
    // While the listener sheds, Node lets one through only when it has no connection open: that one is taken.
    else if (!limited && budget.reopen === null && !budget.bucket.take()) {
      this.#shed.loopbackBudget++;
      this.#shedNewConnections(budget, transport);
      refusal = `more than ${limits.loopbackConnectionsPerSecond} new connections per second from ${address}`;
    } else if (limited && this.#connectionRate.take(address) > 0) {
      this.#shed.addressRate++;
      refusal = `more than ${limits.connectionsPerSecondPerAddress} new connections per second from one address`;
    } else if (limited && fromAddress >= limits.maxConnectionsPerAddress) {
      this.#shed.addressCap++;
      refusal = `limit of ${limits.maxConnectionsPerAddress} connections from one address reached`;
    }
    if (refusal !== null) {
      this.#warn(`connection:${address}`, { transport, remote: address }, `connection refused: ${refusal}`);
      socket.destroy();
      return false;
    }
    // Make room among the connections that have not logged in: the oldest from this address, else the oldest.
    if ((this.#unauthenticatedPerAddress.get(address) ?? 0) >= limits.maxUnauthenticatedPerAddress) {
      for (const conn of this.#unauthenticated) {
        if (conn.address !== address) continue;
        this.#dropUnauthenticated(conn, 'from one address');
        break;
      }
    }
    if (this.#unauthenticated.size >= limits.maxUnauthenticated) {
      const oldest = this.#unauthenticated.values().next().value;
      if (oldest) this.#dropUnauthenticated(oldest, 'in total');
    }
    const conn: Conn = { address, authenticated: false, deadline: null, socket };
    const key = `${address}|${socket.remotePort}`;
    this.#conns.set(key, conn);
    this.#unauthenticated.add(conn);
    this.#unauthenticatedPerAddress.set(address, (this.#unauthenticatedPerAddress.get(address) ?? 0) + 1);
    conn.deadline = setTimeout(() => {
      this.#shed.connectTimeout++;
      this.#log.debug({ transport, remote: address }, 'no login in time: connection closed');
      socket.destroy();
    }, limits.connectTimeoutMs);
    this.#sockets.add(socket);
    this.#perAddress.set(address, fromAddress + 1);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      if (this.#conns.get(key) === conn) this.#conns.delete(key);
      if (conn.authenticated) this.#authenticatedCount--;
      else this.#leaveUnauthenticated(conn);
      const left = (this.#perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.#perAddress.set(address, left);
      else this.#perAddress.delete(address);
    });
    return true;
  }

  #loopbackBudget(server: net.Server): LoopbackBudget {
    const budget: LoopbackBudget = {
      server,
      bucket: new TokenBucket(
        this.#limits.loopbackConnectionsPerSecond,
        this.#limits.loopbackConnectionBurst,
      ),
      reopen: null,
      maxConnections: server.maxConnections,
    };
    // Node closes these itself, before it makes a socket of them: the cheap way to shed a flood.
    server.on('drop', () => {
      this.#shed.loopbackBudget++;
    });
    this.#loopbackBudgets.set(server, budget);
    return budget;
  }

  /**
   * Loopback's budget is spent: until a new connection fits again, Node drops new ones at accept, from
   * any address (it cannot tell them apart there). Closing them after accept is not enough: Node's
   * socket object is most of what a connection costs, and thousands a second of them are garbage the
   * heap grows by (docs/mqtt.md §9).
   */
  #shedNewConnections(budget: LoopbackBudget, transport: 'tcp' | 'tls'): void {
    this.#warn(
      `loopback:${transport}`,
      { transport },
      `new connections dropped: more than ${this.#limits.loopbackConnectionsPerSecond} a second from 127.0.0.1/::1 on the ${transport} listener`,
    );
    budget.server.maxConnections = 1;
    budget.reopen = setTimeout(
      () => {
        budget.reopen = null;
        budget.server.maxConnections = budget.maxConnections;
      },
      Math.max(1, budget.bucket.waitMs()),
    );
    budget.reopen.unref();
  }

  #dropUnauthenticated(conn: Conn, scope: string): void {
    this.#shed.pushedOut++;
    this.#warn(
      `connection:${conn.address}`,
      { remote: conn.address },
      `connection closed: too many connections that have not logged in ${scope}`,
    );
    this.#leaveUnauthenticated(conn);
    conn.socket.destroy();
  }

  #leaveUnauthenticated(conn: Conn): void {
    if (conn.deadline) clearTimeout(conn.deadline);
    conn.deadline = null;
    if (!this.#unauthenticated.delete(conn)) return;
    const left = (this.#unauthenticatedPerAddress.get(conn.address) ?? 1) - 1;
    if (left > 0) this.#unauthenticatedPerAddress.set(conn.address, left);
    else this.#unauthenticatedPerAddress.delete(conn.address);
  }

  /**
   * A socket that has sent nothing yet costs a Conn and a timer, no MQTT state: aedes' client, parser
   * and timers are made when its first bytes arrive (put back for aedes to read).
   */
  #attachOnFirstData(socket: net.Socket, transport: 'tcp' | 'tls'): void {
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      socket.unshift(chunk);
      this.#attach(socket, transport);
    });
  }

  /** Hands an admitted (and for TLS, handshaken) socket to aedes, through the packet gate. */
  #attach(socket: net.Socket, transport: 'tcp' | 'tls'): void {
    const aedes = this.#aedes;
    if (!aedes || this.#stopping) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    if (transport === 'tls') {
      socket.on('error', (error) => this.#log.debug({ transport, err: error.message }, 'socket error'));
    }
    const client = aedes.handle(socket);
    const remote = socket.remoteAddress ?? 'unknown';
    const gate = new PacketGate(client, this.#maxPacketBytes, (reason) =>
      this.#warn(
        `protocol:${remote}`,
        { transport, remote, device: this.#sessions.get(client)?.id },
        `MQTT protocol violation, connection closed: ${reason}`,
      ),
    );
    this.#gates.set(client, gate);
    socket.once('close', () => gate.close());
  }

  #authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    callback: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    let result: LoginResult;
    try {
      result = this.#login(client, username, password);
    } catch (error) {
      this.#log.error({ err: error }, 'authenticate failed');
      result = { ok: false, returnCode: 3, why: 'server unavailable' };
    }
    if (!result.ok) {
      const remote = remoteOf(client);
      this.#warn(
        `login:${remote ?? ''}`,
        { device: result.device, clientId: client.id, remote, returnCode: result.returnCode },
        `MQTT login refused: ${result.why}`,
      );
      callback(
        Object.assign(new Error(result.why), { returnCode: result.returnCode }) as AuthenticateError,
        false,
      );
      return;
    }
    const identity = result.identity;
    const conn = this.#connOf(client);
    if (conn && !conn.authenticated) {
      conn.authenticated = true;
      this.#authenticatedCount++;
      this.#leaveUnauthenticated(conn);
    }
    this.#sessions.set(client, identity);
    client.conn.once('close', () => this.#endSession(client));
    this.#info(
      `session:${identity.id}`,
      { device: identity.id, role: identity.role, remote: remoteOf(client) },
      'device connected',
    );
    this.#peers.set(client, this.#peerOf(client, identity));
    this.#contract.setAvailability(identity, true);
    callback(null, true);
  }

  /** Username and password may each be missing: anonymous and half-filled logins are refused, never thrown on. */
  #login(client: Client, username: string | undefined, password: Buffer | undefined): LoginResult {
    const user = typeof username === 'string' ? username : '';
    const secret = Buffer.isBuffer(password) ? password.toString('utf8') : '';
    if (user === '' || secret === '')
      return { ok: false, returnCode: 5, why: 'anonymous clients are not allowed' };
    if (user.length > MAX_USERNAME_LENGTH || secret.length > MAX_SECRET_LENGTH) {
      return { ok: false, returnCode: 4, why: 'username or secret too long' };
    }
    const seconds = this.#contract.shutOutSeconds(user);
    if (seconds > 0) {
      return { ok: false, returnCode: 3, why: `over a budget: try again in ${seconds} s`, device: user };
    }
    const conn = this.#connOf(client);
    if (conn && !conn.authenticated && this.#authenticatedCount >= this.#maxClients) {
      return { ok: false, returnCode: 3, why: `limit of ${this.#maxClients} connections reached` };
    }
    let identity: DeviceIdentity | null;
    try {
      identity = this.#directory.authenticate(user, secret);
    } catch (error) {
      this.#log.error({ err: error }, 'device directory failed');
      return { ok: false, returnCode: 3, why: 'device directory unavailable', device: user };
    }
    if (!identity || !isIdentity(identity)) {
      return { ok: false, returnCode: 4, why: 'unknown device or wrong secret', device: user };
    }
    // Client ids are global: refuse one that would push another device's session off.
    for (const [other, otherIdentity] of this.#sessions) {
      if (other !== client && other.id === client.id && otherIdentity.id !== identity.id) {
        return {
          ok: false,
          returnCode: 2,
          why: `client id '${client.id}' is in use by another device`,
          device: user,
        };
      }
    }
    const will = this.#willTopics.get(client);
    const extraWill =
      will !== undefined &&
      identity.role === 'integration' &&
      this.#contract.extra?.allowsWill(will.topic, Buffer.from(will.payload)) === true;
    if (will && !extraWill) {
      const allowed = canPublish(this.#baseTopic, identity, will.topic);
      if (!allowed.allowed)
        return { ok: false, returnCode: 5, why: `last will refused: ${allowed.reason}`, device: user };
      const parsed = parseTopic(this.#baseTopic, will.topic);
      const payload = parseAvailability(will.payload);
      if (parsed?.area !== 'device' || !payload.ok || payload.value !== 'offline') {
        return {
          ok: false,
          returnCode: 5,
          why: "last will must be 'offline' on the device's availability topic",
          device: user,
        };
      }
    }
    return { ok: true, identity };
  }

  #endSession(client: Client): void {
    const identity = this.#sessions.get(client);
    if (!identity) return;
    this.#sessions.delete(client);
    this.#info(`session:${identity.id}`, { device: identity.id }, 'device disconnected');
    if (this.#hasOtherSession(identity.id, client)) return;
    if (this.#stopping) return;
    const wasOnline = this.#contract.isOnline(identity.id);
    this.#contract.setAvailability(identity, false);
    // A device without a last will would otherwise stay "online" in its retained availability.
    if (wasOnline && identity.role === 'door' && isTopicSafeId(identity.id)) {
      this.#publish(this.#topics.deviceAvailability(identity.id), 'offline', true).catch(() => {});
    }
  }

  #hasOtherSession(deviceId: string, except: Client): boolean {
    for (const [client, identity] of this.#sessions) {
      if (client !== except && !client.closed && identity.id === deviceId) return true;
    }
    return false;
  }

  /** How the contract reaches one aedes connection. */
  #peerOf(client: Client, identity: DeviceIdentity): ContractPeer {
    return {
      identity,
      pause: (ms) => this.#gates.get(client)?.pause(ms),
      answerRateLimited: (topic, answer) => {
        // Written straight to the device that asked (if it subscribed to the decision topic): far
        // cheaper than routing, so shedding load costs little. A device not reading its socket gets nothing.
        const conn = client.conn as Partial<net.Socket>;
        if (!conn.writable || conn.writableNeedDrain) return;
        const subscriptions = Object.keys(
          (client as unknown as { subscriptions: object }).subscriptions ?? {},
        );
        if (!subscriptions.some((filter) => filterCovers(filter, topic))) return;
        conn.write?.(encodePublish(topic, JSON.stringify(answer)));
      },
      hasOtherSession: () => this.#hasOtherSession(identity.id, client),
    };
  }

  /** A device went over a budget: every connection it has is closed (logins refused by the contract). */
  #shutOut(deviceId: string): void {
    for (const [client, identity] of this.#sessions) {
      if (identity.id !== deviceId) continue;
      this.#gates.get(client)?.close();
      client.close();
    }
  }

  // ---- publish and subscribe checks ----

  #authorizePublish(
    client: Client | null,
    packet: PublishPacket,
    callback: (error?: Error | null) => void,
  ): void {
    const aedes = this.#aedes;
    try {
      const peer = client ? this.#peers.get(client) : undefined;
      if (!aedes) {
        callback(new Error('broker stopped'));
        return;
      }
      // No identity: e.g. a stored last will of a client that is gone; nobody vouches for it.
      const verdict: Verdict =
        client && peer && this.#sessions.has(client)
          ? this.#contract.judge(peer, packet.topic, packet.payload)
          : { route: false };
      if (verdict.unretain) packet.retain = false;
      aedes.verdicts.set(packet, verdict.early ? { route: verdict.route } : verdict);
      callback(null); // aedes queues the PUBACK synchronously here
      if (verdict.early) {
        try {
          verdict.act?.();
        } catch (error) {
          aedes.onActionError(error);
        }
      }
    } catch (error) {
      this.#log.error({ err: error, topic: packet.topic }, 'authorizePublish failed');
      if (aedes) aedes.verdicts.set(packet, { route: false });
      callback(null);
    }
  }

  #connOf(client: Client): Conn | undefined {
    const conn = client.conn as Partial<net.Socket>;
    return this.#conns.get(`${conn.remoteAddress}|${conn.remotePort}`);
  }

  /** A warning that may repeat: the first few per source and minute, then one summary line. */
  #warn(source: string, fields: Record<string, unknown>, message: string): void {
    this.#contract.warn(source, fields, message);
  }

  #info(source: string, fields: Record<string, unknown>, message: string): void {
    this.#contract.info(source, fields, message);
  }

  #authorizeSubscribe(
    client: Client,
    subscription: Subscription,
    callback: (error: Error | null, subscription?: Subscription | null) => void,
  ): void {
    try {
      const peer = this.#sessions.has(client) ? this.#peers.get(client) : undefined;
      if (!peer) {
        this.#warn(
          'refused:',
          { filter: shorten(subscription.topic, TOPIC_SHOWN) },
          'not allowed: not logged in',
        );
        callback(null, null);
        return;
      }
      // null grants 128 (failure) in the SUBACK without closing the connection.
      const decision = this.#contract.judgeSubscribe(peer, subscription.topic);
      callback(null, decision.allowed ? subscription : null);
    } catch (error) {
      this.#log.error({ err: error }, 'authorizeSubscribe failed');
      callback(null, null);
    }
  }

  #publish(
    topic: string,
    payload: Record<string, unknown> | object | string,
    retain: boolean,
  ): Promise<void> {
    const aedes = this.#aedes;
    if (!aedes) return Promise.reject(new Error('broker is not running'));
    const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
    return new Promise((resolve, reject) => {
      aedes.publish(
        { cmd: 'publish', topic, payload: Buffer.from(body), qos: 1, retain, dup: false },
        (error?: Error) => (error ? reject(error) : resolve()),
      );
    });
  }
}

function isIdentity(value: DeviceIdentity): boolean {
  return (
    typeof value.id === 'string' &&
    (value.role === 'door' || value.role === 'integration') &&
    Array.isArray(value.doors) &&
    value.doors.every((door) => typeof door === 'string')
  );
}

function remoteOf(client: Client): string | undefined {
  const conn = client.conn as Partial<net.Socket>;
  return typeof conn.remoteAddress === 'string' ? conn.remoteAddress : undefined;
}

function listen(server: net.Server, options: ListenerOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: net.Server | null): Promise<void> {
  if (!server?.listening) return Promise.resolve();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Resolves when `promise` does, or after `ms` at the latest. */
function withDeadline(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

interface EmitterInternals {
  _parallel: (that: unknown, matches: unknown[], message: unknown, done: () => void) => void;
}

/**
 * aedes' message emitter (mqemitter) finishes a message with no subscribers synchronously and then
 * starts the next queued one from inside that call, so draining a queue of N such messages nests N
 * calls deep: a long enough queue (a flood, then a slow reader) threw "Maximum call stack size
 * exceeded". Past MAX_EMITTER_DEPTH nested calls the next one continues on the next turn instead.
 */
export function boundEmitterDepth(aedes: Aedes): void {
  const mq = (aedes as unknown as { mq: EmitterInternals }).mq;
  const parallel = mq._parallel;
  let depth = 0;
  const bounded: EmitterInternals['_parallel'] = (that, matches, message, done) => {
    if (depth >= MAX_EMITTER_DEPTH) {
      setImmediate(() => bounded(that, matches, message, done));
      return;
    }
    depth++;
    try {
      parallel(that, matches, message, done);
    } finally {
      depth--;
    }
  };
  mq._parallel = bounded;
}

/** A QoS 0 PUBLISH packet (MQTT 3.1.1 §3.3). */
function encodePublish(topic: string, payload: string): Buffer {
  const topicLength = Buffer.byteLength(topic);
  const length = 2 + topicLength + Buffer.byteLength(payload);
  const lengthBytes: number[] = [];
  let rest = length;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    lengthBytes.push(byte);
  } while (rest > 0);
  const packet = Buffer.allocUnsafe(1 + lengthBytes.length + length);
  packet[0] = 0x30;
  let at = 1;
  for (const byte of lengthBytes) packet[at++] = byte;
  packet.writeUInt16BE(topicLength, at);
  at += 2;
  at += packet.write(topic, at, 'utf8');
  packet.write(payload, at, 'utf8');
  return packet;
}
