// For brokers that call out instead of taking accounts pushed to them (EMQX, VerneMQ): login and topic
// checks against the hub's device accounts and the v1 ACL (hub/broker/acl.ts, docs/external-broker.md).
// Every call carries a shared secret (header x-gatehouse-broker-secret, or HTTP Basic user `gatehouse`),
// is budgeted per address, and answers in the broker's own format. No staff session: the secret is the proof.
import { timingSafeEqual } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import {
  canPublish,
  canSubscribe,
  type DeviceIdentity,
  filterCovers,
  filtersOverlap,
} from '../../broker/acl.js';
import { isTopicSafeId, topics } from '../../broker/contract.js';
import type { IntegrationTopics } from '../../broker/device-contract.js';
import { KeyedBuckets } from '../../budget.js';
import { clientKey } from '../../mobile/http.js';
import type { VerifiedDevice } from '../../store/devices.js';

export interface BrokerAuthDeps {
  baseTopic: string;
  /** The shared secret the broker sends; routes are not registered without one. */
  secret: string;
  /** The hub's own broker account: it may do everything under the base topic (EMQX superuser). */
  hub: { username: string; password: () => string };
  verify(username: string, password: string): VerifiedDevice | null;
  device(username: string): DeviceIdentity | null;
  /** Topics a part offers integrations (Home Assistant), while it runs; read per call. */
  extra?: () => IntegrationTopics | null;
  /** Calls per second and burst per broker address. */
  ratePerSecond?: number;
  burst?: number;
}

/** Longest field a broker may send: usernames and client ids are short, topics up to 64 KiB in MQTT. */
const Text = (maxLength: number) => Type.String({ maxLength });
const BODY_LIMIT = 16 * 1024;
const SECRET_HEADER = 'x-gatehouse-broker-secret';

const EmqxAuthBody = Type.Object(
  { username: Text(256), password: Text(1024), clientid: Type.Optional(Text(256)) },
  { additionalProperties: true },
);
const EmqxAclBody = Type.Object(
  {
    username: Text(256),
    topic: Text(4096),
    action: Type.Enum(['publish', 'subscribe', 'all']),
    clientid: Type.Optional(Text(256)),
  },
  { additionalProperties: true },
);
const VerneRegisterBody = Type.Object(
  { username: Type.Union([Text(256), Type.Null()]), password: Type.Union([Text(1024), Type.Null()]) },
  { additionalProperties: true },
);
const VernePublishBody = Type.Object(
  { username: Type.Union([Text(256), Type.Null()]), topic: Text(4096) },
  { additionalProperties: true },
);
const VerneSubscribeBody = Type.Object(
  {
    username: Type.Union([Text(256), Type.Null()]),
    topics: Type.Array(Type.Object({ topic: Text(4096), qos: Type.Integer({ minimum: 0, maximum: 2 }) }), {
      maxItems: 64,
    }),
  },
  { additionalProperties: true },
);

const NOT_ALLOWED = { result: { error: 'not_allowed' } } as const;

