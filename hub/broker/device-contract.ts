// The judge of every device message, whatever carries it: the embedded aedes broker (broker.ts) or a
// connection to an external broker (external/client.ts). ACL, payload schemas and sizes, per-device
// budgets, presentations and their answers, door states and events, sync acks, availability and bridge
// requests all live here once, so both transports speak exactly the same v1 contract (docs/mqtt.md).
import type { Logger } from 'pino';
import { BoundedMap, Summarizer, TokenBucket } from '../budget.js';
import type { BusEvents, Decision, EventBus, Presentation } from '../bus.js';
import { shorten } from '../text.js';
import { type AclDecision, canPublish, canSubscribe, type DeviceIdentity, type ExtraTopics } from './acl.js';
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
  TOPIC_SHOWN,
  topics,
} from './contract.js';
import type { MqttLimits } from './limits.js';

/** Answers an integration's `bridge/request/{name}`; the result is published on `bridge/response/{name}`. */
export type BridgeRequestHandler = (
  name: string,
  request: BridgeRequestPayload,
  from: DeviceIdentity,
) => Promise<Record<string, unknown>> | Record<string, unknown>;

/**
 * Topics outside the v1 contract that a part offers integration accounts (Home Assistant discovery,
 * docs/home-assistant.md). Their messages spend the bridge-request budget and are never routed.
 */
export interface IntegrationTopics extends ExtraTopics {
  /**
   * The topics `publishable` accepts, as filters, and where the hub publishes besides the base topic (the
   * discovery prefix): an external broker subscribes to the first and gives its ACLs both (dynsec).
   */
  readonly publishFilters: readonly string[];
  readonly hubPublishFilters: readonly string[];
  /** An external broker is (again) connected with these rights: retained messages go out again. */
  reconnected?(): void;
  /** A last will an integration may leave besides none (Home Assistant's `<prefix>/status` = offline). */
  allowsWill(topic: string, payload: Buffer): boolean;
  /**
   * Checks one message: `error` refuses it (audited, answered on the device's error topic, counted
   * against the refused budget); `run` does it, and the text it resolves with goes to the error topic.
   */
  accept(
    topic: string,
    payload: Buffer,
    from: DeviceIdentity,
  ): { error: string } | { run: () => Promise<string | null> };
}

/** Who sent one message, as the transport knows it. */
export interface ContractPeer {
  readonly identity: DeviceIdentity;
  /** Stops reading from this connection for `ms`; a transport that cannot (a broker client) does nothing. */
  pause(ms: number): void;
  /** Sends `rate_limited` to the asker alone, as cheaply as the transport can; may drop it (shed). */
  answerRateLimited(topic: string, answer: DecisionMessage): void;
  /** Whether the device has another live connection besides this one. */
  hasOtherSession(): boolean;
}

/** What the contract needs of the transport. */
export interface ContractTransport {
  /** Publishes a hub message at QoS 1. */
  publish(topic: string, payload: string, retain: boolean): Promise<void>;
  /** The device went over a budget: close every connection it has and refuse it for `seconds`. */
  shutOut(deviceId: string, seconds: number): void;
}

/** What to do with a device message once it was judged. */
export interface Verdict {
  /** Runs after the message was acknowledged (embedded: before routing). */
  act?: () => void;
  /**
   * Run `act` as soon as the message is authorised, right after the PUBACK is queued, instead of
   * waiting for the PUBACK write to complete: a door's answer should not wait an I/O round.
   */
  early?: boolean;
  /** Route to subscribers (and store if retained). An external broker routed it already. */
  route: boolean;
  /** Clear the retain flag before routing (events are moments, not state). */
  unretain?: boolean;
}

export interface DeviceContractOptions {
  baseTopic: string;
  maxPayloadBytes: number;
  limits: MqttLimits;
  bus: EventBus;
  logger: Logger;
  transport: ContractTransport;
  bridgeRequests?: BridgeRequestHandler | null;
}

/** A presentation that got no decision within this is no longer counted as unanswered (lost or mobile). */
const UNANSWERED_EXPIRY_MS = 10_000;
/** The value of a `kind: "mobile"` credential that asks for a challenge (docs/mqtt.md §8). */
const MOBILE_CHALLENGE_REQUEST = 'challenge';
/** How long a device over its unanswered bound is not read from. */
const BUSY_PAUSE_MS = 50;
const LOG_LINES_PER_MINUTE = 5;
/** Used when a lock command asks for an unlock without a duration. */
export const DEFAULT_UNLOCK_MS = 5000;

