// HTTP routes generated from the command table: one route per command at `def.http` under /api/v1,
// validated (hub/http/validation.ts) and typed by the command's input schema. Path parameters are fields
// of the input; the other fields are the JSON body (POST, PUT, DELETE) or the query string (GET). Listed
// at GET /api/docs.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Type, { type TObject, type TSchema } from 'typebox';
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

const WHOLE_NUMBER = /^-?[0-9]{1,16}$/;
const DECIMAL = /^-?[0-9]{1,16}(\.[0-9]{1,16})?$/;

/** The JSON types a field accepts (`type`, or each member of a union). */
function typesOf(field: unknown): Set<string> {
  const node = (field ?? {}) as { type?: unknown; anyOf?: unknown[] };
  const types = new Set<string>();
  for (const t of [node.type].flat()) if (typeof t === 'string') types.add(t);
  for (const member of node.anyOf ?? []) for (const t of typesOf(member)) types.add(t);
  return types;
}

/**
 * Query-string and path values arrive as text. A field that takes a number gets one only from plain
 * digits ("20"; not "1.5" for an integer, "0x10", "1e2" or " 20"), a boolean field from exactly
 * "true"/"false"; anything else stays text for the schema to refuse. Fields that also take text stay text.
 */
export function convertTextFields(schema: TSchema, values: unknown): unknown {
  if (values === null || typeof values !== 'object' || Array.isArray(values)) return values;
  const properties = (schema as { properties?: Record<string, unknown> }).properties ?? {};
  // fromEntries defines own properties: a field named __proto__ stays a field (and is refused).
  return Object.fromEntries(
    Object.entries(values as Record<string, unknown>).map(([name, raw]) => {
      const types = Object.hasOwn(properties, name) ? typesOf(properties[name]) : new Set<string>();
      if (typeof raw !== 'string' || types.has('string')) return [name, raw];
      if (types.has('integer') && WHOLE_NUMBER.test(raw)) return [name, Number(raw)];
      if (types.has('number') && DECIMAL.test(raw)) return [name, Number(raw)];
      if (types.has('boolean') && (raw === 'true' || raw === 'false')) return [name, raw === 'true'];
      return [name, raw];
    }),
  );
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
