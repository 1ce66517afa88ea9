// The real command table over HTTP: every command a staff role may call is a route in the OpenAPI
// document at /api/docs with its input schema, and the command lists in docs/http-api.md and docs/mqtt.md
// are the ones the table generates (regenerate with `npx tsx scripts/gen-command-docs.ts`).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Type from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBus } from '../../hub/bus.js';
import { ALL_COMMANDS, Commands } from '../../hub/commands/index.js';
import { buildHttpApp } from '../../hub/http/app.js';
import {
  renderHttpCommands,
  renderIntegrationCommands,
  replaceBetween,
} from '../../hub/http/command-docs.js';
import { httpRoles, httpSchemaOf } from '../../hub/http/commands.js';
import { silentLogger } from '../../hub/logger.js';
import { HubKeys, openDatabase, Store } from '../../hub/store/index.js';
import { removeDir, tempDataDir } from '../helpers/hub.js';

let dir: string;
let store: Store;
let db: ReturnType<typeof openDatabase>;
let doc: { paths: Record<string, Record<string, Record<string, unknown>>> };

beforeAll(async () => {
  dir = tempDataDir();
  db = openDatabase(join(dir, 'gatehouse.db'));
  store = new Store(db, HubKeys.loadOrCreate(dir));
  await store.start();
  const app = await buildHttpApp({
    store,
    bus: new EventBus(),
    commands: new Commands(ALL_COMMANDS, { store, logger: silentLogger() }),
    status: () => ({}),
    sessionHours: 1,
    secure: false,
    logger: silentLogger(),
  });
  const user = await store.users.add('ivan', 'correct horse battery', 'installer');
  const token = store.users.createSession(user.id, 3_600_000);
  const res = await app.inject({
    method: 'GET',
    url: '/api/docs',
    headers: { authorization: `Bearer ${token}` },
  });
  expect(res.statusCode).toBe(200);
  doc = res.json();
  await app.close();
});

afterAll(async () => {
  await store.stop();
  db.close();
  removeDir(dir);
});

function readDoc(name: string): string {
  return readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');
}

describe('the command table over HTTP', () => {
  it('puts every staff command in the OpenAPI document with its input schema', () => {
    const staffCommands = ALL_COMMANDS.filter((def) => httpRoles(def).length > 0);
    expect(staffCommands.length).toBeGreaterThan(40);
    for (const def of staffCommands) {
      const path = `/api/v1${def.http.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}')}`;
      const op = doc.paths[path]?.[def.http.method.toLowerCase()] as
        | {
            operationId: string;
            parameters?: Array<{ name: string; in: string }>;
            requestBody?: {
              content: { 'application/json': { schema: { properties?: Record<string, unknown> } } };
            };
          }
        | undefined;
      expect(op?.operationId, `${def.name} at ${def.http.method} ${path}`).toBe(def.name);
      const { params, rest } = httpSchemaOf(def);
      const inPath = (op!.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
      expect(inPath.sort(), def.name).toEqual(Object.keys(params.properties).sort());
      const restFields = Object.keys(rest.properties).sort();
      if (def.http.method === 'GET') {
        const inQuery = (op!.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
        expect(inQuery.sort(), def.name).toEqual(restFields);
      } else if (restFields.length > 0) {
        const body = op!.requestBody?.content['application/json'].schema.properties ?? {};
        expect(Object.keys(body).sort(), def.name).toEqual(restFields);
      }
    }
  });

  it('every command input is an object schema whose path parameters are required fields', () => {
    for (const def of ALL_COMMANDS) {
      expect(Type.IsObject(def.input), def.name).toBe(true);
      expect(() => httpSchemaOf(def), def.name).not.toThrow();
    }
  });

  it('docs/http-api.md and docs/mqtt.md list exactly the commands of the table', () => {
    const http = readDoc('http-api.md');
    expect(http, 'run: npx tsx scripts/gen-command-docs.ts').toBe(
      replaceBetween(http, 'http-commands', renderHttpCommands(ALL_COMMANDS)),
    );
    const mqtt = readDoc('mqtt.md');
    expect(mqtt, 'run: npx tsx scripts/gen-command-docs.ts').toBe(
      replaceBetween(mqtt, 'integration-commands', renderIntegrationCommands(ALL_COMMANDS)),
    );
  });
});
