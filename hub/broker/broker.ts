// The embedded MQTT broker: aedes on a loopback TCP listener and a LAN TLS listener, with device
// authentication, the topic ACL and the v1 contract enforced on every message before it is routed.
import net from 'node:net';
import type { Duplex } from 'node:stream';
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
import type { BusEvents, Decision, EventBus, Presentation } from '../bus.js';
import { canPublish, canSubscribe, type DeviceDirectory, type DeviceIdentity } from './acl.js';
import {
  type BridgeRequestPayload,
  type DecisionMessage,
  type ErrorMessage,
  isTopicSafeId,
  parseAvailability,
  parseBridgeRequest,
  parseCredential,
  parseEvent,
  parseState,
  parseSyncAck,
  parseTopic,
  type SetMessage,
  salvageRequestId,
  topics,
} from './contract.js';

export interface ListenerOptions {
  host?: string;
  port?: number;
}

export interface TlsListenerOptions extends ListenerOptions {
  keyPem: string;
  certPem: string;
}

/** Answers an integration's `bridge/request/{name}`; the result is published on `bridge/response/{name}`. */
export type BridgeRequestHandler = (
  name: string,
  request: BridgeRequestPayload,
  from: DeviceIdentity,
) => Promise<Record<string, unknown>> | Record<string, unknown>;

export interface MqttBrokerOptions {
  /** First level of every topic. Default `gatehouse`. */
  baseTopic?: string;
  /** Plain MQTT. Default 127.0.0.1:1883; null turns it off. */
  tcp?: ListenerOptions | null;
  /** MQTT over TLS. Default host 0.0.0.0, port 8883; null or absent turns it off (it needs a certificate). */
  tls?: TlsListenerOptions | null;
  /** Device payloads above this are refused with an error. Default 4096. */
  maxPayloadBytes?: number;
  /** Connections beyond this are closed at once. Default 500. */
  maxClients?: number;
  /** Concurrent connections from one IP address. Default 32. */
  maxConnectionsPerAddress?: number;
  /** Addresses without a per-address limit (local tools, Node-RED). Default loopback. */
  unlimitedAddresses?: string[];
  /** A socket that has not sent CONNECT (or finished the TLS handshake) by then is closed. Default 5000. */
  connectTimeoutMs?: number;
  directory: DeviceDirectory;
  bus: EventBus;
  logger?: Logger;
  bridgeRequests?: BridgeRequestHandler;
}

/** Used when a lock command asks for an unlock without a duration. */
export const DEFAULT_UNLOCK_MS = 5000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const REFUSAL_LOG_WINDOW_MS = 60_000;
const REFUSAL_LOGS_PER_WINDOW = 20;
const MAX_USERNAME_LENGTH = 128;
const MAX_SECRET_LENGTH = 1024;

type Done = (error?: Error) => void;
type RawPublish = (packet: PublishPacket, client: Client | null, done?: Done) => void;

type LoginResult =
  | { ok: true; identity: DeviceIdentity }
  | { ok: false; returnCode: 2 | 3 | 4 | 5; why: string; device?: string };

