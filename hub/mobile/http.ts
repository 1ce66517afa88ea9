// Mobile keys over the LAN (HTTP API v1). A phone asks for a challenge and answers it; no staff
// session is needed because the certificate and the phone's signature are the proof. Staff routes
// issue keys and "log out everywhere". Registered by the lead under /api/v1.
import type { FastifyInstance } from 'fastify';
import Type from 'typebox';
import type { StaffRole } from '../domain.js';
// The route config `roles` is declared by hub/http/app.ts (module augmentation of fastify).
import type {} from '../http/app.js';
import type { Store } from '../store/store.js';
import { MAX_RESPONSE_CHARS } from './certificate.js';
import { type IssuerKey, issueMobileKey } from './issuer.js';
import type { MobileAccess } from './service.js';

const STAFF: StaffRole[] = ['admin', 'staff'];
// Per client address; requests over the local control socket have none and share one bucket.
const clientKey = (request: { ip?: string }) => request.ip || 'local-socket';
const IdPattern = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';
const Id = Type.String({ pattern: IdPattern });

const ChallengeBody = Type.Object({ door: Id }, { additionalProperties: false });
const RespondBody = Type.Object(
  { door: Id, response: Type.String({ minLength: 1, maxLength: MAX_RESPONSE_CHARS }) },
  { additionalProperties: false },
);
const IssueBody = Type.Object(
  {
    person: Id,
    phonePublicKey: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
    doors: Type.Optional(Type.Array(Id, { maxItems: 64 })),
    groups: Type.Optional(Type.Array(Id, { maxItems: 64 })),
    validFrom: Type.Optional(Type.Integer({ minimum: 0 })),
    validUntil: Type.Optional(Type.Integer({ minimum: 0 })),
    label: Type.Optional(Type.String({ minLength: 1, maxLength: 80 })),
  },
  { additionalProperties: false },
);

export interface MobileRouteDeps {
  mobile: MobileAccess;
  store: Store;
  /** The hub's issuer key; without it the issue route is not registered. */
  issuer?: IssuerKey;
  /** Phone requests per minute per client address on each route. Default 120. */
  rateLimitPerMinute?: number;
}

export async function registerMobileRoutes(api: FastifyInstance, deps: MobileRouteDeps): Promise<void> {
  const { mobile, store } = deps;
  const rateLimit = { max: deps.rateLimitPerMinute ?? 120, timeWindow: '1 minute', keyGenerator: clientKey };

  api.post(
    '/mobile/challenge',
    { schema: { body: ChallengeBody }, config: { rateLimit } },
    async (request, reply) => {
      const { door } = request.body as { door: string };
      const issued = mobile.challenge(door);
      if (!issued) return reply.code(404).send({ error: `door '${door}' does not exist` });
      return { door: issued.doorId, challenge: issued.challenge, expiresAt: issued.expiresAt };
    },
  );

  api.post('/mobile/respond', { schema: { body: RespondBody }, config: { rateLimit } }, async (request) => {
    const { door, response } = request.body as { door: string; response: string };
    const verdict = mobile.present({ doorId: door, response, readerId: `${door}.lan` });
    return {
      granted: verdict.granted,
      reason: verdict.reason,
      ...(verdict.unlockMs !== undefined ? { unlockMs: verdict.unlockMs } : {}),
      ...(verdict.detail ? { error: verdict.detail } : {}),
    };
  });

  api.post(
    '/people/:id/logout-everywhere',
    { config: { roles: STAFF }, schema: { params: Type.Object({ id: Id }) } },
    async (request) => {
      const { id } = request.params as { id: string };
      const keyEpoch = store.as(`staff:${request.staff?.username ?? 'unknown'}`).people.bumpKeyEpoch(id);
      return { person: id, keyEpoch };
    },
  );

  const issuer = deps.issuer;
  if (issuer) {
    api.post(
      '/mobile/keys',
      { config: { roles: STAFF }, schema: { body: IssueBody } },
      async (request, reply) => {
        const body = request.body as {
          person: string;
          phonePublicKey: string;
          doors?: string[];
          groups?: string[];
          validFrom?: number;
          validUntil?: number;
          label?: string;
        };
        try {
          const issued = issueMobileKey(store.as(`staff:${request.staff?.username ?? 'unknown'}`), issuer, {
            personId: body.person,
            phonePublicKey: body.phonePublicKey,
            ...(body.doors ? { doors: body.doors } : {}),
            ...(body.groups ? { groups: body.groups } : {}),
            ...(body.validFrom !== undefined ? { validFrom: body.validFrom } : {}),
            ...(body.validUntil !== undefined ? { validUntil: body.validUntil } : {}),
            ...(body.label ? { label: body.label } : {}),
          });
          return reply
            .code(201)
            .send({ certificate: issued.certificate, credentialId: issued.credentialId, key: issued.body });
        } catch (err) {
          if ((err as Error).name === 'StoreError') throw err;
          return reply.code(400).send({ error: (err as Error).message });
        }
      },
    );
  }
}
