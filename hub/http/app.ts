// The fastify app as a plugin-free builder, so tests build the same app and use inject().
// Every route but health, login and first-run setup needs a staff session with the right role.
import cookie from '@fastify/cookie';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { toCommandError } from '../commands/command.js';
import { registerMetricsRoute } from '../metrics/index.js';
import { registerCommandRoutes } from './commands.js';
import { ACTOR_HEADER, ANY_STAFF, cliActor, createGuards, type HttpDeps, SESSION_COOKIE } from './deps.js';
import { registerFlowsProxy } from './flows-proxy.js';
import { cookieRequestRefusal } from './origin.js';
import { registerApiRoutes } from './routes.js';
import { helmetOptions } from './security-headers.js';
import { defaultUiDir, registerUi, type UiFallback } from './static.js';
import { refuseBadJsonAsInvalid, schemaValidator } from './validation.js';

export {
  createGuards,
  type HttpDeps,
  type HttpGuards,
  SESSION_COOKIE,
  type SimControl,
  type StaffIdentity,
} from './deps.js';

function bearerFrom(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

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
  app.setValidatorCompiler(schemaValidator);
  refuseBadJsonAsInvalid(app);
  const guards = deps.guards ?? createGuards({}, null, deps.logger);

  await app.register(cookie);
  await app.register(helmet, helmetOptions(tls !== undefined));
  // Requests on the control socket have no IP address; they share one bucket.
  await app.register(rateLimit, { global: false, keyGenerator: (request) => request.ip || 'local-socket' });

  app.decorateRequest('staff', null);
  app.decorateRequest('sessionToken', null);
  app.decorateRequest('caller', null);
  app.addHook('onRequest', async (request, reply) => {
    const roles = request.routeOptions.config.roles;
    if (!roles) return;
    if (deps.localAdmin) {
      request.staff = { id: 'local', username: 'local', role: 'admin' };
      request.caller = { actor: cliActor(request.headers[ACTOR_HEADER]), role: 'admin' };
      return;
    }
    const bearer = bearerFrom(request);
    const token = bearer ?? request.cookies[SESSION_COOKIE];
    const staff = token ? deps.store.users.sessionUser(token) : null;
    if (!staff) return reply.code(401).send({ error: 'login required', code: 'unauthenticated' });
    if (bearer === undefined && !SAFE_METHODS.has(request.method)) {
      const refusal = cookieRequestRefusal(request);
      if (refusal) return reply.code(403).send({ error: refusal, code: 'forbidden' });
    }
    if (!roles.includes(staff.role)) {
      return reply.code(403).send({ error: `role '${staff.role}' may not do this`, code: 'forbidden' });
    }
    request.staff = staff;
    request.sessionToken = token!;
    request.caller = { actor: `user:${staff.username}`, role: staff.role };
  });

  app.setErrorHandler((error: Error & { statusCode?: number; validation?: unknown }, request, reply) => {
    // Command and store refusals carry a message written for the operator (e.g. 'the disk is full: …
    // NOT saved') and a stable code; schema failures are 'invalid' like the command layer's own check.
    const refusal = toCommandError(error);
    const status = refusal?.statusCode ?? error.statusCode ?? 500;
    // Per address and summarised: a flood of bad requests must not become a flood of log lines.
    if (status >= 500) {
      if (guards.refusals.allow(`failed requests from ${request.ip}`)) {
        request.log.error({ err: error, url: request.url }, 'request failed');
      }
    } else if (guards.refusals.allow(`refused requests from ${request.ip}`)) {
      request.log.info({ url: request.url, status, error: error.message }, 'request refused');
    }
    if (refusal) return reply.code(status).send({ error: refusal.message, code: refusal.code });
    if (error.validation !== undefined)
      return reply.code(status).send({ error: error.message, code: 'invalid' });
    return reply.code(status).send({ error: status >= 500 ? 'internal error' : error.message });
  });
  // The web UI on the network listeners (the control socket is for the CLI). A page of the UI that is
  // not a file (a reload of /people/ada) is answered with index.html, outside the 404 budget.
  let ui: UiFallback | null = null;
  if (!deps.localAdmin) {
    ui = await registerUi(app, { uiDir: deps.uiDir ?? defaultUiDir(), caCertPem: deps.caCertPem ?? null });
    // The Node-RED editor behind the staff login (docs/http-api.md "The flow editor").
    await registerFlowsProxy(app, deps, guards);
  }
  app.setNotFoundHandler(
    {
      preHandler: app.rateLimit({
        max: 60,
        timeWindow: '1 minute',
        allowList: (request) => ui?.isPage(request) ?? false,
      }),
    },
    (request: FastifyRequest, reply: FastifyReply) =>
      ui?.isPage(request) ? ui.page(reply) : reply.code(404).send({ error: 'not found' }),
  );

  // Prometheus scrapes on the network listeners (docs/monitoring.md).
  if (deps.metrics && !deps.localAdmin) registerMetricsRoute(app, deps.metrics, guards.refusals);

  // The OpenAPI document of every /api/v1 route, built from the route schemas (docs/http-api.md).
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Gatehouse hub API',
        version: '1',
        description:
          'Staff API of one Gatehouse hub. Log in with POST /api/v1/session; send the token as a bearer.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  app.get('/api/docs', { config: { roles: ANY_STAFF }, schema: { hide: true } }, async () => app.swagger());

  await app.register(
    async (api) => {
      await registerApiRoutes(api, deps, guards);
      registerCommandRoutes(api, deps.commands, guards.commandCalls);
      for (const register of deps.routes ?? []) await register(api);
    },
    { prefix: '/api/v1' },
  );
  return app;
}
