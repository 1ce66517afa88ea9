// The fastify app as a plugin-free builder, so tests build the same app and use inject().
// Every route but health, login and first-run setup needs a staff session with the right role.
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { Summarizer } from '../budget.js';
import type { Decision, EventBus } from '../bus.js';
import type { Commands } from '../commands/command.js';
import type { StaffRole } from '../domain.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/store.js';
import {
  DEFAULT_LOGIN_LIMITS,
  DEFAULT_STREAM_LIMITS,
  LoginLimiter,
  type LoginLimits,
  type StreamLimits,
  StreamRegistry,
} from './limits.js';
import { registerApiRoutes } from './routes.js';
import type { SetupToken } from './setup-token.js';

export const SESSION_COOKIE = 'gatehouse_session';

const STORE_ERROR_STATUS: Record<string, number> = {
  invalid: 400,
  not_found: 404,
  conflict: 409,
  in_use: 409,
  unavailable: 503, // the disk is full: the change was not saved (docs/outages.md)
};

export interface HttpDeps {
  store: Store;
  bus: EventBus;
  commands: Commands;
  /** Snapshot for /health and the UI header: broker ports, doors, cloud link. */
  status: () => Record<string, unknown>;
  /** Simulated doors, for rehearsals and demos; null when none. */
  sim?: SimControl;
  sessionHours: number;
  /** Cookies get the Secure flag on the HTTPS listener. */
  secure: boolean;
  /**
   * The local control socket (data/hub.sock, mode 0600): whoever can open it already owns the data
   * directory, so its requests act as the built-in admin 'local'. Used by the CLI.
   */
  localAdmin?: boolean;
  /** State shared by all listeners of one hub (built by HttpServer; defaults for a lone app). */
  guards?: HttpGuards;
  /** Routes of other parts (mobile keys, door sync), registered under /api/v1 with the same auth. */
  routes?: Array<(api: FastifyInstance) => Promise<void>>;
  logger: Logger;
}

/** Budgets and first-run state that the HTTP, HTTPS and control-socket apps share. */
export interface HttpGuards {
  streams: StreamRegistry;
  login: LoginLimiter;
  /** The first-run setup token; null when none is active (setup over the network is then refused). */
  setupToken: SetupToken | null;
  /** Refused setups and slowed-down logins are logged a few times a minute per key, then summarised. */
  refusals: Summarizer;
}

export function createGuards(
  limits: { streams?: StreamLimits; login?: LoginLimits } = {},
  setupToken: SetupToken | null = null,
  logger?: Logger,
): HttpGuards {
  return {
    streams: new StreamRegistry(limits.streams ?? DEFAULT_STREAM_LIMITS),
    login: new LoginLimiter(limits.login ?? DEFAULT_LOGIN_LIMITS),
    setupToken,
    refusals: new Summarizer({
      perWindow: 5,
      onSuppressed: ({ key, suppressed }) =>
        logger?.warn({ key, suppressed }, `…and ${suppressed} more ${key} in the last minute`),
    }),
  };
}

export interface SimControl {
  /** Present a card/code at a simulated door; null when the door is not simulated. */
  present(doorId: string, kind: 'card' | 'keypad', value: string): Decision | null;
  act(doorId: string, action: 'open' | 'close' | 'rex'): boolean;
}

export interface StaffIdentity {
  id: string;
  username: string;
  role: StaffRole;
}

declare module 'fastify' {
  interface FastifyRequest {
    staff: StaffIdentity | null;
    /** The session token the request was authenticated with (null on the control socket). */
    sessionToken: string | null;
  }
  interface FastifyContextConfig {
    /** Roles allowed on this route; absent = public. */
    roles?: StaffRole[];
  }
}

function bearerFrom(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Cross-site request forgery: a browser sends the session cookie with any request to the hub, even one a
 * foreign page makes, so a state-changing request authenticated by the cookie must come from the hub's
 * own pages. Browsers say so in Sec-Fetch-Site, or in Origin. A request without either is not from a
 * browser page, and a non-browser client must use a bearer token (which no foreign page can attach).
 */
function crossSiteRefusal(request: FastifyRequest): string | null {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined) {
    return site === 'same-origin'
      ? null
      : `cross-site request refused (Sec-Fetch-Site: ${site.slice(0, 20)})`;
  }
  const origin = request.headers.origin;
  if (origin === undefined) {
    return 'a state-changing request with a session cookie needs an Origin header; scripts and tools use the bearer token instead';
  }
  const own = `${request.protocol}://${request.headers.host ?? ''}`;
  return origin === own ? null : 'cross-site request refused (Origin does not match the hub)';
}

export async function buildHttpApp(
  deps: HttpDeps,
  tls?: { keyPem: string; certPem: string },
): Promise<FastifyInstance> {
  const app = Fastify({
    ...(tls ? { https: { key: tls.keyPem, cert: tls.certPem } } : {}),
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Request lines would wear out an SD card; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 64 * 1024,
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  });
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  const guards = deps.guards ?? createGuards({}, null, deps.logger);

  await app.register(cookie);
  // Requests on the control socket have no IP address; they share one bucket.
  await app.register(rateLimit, { global: false, keyGenerator: (request) => request.ip || 'local-socket' });

  app.decorateRequest('staff', null);
  app.decorateRequest('sessionToken', null);
  app.addHook('onRequest', async (request, reply) => {
    const roles = request.routeOptions.config.roles;
    if (!roles) return;
    if (deps.localAdmin) {
      request.staff = { id: 'local', username: 'local', role: 'admin' };
      return;
    }
    const bearer = bearerFrom(request);
    const token = bearer ?? request.cookies[SESSION_COOKIE];
    const staff = token ? deps.store.users.sessionUser(token) : null;
    if (!staff) return reply.code(401).send({ error: 'login required' });
    if (bearer === undefined && !SAFE_METHODS.has(request.method)) {
      const refusal = crossSiteRefusal(request);
      if (refusal) return reply.code(403).send({ error: refusal });
    }
    if (!roles.includes(staff.role)) {
      return reply.code(403).send({ error: `role '${staff.role}' may not do this` });
    }
    request.staff = staff;
    request.sessionToken = token!;
  });

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    const status =
      error.statusCode ?? (error.name === 'StoreError' ? (STORE_ERROR_STATUS[error.code ?? ''] ?? 400) : 500);
    // Per address and summarised: a flood of bad requests must not become a flood of log lines.
    if (status >= 500) {
      if (guards.refusals.allow(`failed requests from ${request.ip}`)) {
        request.log.error({ err: error, url: request.url }, 'request failed');
      }
    } else if (guards.refusals.allow(`refused requests from ${request.ip}`)) {
      request.log.info({ url: request.url, status, error: error.message }, 'request refused');
    }
    // A StoreError's message is written for the operator (e.g. 'the disk is full: … NOT saved').
    reply
      .code(status)
      .send({ error: status >= 500 && error.name !== 'StoreError' ? 'internal error' : error.message });
  });
  app.setNotFoundHandler(
    { preHandler: app.rateLimit({ max: 60, timeWindow: '1 minute' }) },
    (_request: FastifyRequest, reply: FastifyReply) => reply.code(404).send({ error: 'not found' }),
  );

  await app.register(
    async (api) => {
      await registerApiRoutes(api, deps, guards);
      for (const register of deps.routes ?? []) await register(api);
    },
    { prefix: '/api/v1' },
  );
  return app;
}
