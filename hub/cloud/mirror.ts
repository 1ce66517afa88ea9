// The cloud mirror: one long-lived bidirectional gRPC stream to the property manager's cloud.
// Up: the event log in order, in batches, resumed from the cloud's ack. Down: changes applied
// durably (deny wins), then the cursor, then the ack; commands through the injected handler.
// Nothing here is on the access path: store work is short synchronous transactions, and the link
// only ever reads what it is about to send.
import { readFileSync } from 'node:fs';
import type * as Grpc from '@grpc/grpc-js';
import { type Logger, pino } from 'pino';
import { Summarizer } from '../budget.js';
import type { HubEvent } from '../domain.js';
import type { RecoveryResult } from '../store/events.js';
import { printable } from '../text.js';
import { backoffDelay } from './backoff.js';
import { isDenyChange, type ParsedChange, parseChange, resolveChange } from './changes.js';
import type { CloudConfig } from './config.js';
import {
  ChangeRefusedError,
  type CloudCommandHandler,
  type CloudPort,
  type CodeSecretProvider,
} from './port.js';
import {
  AUTH_HEADER,
  type ChangeKind,
  type CloudMessage,
  type Command,
  checkCloudMessage,
  checkWireChange,
  describeProblems,
  HUB_ID_HEADER,
  type HubLinkClient,
  type HubMessage,
  MAX_CHANGES_PER_MESSAGE,
  MAX_CLOUD_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  type WireChange,
  type WireEvent,
} from './proto.js';
import { EventRecovery, RecoveryError } from './recovery.js';
import { MirrorState } from './state.js';

export type CloudLinkState = 'disabled' | 'connecting' | 'connected' | 'waiting' | 'stopped';

/** What on-site staff see about the cloud link (`cloud` in GET /api/v1/status). */
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
  /** The offline doorcode secret hand-over (docs/cloud-protocol.md, "Offline doorcode secret"). */
  codeSecret: CodeSecretLinkStatus;
  /**
   * Set while the hub sends no events because the cloud holds events its log does not and they cannot
   * be recovered (docs/cloud-protocol.md, "After a restore"); null otherwise.
   */
  eventsHeld: EventsHeldStatus | null;
  /** Events being recovered from the cloud right now (after a hub swap), or null. */
  recovering: { fromSeq: number; throughSeq: number; received: number } | null;
  /** The last recovery this hub run: what came back and what moved. */
  lastRecovery: (RecoveryResult & { at: number }) | null;
}

export interface EventsHeldStatus {
  /**
   * `cloud_cannot_recover`: an older cloud; `foreign_log`: the cloud's events do not chain onto this log;
   * `cloud_lost_events`: the cloud lost events it had acknowledged, which this hub has since pruned.
   */
  reason: 'cloud_cannot_recover' | 'foreign_log' | 'cloud_lost_events';
  message: string;
  since: number;
  cloudStoredSeq: number;
  lastSeq: number;
}

export interface CodeSecretLinkStatus {
  /**
   * `none` (no secret to share), `pending` (not sent yet: link down), `sent` (waiting for the cloud's
   * ack), `acknowledged` (the cloud holds this version), `refused_plaintext` (never sent without TLS),
   * `failed` (the cloud could not store it: see error).
   */
  state: 'none' | 'pending' | 'sent' | 'acknowledged' | 'refused_plaintext' | 'failed';
  /** The hub's secret version and fingerprint (never the secret). */
  version: number | null;
  fingerprint: string | null;
  /** The version the cloud said it holds (Welcome or ack). */
  cloudVersion: number | null;
  acknowledgedAt: number | null;
  error: string | null;
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
   * same connection, so the store's cross-process watch does not see them: the composition uses this to
   * reload doors and emit bus `storeChanged`.
   */
  onChangesApplied?: (kinds: ReadonlySet<ChangeKind>) => void;
  /**
   * Called with the cloud's clock (epoch ms) from each Welcome and Pong. The hub passes it to
   * TrustedClock.confirm('cloud', cloudMs), which checks it against its own clock; the mirror never
   * sets any clock itself.
   */
  onCloudTime?: (cloudMs: number) => void;
  /**
   * The offline doorcode secret to hand to the cloud (only over TLS), so it can issue codes while it
   * cannot reach the hub. Asked on every link-up and every second while up (a rotation is sent then).
   */
  codeSecret?: CodeSecretProvider;
  now?: () => number;
  random?: () => number;
}

/** Snapshot changes applied per transaction; between chunks the event loop (and the access path) runs. */
const CHANGE_CHUNK = 256;
/** One slice of change log: at most this long or this many changes, then commit and let doors run. */
const SLICE_BUDGET_MS = 3;
const SLICE_MAX_CHANGES = 200;
/**
 * Received-but-unapplied changes held in memory (~0.5 KiB each, so ~12 MiB). Beyond either bound the
 * hub stops reading the stream (HTTP/2 flow control holds the rest in the cloud); 25,000 lets a
 * revocation behind a 20,000-change flood be read at once, and so applied first.
 */
const MAX_PENDING_CHANGES = 25_000;
const MAX_PENDING_BYTES = 32 * 1024 * 1024;
/**
 * While pages are still streaming in (one arrived within READ_FIRST_MS) and no deny waits, reading
 * goes first: the denies in the pages behind are then seen before the grants ahead are applied.
 * Capped so a cloud that never stops sending cannot hold the grants back for long.
 */
const READ_FIRST_MS = 10;
const MAX_READ_FIRST_MS = 2000;
/** Acks and onChangesApplied at most this often during a long apply (always at its end and after a deny). */
const APPLY_REPORT_MS = 250;
/** Requests for a change that keeps arriving unreadable before the hub skips it as rejected. */
const MAX_RESEND_REQUESTS = 3;
/** Rejections per ChangeAck; more go in the next ones. */
const MAX_REJECTIONS_PER_ACK = 1000;
/** A cloud command is never run later than this after now (expires_at further ahead is refused). */
export const MAX_COMMAND_LIFETIME_MS = 5 * 60_000;
/** Messages waiting to be handled (e.g. behind a slow command); beyond this the link is dropped. */
const MAX_QUEUED_MESSAGES = 1000;
/** The HTTP/2 receive window of the link (the transport's own buffer, on top of the inbox bound). */
const RECEIVE_WINDOW_BYTES = 4 * 1024 * 1024;
/** A link that stayed up this long resets the back-off to its minimum. */
const STABLE_LINK_MS = 30_000;

