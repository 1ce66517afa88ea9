// GET /metrics on the HTTP and HTTPS listeners (not under /api/v1, not a command): Prometheus text behind
// a bearer token (docs/monitoring.md). 404 while no token is configured, 401 for a missing or wrong one,
// 429 past the per-address budget. The token is never logged; refusals are summarised per address.
import type { FastifyInstance } from 'fastify';
import type { Summarizer } from '../budget.js';
import type { MetricsTokenCheck } from './token.js';

export interface MetricsEndpoint {
  tokens: Pick<MetricsTokenCheck, 'check'>;
  render(): Promise<string>;
  contentType: string;
  /** `metrics.requestsPerMinute`, per address. */
  requestsPerMinute: number;
}

export function registerMetricsRoute(
  app: FastifyInstance,
  endpoint: MetricsEndpoint,
  refusals: Pick<Summarizer, 'allow'>,
): void {
  app.get(
    '/metrics',
    {
      schema: { hide: true },
      config: { rateLimit: { max: endpoint.requestsPerMinute, timeWindow: '1 minute' } },
    },
    async (request, reply) => {
      const verdict = endpoint.tokens.check(request.headers.authorization);
      if (verdict === 'disabled') {
        return reply
          .code(404)
          .send({ error: '/metrics is off: make a token with `gatehouse metrics token` on the hub' });
      }
      if (verdict === 'refused') {
        if (refusals.allow(`refused /metrics requests from ${request.ip}`)) {
          request.log.warn({ ip: request.ip }, '/metrics refused: missing or wrong token');
        }
        reply.header('www-authenticate', 'Bearer realm="gatehouse metrics"');
        return reply.code(401).send({ error: 'a valid metrics token is required', code: 'unauthenticated' });
      }
      const text = await endpoint.render();
      reply.header('cache-control', 'no-store');
      return reply.type(endpoint.contentType).send(text);
    },
  );
}
