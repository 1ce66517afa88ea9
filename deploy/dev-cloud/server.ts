// The development cloud: speaks hub/cloud/gatehouse-cloud.proto, stores what hubs send in its own
// SQLite file, and pushes changes and commands. For development and tests, not for production.
// Run: `node dist/deploy/dev-cloud/main.js --help` (see deploy/dev-cloud/README.md).
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { type Logger, pino } from 'pino';
import { isValidTimeZone, localTime } from '../../hub/access/localtime.js';
import { parseChange } from '../../hub/cloud/changes.js';
import { loadHubLink } from '../../hub/cloud/hub-link.js';
import { toWireEvent } from '../../hub/cloud/mirror.js';
import {
  AUTH_HEADER,
  type CloudMessage,
  type CodeSecretMessage,
  checkHubMessage,
  DEFAULT_MAX_MESSAGE_BYTES,
  describeProblems,
  type HubMessage,
  type WireChange,
  type WireEvent,
} from '../../hub/cloud/proto.js';
import { type CodeSpec, issueCode } from '../../hub/offline/codes.js';
import { eventHash } from '../../hub/store/events.js';
import { DevCloudStore, type IssuedCodeRow, type StoredCloudEvent, type StoredCodeSecret } from './store.js';

export interface DevCloudTls {
  certPem: string;
  keyPem: string;
  /** When set, hubs must present a client certificate signed by this CA whose CN is the hub id. */
  clientCaPem?: string;
}

/** Fault injection for tests and demos. */
export interface DevCloudFaults {
  /** Stop reading from hubs (they see HTTP/2 flow control, then their ack timeout). */
  stopReading: boolean;
  /** Store events but never acknowledge them. */
  dropAcks: boolean;
  /** Send this change number unreadable every time (its change_no out of range), as a broken cloud would. */
  garbleChange: number | null;
  /** Behave like a cloud from before EventsRequest: no stored_hash or serves_event_requests in Welcome, requests ignored. */
  legacyEvents: boolean;
  /** Rewrites each StoredEvents page before it is sent (hostile-cloud tests). */
  tamperStoredEvents: ((events: WireEvent[]) => WireEvent[]) | null;
}

export interface DevCloudOptions {
  /** SQLite file (':memory:' for throwaway). */
  dbFile: string;
  /** gRPC listen address, default 127.0.0.1:50051 (port 0 = any free port). */
  listen?: string;
  /** TLS material; required unless `insecure` is true. */
  tls?: DevCloudTls;
  /** Plaintext gRPC, for tests on loopback only. */
  insecure?: boolean;
  logger?: Logger;
  /** Changes per message when catching a hub up. */
  pageSize?: number;
  /** How long sendCommand waits for the hub's result. */
  commandTimeoutMs?: number;
}

export interface HubSummary {
  id: string;
  connected: boolean;
  lastSeenAt: number | null;
  storedSeq: number;
  eventCount: number;
  latestChange: number;
  appliedChange: number;
  rejections: number;
}

/** The cloud's share of the index ranges (docs/offline-codes.md): daily 0-49, hour-window 0. */
const CLOUD_DAILY_INDEXES = 50;

export interface IssueCodeRequest {
  kind: 'daily' | 'window' | 'once' | 'first-use';
  personId?: string | null;
  /** Who it is for, e.g. "plumber" (shown to staff). */
  label?: string | null;
  /** Exactly one scope: one door, the doors of an access group, or every door. */
  doorId?: string;
  groupId?: string;
  site?: boolean;
  /** Daily: the building's local date (default today there). */
  date?: string;
  /** Window / once / first-use: start (epoch ms, rounded down to the hour; default now) and hours. */
  from?: number;
  hours?: number;
  /** Test hook: the cloud's clock. */
  now?: number;
}

export interface IssuedCloudCode {
  /** Shown once; never stored. */
  digits: string;
  serial: string;
  type: string;
  scope: string;
  personId: string | null;
  label: string | null;
  validFrom: number;
  validUntil: number;
  /** Daily codes also work this long before validFrom and after validUntil. */
  graceMinutes: number;
  timeZone: string;
  secretVersion: number;
  changeNo: number;
  hubConnected: boolean;
}

function scopeOf(request: IssueCodeRequest): string {
  const id = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
  const given = [request.doorId, request.groupId, request.site ? 'site' : undefined].filter(
    (value) => value !== undefined,
  );
  if (given.length !== 1) {
    throw new Error(
      'give exactly one of a door, an access group or the whole site (for several doors, use a group)',
    );
  }
  if (request.site) return 'site';
  const [kind, value] = request.doorId !== undefined ? ['door', request.doorId] : ['group', request.groupId!];
  if (!id.test(value)) throw new Error(`${kind} id must be 1-64 of [A-Za-z0-9_.-]`);
  return `${kind}:${value}`;
}

