// The cloud mirror: one long-lived bidirectional gRPC stream to the property manager's cloud.
// Up: the event log in order, in batches, resumed from the cloud's ack. Down: changes applied
// durably (deny wins), then the cursor, then the ack; commands through the injected handler.
// Nothing here is on the access path: store work is short synchronous transactions, and the link
// only ever reads what it is about to send.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { type Logger, pino } from 'pino';
import type { HubEvent } from '../domain.js';
import { backoffDelay } from './backoff.js';
import { type ParsedChange, parseChange, resolveChange } from './changes.js';
import type { CloudConfig } from './config.js';
import { ChangeRefusedError, type CloudCommandHandler, type CloudPort } from './port.js';
import {
  AUTH_HEADER,
  type ChangeKind,
  type CloudMessage,
  type Command,
  checkCloudMessage,
  describeProblems,
  HUB_ID_HEADER,
  type HubLinkClient,
  type HubMessage,
  loadHubLink,
  PROTOCOL_VERSION,
  type WireChange,
  type WireEvent,
} from './proto.js';
import { MirrorState } from './state.js';

export type CloudLinkState = 'disabled' | 'connecting' | 'connected' | 'waiting' | 'stopped';

/** What on-site staff see about the cloud link (the lead serves it in the HTTP API). */
export interface CloudLinkStatus {
  enabled: boolean;
  state: CloudLinkState;
  connected: boolean;
  /** When the current state began (epoch ms). */
  since: number;
  lastConnectedAt: number | null;
  lastDisconnectedAt: number | null;
  lastError: string | null;
  /** When the next dial happens while waiting (epoch ms). */
  nextAttemptAt: number | null;
  /** Dials (or links) that failed since the last welcome from the cloud. */
  failedAttempts: number;
  /** Events not yet acknowledged by the cloud. */
  backlog: number;
  ackedSeq: number;
  lastSeq: number;
  /** Oldest event the cloud has not acknowledged yet. */
  oldestUnsentSeq: number | null;
  oldestUnsentAt: number | null;
  /** Last cloud change applied durably, and when. */
  changeCursor: number;
  lastChangeAppliedAt: number | null;
  changesApplied: number;
  changesRejected: number;
  conflicts: number;
  /** Batches sent and not yet acknowledged (bounded by maxInFlightBatches). */
  inFlightBatches: number;
}

export interface CloudMirrorOptions {
  config: CloudConfig;
  port: CloudPort;
  commands: CloudCommandHandler;
  logger?: Logger;
  /** Reported in Hello, e.g. "gatehouse/0.1.0". */
  software?: string;
  /**
   * Called after cloud changes were committed, with the kinds they touched. Writes go through the
   * same connection, so the store's cross-process watch does not see them: the lead uses this to
   * reload doors and emit bus `storeChanged`.
   */
  onChangesApplied?: (kinds: ReadonlySet<ChangeKind>) => void;
  /**
   * Called with the cloud's clock (epoch ms) from each Welcome and Pong. The hub passes it to
   * TrustedClock.confirm('cloud', cloudMs), which checks it against its own clock; the mirror never
   * sets any clock itself.
   */
  onCloudTime?: (cloudMs: number) => void;
  now?: () => number;
  random?: () => number;
}

/** Changes applied per transaction; between chunks the event loop (and the access path) runs. */
const CHANGE_CHUNK = 256;
/** Messages waiting to be handled (e.g. behind a slow command); beyond this the link is dropped. */
const MAX_QUEUED_MESSAGES = 1000;
/** A link that stayed up this long resets the back-off to its minimum. */
const STABLE_LINK_MS = 30_000;

interface Session {
  id: number;
  client: HubLinkClient;
  call: grpc.ClientDuplexStream<HubMessage, unknown>;
  welcomed: boolean;
  startedAt: number;
  welcomedAt: number;
  lastReceivedAt: number;
  /** Seq of the last event written to the wire. */
  sentThrough: number;
  /** The cloud's stored seq at welcome: where this session's sending began. */
  resumedFrom: number;
  /** Last seq of each batch on the wire, with when it was sent. */
  inFlight: Array<{ lastSeq: number; sentAt: number }>;
  waitingForDrain: boolean;
  /** Earliest time for the next batch (drain pacing), and the timer waiting for it. */
  nextBatchAt: number;
  paceTimer: NodeJS.Timeout | undefined;
  /** Incoming messages are handled one at a time, in order. */
  queue: CloudMessage[];
  processing: boolean;
  snapshotOpen: boolean;
  timers: NodeJS.Timeout[];
  ended: boolean;
}

