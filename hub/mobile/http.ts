// Mobile keys over the LAN (HTTP API v1). A phone asks for a challenge and answers it; no staff
// session is needed because the certificate and the phone's signature are the proof. Staff issue keys
// here (mounted under /api/v1); "log out everywhere" and revoking a key are commands (person.logout_everywhere, mobile.revoke).
import { isIPv6 } from 'node:net';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { StaffRole } from '../domain.js';
// The route config `roles` is declared by hub/http/deps.ts (module augmentation of fastify).
import type {} from '../http/deps.js';
import type { Store } from '../store/store.js';
import { MAX_RESPONSE_CHARS } from './certificate.js';
import { type IssuerKey, issueMobileKey } from './issuer.js';
import type { MobileAccess } from './service.js';

const STAFF: StaffRole[] = ['admin', 'staff'];

/**
 * Whose budget a phone request spends: its IPv4 address, or its IPv6 /64 (one host can hold a whole /64,
 * so counting single IPv6 addresses would give it billions of budgets). The local control socket has no
 * address and shares one budget.
 */
export function clientKey(ip: string | undefined): string {
  if (!ip) return 'local-socket';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail = ''] = ip.split('%')[0]!.split('::');
  const left = head ? head.split(':') : [];
  const right = ip.includes('::') && tail ? tail.split(':') : [];
  const groups = [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

function tooMany(reply: FastifyReply, retryAfterMs: number, what: string) {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return reply
    .code(429)
    .header('retry-after', String(seconds))
    .send({ error: `too many ${what}; try again in ${seconds} s`, reason: 'rate_limited', retryAfterMs });
}
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
}

export async function registerMobileRoutes(root: FastifyInstance, deps: MobileRouteDeps): Promise<void> {
  const { mobile, store } = deps;
  const api = root.withTypeProvider<TypeBoxTypeProvider>();

  // Budgets per address, per door and in all are the service's (MobileAccess), shared with MQTT readers.
  // The address pays before its body is read or validated: malformed floods are budgeted as well.
  const admitChallenge = async (request: FastifyRequest, reply: FastifyReply) => {
    const limited = mobile.admitChallenge(clientKey(request.ip));
    if (limited) return tooMany(reply, limited.retryAfterMs, 'challenge requests');
  };
  const admitResponse = async (request: FastifyRequest, reply: FastifyReply) => {
    const limited = mobile.admitResponse(clientKey(request.ip));
    if (limited) return tooMany(reply, limited.retryAfterMs, 'responses');
  };

  api.post(
    '/mobile/challenge',
    { schema: { body: ChallengeBody }, onRequest: admitChallenge },
    async (request, reply) => {
      const { door } = request.body;
      const outcome = mobile.issueChallenge(door);
      if (!outcome.ok) {
        if (outcome.reason === 'rate_limited')
          return tooMany(reply, outcome.retryAfterMs, 'challenge requests');
        return reply.code(404).send({ error: `door '${door}' does not exist` });
      }
      const { issued } = outcome;
      return { door: issued.doorId, challenge: issued.challenge, expiresAt: issued.expiresAt };
    },
  );

  api.post(
    '/mobile/respond',
    { schema: { body: RespondBody }, onRequest: admitResponse },
    async (request) => {
      const { door, response } = request.body;
      const source = clientKey(request.ip);
      const verdict = mobile.present({ doorId: door, response, readerId: `${door}.lan`, source });
      return {
        granted: verdict.granted,
        reason: verdict.reason,
        ...(verdict.unlockMs !== undefined ? { unlockMs: verdict.unlockMs } : {}),
        ...(verdict.detail ? { error: verdict.detail } : {}),
      };
    },
  );

  const issuer = deps.issuer;
  if (issuer) {
    api.post(
      '/mobile/keys',
      { config: { roles: STAFF }, schema: { body: IssueBody } },
      async (request, reply) => {
        const body = request.body;
        try {
          const issued = issueMobileKey(store.as(request.caller!.actor), issuer, {
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