/** Mounted under /api/v1: /broker/emqx/{auth,acl}, /broker/vernemq/{auth_on_register,auth_on_publish,auth_on_subscribe}. */
export async function registerBrokerAuthRoutes(root: FastifyInstance, deps: BrokerAuthDeps): Promise<void> {
  const api = root.withTypeProvider<TypeBoxTypeProvider>();
  const expected = Buffer.from(deps.secret);
  const calls = new KeyedBuckets({
    ratePerSecond: deps.ratePerSecond ?? 500,
    burst: deps.burst ?? 1000,
    maxKeys: 1000,
  });
  // Wrong secrets have a budget of their own: guessing it costs minutes, not microseconds.
  const failures = new KeyedBuckets({ ratePerSecond: 0.2, burst: 10, maxKeys: 1000 });

  const admit = async (request: FastifyRequest, reply: FastifyReply) => {
    const address = clientKey(request.ip);
    const wait = calls.take(address);
    if (wait > 0) return tooMany(reply, wait);
    if (secretMatches(request, expected)) return;
    const failWait = failures.take(address);
    if (failWait > 0) return tooMany(reply, failWait);
    return reply.code(401).send({ error: 'missing or wrong broker secret' });
  };
  const options = { onRequest: admit, bodyLimit: BODY_LIMIT };

  const login = (username: string | null, password: string | null): 'hub' | 'device' | null => {
    if (!username || !password) return null;
    if (username === deps.hub.username) return constantEqual(password, deps.hub.password()) ? 'hub' : null;
    return deps.verify(username, password) ? 'device' : null;
  };
  /** A door device may not subscribe to anything that includes a credential topic: a broker that calls out cannot hide them per message. */
  // Nor may an integration subscribe to what other integrations send the hub (Home Assistant's commands):
  // the embedded broker never routes those, and a broker that calls out checks filters, not messages.
  const subscribeAllowed = (
    identity: DeviceIdentity,
    filter: string,
    extra: IntegrationTopics | null,
  ): boolean => {
    if (!canSubscribe(deps.baseTopic, identity, filter, extra).allowed) return false;
    // (Home Assistant's birth under the discovery prefix is no secret: HA subscribes to the whole prefix.)
    const commands = extra?.publishFilters.filter((sent) => sent.startsWith(`${deps.baseTopic}/`)) ?? [];
    if (commands.some((sent) => filtersOverlap(filter, sent))) return false;
    return !identity.doors.some(
      (door) => isTopicSafeId(door) && filterCovers(filter, topics(deps.baseTopic).doorCredential(door)),
    );
  };
  const topicAllowed = (username: string | null, topic: string, action: 'publish' | 'subscribe'): boolean => {
    if (!username) return false;
    const extra = deps.extra?.() ?? null;
    if (username === deps.hub.username) {
      return (
        topic === deps.baseTopic ||
        topic.startsWith(`${deps.baseTopic}/`) ||
        (extra?.hubPublishFilters.some((filter) => filterCovers(filter, topic)) ?? false)
      );
    }
    const identity = deps.device(username);
    if (!identity) return false;
    return action === 'publish'
      ? canPublish(deps.baseTopic, identity, topic, extra).allowed
      : subscribeAllowed(identity, topic, extra);
  };

  api.post('/broker/emqx/auth', { ...options, schema: { body: EmqxAuthBody } }, async (request) => {
    const who = login(request.body.username, request.body.password);
    return who ? { result: 'allow', is_superuser: false } : { result: 'deny' };
  });
  api.post('/broker/emqx/acl', { ...options, schema: { body: EmqxAclBody } }, async (request) => {
    const { username, topic, action } = request.body;
    const allowed =
      action === 'all'
        ? topicAllowed(username, topic, 'publish') && topicAllowed(username, topic, 'subscribe')
        : topicAllowed(username, topic, action);
    return { result: allowed ? 'allow' : 'deny' };
  });
  api.post(
    '/broker/vernemq/auth_on_register',
    { ...options, schema: { body: VerneRegisterBody } },
    async (request) => (login(request.body.username, request.body.password) ? { result: 'ok' } : NOT_ALLOWED),
  );
  api.post(
    '/broker/vernemq/auth_on_publish',
    { ...options, schema: { body: VernePublishBody } },
    async (request) =>
      topicAllowed(request.body.username, request.body.topic, 'publish') ? { result: 'ok' } : NOT_ALLOWED,
  );
  api.post(
    '/broker/vernemq/auth_on_subscribe',
    { ...options, schema: { body: VerneSubscribeBody } },
    async (request) => {
      const { username } = request.body;
      // Refused filters are granted QoS 128: the rest of the SUBSCRIBE still succeeds, as on the embedded broker.
      return {
        result: 'ok',
        topics: request.body.topics.map(({ topic, qos }) => ({
          topic,
          qos: topicAllowed(username, topic, 'subscribe') ? qos : 128,
        })),
      };
    },
  );
}

function secretMatches(request: FastifyRequest, expected: Buffer): boolean {
  const header = request.headers[SECRET_HEADER];
  let presented = typeof header === 'string' ? header : null;
  const authorization = request.headers.authorization;
  if (presented === null && typeof authorization === 'string' && authorization.startsWith('Basic ')) {
    const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
    if (decoded.startsWith('gatehouse:')) presented = decoded.slice('gatehouse:'.length);
  }
  return presented !== null && constantEqual(presented, expected.toString());
}

function constantEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  // Compare equal-length buffers always, so the time does not tell the length either.
  const padded = Buffer.alloc(right.length);
  left.copy(padded, 0, 0, Math.min(left.length, right.length));
  return timingSafeEqual(padded, right) && left.length === right.length && right.length > 0;
}

function tooMany(reply: FastifyReply, waitMs: number) {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return reply
    .code(429)
    .header('retry-after', String(seconds))
    .send({ error: `too many calls; try again in ${seconds} s` });
}