export class CloudMirror {
  readonly #config: CloudConfig;
  readonly #port: CloudPort;
  readonly #commands: CloudCommandHandler;
  readonly #log: Logger;
  readonly #software: string;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #onChangesApplied: ((kinds: ReadonlySet<ChangeKind>) => void) | undefined;
  readonly #onCloudTime: ((cloudMs: number) => void) | undefined;
  #state: MirrorState | undefined;
  #session: Session | undefined;
  #sessionCounter = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #scanTimer: NodeJS.Timeout | undefined;
  #pumpScheduled = false;
  #unsubscribe: (() => void) | undefined;
  #token: string | undefined;
  #credentials: grpc.ChannelCredentials | undefined;
  #stopped = true;
  #status: CloudLinkStatus;
  #stats = { applied: 0, rejected: 0, conflicts: 0, lastChangeAt: null as number | null };
  /** The cloud's cumulative ack; persisted lazily (the cloud's welcome is the authority after a restart). */
  #ackedSeq = 0;
  /** Back-off step; reset only by a link that stayed up (a cloud that accepts then drops does not reset it). */
  #backoffAttempt = 0;
  #ackTimer: NodeJS.Timeout | undefined;

  constructor(options: CloudMirrorOptions) {
    this.#config = options.config;
    this.#port = options.port;
    this.#commands = options.commands;
    this.#log = (options.logger ?? pino({ enabled: false })).child({ part: 'cloud' });
    this.#software = options.software ?? 'gatehouse';
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#onChangesApplied = options.onChangesApplied;
    this.#onCloudTime = options.onCloudTime;
    this.#status = this.#initialStatus();
  }