interface Session {
  id: number;
  client: HubLinkClient;
  call: Grpc.ClientDuplexStream<HubMessage, unknown>;
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
  /** The hub paused reading while it applies a snapshot page. */
  readingPaused: boolean;
  inbox: ChangeInbox;
  timers: NodeJS.Timeout[];
  ended: boolean;
  /** Fingerprint of the code secret the cloud holds (Welcome, then acks); '' = none. */
  cloudSecretFingerprint: string;
  /** Fingerprint of the code secret sent on this session and not yet acknowledged. */
  secretSentFingerprint: string | null;
  /** Events being recovered from the cloud: nothing is sent and no change applied until it is done. */
  recovery: EventRecovery | null;
  /** When the last page of the recovery arrived (its silence timeout). */
  recoveryPageAt: number;
}

/** A received change waiting to be applied. */
interface PendingChange {
  wire: WireChange;
  /** Set when the change cannot be applied (unreadable envelope, never arrived): rejected in order. */
  refusal: string | null;
  /** For a skipped range: the first change number it covers (wire.change_no is the last). */
  fromNo: number;
  deny: boolean;
  recordKey: string | null;
  bytes: number;
  done: boolean;
}

/**
 * Received changes in change_no order, contiguous after the durable cursor. Denies are applied ahead
 * of the rest; the cursor only passes changes that are done (applied or rejected) in a committed slice.
 */
interface ChangeInbox {
  entries: PendingChange[];
  /** Index of the first entry the cursor has not passed. */
  head: number;
  /** Deny entries not yet applied, oldest first. */
  denies: PendingChange[];
  /** Entries per person/credential, so a deny taken ahead brings the earlier changes of its record along. */
  byRecord: Map<string, PendingChange[]>;
  bytes: number;
  /** Highest change number received in order (>= the cursor). */
  receivedThrough: number;
  /** A gap we asked the cloud to fill. */
  gap: { after: number; requests: number; highestSeen: number } | null;
  rejected: Array<{ change_no: number; reason: string }>;
  applying: boolean;
  ackedCursor: number;
  lastReportAt: number;
  touched: Set<ChangeKind>;
  paused: boolean;
  /** When the last page of changes arrived (performance.now()). */
  lastPageAt: number;
  /** Slices committed without an fsync since the last durable commit. */
  dirty: boolean;
}

function emptyInbox(cursor: number): ChangeInbox {
  return {
    entries: [],
    head: 0,
    denies: [],
    byRecord: new Map(),
    bytes: 0,
    receivedThrough: cursor,
    gap: null,
    rejected: [],
    applying: false,
    ackedCursor: -1,
    lastReportAt: 0,
    touched: new Set(),
    paused: false,
    lastPageAt: 0,
    dirty: false,
  };
}