export interface CommandOutcome {
  ok: boolean;
  error: string;
}

type Duplex = grpc.ServerDuplexStream<unknown, CloudMessage>;

interface HubSession {
  hubId: string;
  call: Duplex;
  /** Highest change number written to this session. */
  sentChange: number;
  /** Page size in bytes: below the hub's Hello.max_message_bytes (and PAGE_TARGET_BYTES). */
  maxMessageBytes: number;
  /** The stream's buffer is full: the next page goes out on 'drain' (a cloud must not queue without bound). */
  waitingForDrain: boolean;
  closed: boolean;
  /** An EventsRequest being answered: the next seq to send and the last one asked for. */
  eventsRequest: { next: number; through: number } | null;
}

/** Room left in a message for protobuf framing and the page's own fields. */
const MESSAGE_MARGIN_BYTES = 64 * 1024;
/**
 * Pages stay this small even when the hub reads more: a Pong queued behind a page waits for it, and
 * the hub drops a link it hears nothing from for 3 × keepaliveMs.
 */
export const PAGE_TARGET_BYTES = 4 * 1024 * 1024;

/** Encoded size of one change, near enough to split pages (protobuf adds a few bytes per field). */
function changeBytes(change: WireChange): number {
  return (
    Buffer.byteLength(change.data_json) +
    Buffer.byteLength(change.kind) +
    Buffer.byteLength(change.op) +
    Buffer.byteLength(change.id) +
    48
  );
}

/** The longest prefix of `changes` (at least one) that fits in a message of `maxBytes`. */
/** Encoded size of one event, near enough to split pages. */
function eventBytes(event: WireEvent): number {
  return (
    Buffer.byteLength(event.data_json) +
    Buffer.byteLength(event.type) +
    event.door_id.length +
    event.person_id.length +
    event.credential_id.length +
    event.prev_hash.length +
    event.hash.length +
    64
  );
}

/** The longest run of events from the start that fits in one message (at least one). */
function fitEvents(events: WireEvent[], maxBytes: number): WireEvent[] {
  let bytes = 0;
  for (let i = 0; i < events.length; i++) {
    bytes += eventBytes(events[i]!);
    if (bytes > maxBytes - MESSAGE_MARGIN_BYTES) return events.slice(0, Math.max(1, i));
  }
  return events;
}

function fitPage(changes: WireChange[], maxBytes: number): WireChange[] {
  let bytes = 0;
  for (let i = 0; i < changes.length; i++) {
    bytes += changeBytes(changes[i]!);
    if (bytes > maxBytes - MESSAGE_MARGIN_BYTES) return changes.slice(0, Math.max(1, i));
  }
  return changes;
}

const SERVICE_VERSION = 1;

export class DevCloud {
  readonly store: DevCloudStore;
  readonly faults: DevCloudFaults = {
    stopReading: false,
    dropAcks: false,
    garbleChange: null,
    legacyEvents: false,
    tamperStoredEvents: null,
  };
  /** ChangesRequest messages received from hubs (a hub asking again for changes it could not read). */
  changesRequests = 0;
  /** Largest change page sent so far (estimated encoded bytes). */
  largestPageBytes = 0;
  /** Events received again after they were stored (at-least-once delivery; not stored twice). */
  duplicatesIgnored = 0;
  /** EventsRequest messages answered (a restored hub asking for events back). */
  eventsRequests = 0;
  /** Largest StoredEvents page sent so far (estimated encoded bytes). */
  largestEventPageBytes = 0;
  readonly #options: DevCloudOptions;
  readonly #log: Logger;
  readonly #sessions = new Map<string, HubSession>();
  readonly #pendingCommands = new Map<string, (outcome: CommandOutcome) => void>();
  #server: grpc.Server | undefined;
  #port = 0;

  constructor(options: DevCloudOptions) {
    if (!options.tls && !options.insecure)
      throw new Error('dev cloud: give TLS material or set insecure for tests');
    this.#options = options;
    this.#log = (options.logger ?? pino({ enabled: false })).child({ part: 'dev-cloud' });
    this.store = new DevCloudStore(options.dbFile);
  }

  get port(): number {
    return this.#port;
  }

  async start(): Promise<{ port: number }> {
    return this.#listen(this.#options.listen ?? '127.0.0.1:50051');
  }