  async start(): Promise<void> {
    this.#stopped = false;
    try {
      this.#state = new MirrorState(this.#port);
    } catch (err) {
      // The doors do not need the mirror: report and stay down rather than stop the hub.
      this.#status.lastError = `cannot open the mirror state: ${(err as Error).message}`;
      this.#setState('stopped');
      this.#log.error({ err: (err as Error).message }, 'cloud mirror not started');
      return;
    }
    this.#ackedSeq = this.#state.ackedSeq;
    if (!this.#config.enabled) {
      this.#setState('disabled');
      return;
    }
    try {
      this.#prepareIdentity();
    } catch (err) {
      this.#status.lastError = (err as Error).message;
      this.#setState('stopped');
      this.#log.error({ err: (err as Error).message }, 'cloud link not started: bad identity or TLS files');
      return;
    }
    this.#unsubscribe = this.#port.onEventStored(() => this.#schedulePump());
    this.#scanInBackground();
    // A random first delay spreads a fleet of hubs that boot together (power cut) over minMs.
    this.#scheduleDial(Math.round(this.#random() * this.#config.backoff.minMs));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#scanTimer);
    this.#persistAck();
    try {
      this.#state?.saveScanPosition();
    } catch {
      // re-scanning is harmless
    }
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    if (this.#session) this.#endSession(this.#session, 'hub stopping', false);
    if (this.#config.enabled) this.#setState('stopped');
  }

  status(): CloudLinkStatus {
    const status = { ...this.#status };
    const state = this.#state;
    if (!state) return status;
    try {
      status.ackedSeq = this.#ackedSeq;
      status.lastSeq = this.#port.lastSeq();
      status.backlog = Math.max(0, status.lastSeq - status.ackedSeq);
      const oldest = status.backlog > 0 ? this.#port.eventsAfter(status.ackedSeq, 1)[0] : undefined;
      status.oldestUnsentSeq = oldest?.seq ?? null;
      status.oldestUnsentAt = oldest?.ts ?? null;
      status.changeCursor = state.changeCursor;
      const lastChangeAt = state.read('last_change_at');
      status.lastChangeAppliedAt = lastChangeAt > 0 ? lastChangeAt : null;
    } catch (err) {
      status.lastError = `status unavailable: ${(err as Error).message}`;
    }
    status.changesApplied = this.#stats.applied;
    status.changesRejected = this.#stats.rejected;
    status.conflicts = this.#stats.conflicts;
    status.inFlightBatches = this.#session?.inFlight.length ?? 0;
    return status;
  }

  // ------------------------------------------------------------------ link lifecycle

  #initialStatus(): CloudLinkStatus {
    return {
      enabled: this.#config.enabled,
      state: this.#config.enabled ? 'stopped' : 'disabled',
      connected: false,
      since: this.#now(),
      lastConnectedAt: null,
      lastDisconnectedAt: null,
      lastError: null,
      nextAttemptAt: null,
      failedAttempts: 0,
      backlog: 0,
      ackedSeq: 0,
      lastSeq: 0,
      oldestUnsentSeq: null,
      oldestUnsentAt: null,
      changeCursor: 0,
      lastChangeAppliedAt: null,
      changesApplied: 0,
      changesRejected: 0,
      conflicts: 0,
      inFlightBatches: 0,
    };
  }

  #setState(state: CloudLinkState): void {
    if (this.#status.state === state) return;
    this.#status.state = state;
    this.#status.connected = state === 'connected';
    this.#status.since = this.#now();
  }

  #prepareIdentity(): void {
    const config = this.#config;
    if (!config.hubId) throw new Error('cloud.hubId is not set');
    this.#token = config.token;
    if (!this.#token && config.tokenFile) {
      this.#token = readFileSync(config.tokenFile, 'utf8').split('\n')[0]?.trim();
      if (!this.#token) throw new Error(`cloud token file ${config.tokenFile} is empty`);
    }
    if (config.insecurePlaintext) {
      this.#log.warn('cloud link WITHOUT TLS (insecurePlaintext): only for tests on loopback');
      this.#credentials = grpc.credentials.createInsecure();
      return;
    }
    const ca = config.caFile ? readFileSync(config.caFile) : null;
    const key = config.keyFile ? readFileSync(config.keyFile) : null;
    const cert = config.certFile ? readFileSync(config.certFile) : null;
    this.#credentials = grpc.credentials.createSsl(ca, key, cert);
  }

  #scheduleDial(delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#reconnectTimer);
    this.#status.nextAttemptAt = this.#now() + delayMs;
    this.#setState(this.#status.failedAttempts > 0 ? 'waiting' : 'connecting');
    this.#reconnectTimer = setTimeout(() => this.#dial(), delayMs);
  }

  #dial(): void {
    if (this.#stopped || this.#session) return;
    const config = this.#config;
    this.#status.nextAttemptAt = null;
    this.#setState('connecting');
    const options: grpc.ChannelOptions = {
      // HTTP/2 pings every 30 s at most often (servers reject more frequent ones); app pings do the rest.
      'grpc.keepalive_time_ms': Math.max(config.keepaliveMs * 2, 30_000),
      'grpc.keepalive_timeout_ms': Math.max(config.keepaliveMs, 5_000),
      // Our own back-off decides when to dial; one channel per attempt guarantees a fresh connection.
      'grpc.initial_reconnect_backoff_ms': config.backoff.minMs,
      'grpc.max_reconnect_backoff_ms': config.backoff.maxMs,
      'grpc.enable_retries': 0,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    };
    if (config.serverName) {
      options['grpc.ssl_target_name_override'] = config.serverName;
      options['grpc.default_authority'] = config.serverName;
    }
    let client: HubLinkClient;
    let call: grpc.ClientDuplexStream<HubMessage, unknown>;
    try {
      const { Client } = loadHubLink();
      client = new Client(config.address, this.#credentials!, options);
      const metadata = new grpc.Metadata();
      if (this.#token) metadata.set(AUTH_HEADER, `Bearer ${this.#token}`);
      metadata.set(HUB_ID_HEADER, config.hubId!);
      call = client.Connect(metadata);
    } catch (err) {
      this.#dialFailed(`cannot dial ${config.address}: ${(err as Error).message}`);
      return;
    }
    const now = this.#now();
    const session: Session = {
      id: ++this.#sessionCounter,
      client,
      call,
      welcomed: false,
      startedAt: now,
      welcomedAt: 0,
      lastReceivedAt: now,
      sentThrough: 0,
      resumedFrom: 0,
      inFlight: [],
      waitingForDrain: false,
      nextBatchAt: 0,
      paceTimer: undefined,
      queue: [],
      processing: false,
      snapshotOpen: false,
      timers: [],
      ended: false,
    };
    this.#session = session;
    call.on('data', (message: unknown) => this.#receive(session, message));
    call.on('error', (err: grpc.ServiceError) => {
      this.#endSession(
        session,
        `stream error: ${err.code === undefined ? '' : `${grpc.status[err.code]} `}${err.details ?? err.message}`,
        true,
      );
    });
    call.on('end', () => this.#endSession(session, 'cloud closed the stream', true));
    call.on('drain', () => {
      session.waitingForDrain = false;
      this.#pump(session);
    });

    const state = this.#state!;
    this.#send(session, {
      body: 'hello',
      hello: {
        hub_id: config.hubId!,
        protocol_version: PROTOCOL_VERSION,
        last_change: state.changeCursor,
        acked_seq: this.#ackedSeq,
        last_seq: this.#port.lastSeq(),
        software: this.#software,
      },
    });
    session.timers.push(
      setTimeout(() => {
        if (!session.welcomed)
          this.#endSession(session, `no welcome from the cloud within ${config.connectTimeoutMs} ms`, true);
      }, config.connectTimeoutMs),
    );
    this.#log.debug({ address: config.address, session: session.id }, 'dialling cloud');
  }

  #dialFailed(reason: string): void {
    this.#status.lastError = reason;
    this.#status.failedAttempts++;
    const delay = backoffDelay(
      this.#backoffAttempt++,
      this.#config.backoff.minMs,
      this.#config.backoff.maxMs,
      this.#random,
    );
    this.#log.warn({ reason, retryInMs: delay, attempt: this.#status.failedAttempts }, 'cloud link down');
    this.#scheduleDial(delay);
  }

  #endSession(session: Session, reason: string, reconnect: boolean): void {
    if (session.ended) return;
    session.ended = true;
    for (const timer of session.timers) clearTimeout(timer);
    clearTimeout(session.paceTimer);
    session.call.removeAllListeners('data');
    session.call.removeAllListeners('drain');
    session.call.removeAllListeners('end');
    // Cancelling produces one more 'error' (CANCELLED); keep a listener so it is not unhandled.
    session.call.removeAllListeners('error');
    session.call.on('error', () => {});
    try {
      session.call.cancel();
    } catch {
      // already closed
    }
    session.client.close();
    if (this.#session === session) this.#session = undefined;
    const now = this.#now();
    if (session.welcomed) {
      this.#status.lastDisconnectedAt = now;
      if (now - session.welcomedAt >= STABLE_LINK_MS) this.#backoffAttempt = 0;
    }
    if (!reconnect || this.#stopped) {
      this.#log.info({ reason }, 'cloud link closed');
      return;
    }
    this.#dialFailed(reason);
  }

  #send(session: Session, message: HubMessage): boolean {
    if (session.ended) return false;
    try {
      const flushed = session.call.write(message);
      if (!flushed) session.waitingForDrain = true;
      return true;
    } catch (err) {
      this.#endSession(session, `cannot write to the cloud: ${(err as Error).message}`, true);
      return false;
    }
  }

