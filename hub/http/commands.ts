// HTTP routes generated from the command table: one route per command at `def.http` under /api/v1,
// validated and typed by the command's input schema. Path parameters are fields of the input; the other
// fields are the JSON body (POST, PUT, DELETE) or the query string (GET). Listed at GET /api/docs.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Type, { type TObject } from 'typebox';
import type { KeyedBuckets } from '../budget.js';
import { type CommandDef, type Commands, routeParams } from '../commands/command.js';
import type { StaffRole } from '../domain.js';
import { ANY_STAFF } from './deps.js';

/** The staff roles that may call a command over HTTP; integration and cloud have other routes in. */
export function httpRoles(def: CommandDef): StaffRole[] {
  return ANY_STAFF.filter((role) => def.roles.includes(role));
}

/** The names of the commands a staff role may call over HTTP, sorted: GET /api/v1/me `may`. */
export function commandsFor(commands: Commands, role: StaffRole): string[] {
  return commands
    .list()
    .filter((def) => httpRoles(def).includes(role))
    .map((def) => def.name)
    .sort();
}

export interface CommandHttpSchema {
  params: TObject;
  /** The body (POST, PUT, DELETE) or the query string (GET): the input without the path parameters. */
  rest: TObject;
}

/** Splits a command's input into path parameters and the rest; throws for a table mistake. */
export function httpSchemaOf(def: CommandDef): CommandHttpSchema {
  const input = def.input;
  if (!Type.IsObject(input)) throw new Error(`command '${def.name}': input must be an object schema`);
  const names = routeParams(def.http.path);
  for (const name of names) {
    if (!(name in input.properties)) {
      throw new Error(`command '${def.name}': path parameter ':${name}' is not a field of its input`);
    }
    if (!input.required?.includes(name)) {
      throw new Error(`command '${def.name}': path parameter ':${name}' must be a required field`);
    }
  }
  // Pick and Omit drop the object's options; unknown fields stay refused as the command refuses them.
  const closed =
    'additionalProperties' in input && input.additionalProperties === false
      ? { additionalProperties: false }
      : {};
  return {
    params: Type.Object(Type.Pick(input, names).properties, closed),
    rest: Type.Object(Type.Omit(input, names).properties, closed),
  };
}

/**
 * Registers every command that a staff role may call; refusals become `{error, code}` (app.ts). Each
 * caller spends from its own budget (`calls`, per actor): over it, 429 and nothing runs.
 */
export function registerCommandRoutes(api: FastifyInstance, commands: Commands, calls: KeyedBuckets): void {
  const typed = api.withTypeProvider<TypeBoxTypeProvider>();
  for (const def of commands.list()) {
    const roles = httpRoles(def);
    if (roles.length === 0) continue;
    const { params, rest } = httpSchemaOf(def);
    const noun = def.name.split('.')[0]!;
    const docs = {
      summary: def.summary,
      operationId: def.name,
      tags: [noun],
      description: `Command \`${def.name}\`. Roles: ${roles.join(', ')}.`,
      security: [{ bearer: [] }],
    };
    const status = def.http.status ?? 200;
    // The onRequest guard (app.ts) admitted only a caller with one of the route's roles.
    const run = async (input: Record<string, unknown>, request: FastifyRequest, reply: FastifyReply) => {
      const waitMs = calls.take(request.caller!.actor);
      if (waitMs > 0) {
        reply.header('retry-after', String(Math.ceil(waitMs / 1000)));
        return reply
          .code(429)
          .send({ error: 'too many requests from this login: slow down', code: 'rate_limited' });
      }
      // A client that hangs up stops a long wait (door.capture_card) instead of holding its place.
      const gone = new AbortController();
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) gone.abort();
      });
      return reply
        .code(status)
        .send(
          (await commands.execute(def.name, input, request.caller!, { signal: gone.signal })) ?? { ok: true },
        );
    };
    if (def.http.method === 'GET') {
      typed.route({
        method: 'GET',
        url: def.http.path,
        config: { roles },
        schema: { ...docs, params, querystring: rest },
        handler: (request, reply) => run({ ...request.query, ...request.params }, request, reply),
      });
      continue;
    }
    typed.route({
      method: def.http.method,
      url: def.http.path,
      config: { roles },
      schema: { ...docs, params, body: rest },
      // No body at all (curl -X POST …/revoke) is an empty input, as `{}` would be.
      preValidation: async (request) => {
        request.body ??= {};
      },
      handler: (request, reply) => run({ ...request.body, ...request.params }, request, reply),
    });
  }
}
