// JSON API v1, the routes that are not commands: health, status, first-run setup, login, simulated doors
// (the event log and the live stream are in events.ts). Every change is a command (hub/http/commands.ts
// generates its route).
// Schemas on every body/param/query so bad input is refused with a clear 400 before any handler runs.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { Id } from '../commands/schemas.js';
import type { StaffRole } from '../domain.js';
import { commandsFor } from './commands.js';
import { type HttpDeps, type HttpGuards, SESSION_COOKIE } from './deps.js';
import { registerEventRoutes } from './events.js';
import { foreignPageRefusal } from './origin.js';

const ANY: StaffRole[] = ['admin', 'staff', 'installer'];

const Login = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 64 }),
    password: Type.String({ minLength: 1, maxLength: 256 }),
  },
  { additionalProperties: false },
);
const Setup = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 64 }),
    password: Type.String({ minLength: 1, maxLength: 256 }),
    setupToken: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  },
  { additionalProperties: false },
);

export async function registerApiRoutes(
  root: FastifyInstance,
  deps: HttpDeps,
  guards: HttpGuards,
): Promise<void> {
  const { store } = deps;
  // Bodies, params and queries are typed by their schemas: no casts.
  const api = root.withTypeProvider<TypeBoxTypeProvider>();

  // Public and minimal (Docker HEALTHCHECK, the systemd watchdog, load balancers; docs/monitoring.md): one
  // word per part, no person data; 503 when failing. The details need a login (/status).
  api.get(
    '/health',
    { config: { rateLimit: { max: 300, timeWindow: '1 minute' } } },
    async (_request, reply) => {
      if (!deps.health) {
        const { version, uptimeS } = deps.status();
        return { status: 'ok', version, uptimeS };
      }
      const report = deps.health();
      return reply.code(report.status === 'failing' ? 503 : 200).send(report);
    },
  );

  api.get('/status', { config: { roles: ANY } }, async () => ({ status: 'ok', ...deps.status() }));

  // Login CSRF: login and setup need no cookie, so the cookie check does not cover them; a foreign page
  // posting a form here would log the victim's browser in as the attacker (who then sees what they do).
  // Tools send neither Sec-Fetch-Site nor Origin and are not affected.
  const ownPagesOnly = async (request: FastifyRequest, reply: FastifyReply) => {
    if (deps.localAdmin) return;
    const refusal = foreignPageRefusal(request);
    if (!refusal) return;
    if (guards.refusals.allow('cross-site logins')) {
      request.log.warn({ ip: request.ip, url: request.url }, `login or setup from another site refused`);
    }
    return reply.code(403).send({ error: refusal, code: 'forbidden' });
  };

  // First-run setup: creates the first admin, only while no staff user exists, and only with the setup
  // token from the hub's log or data directory (the control socket needs none: it owns the data dir).
  api.post(
    '/setup',
    {
      schema: { body: Setup },
      config: { rateLimit: { max: 5, timeWindow: '1 minute' } },
      onRequest: ownPagesOnly,
    },
    async (request, reply) => {
      const done = () => {
        guards.setupToken?.retire();
        return reply.code(409).send({ error: 'setup is already done: log in instead' });
      };
      if (store.users.count() > 0) return done();
      const { username, password, setupToken } = request.body;
      if (!deps.localAdmin && !guards.setupToken?.matches(setupToken)) {
        if (guards.refusals.allow('refused setups')) {
          request.log.warn({ ip: request.ip }, 'first-run setup refused: missing or wrong setup token');
        }
        return reply.code(403).send({
          error:
            'first-run setup needs the setup token printed in the hub log at start (also in the file ' +
            "'setup-token' in the data directory), or use `npx gatehouse user add <name> --role admin` on the hub",
        });
      }
      let user: { id: string; username: string; role: string };
      try {
        user = await store.users.addFirstAdmin(username, password);
      } catch (err) {
        if ((err as { code?: string }).code === 'conflict') return done();
        throw err;
      }
      guards.setupToken?.retire();
      request.log.info({ username: user.username }, 'first-run setup done: first admin created');
      return reply.code(201).send({ user: { id: user.id, username: user.username, role: user.role } });
    },
  );

  api.post(
    '/session',
    {
      schema: { body: Login },
      config: { rateLimit: { max: 10, timeWindow: '1 minute' } },
      onRequest: ownPagesOnly,
    },
    async (request, reply) => {
      const { username, password } = request.body;
      const address = request.ip || 'local-socket';
      if (!deps.localAdmin) {
        const waitS = guards.login.admit(username, address);
        if (waitS !== null) {
          if (guards.refusals.allow(`slowed logins for ${username.toLowerCase()}`)) {
            request.log.warn({ username, ip: address }, 'login attempts for this user are being slowed down');
          }
          reply.header('retry-after', String(waitS));
          return reply
            .code(429)
            .send({ error: `too many login attempts for this user; try again in ${waitS} s` });
        }
      }
      const user = await store.users.verify(username, password);
      if (!user) return reply.code(401).send({ error: 'wrong username or password' });
      guards.login.succeeded(username, address);
      const ttlMs = deps.sessionHours * 3_600_000;
      const token = store.users.createSession(user.id, ttlMs);
      reply.setCookie(SESSION_COOKIE, token, {
        path: '/',
        httpOnly: true,
        sameSite: 'strict',
        secure: deps.secure,
        maxAge: ttlMs / 1000,
      });
      return { token, user: { id: user.id, username: user.username, role: user.role } };
    },
  );

  api.delete('/session', { config: { roles: ANY } }, async (request, reply) => {
    const token = request.sessionToken;
    if (token) {
      store.users.deleteSession(token);
      guards.streams.endSession(token);
    }
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return { ok: true };
  });

  // `may`: the commands this role may run, so the UI hides what the API would refuse.
  api.get('/me', { config: { roles: ANY } }, async (request) => ({
    user: request.staff,
    may: commandsFor(deps.commands, request.staff!.role),
  }));

  // Simulated doors: what a person at the door would do, for rehearsals and demos.
  api.post(
    '/sim/doors/:id/:action',
    {
      config: { roles: ANY },
      schema: {
        params: Type.Object({
          id: Id,
          action: Type.Enum(['card', 'code', 'open', 'close', 'rex']),
        }),
        body: Type.Optional(
          Type.Object(
            { value: Type.Optional(Type.String({ maxLength: 80 })) },
            { additionalProperties: false },
          ),
        ),
      },
    },
    async (request, reply) => {
      const { id, action } = request.params;
      const value = request.body?.value;
      if (!deps.sim) return reply.code(404).send({ error: 'no simulated doors' });
      if (action === 'card' || action === 'code') {
        if (!value) return reply.code(400).send({ error: 'value is required' });
        const decision = deps.sim.present(id, action === 'card' ? 'card' : 'keypad', value);
        if (!decision) return reply.code(404).send({ error: `door '${id}' is not a simulated door` });
        return { decision: { granted: decision.granted, reason: decision.reason } };
      }
      if (!deps.sim.act(id, action))
        return reply.code(404).send({ error: `door '${id}' is not a simulated door` });
      return { ok: true };
    },
  );

  // The event log, its CSV export and the live stream (hub/http/events.ts).
  await registerEventRoutes(root, deps, guards);
}