  #startWatchdog(session: Session): void {
    const { keepaliveMs, ackTimeoutMs } = this.#config;
    // At most 1 s: the tick also picks up events written by other processes (the CLI), which
    // onEventStored does not see.
    const tick = Math.max(50, Math.min(keepaliveMs / 2, ackTimeoutMs / 2, 1000));
    let lastPingAt = this.#now();
    const timer = setInterval(() => {
      if (session.ended) return;
      const now = this.#now();
      if (now - session.lastReceivedAt > 3 * keepaliveMs) {
        this.#endSession(
          session,
          `nothing heard from the cloud for ${now - session.lastReceivedAt} ms`,
          true,
        );
        return;
      }
      const oldest = session.inFlight[0];
      if (oldest && now - oldest.sentAt > ackTimeoutMs) {
        this.#endSession(session, `cloud did not acknowledge events within ${ackTimeoutMs} ms`, true);
        return;
      }
      if (now - lastPingAt >= keepaliveMs) {
        lastPingAt = now;
        this.#send(session, { body: 'ping', ping: { ts: now } });
      }
      this.#schedulePump();
    }, tick);
    timer.unref();
    session.timers.push(timer as unknown as NodeJS.Timeout);
  }

  // ------------------------------------------------------------------ hub -> cloud: events

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      const session = this.#session;
      if (session?.welcomed && !session.ended) this.#pump(session);
    });
  }

  /**
   * Sends one batch if the window of unacknowledged batches has room, then yields to the event loop
   * before the next one, so decisions never queue behind a long drain.
   */
  #pump(session: Session): void {
    const { batchSize, maxInFlightBatches } = this.#config;
    if (!session.welcomed || session.ended || session.waitingForDrain) return;
    if (session.inFlight.length >= maxInFlightBatches) return;
    // Pace the drain evenly (batches spaced by batchSize / maxEventsPerSecond): the CPU it leaves free
    // is what keeps door decisions fast while a long backlog goes out.
    const wait = session.nextBatchAt - this.#now();
    if (wait > 0) {
      if (!session.paceTimer) {
        session.paceTimer = setTimeout(() => {
          session.paceTimer = undefined;
          this.#pump(session);
        }, wait);
      }
      return;
    }
    let events: HubEvent[];
    try {
      events = this.#port.eventsAfter(session.sentThrough, batchSize);
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'cannot read the event log for the cloud');
      return;
    }
    if (events.length === 0) return;
    const last = events[events.length - 1]!.seq;
    if (!this.#send(session, { body: 'events', events: { events: events.map(toWireEvent) } })) return;
    try {
      this.#state!.noteEvents(events);
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'cannot index local denies; will rescan');
    }
    session.sentThrough = last;
    const sentAt = this.#now();
    session.inFlight.push({ lastSeq: last, sentAt });
    session.nextBatchAt = sentAt + (events.length / this.#config.maxEventsPerSecond) * 1000;
    this.#schedulePump();
  }

  #onEventAck(session: Session, seq: number): void {
    if (seq > session.sentThrough) {
      this.#log.warn(
        { seq, sentThrough: session.sentThrough },
        'cloud acknowledged events it was not sent; ignored',
      );
      return;
    }
    if (seq > this.#ackedSeq) {
      this.#ackedSeq = seq;
      this.#persistAckSoon();
    }
    while (session.inFlight.length > 0 && session.inFlight[0]!.lastSeq <= seq) session.inFlight.shift();
    this.#pump(session);
  }

  #onWelcome(session: Session, welcome: { stored_seq: number; latest_change: number }): void {
    const state = this.#state!;
    const lastSeq = this.#port.lastSeq();
    let resumeFrom = welcome.stored_seq;
    if (resumeFrom > lastSeq) {
      this.#log.error(
        { cloudStoredSeq: resumeFrom, lastSeq },
        'the cloud holds events newer than this hub’s log (restored from an older backup?); sending new events from the hub’s end',
      );
      resumeFrom = lastSeq;
    }
    if (resumeFrom < this.#ackedSeq) {
      this.#log.warn(
        { cloudStoredSeq: resumeFrom, ackedSeq: this.#ackedSeq },
        'the cloud has fewer events than it acknowledged before; resending from its position',
      );
    }
    this.#ackedSeq = resumeFrom;
    state.write('acked_seq', resumeFrom);
    session.welcomed = true;
    session.welcomedAt = this.#now();
    session.sentThrough = resumeFrom;
    session.resumedFrom = resumeFrom;
    this.#status.lastConnectedAt = session.welcomedAt;
    this.#status.lastError = null;
    this.#status.failedAttempts = 0;
    this.#status.nextAttemptAt = null;
    this.#setState('connected');
    this.#log.info(
      {
        storedSeq: resumeFrom,
        backlog: lastSeq - resumeFrom,
        changeCursor: state.changeCursor,
        latestChange: welcome.latest_change,
      },
      'cloud link up',
    );
    this.#startWatchdog(session);
    this.#pump(session);
  }

  /** At most one small write per second while draining; losing it only means the cloud says "have that". */
  #persistAckSoon(): void {
    if (this.#ackTimer) return;
    this.#ackTimer = setTimeout(() => this.#persistAck(), 1000);
    this.#ackTimer.unref();
  }

  #persistAck(): void {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    try {
      if (this.#state && this.#state.ackedSeq !== this.#ackedSeq)
        this.#state.write('acked_seq', this.#ackedSeq);
    } catch (err) {
      this.#log.warn(
        { err: (err as Error).message },
        'cannot record the acknowledged seq; the cloud will tell it again',
      );
    }
  }

  // ------------------------------------------------------------------ cloud -> hub

  #receive(session: Session, raw: unknown): void {
    if (session.ended) return;
    session.lastReceivedAt = this.#now();
    if (!checkCloudMessage.Check(raw)) {
      const body = typeof raw === 'object' && raw !== null ? (raw as { body?: unknown }).body : undefined;
      this.#log.warn(
        {
          body: typeof body === 'string' ? body : null,
          problems: describeProblems(checkCloudMessage.Errors(raw)),
        },
        'ignored a malformed or unknown message from the cloud',
      );
      return;
    }
    if (!session.welcomed && raw.body !== 'welcome' && raw.body !== 'error') {
      this.#endSession(session, `cloud sent '${raw.body}' before welcome`, true);
      return;
    }
    if (session.queue.length >= MAX_QUEUED_MESSAGES) {
      this.#endSession(
        session,
        `cloud sent more than ${MAX_QUEUED_MESSAGES} messages faster than the hub applies them`,
        true,
      );
      return;
    }
    session.queue.push(raw);
    void this.#drainQueue(session);
  }

  async #drainQueue(session: Session): Promise<void> {
    if (session.processing) return;
    session.processing = true;
    try {
      while (!session.ended && session.queue.length > 0) {
        const message = session.queue.shift()!;
        await this.#handle(session, message);
      }
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'failed to handle a cloud message');
      this.#endSession(session, `internal error: ${(err as Error).message}`, true);
    } finally {
      session.processing = false;
    }
  }

  async #handle(session: Session, message: CloudMessage): Promise<void> {
    switch (message.body) {
      case 'welcome':
        if (session.welcomed) this.#log.warn('duplicate welcome from the cloud ignored');
        else {
          this.#onWelcome(session, message.welcome);
          this.#cloudTime(message.welcome.server_time);
        }
        return;
      case 'event_ack':
        this.#onEventAck(session, message.event_ack.seq);
        return;
      case 'changes':
        await this.#onChanges(session, message.changes);
        return;
      case 'command':
        await this.#onCommand(session, message.command);
        return;
      case 'pong':
        this.#cloudTime(message.pong.server_time ?? 0);
        return;
      case 'error':
        this.#status.lastError = `cloud: ${message.error.code}: ${message.error.message}`;
        this.#log.error(
          { code: message.error.code, message: message.error.message },
          'cloud reported an error',
        );
        return;
    }
  }

  /** Hands the cloud's clock to the hub (0 or less = the cloud did not send it). */
  #cloudTime(cloudMs: number): void {
    if (!this.#onCloudTime || cloudMs <= 0) return;
    try {
      this.#onCloudTime(cloudMs);
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'onCloudTime listener failed');
    }
  }

  async #onChanges(
    session: Session,
    batch: { changes: WireChange[]; snapshot_begin: boolean; snapshot_end: boolean },
  ): Promise<void> {
    const state = this.#state!;
    if (batch.snapshot_begin) {
      session.snapshotOpen = true;
      this.#log.info('receiving a full snapshot from the cloud');
    }
    const isSnapshot = session.snapshotOpen;
    const rejected: Array<{ change_no: number; reason: string }> = [];
    let gapAfter: number | null = null;
    let snapshotCursor = 0;
    const touched = new Set<ChangeKind>();
    session.call.pause();
    try {
      for (let start = 0; start < batch.changes.length && gapAfter === null; start += CHANGE_CHUNK) {
        if (session.ended) return;
        const chunk = batch.changes.slice(start, start + CHANGE_CHUNK);
        this.#port.transaction(() => {
          state.scanDenies(true);
          let cursor = state.changeCursor;
          for (const wire of chunk) {
            if (isSnapshot) {
              snapshotCursor = Math.max(snapshotCursor, wire.change_no);
            } else if (wire.change_no <= cursor) {
              continue; // already applied: a resend after a lost ack
            } else if (wire.change_no !== cursor + 1) {
              gapAfter = cursor;
              this.#log.warn(
                { expected: cursor + 1, got: wire.change_no },
                'gap in cloud change numbers; asking again',
              );
              break;
            }
            const reason = this.#applyOne(wire);
            if (reason !== null) rejected.push({ change_no: wire.change_no, reason });
            else touched.add(wire.kind as ChangeKind);
            if (!isSnapshot) cursor = wire.change_no;
          }
          if (!isSnapshot && cursor !== state.changeCursor) {
            state.write('change_cursor', cursor);
            state.write('last_change_at', this.#now());
          }
          state.skipOwnEvents();
        });
        // Let decisions and I/O run between chunks.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (isSnapshot && batch.snapshot_end) {
        this.#port.transaction(() => {
          const cursor = Math.max(state.changeCursor, snapshotCursor);
          state.write('change_cursor', cursor);
          state.write('last_change_at', this.#now());
        });
        session.snapshotOpen = false;
        this.#log.info({ changeCursor: state.changeCursor }, 'snapshot applied');
      }
    } finally {
      if (!session.ended) session.call.resume();
      if (touched.size > 0) {
        try {
          this.#onChangesApplied?.(touched);
        } catch (err) {
          this.#log.error({ err: (err as Error).message }, 'onChangesApplied listener failed');
        }
      }
    }
    if (session.ended) return;
    if (!isSnapshot || batch.snapshot_end) {
      this.#send(session, {
        body: 'change_ack',
        change_ack: { applied_through: state.changeCursor, rejected },
      });
    }
    if (gapAfter !== null)
      this.#send(session, { body: 'changes_request', changes_request: { after_change: gapAfter } });
    this.#schedulePump(); // the changes wrote admin events: send them up
  }

  /** Applies one change in a savepoint. Returns null when applied (or skipped by deny wins), else why it was refused. */
  #applyOne(wire: WireChange): string | null {
    const parsed = parseChange(wire);
    if (!parsed.ok) {
      this.#reject(wire, parsed.reason);
      return parsed.reason;
    }
    const change = parsed.change;
    if (change.ignoredFields.length > 0) {
      this.#log.warn(
        { changeNo: change.changeNo, kind: change.kind, id: change.id, fields: change.ignoredFields },
        'cloud change has fields this hub does not know; ignored them',
      );
    }
    try {
      this.#port.transaction(() => this.#write(change));
      this.#stats.applied++;
      this.#stats.lastChangeAt = this.#now();
      return null;
    } catch (err) {
      // A disk or database failure is not the change's fault: abort the batch unacked (it comes again).
      if (!(err instanceof ChangeRefusedError)) throw err;
      const reason = `${change.kind} ${change.id}: ${err.message}`;
      this.#reject(wire, reason);
      return reason;
    }
  }

  #write(change: ParsedChange): void {
    const state = this.#state!;
    const target =
      change.kind === 'person' || change.kind === 'credential' ? { kind: change.kind, id: change.id } : null;
    const local = target ? this.#port.denyState(target) : null;
    const localDenySeq = target ? state.localDenySeq(target) : null;
    const resolution = resolveChange(change, local, localDenySeq);
    if (resolution.conflict) {
      this.#stats.conflicts++;
      this.#log.warn(
        { changeNo: change.changeNo, kind: change.kind, id: change.id, rule: resolution.conflict },
        'deny wins: cloud change adjusted',
      );
      this.#port.appendEvent({
        type: 'cloud.conflict',
        doorId: null,
        personId: change.kind === 'person' ? change.id : null,
        credentialId: change.kind === 'credential' ? change.id : null,
        data: { changeNo: change.changeNo, kind: change.kind, id: change.id, rule: resolution.conflict },
      });
    }
    if (resolution.write) this.#port.write(resolution.write);
  }

  #reject(wire: WireChange, reason: string): void {
    this.#stats.rejected++;
    this.#log.warn({ changeNo: wire.change_no, reason }, 'rejected a cloud change');
    this.#port.appendEvent({
      type: 'cloud.change_rejected',
      doorId: null,
      personId: null,
      credentialId: null,
      data: { changeNo: wire.change_no, reason },
    });
  }

  async #onCommand(session: Session, command: Command): Promise<void> {
    const reply = (ok: boolean, error: string): void => {
      this.#send(session, {
        body: 'command_result',
        command_result: { command_id: command.command_id, ok, error },
      });
      try {
        this.#port.transaction(() =>
          this.#port.appendEvent({
            type: 'cloud.command',
            doorId: command.door_id || null,
            personId: null,
            credentialId: null,
            data: {
              commandId: command.command_id,
              kind: command.kind,
              mode: command.mode || undefined,
              ms: command.ms || undefined,
              ok,
              error: error || undefined,
            },
          }),
        );
      } catch (err) {
        this.#log.error({ err: (err as Error).message }, 'cannot record a cloud command event');
      }
    };
    if (command.expires_at > 0 && command.expires_at < this.#now()) {
      reply(false, 'expired');
      this.#log.warn(
        { commandId: command.command_id, kind: command.kind },
        'refused an expired cloud command',
      );
      return;
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(command.door_id)) {
      reply(false, 'invalid door id');
      return;
    }
    try {
      if (command.kind === 'unlock') {
        if (command.ms < 1000 || command.ms > 60_000) {
          reply(false, 'ms must be 1000-60000');
          return;
        }
        await this.#commands.unlock(command.door_id, command.ms);
      } else if (command.kind === 'set_mode') {
        if (command.mode !== 'normal' && command.mode !== 'lockdown' && command.mode !== 'unlocked') {
          reply(false, 'mode must be normal, lockdown or unlocked');
          return;
        }
        await this.#commands.setMode(command.door_id, command.mode);
      } else {
        reply(false, `unknown command '${command.kind.replace(/[^\x20-\x7e]/g, '?').slice(0, 64)}'`);
        return;
      }
      this.#log.info(
        { commandId: command.command_id, kind: command.kind, doorId: command.door_id },
        'cloud command done',
      );
      reply(true, '');
    } catch (err) {
      this.#log.warn({ commandId: command.command_id, err: (err as Error).message }, 'cloud command refused');
      reply(false, (err as Error).message);
    }
  }

  #scanInBackground(): void {
    // Index local denies ahead of time in small steps, so the first change batch does not scan a long log.
    const step = (): void => {
      if (this.#stopped) return;
      const session = this.#session;
      if (session?.welcomed && this.#state!.scanPosition >= session.resumedFrom) {
        // The drain indexes what it sends; scanning alongside would read the log twice.
        this.#scanTimer = setTimeout(step, 500);
        return;
      }
      try {
        if (this.#state!.scanDenies(false)) return;
      } catch (err) {
        this.#log.error({ err: (err as Error).message }, 'cannot scan the event log for local denies');
        return;
      }
      this.#scanTimer = setTimeout(step, 5);
    };
    this.#scanTimer = setTimeout(step, 0);
  }
}

export function toWireEvent(event: HubEvent): WireEvent {
  return {
    seq: event.seq,
    ts: event.ts,
    type: event.type,
    door_id: event.doorId ?? '',
    person_id: event.personId ?? '',
    credential_id: event.credentialId ?? '',
    data_json: JSON.stringify(event.data),
    prev_hash: event.prevHash,
    hash: event.hash,
  };
}
