// The `metrics` section and `log.format` of the hub config (part of the main schema, hub/config/schema.ts).
// docs/monitoring.md explains both to operators.
import Type, { type Static } from 'typebox';
import { LOG_FORMATS } from '../logger.js';

export const MetricsConfigSchema = Type.Object(
  {
    requestsPerMinute: Type.Integer({
      minimum: 1,
      maximum: 10_000,
      default: 60,
      description:
        'Requests to /metrics per minute from one address (a scrape every 15 s is 4); beyond it 429. The token itself is made with `gatehouse metrics token` (docs/monitoring.md).',
    }),
    processMetrics: Type.Boolean({
      default: true,
      description:
        'Also export the Node.js process metrics (process_*, nodejs_*: memory, CPU, file descriptors, garbage collection).',
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description: 'The Prometheus endpoint /metrics (docs/monitoring.md). Off until a token is made.',
  },
);

export type MetricsConfig = Static<typeof MetricsConfigSchema>;

export const LogFormatSchema = Type.Union(
  LOG_FORMATS.map((f) => Type.Literal(f)),
  {
    default: 'auto',
    description:
      'json: one JSON object per line (journald, log shippers). pretty: readable lines. auto: pretty when standard output is a terminal (`npm start`), else json (systemd, Docker).',
  },
);
