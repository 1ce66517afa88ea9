// The LAN flow: a phone talks to the hub's HTTP API on a real socket (no staff session).
import rateLimit from '@fastify/rate-limit';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Decision } from '../../hub/bus.js';
import { registerMobileRoutes } from '../../hub/mobile/http.js';
import { httpRequester, presentOverApi } from '../../hub/mobile/phone.js';
import { MobileAccess } from '../../hub/mobile/service.js';
import { type Building, building } from './helpers.js';

let b: Building;
let app: FastifyInstance;
let baseUrl: string;

beforeEach(async () => {
  b = await building({ realClock: true });
  // Configured like hub/http/app.ts: TypeBox validation, nothing silently removed or coerced.
  app = Fastify({ ajv: { customOptions: { removeAdditional: false, coerceTypes: false } } });
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  await app.register(rateLimit, { global: false });
  await app.register(async (api) => registerMobileRoutes(api, { mobile: b.mobile, store: b.opened.store }), {
    prefix: '/api/v1',
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
afterEach(async () => {
  await app.close();
  await b.cleanup();
});

describe('mobile keys over the LAN', () => {
  it('challenge, sign, respond: the door is granted and the decision reaches the bus', async () => {
    const decided: Decision[] = [];
    b.bus.on(b, 'decided', (_p, d) => decided.push(d));
    const result = await presentOverApi(b.phone, 'front', httpRequester(baseUrl));
    expect(result).toEqual({ granted: true, reason: 'granted' });
    expect(decided).toEqual([expect.objectContaining({ granted: true, personId: 'anna' })]);
  });

  it('refuses a replay of a captured response', async () => {
    const request = httpRequester(baseUrl);
    const challenge = await request('/mobile/challenge', { door: 'front' });
    const response = b.phone.answer(String(challenge.body.challenge), 'front');
    const first = await request('/mobile/respond', { door: 'front', response });
    const replay = await request('/mobile/respond', { door: 'front', response });
    expect(first.body).toMatchObject({ granted: true });
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ granted: false, reason: 'invalid_request' });
    expect(String(replay.body.error)).toMatch(/already used/);
  });

  it('answers bad requests with a clear 4xx and never grants', async () => {
    const request = httpRequester(baseUrl);
    expect(await request('/mobile/challenge', { door: 'nowhere' })).toMatchObject({ status: 404 });
    expect((await request('/mobile/challenge', { door: '../etc' })).status).toBe(400);
    expect((await request('/mobile/challenge', { door: 'front', extra: 1 })).status).toBe(400);
    expect((await request('/mobile/respond', { door: 'front' })).status).toBe(400);
    const junk = await request('/mobile/respond', { door: 'front', response: 'Zm9v' });
    expect(junk).toMatchObject({ status: 200, body: { granted: false, reason: 'invalid_request' } });
  });

  it('rate-limits phone requests per client address with 429 and Retry-After', async () => {
    const mobile = new MobileAccess({
      store: b.opened.store,
      bus: b.bus,
      verifier: b.verifier,
      limits: { challengesPerMinutePerAddress: 3, perAddressBurst: 3 },
    });
    const limited = Fastify();
    await limited.register(async (api) => registerMobileRoutes(api, { mobile, store: b.opened.store }), {
      prefix: '/api/v1',
    });
    try {
      const replies = [];
      for (let i = 0; i < 4; i++) {
        replies.push(
          await limited.inject({
            method: 'POST',
            url: '/api/v1/mobile/challenge',
            payload: { door: 'front' },
          }),
        );
      }
      expect(replies.map((r) => r.statusCode)).toEqual([200, 200, 200, 429]);
      expect(Number(replies[3]!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(replies[3]!.json()).toMatchObject({ reason: 'rate_limited' });
    } finally {
      await limited.close();
    }
  });
});
