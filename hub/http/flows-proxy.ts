// The Node-RED editor and admin API behind the hub's login (docs/http-api.md "The flow editor"): /flows/*
// on the HTTP and HTTPS listeners is forwarded, HTTP and the editor's WebSocket alike, to the supervised
// Node-RED on 127.0.0.1 (hub/nodered/), for signed-in installers and admins only. The proxy adds the
// token Node-RED's adminAuth wants (hub/nodered/target.ts) and strips what only the hub may see: the
// session cookie, the bearer token and any client-sent copy of the token header. So the local port is
// useless without the token, and the token never reaches a browser.
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyHelmetOptions } from '@fastify/helmet';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { KeyedBuckets } from '../budget.js';
import type { StaffRole } from '../domain.js';
import type { NodeRedTarget } from '../nodered/target.js';
import { type HttpDeps, type HttpGuards, SESSION_COOKIE, type StaffIdentity } from './deps.js';
import { cookieRequestRefusal } from './origin.js';
import { helmetOptions } from './security-headers.js';

/** Where the editor lives, on the hub and on Node-RED alike (its httpAdminRoot). */
export const FLOWS_PREFIX = '/flows';
/** The roles that may open the editor: flows can unlock doors, so not the front-desk staff role. */
export const FLOWS_ROLES: readonly StaffRole[] = ['installer', 'admin'];

/**
 * A deploy of a large building's flows is a few hundred KB of JSON; Node-RED's own limit
 * (apiMaxLength) is 5 MB. Bodies are streamed through, so the bound is checked on Content-Length.
 */
export const FLOWS_BODY_LIMIT_BYTES = 5 * 1024 * 1024;
/**
 * Requests one session may send to the editor: opening it loads a few hundred files and icons at once
 * (the burst); working in it is a few requests a second. Beyond it, 429 with Retry-After.
 */
export const FLOWS_REQUESTS_PER_SECOND = 50;
export const FLOWS_REQUEST_BURST = 600;
/** Refused requests (not signed in, wrong role) per address: a scanner gets 429 instead of a lookup each. */
const REFUSALS_PER_SECOND = 5;
const REFUSAL_BURST = 60;
/** Sessions and addresses tracked at once; beyond it the oldest start again with a full bucket. */
const MAX_KEYS = 1_000;
/** A proxied request whose answer has not started after this long is answered 504. */
const UPSTREAM_TIMEOUT_MS = 20_000;
/** The editor's messages to Node-RED are small JSON; Node-RED's to the editor carry debug output. */
const WS_MAX_FROM_BROWSER_BYTES = 1024 * 1024;
const WS_MAX_FROM_NODE_RED_BYTES = 8 * 1024 * 1024;

/**
 * The editor's own Content-Security-Policy, on /flows/* only. Node-RED's editor defines every node type
 * in an inline <script> it loads at run time, styles elements inline and runs the code editor's workers
 * from blob: URLs, so the hub's strict policy would break it. Everything still comes from the hub itself
 * (connect-src 'self' covers the comms WebSocket on the same host and port) and nothing may frame it.
 */
export function editorHelmetOptions(https: boolean): FastifyHelmetOptions {
  return {
    ...helmetOptions(https),
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'self'"],
        'script-src': ["'self'", "'unsafe-inline'", "'unsafe-eval'"],
        'style-src': ["'self'", "'unsafe-inline'"],
        'img-src': ["'self'", 'data:', 'blob:'],
        'font-src': ["'self'", 'data:'],
        'connect-src': ["'self'"],
        'worker-src': ["'self'", 'blob:'],
        'object-src': ["'none'"],
        'base-uri': ["'self'"],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
        ...(https ? { 'upgrade-insecure-requests': [] } : {}),
      },
    },
  };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