  /**
   * Stops serving gRPC (hubs see the link drop and re-dial with back-off) but keeps the admin API
   * and the data: the cloud keeps working, e.g. issuing doorcodes, with every hub unreachable.
   */
  async stopListening(): Promise<void> {
    for (const session of this.#sessions.values()) this.#close(session);
    this.#sessions.clear();
    const server = this.#server;
    this.#server = undefined;
    server?.forceShutdown();
    this.#log.info('dev cloud no longer serving hubs');
  }

  /** Serves gRPC again on the same port as before. */
  async startListening(): Promise<{ port: number }> {
    if (this.#server) return { port: this.#port };
    const host = (this.#options.listen ?? '127.0.0.1:50051').replace(/:\d+$/, '');
    return this.#listen(`${host}:${this.#port}`);
  }

  get listening(): boolean {
    return this.#server !== undefined;
  }

  async #listen(address: string): Promise<{ port: number }> {
    const { service } = loadHubLink();
    const server = new grpc.Server({
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 1000,
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    });
    server.addService(service, { Connect: (call: Duplex) => this.#onConnect(call) });
    const tls = this.#options.tls;
    const credentials = tls
      ? grpc.ServerCredentials.createSsl(
          tls.clientCaPem ? Buffer.from(tls.clientCaPem) : null,
          [{ private_key: Buffer.from(tls.keyPem), cert_chain: Buffer.from(tls.certPem) }],
          Boolean(tls.clientCaPem),
        )
      : grpc.ServerCredentials.createInsecure();
    this.#port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port)));
    });
    this.#server = server;
    this.#log.info({ port: this.#port, tls: Boolean(tls) }, 'dev cloud listening');
    return { port: this.#port };
  }

  async stop(): Promise<void> {
    for (const session of this.#sessions.values()) this.#close(session);
    this.#sessions.clear();
    for (const resolve of this.#pendingCommands.values()) resolve({ ok: false, error: 'cloud stopping' });
    this.#pendingCommands.clear();
    const server = this.#server;
    this.#server = undefined;
    if (server) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.store.close();
  }

  // ------------------------------------------------------------------ admin API (used by HTTP and tests)

  addHub(id: string, token?: string): string {
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(id)) throw new Error('hub id must be 1-128 of [A-Za-z0-9._-]');
    return this.store.addHub(id, token);
  }

  hubs(): HubSummary[] {
    return this.store.hubIds().map((id) => ({
      id,
      connected: this.#sessions.has(id),
      lastSeenAt: this.store.lastSeenAt(id),
      storedSeq: this.store.storedSeq(id),
      eventCount: this.store.eventCount(id),
      latestChange: this.store.latestChange(id),
      appliedChange: this.store.appliedChange(id),
      rejections: this.store.rejections(id).length,
    }));
  }

  isConnected(hubId: string): boolean {
    return this.#sessions.has(hubId);
  }

  events(hubId: string, afterSeq = 0, limit = 100, type?: string): StoredCloudEvent[] {
    return this.store.events(hubId, afterSeq, limit, type);
  }

  /** Validates (with the hub's own rules), stores and pushes one change. Returns its change number. */
  pushChange(
    hubId: string,
    change: { kind: string; op: 'upsert' | 'delete'; id: string; data?: Record<string, unknown> },
  ): number {
    return this.pushChanges(hubId, [change]);
  }

  /** Validates, stores and pushes many changes at once (one transaction, then pages). Returns the last number. */
  pushChanges(
    hubId: string,
    changes: Array<{ kind: string; op: 'upsert' | 'delete'; id: string; data?: Record<string, unknown> }>,
  ): number {
    if (!this.store.hasHub(hubId)) throw new Error(`unknown hub '${hubId}'`);
    const rows = changes.map((change) => {
      const dataJson = change.op === 'delete' ? '{}' : JSON.stringify(change.data ?? {});
      const parsed = parseChange({
        change_no: 1,
        based_on_seq: 0,
        kind: change.kind,
        op: change.op,
        id: change.id,
        data_json: dataJson,
        ts: Date.now(),
      });
      if (!parsed.ok) throw new Error(parsed.reason);
      return { kind: change.kind, op: change.op, id: change.id, data: dataJson };
    });
    let last = this.store.latestChange(hubId);
    this.store.db.transaction(() => {
      for (const row of rows) last = this.store.appendChange(hubId, row);
    })();
    const session = this.#sessions.get(hubId);
    if (session) this.#sendChanges(session);
    return last;
  }

  /** Creates or updates a person, keeping fields not given. */
  upsertPerson(hubId: string, id: string, fields: Record<string, unknown>): number {
    const current = this.store.record(hubId, 'person', id) ?? {};
    return this.pushChange(hubId, { kind: 'person', op: 'upsert', id, data: { ...current, ...fields } });
  }

  upsertCredential(hubId: string, id: string, fields: Record<string, unknown>): number {
    const current = this.store.record(hubId, 'credential', id) ?? {};
    return this.pushChange(hubId, { kind: 'credential', op: 'upsert', id, data: { ...current, ...fields } });
  }

  suspend(hubId: string, personId: string, suspended = true): number {
    this.#mustHave(hubId, 'person', personId);
    return this.upsertPerson(hubId, personId, { suspended });
  }

  revoke(hubId: string, credentialId: string): number {
    this.#mustHave(hubId, 'credential', credentialId);
    return this.upsertCredential(hubId, credentialId, { revoked: true });
  }

  /** Denylists an offline doorcode on the hub (serial as shown by `gatehouse code list`). */
  revokeCode(hubId: string, serial: string, reason?: string): number {
    return this.pushChange(hubId, {
      kind: 'code_revocation',
      op: 'upsert',
      id: serial,
      data: reason === undefined ? { serial } : { serial, reason },
    });
  }

  /** The offline doorcode secret a hub handed over (never log `secretHex`), or null. */
  codeSecret(hubId: string): StoredCodeSecret | null {
    return this.store.codeSecret(hubId);
  }

  /**
   * Issues an offline doorcode for a hub from the secret it handed over: works while the hub is
   * unreachable. The digits are returned once and never stored; the record (serial, person, scope,
   * type, validity) goes into the hub's change log as `offline_code`, so the hub learns it when the
   * link is up (docs/offline-codes.md, "Codes issued by the cloud").
   */
  issueCode(hubId: string, request: IssueCodeRequest): IssuedCloudCode {
    if (!this.store.hasHub(hubId)) throw new Error(`unknown hub '${hubId}'`);
    const secret = this.store.codeSecret(hubId);
    if (!secret) {
      throw new Error(
        `hub '${hubId}' has not handed over its doorcode secret yet: it does so over TLS when it connects (see its cloud status)`,
      );
    }
    const scope = scopeOf(request);
    const personId = request.personId ?? null;
    if (personId !== null && !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(personId))
      throw new Error('person id must be 1-64 of [A-Za-z0-9_.-]');
    const label = request.label ?? null;
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
    if (label !== null && (label.length > 80 || /[\x00-\x1f\x7f]/.test(label)))
      throw new Error('label must be plain text, at most 80 characters');
    const now = request.now ?? Date.now();
    const format = { dailyMacDigits: secret.dailyMacDigits, windowedMacDigits: secret.windowedMacDigits };
    const key = Buffer.from(secret.secretHex, 'hex');
    const candidates: CodeSpec[] = [];
    if (request.kind === 'daily') {
      const date = request.date ?? localTime(now, secret.timeZone).date;
      for (let index = 0; index < CLOUD_DAILY_INDEXES; index++)
        candidates.push({ type: 'daily', date, index, scope });
    } else {
      const type = request.kind === 'window' ? 'hourly' : request.kind;
      if (type !== 'hourly' && type !== 'once' && type !== 'first-use')
        throw new Error('kind must be daily, window, once or first-use');
      const hours = request.hours ?? (type === 'hourly' ? undefined : 24);
      if (hours === undefined) throw new Error('a window code needs its length in hours (1-672)');
      const startHour = Math.floor((request.from ?? now) / 3_600_000);
      candidates.push({ type, startHour, hours, index: 0, scope });
    }
    let issued: ReturnType<typeof issueCode> | undefined;
    for (const spec of candidates) {
      const code = issueCode(key, spec, secret.timeZone, format);
      if (!this.store.hasIssuedCode(hubId, code.serial)) {
        issued = code;
        break;
      }
    }
    if (!issued) {
      throw new Error(
        request.kind === 'daily'
          ? `all ${CLOUD_DAILY_INDEXES} daily codes of this date and scope are issued: use another scope`
          : 'a code for exactly this window and scope was issued already: pick another start hour or length',
      );
    }
    const spec = issued.spec;
    const record = {
      serial: issued.serial,
      type: spec.type,
      scope: spec.scope,
      ...(spec.type === 'daily' ? { date: spec.date } : { startHour: spec.startHour, hours: spec.hours }),
      index: spec.index,
      personId,
      ...(label !== null ? { label } : {}),
      validFrom: issued.window.start,
      validUntil: issued.window.end,
      secretVersion: secret.version,
      issuedAt: now,
    };
    const changeNo = this.pushChange(hubId, {
      kind: 'offline_code',
      op: 'upsert',
      id: issued.serial,
      data: record,
    });
    this.store.addIssuedCode(hubId, {
      serial: issued.serial,
      type: spec.type,
      scope: spec.scope,
      personId,
      label,
      validFrom: issued.window.start,
      validUntil: issued.window.end,
      secretVersion: secret.version,
      changeNo,
      issuedAt: now,
    });
    this.#log.info(
      { hubId, serial: issued.serial, type: spec.type, scope: spec.scope, personId, changeNo },
      'doorcode issued',
    );
    return {
      digits: issued.digits,
      serial: issued.serial,
      type: spec.type,
      scope: spec.scope,
      personId,
      label,
      validFrom: issued.window.start,
      validUntil: issued.window.end,
      graceMinutes: spec.type === 'daily' ? secret.graceMinutes : 0,
      timeZone: secret.timeZone,
      secretVersion: secret.version,
      changeNo,
      hubConnected: this.#sessions.has(hubId),
    };
  }

  /** Codes issued here for a hub (never their digits). */
  issuedCodes(hubId: string): IssuedCodeRow[] {
    return this.store.issuedCodes(hubId);
  }

  /** "Log out everywhere": mobile keys issued under the old epoch stop working. */
  bumpKeyEpoch(hubId: string, personId: string): number {
    const current = this.#mustHave(hubId, 'person', personId);
    const epoch = typeof current['keyEpoch'] === 'number' ? current['keyEpoch'] : 0;
    return this.upsertPerson(hubId, personId, { keyEpoch: epoch + 1 });
  }

  /** Sends a command and waits for the hub's answer. */
  sendCommand(
    hubId: string,
    command: {
      kind: 'unlock' | 'set_mode' | string;
      doorId: string;
      ms?: number;
      mode?: string;
      ttlMs?: number;
    },
  ): Promise<CommandOutcome> {
    const session = this.#sessions.get(hubId);
    if (!session) return Promise.resolve({ ok: false, error: 'hub not connected' });
    const commandId = randomUUID();
    const ms = command.ms ?? 0;
    const mode = command.mode ?? '';
    this.store.recordCommand(hubId, { commandId, kind: command.kind, doorId: command.doorId, ms, mode });
    return new Promise<CommandOutcome>((resolve) => {
      const timer = setTimeout(() => {
        this.#pendingCommands.delete(commandId);
        resolve({ ok: false, error: 'no answer from the hub' });
      }, this.#options.commandTimeoutMs ?? 10_000);
      this.#pendingCommands.set(commandId, (outcome) => {
        clearTimeout(timer);
        resolve(outcome);
      });
      this.#write(session, {
        body: 'command',
        command: {
          command_id: commandId,
          kind: command.kind,
          door_id: command.doorId,
          ms,
          mode,
          expires_at: Date.now() + (command.ttlMs ?? 30_000),
        },
      });
    });
  }

