// One validator for every route's params, query string and body (set app-wide in app.ts): TypeBox
// checks the route schema and a refusal reads as the command layer's own ("'mode' must be one of: …",
// "unknown field '__proto__'"), so HTTP, the MQTT bridge and the CLI say the same thing in the same words.
import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import { describeInvalid } from '../commands/command.js';
import { convertTextFields } from './commands.js';

/** A schema refusal; the error handler answers it 400 `{error, code: 'invalid'}`. */
export class SchemaRefusal extends Error {
  /** The raw TypeBox errors (fastify's `error.validation`; never sent to the client). */
  readonly validation: unknown[];
  readonly statusCode = 400;

  constructor(message: string, validation: unknown[]) {
    super(message);
    this.name = 'SchemaRefusal';
    this.validation = validation;
  }
}

/**
 * Query-string and path values arrive as text and are converted strictly (convertTextFields); a body is
 * checked as sent. The first problem is described naming its field, whatever part of the request it is in.
 */
export const schemaValidator: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = Compile(schema);
  return (value) => {
    const input = httpPart === 'body' ? value : convertTextFields(schema, value);
    if (check.Check(input)) return { value: input };
    const errors = [...check.Errors(input)];
    return { error: new SchemaRefusal(describeInvalid(schema, errors), errors) };
  };
};

/** Where a JSON value holds a `__proto__` key, or a `constructor` key holding `prototype`: its path, else null. */
function poisonedKey(value: unknown, path: string[] = []): { key: string; path: string[] } | null {
  if (value === null || typeof value !== 'object') return null;
  for (const [key, inner] of Object.entries(value)) {
    if (key === '__proto__') return { key, path };
    if (key === 'constructor' && inner !== null && typeof inner === 'object' && 'prototype' in inner) {
      return { key, path };
    }
    const found = poisonedKey(inner, Array.isArray(value) ? path : [...path, key]);
    if (found) return found;
  }
  return null;
}

/**
 * JSON bodies through fastify's own parser (it refuses `__proto__` and `constructor.prototype` keys);
 * its refusals become `invalid` like a schema's, and a poisoned key is named as the unknown field it is.
 */
export function refuseBadJsonAsInvalid(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = String(body);
    parse(request, text, (err, value) => {
      if (!err) return done(null, value);
      let poisoned: ReturnType<typeof poisonedKey> = null;
      try {
        // JSON.parse makes `__proto__` an own key (it never sets a prototype), so it can be found.
        poisoned = poisonedKey(JSON.parse(text));
      } catch {
        // Not JSON at all: fastify's message says so.
      }
      const where = poisoned && poisoned.path.length > 0 ? ` in '${poisoned.path.join('.')}'` : '';
      const message = poisoned ? `unknown field '${poisoned.key}'${where}` : err.message;
      done(new SchemaRefusal(message, []), undefined);
    });
  });
}
