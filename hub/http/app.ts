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
import type { HubActions } from '../actions.js';
import type { Decision, EventBus } from '../bus.js';
import type { StaffRole } from '../domain.js';
import type { Logger } from '../logger.js';
import type { Store } from '../store/store.js';
import { registerApiRoutes } from './routes.js';

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
  actions: HubActions;
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
  /** Routes of other parts (mobile keys, door sync), registered under /api/v1 with the same auth. */
  routes?: Array<(api: FastifyInstance) => Promise<void>>;
  logger: Logger;
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
  }
  interface FastifyContextConfig {
    /** Roles allowed on this route; absent = public. */
    roles?: StaffRole[];
  }
}

function tokenFrom(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header?.startsWith('Bearer ')) return header.slice(7).trim();
  return request.cookies[SESSION_COOKIE];
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

  await app.register(cookie);
  // Requests on the control socket have no IP address; they share one bucket.
  await app.register(rateLimit, { global: false, keyGenerator: (request) => request.ip || 'local-socket' });

  app.decorateRequest('staff', null);
  app.addHook('onRequest', async (request, reply) => {
    const roles = request.routeOptions.config.roles;
    if (!roles) return;
    if (deps.localAdmin) {
      request.staff = { id: 'local', username: 'local', role: 'admin' };
      return;
    }
    const token = tokenFrom(request);
    const staff = token ? deps.store.users.sessionUser(token) : null;
    if (!staff) return reply.code(401).send({ error: 'login required' });
    if (!roles.includes(staff.role)) {
      return reply.code(403).send({ error: `role '${staff.role}' may not do this` });
    }
    request.staff = staff;
  });

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    const status =
      error.statusCode ?? (error.name === 'StoreError' ? (STORE_ERROR_STATUS[error.code ?? ''] ?? 400) : 500);
    if (status >= 500) request.log.error({ err: error, url: request.url }, 'request failed');
    else request.log.info({ url: request.url, status, error: error.message }, 'request refused');
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
      await registerApiRoutes(api, deps);
      for (const register of deps.routes ?? []) await register(api);
    },
    { prefix: '/api/v1' },
  );
  return app;
}
