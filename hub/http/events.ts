// The event log over HTTP as the staff UI reads it: GET /api/v1/events (filters, paging backwards),
// /events.csv (the same filters, streamed from the database page by page) and /stream (server-sent
// events with resumption from the log). What each role sees is decided in visibility.ts.
import { Readable } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import Type, { type Static } from 'typebox';
import { formatLocalMinute, zonedToEpoch } from '../access/localtime.js';
import type { DoorStatus } from '../bus.js';
import { Id } from '../commands/schemas.js';
import type { HubEvent, StaffRole } from '../domain.js';
import type { EventListQuery } from '../store/events.js';
import type { Store } from '../store/store.js';
import { ANY_STAFF, type HttpDeps, type HttpGuards } from './deps.js';
import { eventScopes, mayFilterByPerson, visibleDoorStatus, visibleEvent } from './visibility.js';

/** Events one page of GET /events may hold. */
export const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;
/** Rows one CSV export holds at most; beyond it the file ends with a comment line saying so. */
export const CSV_MAX_ROWS = 100_000;
/** Rows read from the database per CSV chunk: memory stays at one page whatever the export's size. */
const CSV_PAGE = 1000;
/** Events a reconnecting stream replays at most; further behind, it gets `reset` and reloads. */
export const STREAM_REPLAY_MAX = 500;
/**
 * Bytes a stream may have waiting in its socket's write buffer. A stream stops writing when the socket
 * is full and reads from the log again once it drains, so this is a safety net; a client that stops
 * reading (a phone asleep with the tab open) is dropped when it falls more than STREAM_REPLAY_MAX events
 * behind or has not read for STREAM_STALL_MS, and when it wakes it reconnects with Last-Event-ID.
 */
export const STREAM_MAX_BUFFERED = 1024 * 1024;
/** A stream stops writing above this many buffered bytes and goes on from the log when the socket drains. */
const STREAM_PAUSE_AT = 256 * 1024;
/** Events read from the log per query while a stream catches up (a pause can leave a page half sent). */
const CATCH_UP_PAGE = 100;
/** A stream whose socket has not drained for this long is dropped (checked with the keep-alive). */
const STREAM_STALL_MS = 60_000;
const KEEP_ALIVE_MS = 15_000;

/** A type ('alarm': it and its sub-types) or a raw prefix ending in '*' ('admin.cred*'). */
const EventType = Type.String({
  pattern: '^[a-z][a-z0-9_.]{0,63}[*]?$',
  description: "an event type like 'alarm' or 'admin.cred*': lower-case letters, digits, '_', '.'",
});
/** Epoch ms, or ISO 8601 (checked in parseTime). */
const Time = Type.String({ minLength: 1, maxLength: 40 });
const Seq = Type.String({ pattern: '^[0-9]{1,15}$', description: 'an event number (digits)' });

const FILTERS = {
  door: Type.Optional(Id),
  person: Type.Optional(Id),
  type: Type.Optional(EventType),
  from: Type.Optional(Time),
  until: Type.Optional(Time),
};
const ListQuery = Type.Object(
  {
    ...FILTERS,
    limit: Type.Optional(
      Type.String({ pattern: '^[0-9]{1,4}$', description: 'a whole number (up to 4 digits)' }),
    ),
    before: Type.Optional(Seq),
  },
  { additionalProperties: false },
);
const CsvQuery = Type.Object(FILTERS, { additionalProperties: false });
const StreamQuery = Type.Object({ lastEventId: Type.Optional(Seq) }, { additionalProperties: false });

class QueryError extends Error {
  readonly statusCode: number;
  constructor(statusCode: number, message: string) {
    super(message);
    this.statusCode = statusCode;
  }
}

const LOCAL_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?$/;
const ZONED_TIME =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/;

/**
 * A `from`/`until` value: epoch ms; ISO 8601 with `Z` or an offset; or a date or date and time without
 * one, read on the building's wall clock (`timeZone`), as the CLI reads them.
 */