/** Thrown inside a savepoint to undo a deny taken ahead that cannot be applied yet. */
class NotAheadError extends Error {}

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
  readonly #codeSecret: CodeSecretProvider | undefined;
  /** The "not sent without TLS" warning is logged once per hub run. */
  #plaintextSecretLogged = false;
  #state: MirrorState | undefined;
  #session: Session | undefined;
  #sessionCounter = 0;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #scanTimer: NodeJS.Timeout | undefined;
  #pumpScheduled = false;
  #unsubscribe: (() => void) | undefined;
  #token: string | undefined;
  #credentials: Grpc.ChannelCredentials | undefined;
  /** The gRPC libraries, loaded when the link is on (a hub without a cloud does not carry them). */
  #hubLink: typeof import('./hub-link.js') | null = null;
  #stopped = true;
  #status: CloudLinkStatus;
  #stats = { applied: 0, rejected: 0, conflicts: 0, lastChangeAt: null as number | null };
  /** The cloud's cumulative ack; persisted lazily (the cloud's welcome is the authority after a restart). */
  #ackedSeq = 0;
  /** Back-off step; reset only by a link that stayed up (a cloud that accepts then drops does not reset it). */
  #backoffAttempt = 0;
  #ackTimer: NodeJS.Timeout | undefined;
  /** The cloud refused this hub's chain (LinkError hash_mismatch): its log is not ours past some seq. */
  #cloudRefusedChain = false;
  /** Reasons alarm.cloud_events_held was raised for in this hub run (once each). */
  readonly #heldAlarms = new Set<EventsHeldStatus['reason']>();
  /** Rejected changes: the first few per minute become audit events and log lines, the rest a summary. */
  readonly #rejections: Summarizer;
  /** Unreadable messages and changes from the cloud: summarised log lines. */
  readonly #malformed: Summarizer;

  constructor(options: CloudMirrorOptions) {
    this.#config = options.config;
    this.#port = options.port;
    this.#commands = options.commands;
    this.#log = options.logger ?? pino({ enabled: false }); // named by the composition
    this.#software = options.software ?? 'gatehouse';
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#onChangesApplied = options.onChangesApplied;
    this.#onCloudTime = options.onCloudTime;
    this.#codeSecret = options.codeSecret;
    this.#status = this.#initialStatus();
    this.#rejections = new Summarizer({
      perWindow: 20,
      now: this.#now,
      onSuppressed: ({ suppressed, windowMs }) => this.#rejectionSummary(suppressed, windowMs),
    });
    this.#malformed = new Summarizer({
      now: this.#now,
      onSuppressed: ({ key, suppressed, windowMs }) =>
        this.#log.warn(
          { kind: key, suppressed, windowMs },
          `…and ${suppressed} more unreadable cloud messages in the last minute`,
        ),
    });
  }

  #grpc(): typeof Grpc {
    if (!this.#hubLink) throw new Error('the cloud link is not started');
    return this.#hubLink.grpc;
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
    this.#hubLink ??= await import('./hub-link.js');
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
    this.#rejections.flush(true);
    this.#malformed.flush(true);
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
    status.codeSecret = { ...this.#status.codeSecret };
    const recovery = this.#session?.recovery;
    status.recovering = recovery
      ? {
          fromSeq: recovery.fromSeq,
          throughSeq: recovery.throughSeq,
          received: recovery.nextSeq - recovery.fromSeq,
        }
      : null;
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
      codeSecret: {
        state: this.#codeSecret && this.#config.enabled ? 'pending' : 'none',
        version: null,
        fingerprint: null,
        cloudVersion: null,
        acknowledgedAt: null,
        error: null,
      },
      eventsHeld: null,
      recovering: null,
      lastRecovery: null,
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
      this.#credentials = this.#grpc().credentials.createInsecure();
      return;
    }
    const ca = config.caFile ? readFileSync(config.caFile) : null;
    const key = config.keyFile ? readFileSync(config.keyFile) : null;
    const cert = config.certFile ? readFileSync(config.certFile) : null;
    this.#credentials = this.#grpc().credentials.createSsl(ca, key, cert);
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
    const options: Grpc.ChannelOptions = {
      // HTTP/2 pings every 30 s at most often (servers reject more frequent ones); app pings do the rest.
      'grpc.keepalive_time_ms': Math.max(config.keepaliveMs * 2, 30_000),
      'grpc.keepalive_timeout_ms': Math.max(config.keepaliveMs, 5_000),
      // Our own back-off decides when to dial; one channel per attempt guarantees a fresh connection.
      'grpc.initial_reconnect_backoff_ms': config.backoff.minMs,
      'grpc.max_reconnect_backoff_ms': config.backoff.maxMs,
      'grpc.enable_retries': 0,
      // Deliberate: big enough that one oversized change is read and rejected on its own, announced in
      // Hello so the cloud splits its pages below it (docs/cloud-protocol.md, "Size limits").
      'grpc.max_receive_message_length': MAX_CLOUD_MESSAGE_BYTES,
      // HTTP/2 receive window: the cloud may send this much ahead of what the hub has read, so a flood's
      // pages stream in without a round trip each and a revocation behind them arrives early.
      'grpc-node.flow_control_window': RECEIVE_WINDOW_BYTES,
    };
    if (config.serverName) {
      options['grpc.ssl_target_name_override'] = config.serverName;
      options['grpc.default_authority'] = config.serverName;
    }
    let client: HubLinkClient;
    let call: Grpc.ClientDuplexStream<HubMessage, unknown>;
    try {
      const { Client } = this.#hubLink!.loadHubLink();
      client = new Client(config.address, this.#credentials!, options);
      const metadata = new (this.#grpc().Metadata)();
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
      readingPaused: false,
      inbox: emptyInbox(this.#state!.changeCursor),
      timers: [],
      ended: false,
      cloudSecretFingerprint: '',
      secretSentFingerprint: null,
      recovery: null,
      recoveryPageAt: 0,
    };
    this.#session = session;
    call.on('data', (message: unknown) => this.#receive(session, message));
    call.on('error', (err: Grpc.ServiceError) => {
      const tooLarge =
        err.code === this.#grpc().status.RESOURCE_EXHAUSTED
          ? ` (the cloud sent a message over the hub's limit of ${MAX_CLOUD_MESSAGE_BYTES} bytes, announced in Hello.max_message_bytes: the cloud must split its pages)`
          : '';
      this.#endSession(
        session,
        `stream error: ${err.code === undefined ? '' : `${this.#grpc().status[err.code]} `}${err.details ?? err.message}${tooLarge}`,
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
        max_message_bytes: MAX_CLOUD_MESSAGE_BYTES,
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
    if (this.#status.codeSecret.state === 'sent') this.#status.codeSecret.state = 'pending';
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
      // While the hub itself is not reading (flow control, a snapshot page), silence is ours, not the cloud's.
      if (session.inbox.paused || session.readingPaused) session.lastReceivedAt = now;
      if (now - session.lastReceivedAt > 3 * keepaliveMs) {
        this.#endSession(
          session,
          `nothing heard from the cloud for ${now - session.lastReceivedAt} ms`,
          true,
        );
        return;
      }
      if (session.recovery && now - session.recoveryPageAt > ackTimeoutMs) {
        this.#endSession(
          session,
          `the cloud did not hand back the events asked for within ${ackTimeoutMs} ms`,
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
      this.#offerCodeSecret(session);
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
    if (!session.welcomed || session.ended || session.waitingForDrain || session.recovery) return;
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

  #onWelcome(
    session: Session,
    welcome: {
      stored_seq: number;
      latest_change: number;
      code_secret_version?: number;
      code_secret_fingerprint?: string;
      stored_hash?: string;
      serves_event_requests?: boolean;
    },
  ): void {
    const state = this.#state!;
    const lastSeq = this.#port.lastSeq();
    const resumeFrom = welcome.stored_seq;
    // Is the cloud's log this hub's log? It is ahead of it, or its event at stored_seq is not ours, after
    // a restore from a backup older than what the cloud stored (docs/cloud-protocol.md, "After a restore").
    // A pruned event cannot be compared, except the prune anchor (the oldest kept event links to it).
    const cloudHash = welcome.stored_hash ?? '';
    const ownHash = resumeFrom > 0 && resumeFrom <= lastSeq ? this.#port.hashAt(resumeFrom) : null;
    const diverged =
      resumeFrom > lastSeq ||
      (ownHash !== null && cloudHash !== '' && ownHash !== cloudHash) ||
      (cloudHash === '' && this.#cloudRefusedChain);
    const prunedThrough = this.#port.prunedThroughSeq();
    // The cloud acknowledged every pruned event (retention keeps the rest): a different hash at the
    // anchor means the cloud holds another log, not a newer part of ours.
    if (ownHash !== null && cloudHash !== '' && ownHash !== cloudHash && resumeFrom <= prunedThrough) {
      this.#holdEvents(
        session,
        'foreign_log',
        `the cloud's event ${resumeFrom} is not this hub's (pruned) event ${resumeFrom}: the cloud holds another hub's log`,
        resumeFrom,
        lastSeq,
      );
      return;
    }
    // The cloud acknowledged every pruned event; if it now stands before the anchor it lost some, and
    // the kept events would not chain onto what it holds (it refuses the gap): say so instead of redialing.
    if (resumeFrom < prunedThrough) {
      this.#holdEvents(
        session,
        'cloud_lost_events',
        `the cloud holds events only up to ${resumeFrom}, but this hub removed events up to ${prunedThrough} after the cloud had acknowledged them: the cloud lost ${prunedThrough - resumeFrom} events that exist nowhere else now`,
        resumeFrom,
        lastSeq,
      );
      return;
    }
    if (diverged) {
      this.#beginRecovery(session, welcome.stored_seq, lastSeq, welcome.serves_event_requests === true);
      return;
    }
    if (resumeFrom < this.#ackedSeq) {
      this.#log.warn(
        { cloudStoredSeq: resumeFrom, ackedSeq: this.#ackedSeq },
        'the cloud has fewer events than it acknowledged before; resending from its position',
      );
    }
    this.#status.eventsHeld = null;
    this.#cloudRefusedChain = false;
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
    session.cloudSecretFingerprint = welcome.code_secret_fingerprint ?? '';
    if (welcome.code_secret_version) this.#status.codeSecret.cloudVersion = welcome.code_secret_version;
    this.#startWatchdog(session);
    this.#offerCodeSecret(session);
    this.#pump(session);
  }

  // ------------------------------------------------------------------ after a restore: events back from the cloud

  /**
   * The cloud holds events this hub's log does not (the hub was restored from a backup older than what
   * the cloud stored). Sending on would reuse their seqs: the cloud would drop the new events as
   * duplicates and then refuse the chain. Instead the hub asks for them back, or, from a cloud that
   * cannot answer, sends nothing and says why (docs/cloud-protocol.md, "After a restore").
   */
  #beginRecovery(session: Session, cloudStoredSeq: number, lastSeq: number, cloudServes: boolean): void {
    if (!cloudServes) {
      this.#holdEvents(
        session,
        'cloud_cannot_recover',
        `the cloud holds events up to seq ${cloudStoredSeq} that this hub's log (up to seq ${lastSeq}) does not have, and it cannot hand them back (an older cloud): no events are sent until it can`,
        cloudStoredSeq,
        lastSeq,
      );
      return;
    }
    // Compare from the last seq the cloud acknowledged (the same log up to there), or from the start.
    let from = Math.min(this.#ackedSeq, lastSeq);
    if (from >= cloudStoredSeq) from = 0;
    // Pruned events cannot be compared; the anchor (the last pruned one) still can.
    from = Math.max(from, Math.min(this.#port.prunedThroughSeq(), cloudStoredSeq - 1));
    let recovery: EventRecovery;
    try {
      recovery = new EventRecovery(this.#port, from + 1, cloudStoredSeq);
    } catch (err) {
      if (!(err instanceof RecoveryError)) throw err;
      this.#holdEvents(session, 'foreign_log', err.message, cloudStoredSeq, lastSeq);
      return;
    }
    const now = this.#now();
    session.recovery = recovery;
    session.recoveryPageAt = now;
    session.welcomed = true;
    session.welcomedAt = now;
    this.#status.lastConnectedAt = now;
    this.#setState('connected');
    this.#log.warn(
      { cloudStoredSeq, lastSeq, fromSeq: from + 1 },
      'the cloud holds events this hub’s log does not (restored from a backup?): asking for them back before sending',
    );
    this.#startWatchdog(session);
    this.#send(session, {
      body: 'events_request',
      events_request: { from_seq: from + 1, through_seq: cloudStoredSeq },
    });
  }

  #onStoredEvents(session: Session, page: { events: unknown[]; last: boolean; error: string }): void {
    const recovery = session.recovery;
    if (!recovery) {
      if (this.#malformed.allow('stored_events'))
        this.#log.warn('the cloud sent stored events the hub did not ask for; ignored');
      return;
    }
    session.recoveryPageAt = this.#now();
    try {
      recovery.page(page.events);
      if (page.last && !recovery.done) {
        throw new RecoveryError(
          'refused',
          `the cloud stopped at seq ${recovery.nextSeq - 1} of ${recovery.throughSeq}${page.error ? `: ${printable(page.error, 200)}` : ''}`,
        );
      }
      if (page.last && recovery.divergeAt === null) {
        throw new RecoveryError(
          'refused',
          'the cloud said its log differs, but every event it sent is the hub’s own',
        );
      }
    } catch (err) {
      if (!(err instanceof RecoveryError)) throw err;
      if (err.kind === 'foreign') {
        this.#holdEvents(session, 'foreign_log', err.message, recovery.throughSeq, this.#port.lastSeq());
        return;
      }
      this.#port.recovery.clear();
      this.#log.warn({ reason: err.message }, 'refused the events the cloud handed back; will ask again');
      this.#endSession(session, `event recovery refused: ${err.message}`, true);
      return;
    }
    if (page.last) this.#finishRecovery(session, recovery, recovery.divergeAt!);
  }

  /** Puts the recovered events into the log in one transaction, then starts a fresh link from there. */
  #finishRecovery(session: Session, recovery: EventRecovery, divergeAt: number): void {
    const state = this.#state!;
    const result = this.#port.transaction(() => {
      const committed = this.#port.recovery.commit(divergeAt, (r) => ({
        type: 'hub.events_recovered',
        doorId: null,
        personId: null,
        credentialId: null,
        data: {
          fromSeq: r.fromSeq,
          throughSeq: r.throughSeq,
          recovered: r.recovered,
          adminChanges: r.adminChanges,
          renumbered: r.renumbered,
        },
      }));
      state.write('acked_seq', recovery.throughSeq);
      return committed;
    });
    // Local denies among the moved events are indexed again under their new seqs.
    state.rewindScan(divergeAt - 1);
    this.#ackedSeq = recovery.throughSeq;
    this.#status.lastRecovery = { ...result, at: this.#now() };
    this.#status.eventsHeld = null;
    this.#cloudRefusedChain = false;
    this.#log.warn(
      { ...result },
      result.adminChanges > 0
        ? 'events recovered from the cloud; some are changes made on the old hub after its backup: check them (docs/replace-a-hub.md)'
        : 'events recovered from the cloud',
    );
    session.recovery = null;
    this.#endSession(session, 'events recovered from the cloud: reconnecting', false);
    this.#scheduleDial(0);
  }

  /** Sends no events, says why (status, log, one alarm per reason and hub run), and asks again later. */
  #holdEvents(
    session: Session,
    reason: EventsHeldStatus['reason'],
    message: string,
    cloudStoredSeq: number,
    lastSeq: number,
  ): void {
    const previous = this.#status.eventsHeld;
    this.#status.eventsHeld = {
      reason,
      message,
      since: previous?.reason === reason ? previous.since : this.#now(),
      cloudStoredSeq,
      lastSeq,
    };
    this.#port.recovery.clear();
    if (!this.#heldAlarms.has(reason)) {
      this.#heldAlarms.add(reason);
      this.#log.error({ reason, cloudStoredSeq, lastSeq }, `no events sent to the cloud: ${message}`);
      try {
        this.#port.transaction(() =>
          this.#port.appendEvent({
            type: 'alarm.cloud_events_held',
            doorId: null,
            personId: null,
            credentialId: null,
            data: { reason, message, cloudStoredSeq, lastSeq },
          }),
        );
      } catch (err) {
        this.#log.error({ err: (err as Error).message }, 'cannot record alarm.cloud_events_held');
      }
    }
    this.#endSession(session, message, false);
    if (this.#stopped) return;
    this.#status.lastError = `events held: ${message}`;
    this.#status.failedAttempts++;
    this.#scheduleDial(this.#config.backoff.maxMs);
  }

  // ------------------------------------------------------------------ hub -> cloud: the code secret

  /**
   * Hands the offline doorcode secret to the cloud when the cloud does not hold this one (new hub,
   * rotated secret, cloud restored). Only over TLS: on a plaintext link it is never sent, and the
   * reason is logged once. The secret itself is never logged.
   */
  #offerCodeSecret(session: Session): void {
    if (!this.#codeSecret || !session.welcomed || session.ended) return;
    const status = this.#status.codeSecret;
    if (this.#config.insecurePlaintext) {
      status.state = 'refused_plaintext';
      status.error = 'not sent: the cloud link has no TLS (cloud.insecurePlaintext)';
      if (!this.#plaintextSecretLogged) {
        this.#plaintextSecretLogged = true;
        this.#log.warn(
          'offline code secret NOT sent to the cloud: the link has no TLS (cloud.insecurePlaintext); the cloud cannot issue doorcodes for this hub',
        );
      }
      return;
    }
    let secret: ReturnType<CodeSecretProvider>;
    try {
      secret = this.#codeSecret();
    } catch (err) {
      status.state = 'failed';
      status.error = `the hub cannot read its code secret: ${(err as Error).message}`;
      return;
    }
    if (secret === null) {
      status.state = 'none';
      return;
    }
    status.version = secret.version;
    status.fingerprint = secret.fingerprint;
    if (session.cloudSecretFingerprint === secret.fingerprint) {
      if (status.state !== 'acknowledged') {
        status.state = 'acknowledged';
        status.cloudVersion = secret.version;
        status.error = null;
      }
      return;
    }
    if (session.secretSentFingerprint === secret.fingerprint) return; // waiting for its ack
    const sent = this.#send(session, {
      body: 'code_secret',
      code_secret: {
        version: secret.version,
        secret_hex: secret.secretHex,
        fingerprint: secret.fingerprint,
        time_zone: secret.timeZone,
        daily_mac_digits: secret.dailyMacDigits,
        windowed_mac_digits: secret.windowedMacDigits,
        grace_minutes: secret.graceMinutes,
        format_version: 1,
      },
    });
    if (!sent) return;
    session.secretSentFingerprint = secret.fingerprint;
    status.state = 'sent';
    status.error = null;
    this.#log.info(
      { version: secret.version, fingerprint: secret.fingerprint },
      'offline code secret sent to the cloud',
    );
  }

  #onCodeSecretAck(
    session: Session,
    ack: { version: number; fingerprint: string; ok: boolean; error: string },
  ): void {
    const status = this.#status.codeSecret;
    if (ack.fingerprint !== session.secretSentFingerprint) {
      this.#log.warn(
        { version: ack.version, fingerprint: ack.fingerprint },
        'cloud acknowledged a code secret the hub did not send on this link; ignored',
      );
      return;
    }
    if (!ack.ok) {
      status.state = 'failed';
      status.error = `cloud: ${printable(ack.error, 200)}`;
      this.#log.warn(
        { version: ack.version, error: status.error },
        'the cloud did not store the code secret',
      );
      return;
    }
    session.cloudSecretFingerprint = ack.fingerprint;
    session.secretSentFingerprint = null;
    status.state = 'acknowledged';
    status.cloudVersion = ack.version;
    status.acknowledgedAt = this.#now();
    status.error = null;
    this.#log.info(
      { version: ack.version, fingerprint: ack.fingerprint },
      'the cloud holds the offline code secret: it can issue doorcodes while the link is down',
    );
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
      if (this.#malformed.allow('message')) {
        this.#log.warn(
          {
            body: typeof body === 'string' ? body : null,
            problems: describeProblems(checkCloudMessage.Errors(raw)),
          },
          'ignored a malformed or unknown message from the cloud',
        );
      }
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
        if (!session.recovery) this.#onEventAck(session, message.event_ack.seq);
        return;
      case 'stored_events':
        this.#onStoredEvents(session, message.stored_events);
        return;
      case 'changes':
        // While events are recovered, nothing is applied or acked: the cloud sends them again on the next link.
        if (session.recovery) return;
        if (message.changes.snapshot_begin || session.snapshotOpen)
          await this.#onSnapshotPage(session, message.changes);
        else this.#acceptChanges(session, message.changes.changes);
        return;
      case 'command':
        await this.#onCommand(session, message.command);
        return;
      case 'pong':
        this.#cloudTime(message.pong.server_time ?? 0);
        return;
      case 'code_secret_ack':
        this.#onCodeSecretAck(session, message.code_secret_ack);
        return;
      case 'error':
        if (message.error.code === 'hash_mismatch') this.#cloudRefusedChain = true;
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

  // ------------------------------------------------------------------ cloud -> hub: the change log

  /**
   * Takes one page of the change log into the inbox (in change_no order), then lets the applier run.
   * Nothing is applied here: receiving stays cheap, so a revocation behind a flood is read early.
   */
  #acceptChanges(session: Session, rawChanges: unknown[]): void {
    const inbox = session.inbox;
    let changes = rawChanges;
    if (changes.length > MAX_CHANGES_PER_MESSAGE) {
      this.#log.warn(
        { changes: changes.length, max: MAX_CHANGES_PER_MESSAGE },
        'cloud page too long; reading the first part and asking for the rest again',
      );
      changes = changes.slice(0, MAX_CHANGES_PER_MESSAGE);
    }
    inbox.lastPageAt = performance.now();
    for (const raw of changes) {
      let wire: WireChange;
      let refusal: string | null = null;
      if (checkWireChange.Check(raw)) wire = raw;
      else {
        const changeNo = (raw as { change_no?: unknown } | null)?.change_no;
        if (typeof changeNo !== 'number' || !Number.isSafeInteger(changeNo) || changeNo < 1) {
          // Without a usable number it cannot even be rejected: it shows as a gap (asked for again).
          if (this.#malformed.allow('change'))
            this.#log.warn(
              { problems: describeProblems(checkWireChange.Errors(raw)) },
              'ignored an unreadable cloud change',
            );
          continue;
        }
        refusal = `malformed change: ${describeProblems(checkWireChange.Errors(raw))}`;
        wire = { change_no: changeNo, based_on_seq: 0, kind: '', op: '', id: '', data_json: '', ts: 0 };
      }
      if (wire.change_no <= inbox.receivedThrough) continue; // already here or applied: a resend
      if (wire.change_no !== inbox.receivedThrough + 1 && !this.#onGap(session, wire.change_no)) break;
      this.#enqueue(inbox, wire, refusal, wire.change_no);
    }
    this.#flow(session);
    void this.#applyInbox(session);
  }

  #enqueue(inbox: ChangeInbox, wire: WireChange, refusal: string | null, fromNo: number): void {
    const deny = refusal === null && isDenyChange(wire);
    const recordKey =
      refusal === null && (wire.kind === 'person' || wire.kind === 'credential')
        ? `${wire.kind}:${wire.id}`
        : null;
    const entry: PendingChange = {
      wire,
      refusal,
      fromNo,
      deny,
      recordKey,
      bytes: wire.data_json.length + 64,
      done: false,
    };
    inbox.entries.push(entry);
    inbox.bytes += entry.bytes;
    if (deny) inbox.denies.push(entry);
    if (recordKey) {
      const list = inbox.byRecord.get(recordKey);
      if (list) list.push(entry);
      else inbox.byRecord.set(recordKey, [entry]);
    }
    inbox.receivedThrough = wire.change_no;
    if (inbox.gap && inbox.receivedThrough > inbox.gap.after) inbox.gap = null;
  }

  /**
   * A change number was skipped. Ask the cloud to resend after what we have; when its resends keep
   * missing the same change (it arrives unreadable), give up on it after MAX_RESEND_REQUESTS: it is
   * rejected and the cursor moves on, so one broken change cannot hold back the ones behind it.
   * Returns true when the caller should take `got` now (the missing ones were skipped).
   */
  #onGap(session: Session, got: number): boolean {
    const inbox = session.inbox;
    const after = inbox.receivedThrough;
    const gap = inbox.gap;
    const ask = (): void => {
      this.#log.warn({ expected: after + 1, got }, 'gap in cloud change numbers; asking again');
      this.#send(session, { body: 'changes_request', changes_request: { after_change: after } });
    };
    if (!gap || gap.after !== after) {
      inbox.gap = { after, requests: 1, highestSeen: got };
      ask();
      return false;
    }
    if (got > gap.highestSeen) {
      gap.highestSeen = got; // the rest of the stream sent before our request
      return false;
    }
    // The cloud started over (a resend) and change after+1 is still missing.
    gap.highestSeen = got;
    if (gap.requests < MAX_RESEND_REQUESTS) {
      gap.requests++;
      ask();
      return false;
    }
    const reason =
      got - after === 2
        ? `change ${after + 1} did not arrive in a readable form after ${gap.requests} requests; skipped`
        : `changes ${after + 1}-${got - 1} did not arrive in a readable form after ${gap.requests} requests; skipped`;
    this.#log.error({ from: after + 1, through: got - 1 }, reason);
    const placeholder = {
      change_no: got - 1,
      based_on_seq: 0,
      kind: '',
      op: '',
      id: '',
      data_json: '',
      ts: 0,
    };
    this.#enqueue(inbox, placeholder, reason, after + 1);
    inbox.gap = null;
    return true;
  }

  /** Stops reading the stream while the inbox is over its bounds (HTTP/2 flow control does the rest). */
  #flow(session: Session): void {
    if (session.ended) return;
    const inbox = session.inbox;
    const full = inbox.entries.length - inbox.head >= MAX_PENDING_CHANGES || inbox.bytes >= MAX_PENDING_BYTES;
    if (full && !inbox.paused) {
      inbox.paused = true;
      session.call.pause();
    } else if (!full && inbox.paused) {
      inbox.paused = false;
      session.call.resume();
    }
  }

  /** Applies the inbox in short slices, denies first, yielding to the event loop between slices. */
  async #applyInbox(session: Session): Promise<void> {
    const inbox = session.inbox;
    if (inbox.applying) return;
    inbox.applying = true;
    try {
      const readFirstUntil = performance.now() + MAX_READ_FIRST_MS;
      while (!session.ended && inbox.head < inbox.entries.length) {
        const now = performance.now();
        if (
          inbox.denies.length === 0 &&
          !inbox.paused &&
          now - inbox.lastPageAt < READ_FIRST_MS &&
          now < readFirstUntil
        ) {
          await new Promise((resolve) => setTimeout(resolve, READ_FIRST_MS));
          continue;
        }
        const appliedDeny = this.#applySlice(session);
        inbox.dirty = true;
        this.#flow(session);
        if (appliedDeny || this.#now() - inbox.lastReportAt >= APPLY_REPORT_MS) this.#report(session);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (!session.ended) this.#report(session);
      this.#rejections.flush();
    } catch (err) {
      // A disk or database failure is not the changes' fault: drop the link unacked (they come again).
      this.#log.error({ err: (err as Error).message }, 'cannot apply cloud changes');
      this.#endSession(session, `internal error: ${(err as Error).message}`, true);
    } finally {
      inbox.applying = false;
    }
  }

  /**
   * One transaction: denies taken ahead (with the earlier changes of their record), then changes in
   * order, within SLICE_BUDGET_MS; then the cursor passes every leading change that is done. Returns
   * true when a deny was applied.
   */
  #applySlice(session: Session): boolean {
    const state = this.#state!;
    const inbox = session.inbox;
    const started = performance.now();
    let count = 0;
    let appliedDeny = false;
    const hasTime = () => count < SLICE_MAX_CHANGES && performance.now() - started < SLICE_BUDGET_MS;
    this.#withoutFsync(() =>
      this.#port.transaction(() => {
        state.scanDenies(true);
        while (inbox.denies.length > 0 && hasTime()) {
          const deny = inbox.denies.shift()!;
          if (deny.done) continue;
          const applied = this.#applyAhead(inbox, deny);
          count += applied || 1;
          if (applied > 0) appliedDeny = true;
        }
        for (let i = inbox.head; i < inbox.entries.length && hasTime(); i++) {
          const entry = inbox.entries[i]!;
          if (entry.done) continue;
          this.#applyEntry(inbox, entry);
          if (entry.deny) appliedDeny = true;
          count++;
        }
        let cursor = state.changeCursor;
        while (inbox.head < inbox.entries.length && inbox.entries[inbox.head]!.done) {
          const entry = inbox.entries[inbox.head++]!;
          cursor = entry.wire.change_no;
          this.#release(inbox, entry);
        }
        if (cursor !== state.changeCursor) {
          state.write('change_cursor', cursor);
          state.write('last_change_at', this.#now());
        }
        state.skipOwnEvents();
      }),
    );
    if (inbox.head > 1024 && inbox.head * 2 > inbox.entries.length) {
      inbox.entries.splice(0, inbox.head);
      inbox.head = 0;
    }
    return appliedDeny;
  }

  /**
   * Runs a slice without an fsync at commit (WAL, synchronous=NORMAL): an fsync per slice would block the
   * doors longer than the slice itself. The slice is visible at once and in order on disk; #makeDurable
   * fsyncs it (and everything before it) before any ack, so nothing is acknowledged that a power cut
   * could take back, and after one the cursor and the changes roll back together.
   */
  #withoutFsync<T>(fn: () => T): T {
    return this.#port.state.withoutFsync(fn);
  }

  /** One small durable (synchronous=FULL) commit: the WAL fsync also covers the slices before it. */
  #makeDurable(): void {
    this.#port.transaction(() => this.#state!.write('last_change_at', this.#now()));
  }

  #release(inbox: ChangeInbox, entry: PendingChange): void {
    inbox.bytes -= entry.bytes;
    if (!entry.recordKey) return;
    const list = inbox.byRecord.get(entry.recordKey);
    if (!list) return;
    const index = list.indexOf(entry);
    if (index >= 0) list.splice(index, 1);
    if (list.length === 0) inbox.byRecord.delete(entry.recordKey);
  }

  /** Applies (or rejects) one change in order. */
  #applyEntry(inbox: ChangeInbox, entry: PendingChange): void {
    const wire = entry.wire;
    const reason = entry.refusal ?? this.#applyOne(wire);
    if (entry.refusal !== null) this.#reject(wire, entry.refusal);
    if (reason !== null) {
      if (entry.fromNo < wire.change_no && wire.change_no - entry.fromNo < 100) {
        for (let n = entry.fromNo; n <= wire.change_no; n++) inbox.rejected.push({ change_no: n, reason });
      } else inbox.rejected.push({ change_no: entry.fromNo, reason });
    } else inbox.touched.add(wire.kind as ChangeKind);
    entry.done = true;
  }

  /**
   * Applies a deny before the changes queued ahead of it, together with the earlier changes of the
   * same record (so their order is kept), in one savepoint. When any of them cannot be applied yet
   * (e.g. it needs a record created further up the queue), nothing is kept and they wait their turn.
   * Returns how many changes were applied.
   */
  #applyAhead(inbox: ChangeInbox, deny: PendingChange): number {
    const group = (deny.recordKey ? (inbox.byRecord.get(deny.recordKey) ?? []) : [deny]).filter(
      (entry) => !entry.done && entry.wire.change_no <= deny.wire.change_no,
    );
    if (group.some((entry) => entry.refusal !== null)) return 0;
    try {
      this.#port.transaction(() => {
        for (const entry of group) {
          const parsed = parseChange(entry.wire);
          if (!parsed.ok) throw new NotAheadError(parsed.reason);
          this.#write(parsed.change);
        }
      });
    } catch (err) {
      if (err instanceof ChangeRefusedError || err instanceof NotAheadError) return 0;
      throw err;
    }
    for (const entry of group) {
      entry.done = true;
      inbox.touched.add(entry.wire.kind as ChangeKind);
    }
    this.#stats.applied += group.length;
    this.#stats.lastChangeAt = this.#now();
    return group.length;
  }

  /** Acks the cursor and the rejections, and tells the hub which kinds changed. */
  #report(session: Session): void {
    const inbox = session.inbox;
    inbox.lastReportAt = this.#now();
    if (inbox.touched.size > 0) {
      const touched = inbox.touched;
      inbox.touched = new Set();
      try {
        this.#onChangesApplied?.(touched);
      } catch (err) {
        this.#log.error({ err: (err as Error).message }, 'onChangesApplied listener failed');
      }
    }
    const cursor = this.#state!.changeCursor;
    const idle = inbox.head >= inbox.entries.length;
    // Also when nothing moved but the inbox is idle: a resend after a lost ack wants its answer.
    if (cursor === inbox.ackedCursor && inbox.rejected.length === 0 && !idle) return;
    if (inbox.dirty) {
      this.#makeDurable();
      inbox.dirty = false;
    }
    do {
      const rejected = inbox.rejected.splice(0, MAX_REJECTIONS_PER_ACK);
      this.#send(session, { body: 'change_ack', change_ack: { applied_through: cursor, rejected } });
    } while (inbox.rejected.length > 0);
    inbox.ackedCursor = cursor;
    this.#schedulePump(); // the changes wrote admin events: send them up
  }

  /** A snapshot page: applied in order (it is the cloud's whole state), cursor set after the last page. */
  async #onSnapshotPage(
    session: Session,
    batch: { changes: unknown[]; snapshot_begin: boolean; snapshot_end: boolean },
  ): Promise<void> {
    const state = this.#state!;
    while (session.inbox.applying && !session.ended) await new Promise((resolve) => setTimeout(resolve, 5));
    if (batch.snapshot_begin) {
      session.snapshotOpen = true;
      this.#log.info('receiving a full snapshot from the cloud');
    }
    const rejected: Array<{ change_no: number; reason: string }> = [];
    let snapshotCursor = 0;
    const touched = new Set<ChangeKind>();
    const changes: WireChange[] = [];
    for (const raw of batch.changes.slice(0, MAX_CHANGES_PER_MESSAGE)) {
      if (checkWireChange.Check(raw)) changes.push(raw);
      else if (this.#malformed.allow('change'))
        this.#log.warn(
          { problems: describeProblems(checkWireChange.Errors(raw)) },
          'ignored an unreadable snapshot record',
        );
    }
    session.call.pause();
    session.readingPaused = true;
    try {
      for (let start = 0; start < changes.length; start += CHANGE_CHUNK) {
        if (session.ended) return;
        const chunk = changes.slice(start, start + CHANGE_CHUNK);
        this.#port.transaction(() => {
          state.scanDenies(true);
          for (const wire of chunk) {
            snapshotCursor = Math.max(snapshotCursor, wire.change_no);
            const reason = this.#applyOne(wire);
            if (reason !== null) rejected.push({ change_no: wire.change_no, reason });
            else touched.add(wire.kind as ChangeKind);
          }
          state.skipOwnEvents();
        });
        // Let decisions and I/O run between chunks.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (batch.snapshot_end) {
        this.#port.transaction(() => {
          const cursor = Math.max(state.changeCursor, snapshotCursor);
          state.write('change_cursor', cursor);
          state.write('last_change_at', this.#now());
        });
        session.snapshotOpen = false;
        session.inbox = emptyInbox(state.changeCursor);
        this.#log.info({ changeCursor: state.changeCursor }, 'snapshot applied');
      }
    } finally {
      session.readingPaused = false;
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
    if (batch.snapshot_end) {
      this.#send(session, {
        body: 'change_ack',
        change_ack: { applied_through: state.changeCursor, rejected },
      });
    }
    this.#rejections.flush();
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

  /** Counts a rejection; the first few per minute become an event and a log line, the rest a summary. */
  #reject(wire: WireChange, reason: string): void {
    this.#stats.rejected++;
    if (!this.#rejections.allow('change_rejected')) return;
    this.#log.warn({ changeNo: wire.change_no, reason }, 'rejected a cloud change');
    this.#port.appendEvent({
      type: 'cloud.change_rejected',
      doorId: null,
      personId: null,
      credentialId: null,
      data: { changeNo: wire.change_no, reason },
    });
  }

  #rejectionSummary(suppressed: number, windowMs: number): void {
    this.#log.warn(
      { suppressed, windowMs },
      `…and ${suppressed} more rejected cloud changes in the last minute`,
    );
    try {
      this.#port.transaction(() =>
        this.#port.appendEvent({
          type: 'cloud.changes_rejected',
          doorId: null,
          personId: null,
          credentialId: null,
          data: { count: suppressed, windowMs },
        }),
      );
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'cannot record the rejected-changes summary');
    }
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
    // A command queued during an outage must not open a door hours later: no expiry means refused.
    const now = this.#now();
    const stale =
      command.expires_at <= 0
        ? 'no expiry (expires_at 0): a command must say when it expires'
        : command.expires_at < now
          ? 'expired'
          : command.expires_at - now > MAX_COMMAND_LIFETIME_MS
            ? `expires_at is more than ${MAX_COMMAND_LIFETIME_MS / 1000} s ahead: a command may live at most that long`
            : null;
    if (stale !== null) {
      reply(false, stale);
      this.#log.warn(
        { commandId: command.command_id, kind: command.kind, expiresAt: command.expires_at, reason: stale },
        'refused a stale cloud command',
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
        reply(false, `unknown command '${printable(command.kind)}'`);
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