/** Message kinds with a per-device budget. */
export type BudgetKind =
  | 'state'
  | 'event'
  | 'syncAck'
  | 'availability'
  | 'bridgeRequest'
  | 'refused'
  | 'subscribe';

interface DeviceBudget {
  credentials: TokenBucket;
  /** Presentations accepted and not answered yet. */
  unanswered: number;
  kinds: Partial<Record<BudgetKind, TokenBucket>>;
}

export class DeviceContract {
  readonly #baseTopic: string;
  readonly #topics: ReturnType<typeof topics>;
  readonly #maxPayloadBytes: number;
  readonly #limits: MqttLimits;
  readonly #bus: EventBus;
  readonly #log: Logger;
  readonly #transport: ContractTransport;
  readonly #bridgeRequests: BridgeRequestHandler | null;
  readonly #budgets = new BoundedMap<string, DeviceBudget>(10_000);
  /** Devices that went over a budget, and until when their logins are refused. */
  readonly #backoff = new BoundedMap<string, number>(10_000);
  /** Presentations accepted and not answered yet, oldest first. */
  readonly #unanswered = new Map<Presentation, { deviceId: string; at: number }>();
  readonly #online = new Map<string, DeviceIdentity>();
  /** Bridge requests accepted and not answered yet, all integrations together. */
  #bridgeInFlight = 0;
  /** Repeated log lines, per source: the first few per minute, then one "…and N more" line. */
  readonly #logs: Summarizer;
  /** rate_limited answers are audited once per device and minute, with a count. */
  readonly #limitedAudit: Summarizer;
  #flushTimer: NodeJS.Timeout | null = null;
  #extra: IntegrationTopics | null = null;
  #stopping = false;