export function parseTime(text: string, name: string, timeZone: string): number {
  if (/^[0-9]{1,15}$/.test(text)) return Number(text);
  const local = LOCAL_TIME.exec(text);
  const zoned = local ? null : ZONED_TIME.exec(text);
  const parts = local ?? zoned;
  if (parts) {
    const [y, mo, d, h, mi, s] = parts.slice(1, 7).map((p) => Number(p ?? 0)) as number[];
    const validDay = mo! >= 1 && mo! <= 12 && d! >= 1 && d! <= new Date(Date.UTC(y!, mo!, 0)).getUTCDate();
    if (validDay && h! <= 23 && mi! <= 59 && s! <= 59) {
      const value = local
        ? zonedToEpoch(y!, mo!, d!, h!, mi!, timeZone) + s! * 1000 + Number((local[7] ?? '').padEnd(3, '0'))
        : Date.parse(text);
      if (Number.isSafeInteger(value) && value >= 0) return value;
    }
  }
  throw new QueryError(
    400,
    `${name} must be epoch milliseconds or an ISO 8601 time (2026-12-02T09:30:00Z, 2026-12-02T10:30+01:00, or 2026-12-02 / 2026-12-02T10:30 in the building's time zone)`,
  );
}

type Filters = Static<typeof CsvQuery>;

/** The store query of the filters as `role` may run them. */
function storeQuery(filters: Filters, role: StaffRole, timeZone: string): EventListQuery {
  const query: EventListQuery = {};
  if (filters.door !== undefined) query.doorId = filters.door;
  if (filters.person !== undefined) {
    if (!mayFilterByPerson(role))
      throw new QueryError(403, `role '${role}' may not look up a person's events`);
    query.personId = filters.person;
  }
  if (filters.type !== undefined) query.type = filters.type;
  if (filters.from !== undefined) query.fromTs = parseTime(filters.from, 'from', timeZone);
  if (filters.until !== undefined) query.untilTs = parseTime(filters.until, 'until', timeZone);
  if (query.fromTs !== undefined && query.untilTs !== undefined && query.fromTs >= query.untilTs)
    throw new QueryError(400, 'from must be before until');
  const scopes = eventScopes(role);
  if (scopes !== null) query.typeScopes = scopes;
  return query;
}

function refuse(reply: FastifyReply, err: unknown): FastifyReply {
  if (!(err instanceof QueryError)) throw err;
  return reply
    .code(err.statusCode)
    .send({ error: err.message, code: err.statusCode === 403 ? 'forbidden' : 'invalid' });
}

/** One page, newest first, and the `before` of the next page (null at the end of the log). */
export function eventPage(
  store: Store,
  role: StaffRole,
  query: EventListQuery,
  limit: number,
): { events: HubEvent[]; next: number | null } {
  // One row more than asked tells whether another page exists without a second query.
  const rows = store.events.list({ ...query, limit: limit + 1 });
  const page = rows.slice(0, limit);
  const events: HubEvent[] = [];
  for (const row of page) {
    const seen = visibleEvent(role, row);
    if (seen) events.push(seen);
  }
  return { events, next: rows.length > limit ? page[page.length - 1]!.seq : null };
}

// --- CSV

export const CSV_COLUMNS = [
  'seq',
  'time',
  'local_time',
  'type',
  'door',
  'person',
  'credential',
  'actor',
  'details',
] as const;

/**
 * One CSV cell (RFC 4180): quoted when it holds a comma, quote or line break, quotes doubled. A cell that
 * a spreadsheet would run as a formula (= + - @, tab, CR) gets a leading apostrophe first: an event's data
 * can hold text a door device or a cloud user typed.
 */