interface Admitted {
  target: NodeRedTarget;
  staff: StaffIdentity;
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function isUpgrade(request: FastifyRequest): boolean {
  return (request.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

/** A browser asking for a page (a click on "Flows", a reload), not a script or the editor's own XHR. */
function isPageNavigation(request: FastifyRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  if (isUpgrade(request)) return false;
  const accept = request.headers.accept ?? '';
  return accept.split(',').some((part) => part.split(';')[0]!.trim().toLowerCase() === 'text/html');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A short page for a person in a browser, or the usual JSON error for anything else. */
function refuse(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
): FastifyReply {
  reply.code(status).header('cache-control', 'no-store');
  if (!isPageNavigation(request)) return reply.send({ error: message, code });
  const page =
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Gatehouse: flow editor</title>' +
    '<meta name="viewport" content="width=device-width, initial-scale=1"></head><body>' +
    `<h1>Flow editor</h1><p>${escapeHtml(message)}</p><p><a href="/">Back to the Gatehouse app</a></p>` +
    '</body></html>';
  return reply.header('content-type', 'text/html; charset=utf-8').send(page);
}

function bearerFrom(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
}

/** The Cookie header without the hub's session cookie (Node-RED has no use for it); undefined if empty. */
function withoutSessionCookie(cookie: string | undefined): string | undefined {
  if (!cookie) return undefined;
  const kept = cookie
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part.length > 0 && part.split('=')[0]!.trim() !== SESSION_COOKIE);
  return kept.length > 0 ? kept.join('; ') : undefined;
}

/** The headers Node-RED gets: the client's, minus the hub's credentials and any forged token, plus ours. */
function forwardedHeaders(headers: IncomingHttpHeaders, target: NodeRedTarget): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = { ...headers };
  const header = target.header.toLowerCase();
  delete out.authorization;
  delete out[header];
  delete out['x-gatehouse-actor'];
  const cookie = withoutSessionCookie(headers.cookie);
  if (cookie === undefined) delete out.cookie;
  else out.cookie = cookie;
  out[header] = target.token;
  return out;
}

/**
 * Registers /flows and /flows/* on one listener's app. `deps.nodeRed` is read per request: Node-RED gets
 * a new port and token at every restart, and is null while it is not running (then 503).
 */
export async function registerFlowsProxy(
  app: FastifyInstance,
  deps: HttpDeps,
  guards: HttpGuards,
): Promise<void> {
  // Keyed by the request object: the proxy's callbacks see a differently-typed view of the same request.
  const admitted = new WeakMap<object, Admitted>();
  const perSession = new KeyedBuckets({
    ratePerSecond: FLOWS_REQUESTS_PER_SECOND,
    burst: FLOWS_REQUEST_BURST,
    maxKeys: MAX_KEYS,
  });
  const refusedPerAddress = new KeyedBuckets({
    ratePerSecond: REFUSALS_PER_SECOND,
    burst: REFUSAL_BURST,
    maxKeys: MAX_KEYS,
  });
  const logRefusal = (request: FastifyRequest, status: number, why: string) => {
    if (guards.refusals.allow(`refused flow editor requests from ${request.ip}`)) {
      request.log.info(
        { url: pathOf(request.url).slice(0, 200), status, error: why },
        'flow editor request refused',
      );
    }
  };
  const refused = (
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    code: string,
    why: string,
  ) => {
    logRefusal(request, status, why);
    return refuse(request, reply, status, code, why);
  };

  async function guard(request: FastifyRequest, reply: FastifyReply) {
    const path = pathOf(request.url);
    // The editor's pages use relative links: they only work under /flows/.
    if (
      path === FLOWS_PREFIX &&
      (request.method === 'GET' || request.method === 'HEAD') &&
      !isUpgrade(request)
    ) {
      const query = request.url.slice(path.length);
      return reply.code(308).header('location', `${FLOWS_PREFIX}/${query}`).send();
    }
    const bearer = bearerFrom(request);
    const token = bearer ?? request.cookies[SESSION_COOKIE];
    const staff = token ? deps.store.users.sessionUser(token) : null;
    if (!staff || !token || !FLOWS_ROLES.includes(staff.role)) {
      const waitMs = refusedPerAddress.take(request.ip || 'local');
      if (waitMs > 0) {
        reply.header('retry-after', String(Math.ceil(waitMs / 1000)));
        return refused(request, reply, 429, 'rate_limited', 'too many refused requests; try again later');
      }
    }
    if (!staff || !token) {
      if (isPageNavigation(request)) {
        // Sign in on the app's own page, which brings the browser back here (ui/src/app.tsx).
        const next = encodeURIComponent(request.url.slice(0, 1000));
        return reply
          .code(302)
          .header('cache-control', 'no-store')
          .header('location', `/login?next=${next}`)
          .send();
      }
      return refused(request, reply, 401, 'unauthenticated', 'login required');
    }
    if (!FLOWS_ROLES.includes(staff.role)) {
      return refused(
        request,
        reply,
        403,
        'forbidden',
        `the flow editor is for installers and admins; role '${staff.role}' may not open it`,
      );
    }
    // A foreign page must not deploy flows with an installer's cookie, nor open the editor's WebSocket
    // with it (browsers send the cookie on a cross-site WebSocket and leave the Origin check to us).
    if (bearer === undefined && (!SAFE_METHODS.has(request.method) || isUpgrade(request))) {
      const refusal = cookieRequestRefusal(request);
      if (refusal) return refused(request, reply, 403, 'forbidden', refusal);
    }
    const waitMs = perSession.take(token);
    if (waitMs > 0) {
      reply.header('retry-after', String(Math.ceil(waitMs / 1000)));
      return refused(request, reply, 429, 'rate_limited', 'too many requests to the flow editor; slow down');
    }
    // Bodies are streamed to Node-RED, past fastify's own limit: bound them by their declared length
    // (Node's parser holds the body to it). A body without one (chunked) is refused.
    const length = request.headers['content-length'];
    if (length !== undefined && !(Number(length) <= FLOWS_BODY_LIMIT_BYTES)) {
      return refused(
        request,
        reply,
        413,
        'too_large',
        `a request to the flow editor may carry at most ${FLOWS_BODY_LIMIT_BYTES / 1024 / 1024} MB`,
      );
    }
    if (length === undefined && request.headers['transfer-encoding'] !== undefined) {
      return refused(
        request,
        reply,
        411,
        'invalid',
        'a request body to the flow editor needs a Content-Length',
      );
    }
    const target = deps.nodeRed?.() ?? null;
    if (!target) {
      reply.header('retry-after', '5');
      return refused(request, reply, 503, 'unavailable', notRunningMessage(deps));
    }
    if (isUpgrade(request)) {
      // The editor's connection lives only as long as the session: logout, a disabled or re-roled user
      // or an expired session ends it (the same registry and caps as the live event stream).
      const socket = request.raw.socket;
      const opened = guards.streams.open({
        session: token,
        userId: staff.id,
        alive: () => {
          const now = deps.store.users.sessionUser(token);
          return now !== null && now.id === staff.id && FLOWS_ROLES.includes(now.role);
        },
        end: () => socket.destroy(),
      });
      if ('refused' in opened) return refused(request, reply, 429, 'rate_limited', opened.refused);
      socket.once('close', opened.release);
    }
    request.staff = staff;
    admitted.set(request, { target, staff });
  }

  const targetOf = (request: object): NodeRedTarget => {
    const entry = admitted.get(request);
    // The guard admitted every request that reaches the proxy; this is a bug, never a client's doing.
    if (!entry) throw new Error('flow editor request reached the proxy without the guard');
    return entry.target;
  };

  if (deps.nodeRed === undefined) {
    // Node-RED is switched off: the guard answers every request (login first, then 503 "switched off").
    await app.register(async (scope) => {
      scope.addHook('onRequest', guard);
      scope.all(FLOWS_PREFIX, async () => undefined);
      scope.all(`${FLOWS_PREFIX}/*`, async () => undefined);
    });
    return;
  }
  // Loaded only when Node-RED runs here: the proxy's HTTP client (undici) costs the hub several MiB.
  const { default: proxy } = await import('@fastify/http-proxy');
  await app.register(async (scope) => {
    scope.addHook('onRequest', guard);
    // Bodies go to Node-RED as they came (the proxy adds pass-through parsers), not through the API's JSON parser.
    scope.removeAllContentTypeParsers();
    await scope.register(proxy, {
      prefix: FLOWS_PREFIX,
      rewritePrefix: FLOWS_PREFIX,
      upstream: '',
      websocket: true,
      config: { helmet: editorHelmetOptions(deps.secure) },
      replyOptions: {
        getUpstream: (request) => targetOf(request).origin,
        rewriteRequestHeaders: (request, headers) => forwardedHeaders(headers, targetOf(request)),
        timeout: UPSTREAM_TIMEOUT_MS,
        onError: (reply, { error }) => {
          const cause = (error as Error & { cause?: { code?: string } }).cause;
          const status = (error as Error & { statusCode?: number }).statusCode ?? 502;
          // Node-RED went away between the check and the request (a restart): as if not running.
          if (cause?.code === 'ECONNREFUSED' || cause?.code === 'ECONNRESET' || status === 503) {
            reply.header('retry-after', '5');
            return void refused(
              reply.request as FastifyRequest,
              reply as FastifyReply,
              503,
              'unavailable',
              notRunningMessage(deps),
            );
          }
          if (status === 504) {
            return void refused(
              reply.request as FastifyRequest,
              reply as FastifyReply,
              504,
              'unavailable',
              'Node-RED did not answer in time',
            );
          }
          return void refused(
            reply.request as FastifyRequest,
            reply as FastifyReply,
            502,
            'unavailable',
            'Node-RED gave no usable answer',
          );
        },
      },
      wsServerOptions: { maxPayload: WS_MAX_FROM_BROWSER_BYTES },
      wsClientOptions: {
        maxPayload: WS_MAX_FROM_NODE_RED_BYTES,
        // The upgrade's headers are built here, not copied: only Node-RED's token goes upstream.
        rewriteRequestHeaders: (_headers: IncomingHttpHeaders, request: FastifyRequest) => {
          const target = targetOf(request);
          return { [target.header.toLowerCase()]: target.token };
        },
      } as Record<string, unknown>,
    });
  });
}

function notRunningMessage(deps: HttpDeps): string {
  let state: unknown;
  try {
    state = (deps.status().nodeRed as { state?: unknown } | undefined)?.state;
  } catch {
    state = undefined;
  }
  if (state === 'disabled' || deps.nodeRed === undefined) {
    return 'The flow editor is switched off on this hub (nodeRed.enabled in the configuration).';
  }
  const now = typeof state === 'string' ? ` (Node-RED is ${state})` : '';
  return `The flow editor is not running right now${now}. The hub restarts it by itself; try again in a minute, and see the health page if it stays down.`;
}
