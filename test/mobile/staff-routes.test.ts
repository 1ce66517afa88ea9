// The staff side of mobile keys in the real API app (hub/http/app.ts): session auth and roles apply.
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ALL_COMMANDS, Commands } from '../../hub/commands/index.js';
import { DoorManager } from '../../hub/doors/index.js';
import { buildHttpApp } from '../../hub/http/app.js';
import { silentLogger } from '../../hub/logger.js';
import { registerMobileRoutes } from '../../hub/mobile/http.js';
import { Phone } from '../../hub/mobile/phone.js';
import { type Building, building, presentAt } from './helpers.js';

let b: Building;
let app: FastifyInstance;
let doors: DoorManager;
let adminToken: string;
let installerToken: string;

beforeEach(async () => {
  b = await building({ realClock: true });
  const { store } = b.opened;
  doors = new DoorManager({ doors: [], bus: b.bus, emitEvent: (e) => store.events.append(e) });
  await doors.start();
  app = await buildHttpApp({
    store,
    bus: b.bus,
    commands: new Commands(ALL_COMMANDS, { store, logger: silentLogger() }),
    status: () => ({}),
    sessionHours: 1,
    secure: false,
    logger: silentLogger(),
  });
  await app.register(
    async (api) => registerMobileRoutes(api, { mobile: b.mobile, store, issuer: b.issuer }),
    {
      prefix: '/api/v1',
    },
  );
  const admin = await store.users.add('alice', 'correct horse battery', 'admin');
  const installer = await store.users.add('ivan', 'correct horse battery', 'installer');
  adminToken = store.users.createSession(admin.id, 3_600_000);
  installerToken = store.users.createSession(installer.id, 3_600_000);
});
afterEach(async () => {
  await app.close();
  await doors.stop();
  await b.cleanup();
});

function post(url: string, token: string | null, payload?: Record<string, unknown>) {
  return app.inject({
    method: 'POST',
    url: `/api/v1${url}`,
    ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    ...(payload ? { payload } : {}),
  });
}

describe('mobile key staff routes', () => {
  it('"log out everywhere" needs staff, bumps the epoch and shuts the phone out', async () => {
    expect(presentAt(b, 'front').verdict.granted).toBe(true);
    expect((await post('/people/anna/logout-everywhere', null)).statusCode).toBe(401);
    expect((await post('/people/anna/logout-everywhere', installerToken)).statusCode).toBe(403);
    const res = await post('/people/anna/logout-everywhere', adminToken);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ person: 'anna', keyEpoch: 1 });
    expect(presentAt(b, 'front').verdict).toMatchObject({ granted: false, reason: 'revoked' });
    const audit = b.opened.store.events.list({ limit: 5, type: 'admin.person.key_epoch_bumped' })[0];
    expect(audit?.data).toMatchObject({ actor: 'user:alice', keyEpoch: 1 });
    expect((await post('/people/nobody/logout-everywhere', adminToken)).statusCode).toBe(404);
  });

  it('issues a key for a phone public key; the phone opens the door with it', async () => {
    const phone = Phone.generate();
    const res = await post('/mobile/keys', adminToken, {
      person: 'anna',
      phonePublicKey: phone.publicKey,
      doors: ['front'],
      label: 'Second phone',
    });
    expect(res.statusCode).toBe(201);
    const body = res.json() as { certificate: string; credentialId: string };
    phone.install(body.certificate);
    expect(presentAt(b, 'front', phone).verdict).toMatchObject({
      granted: true,
      credentialId: body.credentialId,
    });

    expect(
      (await post('/mobile/keys', installerToken, { person: 'anna', phonePublicKey: phone.publicKey }))
        .statusCode,
    ).toBe(403);
    const noScope = await post('/mobile/keys', adminToken, {
      person: 'anna',
      phonePublicKey: phone.publicKey,
    });
    expect(noScope.statusCode).toBe(400);
    expect(noScope.json().error).toMatch(/at least one door or group/);
    const badKey = await post('/mobile/keys', adminToken, {
      person: 'anna',
      phonePublicKey: 'x',
      doors: ['front'],
    });
    expect(badKey.statusCode).toBe(400);
  });
});