  constructor(opts: DeviceContractOptions) {
    this.#baseTopic = opts.baseTopic;
    this.#topics = topics(opts.baseTopic);
    this.#maxPayloadBytes = opts.maxPayloadBytes;
    this.#limits = opts.limits;
    this.#bus = opts.bus;
    this.#log = opts.logger;
    this.#transport = opts.transport;
    this.#bridgeRequests = opts.bridgeRequests ?? null;
    this.#logs = new Summarizer({
      perWindow: LOG_LINES_PER_MINUTE,
      maxKeys: 10_000,
      onSuppressed: ({ key, suppressed }) =>
        this.#log.warn({ source: key, suppressed }, `…and ${suppressed} more in the last minute`),
    });
    this.#limitedAudit = new Summarizer({
      perWindow: 1,
      onSuppressed: ({ key, suppressed }) =>
        this.#emit('deviceRejected', {
          deviceId: key,
          topic: 'credential',
          error: `…and ${suppressed} more credentials answered rate_limited in the last minute`,
          budgeted: true,
        }),
    });
  }

  get baseTopic(): string {
    return this.#baseTopic;
  }

  get extra(): IntegrationTopics | null {
    return this.#extra;
  }

  set extra(extra: IntegrationTopics | null) {
    this.#extra = extra;
  }

  /** Listens for decisions and lock commands; summaries go out once a minute. */
  start(): void {
    this.#stopping = false;
    // The device that asked hears the answer before anything else reacts to the decision.
    this.#bus.on(this, 'decided', (presentation, decision) => this.#publishDecision(presentation, decision), {
      first: true,
    });
    this.#bus.on(this, 'lockCommand', (command) => this.#publishLockCommand(command));
    this.#flushTimer = setInterval(() => this.flushLogs(), 60_000);
    this.#flushTimer.unref();
  }

  /** From here on, connections that end change nothing (no availability, no offline). */
  stopping(): void {
    this.#stopping = true;
    this.#bus.removeAll(this);
  }

  stop(): void {
    this.stopping();
    if (this.#flushTimer) clearInterval(this.#flushTimer);
    this.#flushTimer = null;
    this.#logs.flush(true);
    this.#limitedAudit.flush(true);
    this.#online.clear();
    this.#unanswered.clear();
    this.#budgets.clear();
    this.#bridgeInFlight = 0;
  }

  get isStopping(): boolean {
    return this.#stopping;
  }

  flushLogs(): void {
    this.#logs.flush();
    this.#limitedAudit.flush();
  }

  /** Seconds a device is still shut out for going over a budget (0: it may log in). */
  shutOutSeconds(deviceId: string): number {
    const until = this.#backoff.get(deviceId);
    if (until === undefined) return 0;
    const seconds = Math.ceil((until - Date.now()) / 1000);
    if (seconds > 0) return seconds;
    this.#backoff.delete(deviceId);
    return 0;
  }

  onlineDevices(): string[] {
    return [...this.#online.keys()].sort();
  }

  isOnline(deviceId: string): boolean {
    return this.#online.has(deviceId);
  }

  /** Bridge requests being answered now (bounded by limits.maxBridgeRequestsInFlight). */
  bridgeRequestsInFlight(): number {
    return this.#bridgeInFlight;
  }

  /** A device came or went: its doors show it online or offline. */
  setAvailability(identity: DeviceIdentity, online: boolean): void {
    if (this.#online.has(identity.id) === online) return;
    if (online) this.#online.set(identity.id, identity);
    else this.#online.delete(identity.id);
    // An integration account limited to some doors does not make them online or offline.
    if (this.#stopping || identity.role !== 'door') return;
    for (const doorId of identity.doors) {
      this.#emit('doorInput', { doorId, type: 'availability', data: { online, deviceId: identity.id } });
    }
  }

  /** A warning that may repeat: the first few per source and minute, then one summary line. */
  warn(source: string, fields: Record<string, unknown>, message: string): void {
    if (this.#logs.allow(source)) this.#log.warn(fields, message);
  }

  info(source: string, fields: Record<string, unknown>, message: string): void {
    if (this.#logs.allow(source)) this.#log.info(fields, message);
  }

  sendError(identity: DeviceIdentity, topic: string, error: string): void {
    if (!isTopicSafeId(identity.id)) return;
    const message: ErrorMessage = { topic: shorten(topic, TOPIC_SHOWN), error };
    this.#publish(this.#topics.deviceError(identity.id), message, false).catch(() => {});
  }

  /** A subscription: allowed, refused (with an error to the device) or over budget (shut out). */
  judgeSubscribe(peer: ContractPeer, filter: string): AclDecision {
    const identity = peer.identity;
    if (!this.#spend(identity, 'subscribe')) {
      this.#overBudget(identity, 'subscribe');
      return { allowed: false, reason: 'over the subscription budget' };
    }
    const decision = canSubscribe(this.#baseTopic, identity, filter, this.#extra);
    if (decision.allowed) return decision;
    this.warn(
      `refused:${identity.id}`,
      { device: identity.id, filter: shorten(filter, TOPIC_SHOWN) },
      decision.reason,
    );
    this.sendError(identity, filter, decision.reason);
    return decision;
  }

  /** ACL, then the contract: decides whether a device message is routed and what the hub does with it. */
  judge(peer: ContractPeer, topic: string, payload: Buffer | string): Verdict {
    const identity = peer.identity;
    const extra = this.#extra;
    const acl = canPublish(this.#baseTopic, identity, topic, extra);
    if (!acl.allowed) return this.#refuse(identity, topic, acl.reason, undefined, true);
    const parsed = parseTopic(this.#baseTopic, topic);
    if (parsed === null && extra && identity.role === 'integration' && extra.publishable(topic)) {
      return this.#judgeExtra(identity, extra, topic, payload);
    }

    if (parsed?.area === 'door' && parsed.channel === 'credential') {
      const doorId = parsed.doorId;
      const over = this.#admitCredential(peer);
      if (over !== null) {
        const requestId = salvageRequestId(payload, this.#maxPayloadBytes);
        this.#answerRateLimited(peer, doorId, requestId, over);
        return { route: false };
      }
      const credential = parseCredential(payload, this.#maxPayloadBytes);
      if (!credential.ok) {
        const requestId = salvageRequestId(payload, this.#maxPayloadBytes);
        const verdict = this.#refuse(identity, topic, credential.error, { doorId, requestId }, true);
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
          const presentation: Presentation = {
            doorId,
            kind,
            value,
            readerId: reader ?? identity.id,
            requestId: id,
            deviceId: identity.id,
          };
          // A mobile challenge request is answered on the challenge topic, never by a decision: it would
          // hold an unanswered slot for UNANSWERED_EXPIRY_MS. Its rate is bounded above and per door.
          if (!(kind === 'mobile' && value === MOBILE_CHALLENGE_REQUEST)) {
            this.#unanswered.set(presentation, { deviceId: identity.id, at: Date.now() });
            this.#budgetOf(identity).unanswered++;
          }
          this.#emit('presented', presentation);
        },
      };
    }
    const kind = budgetKindOf(parsed);
    if (kind !== null && !this.#spend(identity, kind)) return this.#overBudget(identity, kind);
    if (parsed?.area === 'door' && parsed.channel === 'state') {
      const state = parseState(payload, this.#maxPayloadBytes);
      if (!state.ok) return this.#refuse(identity, topic, state.error);
      return { route: true, act: () => this.#emit('doorReport', { doorId: parsed.doorId, ...state.value }) };
    }
    if (parsed?.area === 'door' && parsed.channel === 'event') {
      const event = parseEvent(payload, this.#maxPayloadBytes);
      if (!event.ok) return this.#refuse(identity, topic, event.error);
      const { type, ...data } = event.value;
      return {
        route: true,
        unretain: true, // events are moments, not state
        act: () => this.#emit('doorInput', { doorId: parsed.doorId, type, data }),
      };
    }
    // Door sync ack → bus doorInput 'sync_ack' (DoorSync tracks the applied version).
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
          if (!online && peer.hasOtherSession()) return;
          this.setAvailability(identity, online);
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

  /** A message on a part's integration topic: bounded like a bridge request, never routed. */
  #judgeExtra(
    identity: DeviceIdentity,
    extra: IntegrationTopics,
    topic: string,
    payload: Buffer | string,
  ): Verdict {
    if (!this.#spend(identity, 'bridgeRequest')) return this.#overBudget(identity, 'bridgeRequest');
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    if (body.length > this.#maxPayloadBytes) {
      return this.#refuse(
        identity,
        topic,
        `payload too large: ${body.length} bytes, limit ${this.#maxPayloadBytes}`,
        undefined,
        true,
      );
    }
    const accepted = extra.accept(topic, body, identity);
    if ('error' in accepted) return this.#refuse(identity, topic, accepted.error, undefined, true);
    return {
      route: false,
      act: () => {
        accepted.run().then(
          (error) => {
            if (error !== null) this.sendError(identity, topic, error);
          },
          (error: unknown) =>
            this.#log.error({ err: error, device: identity.id }, 'integration topic failed'),
        );
      },
    };
  }

  #refuse(
    identity: DeviceIdentity,
    topic: string,
    reason: string,
    credential?: { doorId: string; requestId: string | null },
    budgeted?: boolean,
  ): Verdict {
    if (budgeted && !this.#spend(identity, 'refused')) return this.#overBudget(identity, 'refused');
    // Audited by the hub (a refused credential is a decision: invalid_request).
    this.#emit('deviceRejected', {
      deviceId: identity.id,
      topic: shorten(topic, TOPIC_SHOWN),
      error: reason,
      ...(credential ? { doorId: credential.doorId, requestId: credential.requestId } : {}),
    });
    this.warn(
      `refused:${identity.id}`,
      { device: identity.id, topic: shorten(topic, TOPIC_SHOWN), reason },
      'device message refused',
    );
    this.sendError(identity, topic, reason);
    return { route: false };
  }

  // ---- budgets ----

  #budgetOf(identity: DeviceIdentity): DeviceBudget {
    return this.#budgets.getOrCreate(identity.id, () => {
      const doors = Math.max(1, identity.doors.length);
      return {
        credentials: new TokenBucket(
          this.#limits.credentialsPerSecond * doors,
          this.#limits.credentialBurst * doors,
        ),
        unanswered: 0,
        kinds: {},
      };
    });
  }

  /** Spends one message of `kind` from the device's budget; false when it is over. */
  #spend(identity: DeviceIdentity, kind: BudgetKind): boolean {
    const budget = this.#budgetOf(identity);
    let bucket = budget.kinds[kind];
    if (!bucket) {
      const l = this.#limits;
      const [rate, burst] =
        kind === 'refused'
          ? [l.refusedPerSecond, l.refusedBurst]
          : kind === 'subscribe'
            ? [l.subscriptionsPerSecond, l.subscriptionBurst]
            : kind === 'bridgeRequest'
              ? [l.bridgeRequestsPerSecond, l.bridgeRequestBurst]
              : [l.messagesPerSecond, l.messageBurst];
      bucket = new TokenBucket(rate, burst);
      budget.kinds[kind] = bucket;
    }
    return bucket.take();
  }

  /**
   * Admission of one credential: null when it may be decided, else why not. Over the rate the hub
   * stops reading from the device until a token is back, so a flood waits in TCP, not in memory.
   */
  #admitCredential(peer: ContractPeer): string | null {
    this.#expireUnanswered();
    const identity = peer.identity;
    const budget = this.#budgetOf(identity);
    if (this.#unanswered.size >= this.#limits.maxUnanswered) return 'hub at capacity';
    const doors = Math.max(1, identity.doors.length);
    if (budget.unanswered >= this.#limits.maxUnansweredPerDevice * doors) {
      peer.pause(BUSY_PAUSE_MS);
      return 'too many unanswered credentials';
    }
    if (!budget.credentials.take()) {
      peer.pause(budget.credentials.waitMs());
      return 'over the credential rate';
    }
    return null;
  }

  /** Answers `rate_limited` at once, audited once per device and minute; the transport may shed it. */
  #answerRateLimited(peer: ContractPeer, doorId: string, requestId: string | null, why: string): void {
    const identity = peer.identity;
    if (this.#limitedAudit.allow(identity.id)) {
      this.#emit('deviceRejected', {
        deviceId: identity.id,
        topic: 'credential',
        error: `credential answered rate_limited: ${why}`,
        budgeted: true,
      });
    }
    this.warn(
      `limited:${identity.id}`,
      { device: identity.id, door: doorId, why },
      'credential rate_limited',
    );
    if (requestId === null) return;
    peer.answerRateLimited(this.#topics.doorDecision(doorId), {
      id: requestId,
      granted: false,
      reason: 'rate_limited',
    });
  }

  /** Counts a presentation as answered (its decision was written, or it never will be). */
  #release(answered: Presentation): void {
    // A part may answer with a copy of the presentation (mobile keys do): then match it by its fields.
    const presentation = this.#unanswered.has(answered) ? answered : this.#findUnanswered(answered);
    const entry = presentation && this.#unanswered.get(presentation);
    if (!presentation || !entry) return;
    this.#unanswered.delete(presentation);
    const budget = this.#budgets.get(entry.deviceId);
    if (budget && budget.unanswered > 0) budget.unanswered--;
  }

  #findUnanswered(copy: Presentation): Presentation | undefined {
    if (copy.requestId === undefined) return undefined;
    for (const presentation of this.#unanswered.keys()) {
      if (
        presentation.requestId === copy.requestId &&
        presentation.deviceId === copy.deviceId &&
        presentation.doorId === copy.doorId
      ) {
        return presentation;
      }
    }
    return undefined;
  }

  #expireUnanswered(): void {
    const cutoff = Date.now() - UNANSWERED_EXPIRY_MS;
    for (const [presentation, entry] of this.#unanswered) {
      if (entry.at > cutoff) break;
      this.#release(presentation);
    }
  }

  /**
   * Over a budget other than credentials: the device is disconnected and its logins are refused for
   * backoffSeconds; one audit event and one log line per back-off, not one per message.
   */
  #overBudget(identity: DeviceIdentity, kind: BudgetKind): Verdict {
    const seconds = this.#limits.backoffSeconds;
    const already = (this.#backoff.get(identity.id) ?? 0) > Date.now();
    this.#backoff.set(identity.id, Date.now() + seconds * 1000);
    this.#transport.shutOut(identity.id, seconds);
    if (!already) {
      const error = `over its budget of ${kind} messages: disconnected for ${seconds} s`;
      this.#emit('deviceRejected', { deviceId: identity.id, topic: kind, error, budgeted: true });
      this.#log.warn({ device: identity.id, kind, backoffSeconds: seconds }, `device ${error}`);
    }
    return { route: false };
  }

  // ---- hub → devices ----

  #publishDecision(presentation: Presentation, decision: Decision): void {
    if (presentation.requestId === undefined || presentation.deviceId === undefined) return;
    if (!isTopicSafeId(presentation.doorId)) {
      this.#release(presentation);
      return;
    }
    const message: DecisionMessage = {
      id: presentation.requestId,
      granted: decision.granted,
      reason: decision.reason,
    };
    if (decision.unlockMs !== undefined) message.unlockMs = decision.unlockMs;
    this.#publish(this.#topics.doorDecision(presentation.doorId), message, false).then(
      () => this.#release(presentation),
      (error) => {
        this.#release(presentation);
        this.#log.error({ err: error, door: presentation.doorId }, 'could not publish decision');
      },
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

  /**
   * Runs one bridge request. Hub-wide, at most limits.maxBridgeRequestsInFlight are being answered at
   * once: beyond that a request is answered `busy` at once instead of queueing (each integration's rate
   * budget alone does not bound the total when many accounts send).
   */
  #answerBridgeRequest(name: string, request: BridgeRequestPayload, from: DeviceIdentity): void {
    const transaction = request.transaction;
    const respond = (body: Record<string, unknown>) =>
      this.#publish(this.#topics.bridgeResponse(name), { ...body, transaction }, false).catch(() => {});
    const handler = this.#bridgeRequests;
    if (!handler) {
      respond({ error: `unknown request '${name}'` });
      return;
    }
    const bound = this.#limits.maxBridgeRequestsInFlight;
    if (this.#bridgeInFlight >= bound) {
      this.warn(
        'bridge:busy',
        { device: from.id, request: shorten(name, 64), inFlight: this.#bridgeInFlight },
        'bridge request answered busy: the hub is answering its maximum already',
      );
      respond({
        ok: false,
        error: { code: 'busy', message: `the hub is busy (${bound} requests in flight): try again shortly` },
      });
      return;
    }
    this.#bridgeInFlight++;
    Promise.resolve()
      .then(() => handler(name, request, from))
      .then(
        (result) => respond(result),
        (error: unknown) => respond({ error: error instanceof Error ? error.message : 'request failed' }),
      )
      .finally(() => {
        if (this.#bridgeInFlight > 0) this.#bridgeInFlight--;
      });
  }

  #emit<K extends keyof BusEvents>(event: K, ...args: BusEvents[K]): void {
    // A listener that throws must not take the broker (or the device's connection) down.
    try {
      this.#bus.emit(event, ...args);
    } catch (error) {
      this.#log.error({ err: error, event }, 'bus listener failed');
    }
  }

  #publish(topic: string, payload: object | string, retain: boolean): Promise<void> {
    return this.#transport.publish(
      topic,
      typeof payload === 'string' ? payload : JSON.stringify(payload),
      retain,
    );
  }
}