  /** Writes any object as a CloudMessage (fault injection: malformed or hostile messages). */
  sendRaw(hubId: string, message: Record<string, unknown>): boolean {
    const session = this.#sessions.get(hubId);
    if (!session) return false;
    return this.#write(session, message as CloudMessage);
  }

  /** Drops a hub's stream (it reconnects with back-off). */
  disconnect(hubId: string): void {
    const session = this.#sessions.get(hubId);
    if (session) this.#close(session);
  }

  #mustHave(hubId: string, kind: string, id: string): Record<string, unknown> {
    const record = this.store.record(hubId, kind, id);
    if (!record) throw new Error(`unknown ${kind} '${id}' for hub '${hubId}'`);
    return record;
  }

  // ------------------------------------------------------------------ the stream

  #onConnect(call: Duplex): void {
    const token = String(call.metadata.get(AUTH_HEADER)[0] ?? '').replace(/^Bearer\s+/i, '');
    let session: HubSession | undefined;
    const helloTimer = setTimeout(() => {
      if (!session) this.#fail(call, grpc.status.DEADLINE_EXCEEDED, 'bad_hello', 'no hello within 10 s');
    }, 10_000);
    call.on('error', (err) => this.#log.debug({ err: err.message }, 'hub stream error'));
    call.on('end', () => {
      clearTimeout(helloTimer);
      if (session) this.#close(session);
      else call.end();
    });
    call.on('cancelled', () => {
      clearTimeout(helloTimer);
      if (session) this.#close(session);
    });
    call.on('data', (raw: unknown) => {
      if (!checkHubMessage.Check(raw)) {
        this.#log.warn(
          { problems: describeProblems(checkHubMessage.Errors(raw)) },
          'malformed hub message ignored',
        );
        return;
      }
      if (!session) {
        clearTimeout(helloTimer);
        session = this.#hello(call, raw, token);
        return;
      }
      if (this.faults.stopReading) {
        call.pause();
        return;
      }
      try {
        this.#handle(session, raw);
      } catch (err) {
        this.#log.error({ err: (err as Error).message }, 'dev cloud failed to handle a message');
        this.#fail(call, grpc.status.INTERNAL, 'internal', (err as Error).message);
      }
    });
  }

  #hello(call: Duplex, message: HubMessage, token: string): HubSession | undefined {
    if (message.body !== 'hello') {
      this.#fail(call, grpc.status.FAILED_PRECONDITION, 'bad_hello', 'first message must be hello');
      return undefined;
    }
    const hello = message.hello;
    if (!this.#authenticated(call, hello.hub_id, token)) {
      this.#log.warn({ hubId: hello.hub_id }, 'hub refused: bad credentials');
      this.#fail(call, grpc.status.UNAUTHENTICATED, 'unauthenticated', 'unknown hub or wrong token');
      return undefined;
    }
    if (hello.protocol_version !== SERVICE_VERSION) {
      this.#fail(
        call,
        grpc.status.FAILED_PRECONDITION,
        'bad_hello',
        `protocol ${hello.protocol_version} not supported`,
      );
      return undefined;
    }
    const previous = this.#sessions.get(hello.hub_id);
    if (previous) this.#close(previous); // newest stream wins
    const session: HubSession = {
      hubId: hello.hub_id,
      call,
      sentChange: hello.last_change,
      maxMessageBytes: Math.min(hello.max_message_bytes || DEFAULT_MAX_MESSAGE_BYTES, PAGE_TARGET_BYTES),
      waitingForDrain: false,
      closed: false,
      eventsRequest: null,
    };
    this.#sessions.set(hello.hub_id, session);
    this.store.touch(hello.hub_id);
    const storedSeq = this.store.storedSeq(hello.hub_id);
    const latestChange = this.store.latestChange(hello.hub_id);
    this.#log.info(
      {
        hubId: hello.hub_id,
        storedSeq,
        hubLastSeq: hello.last_seq,
        hubChange: hello.last_change,
        latestChange,
      },
      'hub connected',
    );
    this.#write(session, {
      body: 'welcome',
      welcome: {
        stored_seq: storedSeq,
        latest_change: latestChange,
        server_time: Date.now(),
        code_secret_version: this.store.codeSecret(hello.hub_id)?.version ?? 0,
        code_secret_fingerprint: this.store.codeSecret(hello.hub_id)?.fingerprint ?? '',
        ...(this.faults.legacyEvents
          ? {}
          : { stored_hash: this.store.hashAt(hello.hub_id, storedSeq) ?? '', serves_event_requests: true }),
      },
    });
    if (hello.last_change === 0 && this.store.records(hello.hub_id).length > 0) this.#sendSnapshot(session);
    else if (hello.last_change > latestChange) {
      this.#log.warn(
        { hubId: hello.hub_id },
        'hub has applied changes this cloud does not have (cloud database reset?)',
      );
    } else this.#sendChanges(session);
    return session;
  }

  #authenticated(call: Duplex, hubId: string, token: string): boolean {
    if (this.#options.tls?.clientCaPem) {
      // mTLS: the certificate's CN must name the hub (the TLS layer already checked the CA).
      const cert = call.getAuthContext()?.sslPeerCertificate;
      const cn = cert?.subject?.CN;
      if (cn !== hubId || !this.store.hasHub(hubId)) return false;
      return token === '' || this.store.checkToken(hubId, token);
    }
    return token.length > 0 && this.store.checkToken(hubId, token);
  }

  #handle(session: HubSession, message: HubMessage): void {
    this.store.touch(session.hubId);
    switch (message.body) {
      case 'hello':
        this.#log.warn({ hubId: session.hubId }, 'second hello ignored');
        return;
      case 'events':
        this.#storeEvents(session, message.events.events);
        return;
      case 'change_ack':
        this.store.setAppliedChange(session.hubId, message.change_ack.applied_through);
        for (const rejection of message.change_ack.rejected) {
          this.store.addRejection(session.hubId, rejection.change_no, rejection.reason);
          this.#log.warn({ hubId: session.hubId, ...rejection }, 'hub rejected a change');
        }
        return;
      case 'changes_request':
        this.changesRequests++;
        session.sentChange = message.changes_request.after_change;
        this.#sendChanges(session);
        return;
      case 'command_result': {
        const result = message.command_result;
        this.store.commandResult(result.command_id, result.ok, result.error);
        this.#pendingCommands.get(result.command_id)?.({ ok: result.ok, error: result.error });
        this.#pendingCommands.delete(result.command_id);
        return;
      }
      case 'ping':
        this.#write(session, { body: 'pong', pong: { ts: message.ping.ts, server_time: Date.now() } });
        return;
      case 'code_secret':
        this.#onCodeSecret(session, message.code_secret);
        return;
      case 'events_request': {
        if (this.faults.legacyEvents) {
          this.#log.warn({ hubId: session.hubId }, 'malformed hub message ignored'); // as an older cloud would
          return;
        }
        this.eventsRequests++;
        const { from_seq, through_seq } = message.events_request;
        this.#log.info({ hubId: session.hubId, from_seq, through_seq }, 'hub asked for its stored events');
        session.eventsRequest = { next: Math.max(1, from_seq), through: through_seq };
        this.#sendStoredEvents(session);
        return;
      }
    }
  }

  /** Answers an EventsRequest in pages below the hub's limit, pausing while the stream is full. */
  #sendStoredEvents(session: HubSession): void {
    const pageSize = this.#options.pageSize ?? 500;
    for (;;) {
      const request = session.eventsRequest;
      if (!request || session.closed) return;
      const limit = Math.min(pageSize, Math.max(0, request.through - request.next + 1));
      const rows = limit > 0 ? this.store.events(session.hubId, request.next - 1, limit) : [];
      let events = fitEvents(rows.map(toWireEvent), session.maxMessageBytes);
      const next = events.length > 0 ? events[events.length - 1]!.seq + 1 : request.next;
      const last = next > request.through || rows.length === 0;
      const error =
        last && next <= request.through ? `this cloud stores events only up to seq ${next - 1}` : '';
      if (this.faults.tamperStoredEvents) events = this.faults.tamperStoredEvents(events);
      this.largestEventPageBytes = Math.max(
        this.largestEventPageBytes,
        events.reduce((sum, event) => sum + eventBytes(event), 0),
      );
      if (!this.#write(session, { body: 'stored_events', stored_events: { events, last, error } })) return;
      request.next = next;
      if (last) {
        session.eventsRequest = null;
        return;
      }
      const call = session.call as unknown as { writableNeedDrain?: boolean };
      if (call.writableNeedDrain) {
        session.call.once('drain', () => this.#sendStoredEvents(session));
        return;
      }
    }
  }

  /** Keeps a hub's doorcode secret and acks it. Never logs the secret. */
  #onCodeSecret(session: HubSession, secret: CodeSecretMessage): void {
    const ack = (ok: boolean, error: string) =>
      this.#write(session, {
        body: 'code_secret_ack',
        code_secret_ack: { version: secret.version, fingerprint: secret.fingerprint, ok, error },
      });
    // Defence in depth: the hub never sends it without TLS, and this cloud never takes it so.
    if (!this.#options.tls) {
      this.#log.warn({ hubId: session.hubId }, 'code secret refused: this cloud runs without TLS');
      ack(false, 'this cloud runs without TLS: it does not take the code secret');
      return;
    }
    if (!isValidTimeZone(secret.time_zone)) {
      ack(false, `unknown time zone ${JSON.stringify(String(secret.time_zone).slice(0, 64))}`);
      return;
    }
    const saved = this.store.saveCodeSecret(session.hubId, {
      version: secret.version,
      secretHex: secret.secret_hex,
      fingerprint: secret.fingerprint,
      timeZone: secret.time_zone,
      dailyMacDigits: secret.daily_mac_digits,
      windowedMacDigits: secret.windowed_mac_digits,
      graceMinutes: secret.grace_minutes,
    });
    if (!saved) {
      const held = this.store.codeSecret(session.hubId)?.version ?? 0;
      ack(false, `version ${secret.version} is older than the version ${held} this cloud holds`);
      return;
    }
    this.#log.info(
      { hubId: session.hubId, version: secret.version, fingerprint: secret.fingerprint },
      'code secret received',
    );
    ack(true, '');
  }

  /** Stores a batch exactly once, in order, checking the hash chain; acks the contiguous end. */
  #storeEvents(session: HubSession, events: WireEvent[]): void {
    const hubId = session.hubId;
    let problem: { code: string; message: string } | null = null;
    let duplicates = 0;
    const stored = this.store.db.transaction(() => {
      let last = this.store.storedSeq(hubId);
      let prevHash = last > 0 ? this.store.hashAt(hubId, last) : null;
      for (const wire of events) {
        if (wire.seq <= last) {
          duplicates++;
          continue;
        }
        if (wire.seq !== last + 1) {
          problem = { code: 'gap', message: `expected seq ${last + 1}, got ${wire.seq}` };
          break;
        }
        if (prevHash !== null && wire.prev_hash !== prevHash) {
          problem = { code: 'hash_mismatch', message: `seq ${wire.seq} does not link to seq ${last}` };
          break;
        }
        let data: Record<string, unknown>;
        try {
          data = JSON.parse(wire.data_json) as Record<string, unknown>;
        } catch {
          problem = { code: 'bad_event', message: `seq ${wire.seq}: data_json is not JSON` };
          break;
        }
        const event = {
          seq: wire.seq,
          ts: wire.ts,
          type: wire.type,
          doorId: wire.door_id || null,
          personId: wire.person_id || null,
          credentialId: wire.credential_id || null,
          data,
          prevHash: wire.prev_hash,
          hash: wire.hash,
        };
        if (eventHash(wire.prev_hash, event) !== wire.hash) {
          problem = { code: 'hash_mismatch', message: `seq ${wire.seq}: hash does not match its content` };
          break;
        }
        this.store.insertEvent(hubId, event);
        last = wire.seq;
        prevHash = wire.hash;
      }
      return last;
    })();
    this.duplicatesIgnored += duplicates;
    if (duplicates > 0) this.#log.debug({ hubId, duplicates }, 'duplicate events ignored');
    if (!this.faults.dropAcks) this.#write(session, { body: 'event_ack', event_ack: { seq: stored } });
    if (problem) {
      const { code, message } = problem as { code: string; message: string };
      this.#log.error({ hubId, code, message }, 'event batch refused');
      this.#fail(session.call, grpc.status.FAILED_PRECONDITION, code, message);
      this.#close(session);
    }
  }

  #sendChanges(session: HubSession): void {
    const pageSize = this.#options.pageSize ?? 500;
    if (session.waitingForDrain) return;
    for (;;) {
      const rows = this.store.changesAfter(session.hubId, session.sentChange, pageSize);
      if (rows.length === 0) return;
      const changes = fitPage(
        rows.map((row) => ({
          change_no: row.change_no === this.faults.garbleChange ? 2 ** 60 : row.change_no,
          based_on_seq: row.based_on_seq,
          kind: row.kind,
          op: row.op,
          id: row.id,
          data_json: row.data,
          ts: row.ts,
        })),
        session.maxMessageBytes,
      );
      this.largestPageBytes = Math.max(
        this.largestPageBytes,
        changes.reduce((sum, change) => sum + changeBytes(change), 0),
      );
      if (
        !this.#write(session, {
          body: 'changes',
          changes: { changes, snapshot_begin: false, snapshot_end: false },
        })
      ) {
        return;
      }
      session.sentChange = rows[changes.length - 1]!.change_no;
      if (this.#needsDrain(session)) return;
    }
  }

  #sendSnapshot(session: HubSession): void {
    const pageSize = this.#options.pageSize ?? 500;
    const latest = this.store.latestChange(session.hubId);
    const basedOn = this.store.storedSeq(session.hubId);
    const records = this.store.records(session.hubId);
    this.#log.info({ hubId: session.hubId, records: records.length, latest }, 'sending snapshot');
    for (let start = 0; start < records.length; ) {
      const page = records.slice(start, start + pageSize);
      const changes = fitPage(
        page.map((record) => ({
          change_no: latest,
          based_on_seq: basedOn,
          kind: record.kind,
          op: 'upsert',
          id: record.id,
          data_json: record.data,
          ts: Date.now(),
        })),
        session.maxMessageBytes,
      );
      this.#write(session, {
        body: 'changes',
        changes: {
          changes,
          snapshot_begin: start === 0,
          snapshot_end: start + changes.length >= records.length,
        },
      });
      start += changes.length;
    }
    session.sentChange = latest;
  }

  /** True when the hub is not keeping up: the rest of the log is sent when the stream drains. */
  #needsDrain(session: HubSession): boolean {
    const call = session.call as unknown as { writableNeedDrain?: boolean };
    if (!call.writableNeedDrain) return false;
    session.waitingForDrain = true;
    session.call.once('drain', () => {
      session.waitingForDrain = false;
      if (!session.closed) this.#sendChanges(session);
    });
    return true;
  }

  #write(session: HubSession, message: CloudMessage): boolean {
    if (session.closed) return false;
    try {
      session.call.write(message);
      return true;
    } catch (err) {
      this.#log.warn({ hubId: session.hubId, err: (err as Error).message }, 'write to hub failed');
      this.#close(session);
      return false;
    }
  }

  #fail(call: Duplex, code: grpc.status, errorCode: string, message: string): void {
    try {
      call.write({ body: 'error', error: { code: errorCode, message } });
    } catch {
      // the stream is already gone
    }
    call.emit('error', { code, details: `${errorCode}: ${message}` });
  }

  #close(session: HubSession): void {
    if (session.closed) return;
    session.closed = true;
    if (this.#sessions.get(session.hubId) === session) this.#sessions.delete(session.hubId);
    try {
      session.call.end();
    } catch {
      // already closed
    }
    this.#log.info({ hubId: session.hubId }, 'hub disconnected');
  }
}