export function csvCell(value: string | number | null): string {
  if (value === null) return '';
  let text = String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvRow(event: HubEvent, timeZone: string): string {
  const { actor, ...rest } = event.data;
  const seconds = String(Math.floor(event.ts / 1000) % 60).padStart(2, '0');
  return `${[
    event.seq,
    new Date(event.ts).toISOString(),
    `${formatLocalMinute(event.ts, timeZone)}:${seconds}`,
    event.type,
    event.doorId,
    event.personId,
    event.credentialId,
    actor === undefined || actor === null ? null : String(actor),
    Object.keys(rest).length > 0 ? JSON.stringify(rest) : null,
  ]
    .map(csvCell)
    .join(',')}\r\n`;
}

/** The rows of an export, one database page per chunk, newest first, at most `maxRows`. */
export function* csvChunks(
  store: Store,
  role: StaffRole,
  query: EventListQuery,
  timeZone: string,
  maxRows = CSV_MAX_ROWS,
): Generator<string> {
  // A byte-order mark: spreadsheet programs then read the file as UTF-8 (names with accents).
  yield `\ufeff${CSV_COLUMNS.join(',')}\r\n`;
  let written = 0;
  let before: number | undefined;
  for (;;) {
    const room = maxRows - written;
    const page = eventPage(
      store,
      role,
      { ...query, ...(before === undefined ? {} : { beforeSeq: before }) },
      Math.min(CSV_PAGE, room),
    );
    written += page.events.length;
    yield page.events.map((e) => csvRow(e, timeZone)).join('');
    if (page.next === null) return;
    if (written >= maxRows) {
      yield `# capped at ${maxRows} rows: older events were left out; export a shorter time window (from/until) for the rest\r\n`;
      return;
    }
    before = page.next;
  }
}

/** 20261202T095500Z: a file-name-safe UTC time. */
function fileTime(epochMs: number): string {
  return new Date(epochMs)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

// --- routes

export async function registerEventRoutes(
  root: FastifyInstance,
  deps: HttpDeps,
  guards: HttpGuards,
): Promise<void> {
  const { store } = deps;
  const timeZone = deps.timeZone ?? 'UTC';
  const api = root.withTypeProvider<TypeBoxTypeProvider>();

  api.get(
    '/events',
    { config: { roles: ANY_STAFF }, schema: { querystring: ListQuery } },
    async (request, reply) => {
      const { limit, before, ...filters } = request.query;
      const role = request.staff!.role;
      try {
        const size = limit === undefined ? DEFAULT_PAGE : Number(limit);
        if (size < 1 || size > MAX_PAGE) throw new QueryError(400, `limit must be 1 to ${MAX_PAGE}`);
        const query = storeQuery(filters, role, timeZone);
        if (before !== undefined) query.beforeSeq = Number(before);
        return eventPage(store, role, query, size);
      } catch (err) {
        return refuse(reply, err);
      }
    },
  );

  api.get(
    '/events.csv',
    { config: { roles: ANY_STAFF }, schema: { querystring: CsvQuery } },
    async (request, reply) => {
      const role = request.staff!.role;
      let query: EventListQuery;
      try {
        query = storeQuery(request.query, role, timeZone);
      } catch (err) {
        return refuse(reply, err);
      }
      const from = query.fromTs === undefined ? 'start' : fileTime(query.fromTs);
      const until = fileTime(query.untilTs ?? Date.now());
      reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="gatehouse-events-${from}-${until}.csv"`)
        .header('cache-control', 'no-store');
      // Pulled one page at a time as the socket drains: constant memory for any export size.
      return reply.send(Readable.from(csvChunks(store, role, query, timeZone), { objectMode: false }));
    },
  );

  // Live updates: server-sent events of stored events (`event`, with `id: <seq>`) and door state
  // (`door`). Resumes from the log after a reconnect; lives only as long as its session (guards.streams
  // ends it at logout, expiry, or when its user is removed) and is capped per session, per user and in
  // total.
  api.get(
    '/stream',
    { config: { roles: ANY_STAFF }, schema: { querystring: StreamQuery } },
    async (request, reply) => {
      const staff = request.staff!;
      const role = staff.role;
      const token = request.sessionToken;
      const header = request.headers['last-event-id'];
      const resumeText = (Array.isArray(header) ? header[0] : header)?.trim() || request.query.lastEventId;
      if (resumeText !== undefined && !/^[0-9]{1,15}$/.test(resumeText)) {
        return reply.code(400).send({ error: 'Last-Event-ID must be an event seq', code: 'invalid' });
      }
      const owner = {};
      const res = reply.raw;
      let keepAlive: NodeJS.Timeout | undefined;
      let release: (() => void) | null = null;
      let closed = false;
      const cleanup = () => {
        closed = true;
        clearInterval(keepAlive);
        deps.bus.removeAll(owner);
        release?.();
      };
      const opened = guards.streams.open({
        session: token ?? 'local',
        userId: staff.id,
        alive: () => {
          if (token === null) return true; // control socket: whoever holds it owns the hub
          const user = store.users.sessionUser(token);
          return user !== null && user.id === staff.id && ANY_STAFF.includes(user.role);
        },
        // Stop listening first: the bus event that ended the session must not be written after the end.
        end: () => {
          cleanup();
          res.end();
        },
      });
      if ('refused' in opened) return reply.code(429).send({ error: opened.refused });
      release = opened.release;
      reply.hijack();
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });

      const drop = (why: string) => {
        if (closed) return;
        if (guards.refusals.allow('dropped slow streams'))
          request.log.warn(
            { user: staff.username, buffered: res.writableLength, why },
            'live stream dropped: the client is not reading (it resumes from the log when it reconnects)',
          );
        cleanup();
        res.destroy();
      };
      // Backpressure: while the socket's buffer is full the stream pauses and keeps no backlog of its
      // own: the events wait in the log and are read from it after the cursor once the socket drains.
      let pausedAt: number | null = null;
      const waitingDoors = new Map<string, DoorStatus>();
      // Above the socket's own high-water mark, so a write has returned false and 'drain' will come.
      const pauseAt = Math.max(STREAM_PAUSE_AT, res.writableHighWaterMark);
      const write = (text: string) => {
        if (closed || res.writableEnded) return;
        res.write(text);
        if (res.writableLength > STREAM_MAX_BUFFERED) drop('write buffer over the limit');
        else if (res.writableLength > pauseAt && pausedAt === null) {
          pausedAt = Date.now();
          res.once('drain', resume);
        }
      };
      const send = (type: string, data: unknown, id?: number) => {
        if (closed) return;
        write(`${id === undefined ? '' : `id: ${id}\n`}event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
      };

      // Every event up to `cursor` has been sent or is not visible to this role. Events go out in seq
      // order, each once: the next one straight from the bus; anything else (a replay, a commit by the
      // CLI seen late, what waited during a pause) read from the log after the cursor.
      const scopes = eventScopes(role);
      let cursor = 0;
      const sendEvent = (event: HubEvent) => {
        const seen = visibleEvent(role, event);
        if (seen) send('event', seen, event.seq);
      };
      const catchUp = (upTo: number) => {
        while (!closed && pausedAt === null && cursor < upTo) {
          const batch = store.events.list({
            afterSeq: cursor,
            throughSeq: upTo,
            oldestFirst: true,
            limit: CATCH_UP_PAGE,
            ...(scopes === null ? {} : { typeScopes: scopes }),
          });
          for (const event of batch) {
            if (closed || pausedAt !== null) return;
            sendEvent(event);
            cursor = event.seq;
          }
          if (batch.length < CATCH_UP_PAGE && pausedAt === null) cursor = upTo;
        }
      };
      function resume(): void {
        pausedAt = null;
        for (const status of waitingDoors.values()) send('door', status);
        waitingDoors.clear();
        catchUp(store.events.lastSeq());
      }
      const reset = (lastSeq: number) => {
        cursor = lastSeq;
        send('reset', { lastSeq }, lastSeq);
      };

      // Subscribe first: events stored from here on reach the listener; the replay below is synchronous,
      // so nothing is stored in between, and the cursor drops anything the replay already sent.
      deps.bus.on(owner, 'event', (event) => {
        if (closed || event.seq <= cursor) return;
        if (pausedAt !== null) {
          // Further behind than a reconnect would replay: it would get a reset anyway.
          if (event.seq - cursor > STREAM_REPLAY_MAX) drop('too far behind');
          return;
        }
        if (event.seq === cursor + 1) {
          cursor = event.seq;
          sendEvent(event);
        } else catchUp(Math.max(event.seq, store.events.lastSeq()));
      });
      deps.bus.on(owner, 'doorStatus', (status) => {
        const seen = visibleDoorStatus(role, status);
        if (!seen) return;
        if (pausedAt === null) send('door', seen);
        else waitingDoors.set(seen.doorId, seen); // only the latest state of each door matters
      });
      keepAlive = setInterval(() => {
        if (pausedAt === null) write(': keep-alive\n\n');
        else if (Date.now() - pausedAt > STREAM_STALL_MS) drop('not reading');
      }, KEEP_ALIVE_MS);
      res.on('close', cleanup);
      res.on('error', cleanup); // a dead client is not a hub error

      const lastSeq = store.events.lastSeq();
      send('hello', { status: deps.status(), lastSeq });
      if (resumeText === undefined) {
        cursor = lastSeq;
        return;
      }
      const resumeFrom = Number(resumeText);
      if (resumeFrom > lastSeq) {
        reset(lastSeq); // a log this client never saw (restored from a backup): start over
        return;
      }
      const missed = store.events.list({
        afterSeq: resumeFrom,
        throughSeq: lastSeq,
        oldestFirst: true,
        limit: STREAM_REPLAY_MAX + 1,
        ...(scopes === null ? {} : { typeScopes: scopes }),
      });
      if (missed.length > STREAM_REPLAY_MAX) {
        reset(lastSeq);
        return;
      }
      cursor = resumeFrom;
      catchUp(lastSeq);
    },
  );
}