/** What to do with a publish once it passed authorizePublish. */
interface Verdict {
  /** Runs after the PUBACK was written, before routing. */
  act?: () => void;
  /**
   * Run `act` as soon as the message is authorised, right after the PUBACK is queued, instead of
   * waiting for the PUBACK write to complete: a door's answer should not wait an I/O round.
   */
  early?: boolean;
  /** Route to subscribers (and store if retained). */
  route: boolean;
}

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
  readonly #connectTimeoutMs: number;
  readonly #maxConnectionsPerAddress: number;
  readonly #unlimitedAddresses: ReadonlySet<string>;
  readonly #perAddress = new Map<string, number>();
  readonly #refusalLogBudget = new Map<string, { since: number; logged: number; suppressed: number }>();
  readonly #directory: DeviceDirectory;
  readonly #bus: EventBus;
  readonly #log: Logger;
  readonly #bridgeRequests: BridgeRequestHandler | null;

  #aedes: GatehouseAedes | null = null;
  #tcpServer: net.Server | null = null;
  #tlsServer: tls.Server | null = null;
  /** Raw TCP sockets of both listeners, counted against maxClients. */
  readonly #sockets = new Set<net.Socket>();
  /** Authenticated connections and who they are. */
  readonly #sessions = new Map<Client, DeviceIdentity>();
  readonly #willTopics = new WeakMap<Client, NonNullable<ConnectPacket['will']>>();
  readonly #online = new Map<string, DeviceIdentity>();
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
    // Hard cap on a whole MQTT packet: room for an oversized payload to be answered with an
    // error, but a client can never make the broker buffer megabytes.
    this.#maxPacketBytes = this.#maxPayloadBytes * 2 + 1024;
    this.#maxClients = opts.maxClients ?? 500;
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#maxConnectionsPerAddress = opts.maxConnectionsPerAddress ?? 32;
    this.#unlimitedAddresses = new Set(opts.unlimitedAddresses ?? ['127.0.0.1', '::1', '::ffff:127.0.0.1']);
    this.#directory = opts.directory;
    this.#bus = opts.bus;
    this.#log = opts.logger ?? pino({ enabled: false });
    this.#bridgeRequests = opts.bridgeRequests ?? null;
  }

  async start(): Promise<void> {
    if (this.#aedes) return;
    this.#stopping = false;
    const options: AedesOptions = {
      connectTimeout: this.#connectTimeoutMs,
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
    aedes.onActionError = (error) => this.#log.error({ err: error }, 'handling a device message failed');
    await aedes.listen();
    this.#aedes = aedes;

    aedes.on('clientError', (client, error) =>
      this.#log.warn(
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

    // The device that asked hears the answer before anything else reacts to the decision.
    this.#bus.on(this, 'decided', (presentation, decision) => this.#publishDecision(presentation, decision), {
      first: true,
    });
    this.#bus.on(this, 'lockCommand', (command) => this.#publishLockCommand(command));

    await this.#publish(this.#topics.bridgeState(), { state: 'online' }, true);

    try {
      if (this.#tcpOptions) {
        const server = net.createServer({ noDelay: true }, (socket) => {
          if (this.#admit(socket, 'tcp')) this.#attach(socket, 'tcp');
        });
        this.#tcpServer = server;
        await listen(server, this.#tcpOptions);
        this.#log.info({ address: server.address() }, 'MQTT listening (plain TCP)');
      }
      if (this.#tlsOptions) {
        const server = tls.createServer({
          key: this.#tlsOptions.keyPem,
          cert: this.#tlsOptions.certPem,
          minVersion: 'TLSv1.2',
          handshakeTimeout: this.#connectTimeoutMs,
          noDelay: true,
        });
        server.on('connection', (socket: net.Socket) => this.#admit(socket, 'tls'));
        server.on('secureConnection', (socket) => this.#attach(socket, 'tls'));
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
    this.#bus.removeAll(this);
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
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all([closeServer(this.#tcpServer), closeServer(this.#tlsServer)]);
    this.#tcpServer = null;
    this.#tlsServer = null;
    this.#aedes = null;
    this.#sessions.clear();
    this.#online.clear();
    this.#refusalLogBudget.clear();
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
    return [...this.#online.keys()].sort();
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
   * Issue #5: publishes a hub message on `door/{door}/{channel}`: mobile key challenges and door sync
   * (docs/mqtt.md §8). Rejects when the door id cannot be a topic level or the broker is stopped.
   */
  publishToDoor(
    doorId: string,
    channel: 'challenge' | 'sync/snapshot' | 'sync/delta',
    payload: object,
    retain: boolean,
  ): Promise<void> {
    if (!isTopicSafeId(doorId))
      return Promise.reject(new Error(`door id '${doorId.slice(0, 64)}' cannot be a topic level`));
    if (channel !== 'challenge' && channel !== 'sync/snapshot' && channel !== 'sync/delta') {
      return Promise.reject(new Error(`'${String(channel)}' is not a hub door channel`));
    }
    return this.#publish(`${this.#baseTopic}/door/${doorId}/${channel}`, payload, retain);
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

  /** Admission at the TCP level (before any TLS handshake): total and per-address connection caps. */
  #admit(socket: net.Socket, transport: 'tcp' | 'tls'): boolean {
    socket.on('error', (error) => this.#log.debug({ transport, err: error.message }, 'socket error'));
    const address = socket.remoteAddress ?? 'unknown';
    const fromAddress = this.#perAddress.get(address) ?? 0;
    let refusal: string | null = null;
    if (!this.#aedes || this.#stopping) refusal = 'broker is stopping';
    else if (this.#sockets.size >= this.#maxClients)
      refusal = `limit of ${this.#maxClients} connections reached`;
    else if (fromAddress >= this.#maxConnectionsPerAddress && !this.#unlimitedAddresses.has(address)) {
      refusal = `limit of ${this.#maxConnectionsPerAddress} connections from one address reached`;
    }
    if (refusal !== null) {
      this.#log.warn({ transport, remote: address }, `connection refused: ${refusal}`);
      socket.destroy();
      return false;
    }
    this.#sockets.add(socket);
    this.#perAddress.set(address, fromAddress + 1);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      const left = (this.#perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.#perAddress.set(address, left);
      else this.#perAddress.delete(address);
    });
    return true;
  }

  /** Hands an admitted (and for TLS, handshaken) socket to aedes. */
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
    aedes.handle(socket);
    watchPacketSizes(socket, this.#maxPacketBytes, (size) => {
      this.#log.warn(
        { transport, remote: socket.remoteAddress, size },
        'MQTT packet too large: connection closed',
      );
      socket.destroy();
    });
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
      this.#logRefusal(
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
    this.#sessions.set(client, identity);
    client.conn.once('close', () => this.#endSession(client));
    this.#log.info(
      { device: identity.id, role: identity.role, remote: remoteOf(client) },
      'device connected',
    );
    this.#setAvailability(identity, true);
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
    if (will) {
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
    this.#log.info({ device: identity.id }, 'device disconnected');
    if (this.#hasOtherSession(identity.id, client)) return;
    if (this.#stopping) return;
    const wasOnline = this.#online.has(identity.id);
    this.#setAvailability(identity, false);
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

  #setAvailability(identity: DeviceIdentity, online: boolean): void {
    if (this.#online.has(identity.id) === online) return;
    if (online) this.#online.set(identity.id, identity);
    else this.#online.delete(identity.id);
    if (this.#stopping) return;
    for (const doorId of identity.doors) {
      this.#emit('doorInput', { doorId, type: 'availability', data: { online, deviceId: identity.id } });
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
      const identity = client ? this.#sessions.get(client) : undefined;
      if (!aedes) {
        callback(new Error('broker stopped'));
        return;
      }
      // No identity: e.g. a stored last will of a client that is gone; nobody vouches for it.
      const verdict: Verdict = client && identity ? this.#judge(client, identity, packet) : { route: false };
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

  /** ACL, then the contract: decides whether a device message is routed and what the hub does with it. */
  #judge(client: Client, identity: DeviceIdentity, packet: PublishPacket): Verdict {
    const topic = packet.topic;
    const acl = canPublish(this.#baseTopic, identity, topic);
    if (!acl.allowed) return this.#refuse(identity, topic, acl.reason);
    const parsed = parseTopic(this.#baseTopic, topic);
    const payload = packet.payload;

    if (parsed?.area === 'door' && parsed.channel === 'credential') {
      const doorId = parsed.doorId;
      const credential = parseCredential(payload, this.#maxPayloadBytes);
      if (!credential.ok) {
        const requestId = salvageRequestId(payload, this.#maxPayloadBytes);
        const verdict = this.#refuse(identity, topic, credential.error, { doorId, requestId });
        if (requestId !== null) {
          const answer: DecisionMessage = { id: requestId, granted: false, reason: 'invalid_request' };
          this.#publish(this.#topics.doorDecision(doorId), answer, false).catch(() => {});
        }
        return verdict;
      }
      const { id, kind, value, reader } = credential.value;
      // Credentials carry PINs and card UIDs: handled by the hub, never routed to subscribers.
      return {
        route: false,
        early: true,
        act: () => {
          this.#log.debug({ device: identity.id, door: doorId, kind, requestId: id }, 'credential presented');
          this.#emit('presented', {
            doorId,
            kind,
            value,
            readerId: reader ?? identity.id,
            requestId: id,
            deviceId: identity.id,
          });
        },
      };
    }
    if (parsed?.area === 'door' && parsed.channel === 'state') {
      const state = parseState(payload, this.#maxPayloadBytes);
      if (!state.ok) return this.#refuse(identity, topic, state.error);
      return { route: true, act: () => this.#emit('doorReport', { doorId: parsed.doorId, ...state.value }) };
    }
    if (parsed?.area === 'door' && parsed.channel === 'event') {
      const event = parseEvent(payload, this.#maxPayloadBytes);
      if (!event.ok) return this.#refuse(identity, topic, event.error);
      packet.retain = false; // events are moments, not state
      const { type, ...data } = event.value;
      return { route: true, act: () => this.#emit('doorInput', { doorId: parsed.doorId, type, data }) };
    }
    // Issue #5: door sync ack → bus doorInput 'sync_ack' (DoorSync tracks the applied version).
    if (parsed?.area === 'door' && parsed.channel === 'sync' && parsed.rest.join('/') === 'ack') {
      const ack = parseSyncAck(payload, this.#maxPayloadBytes);
      if (!ack.ok) return this.#refuse(identity, topic, ack.error);
      const doorId = parsed.doorId;
      return {
        route: false,
        act: () =>
          this.#emit('doorInput', {
            doorId,
            type: 'sync_ack',
            data: { version: ack.value.version, deviceId: identity.id },
          }),
      };
    }
    if (parsed?.area === 'device' && parsed.channel === 'availability') {
      const availability = parseAvailability(payload);
      if (!availability.ok) return this.#refuse(identity, topic, availability.error);
      const online = availability.value === 'online';
      return {
        route: true,
        act: () => {
          // A last will from one connection does not make a device with another live connection offline.
          if (!online && this.#hasOtherSession(identity.id, client)) return;
          this.#setAvailability(identity, online);
        },
      };
    }
    if (parsed?.area === 'bridge' && parsed.channel === 'request') {
      const request = parseBridgeRequest(payload, this.#maxPayloadBytes);
      if (!request.ok) return this.#refuse(identity, topic, request.error);
      return { route: false, act: () => this.#answerBridgeRequest(parsed.name, request.value, identity) };
    }
    // canPublish allows nothing else; refuse in case the two ever disagree.
    return this.#refuse(identity, topic, 'not allowed: topic has no handler');
  }

  #refuse(
    identity: DeviceIdentity,
    topic: string,
    reason: string,
    credential?: { doorId: string; requestId: string | null },
  ): Verdict {
    // Audited by the hub (a refused credential is a decision: invalid_request).
    this.#emit('deviceRejected', {
      deviceId: identity.id,
      topic: shorten(topic),
      error: reason,
      ...(credential ? { doorId: credential.doorId, requestId: credential.requestId } : {}),
    });
    this.#logRefusal(
      identity.id,
      { device: identity.id, topic: shorten(topic), reason },
      'device message refused',
    );
    this.#sendError(identity, topic, reason);
    return { route: false };
  }

  /** A device looping on bad messages (or a login flood) must not wear out the SD card with log lines. */
  #logRefusal(key: string, fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    if (this.#refusalLogBudget.size > 1000) this.#refusalLogBudget.clear();
    let budget = this.#refusalLogBudget.get(key);
    if (!budget || now - budget.since >= REFUSAL_LOG_WINDOW_MS) {
      if (budget && budget.suppressed > 0) {
        this.#log.warn(
          { source: key, suppressed: budget.suppressed },
          'more refusals from this source were not logged',
        );
      }
      budget = { since: now, logged: 0, suppressed: 0 };
      this.#refusalLogBudget.set(key, budget);
    }
    if (budget.logged < REFUSAL_LOGS_PER_WINDOW) {
      budget.logged++;
      this.#log.warn(fields, message);
    } else {
      budget.suppressed++;
    }
  }

  #sendError(identity: DeviceIdentity, topic: string, error: string): void {
    if (!isTopicSafeId(identity.id)) return;
    const message: ErrorMessage = { topic: shorten(topic), error };
    this.#publish(this.#topics.deviceError(identity.id), message, false).catch(() => {});
  }

  #authorizeSubscribe(
    client: Client,
    subscription: Subscription,
    callback: (error: Error | null, subscription?: Subscription | null) => void,
  ): void {
    try {
      const identity = this.#sessions.get(client);
      const decision = identity
        ? canSubscribe(this.#baseTopic, identity, subscription.topic)
        : { allowed: false as const, reason: 'not allowed: not logged in' };
      if (decision.allowed) {
        callback(null, subscription);
        return;
      }
      this.#logRefusal(
        identity?.id ?? '',
        { device: identity?.id, filter: shorten(subscription.topic) },
        decision.reason,
      );
      if (identity) this.#sendError(identity, subscription.topic, decision.reason);
      // null grants 128 (failure) in the SUBACK without closing the connection.
      callback(null, null);
    } catch (error) {
      this.#log.error({ err: error }, 'authorizeSubscribe failed');
      callback(null, null);
    }
  }

  // ---- hub → devices ----

  #publishDecision(presentation: Presentation, decision: Decision): void {
    if (presentation.requestId === undefined || presentation.deviceId === undefined) return;
    if (!isTopicSafeId(presentation.doorId)) return;
    const message: DecisionMessage = {
      id: presentation.requestId,
      granted: decision.granted,
      reason: decision.reason,
    };
    if (decision.unlockMs !== undefined) message.unlockMs = decision.unlockMs;
    this.#publish(this.#topics.doorDecision(presentation.doorId), message, false).catch((error) =>
      this.#log.error({ err: error, door: presentation.doorId }, 'could not publish decision'),
    );
  }

  #publishLockCommand(command: { doorId: string; lock: 'unlock' | 'lock'; ms?: number }): void {
    if (!isTopicSafeId(command.doorId)) return;
    const message: SetMessage =
      command.lock === 'unlock' ? { lock: 'unlock', ms: command.ms ?? DEFAULT_UNLOCK_MS } : { lock: 'lock' };
    this.#publish(this.#topics.doorSet(command.doorId), message, false).catch((error) =>
      this.#log.error({ err: error, door: command.doorId }, 'could not publish lock command'),
    );
  }

  #answerBridgeRequest(name: string, request: BridgeRequestPayload, from: DeviceIdentity): void {
    const transaction = request.transaction;
    const respond = (body: Record<string, unknown>) =>
      this.#publish(this.#topics.bridgeResponse(name), { ...body, transaction }, false).catch(() => {});
    const handler = this.#bridgeRequests;
    if (!handler) {
      respond({ error: `unknown request '${name}'` });
      return;
    }
    Promise.resolve()
      .then(() => handler(name, request, from))
      .then(
        (result) => respond(result),
        (error: unknown) => respond({ error: error instanceof Error ? error.message : 'request failed' }),
      );
  }

  #emit<K extends keyof BusEvents>(event: K, ...args: BusEvents[K]): void {
    // A listener that throws must not take the broker (or the device's connection) down.
    try {
      this.#bus.emit(event, ...args);
    } catch (error) {
      this.#log.error({ err: error, event }, 'bus listener failed');
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

function shorten(topic: string): string {
  return topic.length > 256 ? `${topic.slice(0, 256)}…` : topic;
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

/**
 * Watches the MQTT fixed headers going past on a socket and reports a packet whose declared
 * length is over the cap, before aedes would buffer it. Observes only: aedes still reads the data.
 */
export function watchPacketSizes(socket: Duplex, maxBytes: number, onTooLarge: (size: number) => void): void {
  let state: 'type' | 'length' | 'body' = 'type';
  let length = 0;
  let multiplier = 1;
  let remaining = 0;
  let tripped = false;
  socket.on('data', (chunk: Buffer) => {
    let i = 0;
    while (i < chunk.length && !tripped) {
      if (state === 'type') {
        i++;
        state = 'length';
        length = 0;
        multiplier = 1;
      } else if (state === 'length') {
        const byte = chunk[i++] ?? 0;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if (byte & 0x80) {
          if (multiplier >= 128 ** 4) tripped = true;
          continue;
        }
        if (length > maxBytes) tripped = true;
        remaining = length;
        state = remaining === 0 ? 'type' : 'body';
      } else {
        const take = Math.min(remaining, chunk.length - i);
        i += take;
        remaining -= take;
        if (remaining === 0) state = 'type';
      }
    }
    if (tripped) {
      socket.removeAllListeners('data');
      onTooLarge(length);
    }
  });
}