/** The topic of a hub message to a door (challenges, door sync); throws for a door id or channel that cannot be one. */
export function hubDoorTopic(baseTopic: string, doorId: string, channel: string): string {
  if (!isTopicSafeId(doorId)) throw new Error(`door id '${doorId.slice(0, 64)}' cannot be a topic level`);
  if (channel !== 'challenge' && channel !== 'sync/snapshot' && channel !== 'sync/delta') {
    throw new Error(`'${String(channel)}' is not a hub door channel`);
  }
  return `${baseTopic}/door/${doorId}/${channel}`;
}

/** A topic outside the v1 contract a part may publish on (Home Assistant); throws for contract, wildcard and `$` topics. */
export function checkOutsideTopic(baseTopic: string, topic: string): void {
  if (
    topic.length === 0 ||
    topic.startsWith('$') ||
    ['+', '#', '\u0000'].some((c) => topic.includes(c)) ||
    parseTopic(baseTopic, topic) !== null
  ) {
    throw new Error(`'${shorten(topic, TOPIC_SHOWN)}' is not a topic a part may publish`);
  }
}

/** Which budget a device message (other than a credential) spends. */
function budgetKindOf(parsed: ReturnType<typeof parseTopic>): BudgetKind | null {
  if (parsed?.area === 'door') {
    if (parsed.channel === 'state') return 'state';
    if (parsed.channel === 'event') return 'event';
    if (parsed.channel === 'sync') return 'syncAck';
    return null;
  }
  if (parsed?.area === 'device' && parsed.channel === 'availability') return 'availability';
  if (parsed?.area === 'bridge' && parsed.channel === 'request') return 'bridgeRequest';
  return null;
}
