// The `cloud` section of the hub config (part of the main schema, hub/config/schema.ts).
import Type, { type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { Value } from 'typebox/value';

export const CloudConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: false,
      description: 'Mirror events to the property manager cloud and accept its changes over gRPC.',
    }),
    address: Type.String({
      default: '127.0.0.1:50051',
      pattern: '^[^\\s:]+(:[0-9]{1,5})$|^\\[[0-9a-fA-F:]+\\]:[0-9]{1,5}$',
      description: 'Cloud endpoint as host:port (e.g. cloud.example.com:443).',
    }),
    hubId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        pattern: '^[A-Za-z0-9._-]+$',
        description: 'This hub’s identity in the cloud. Required when the cloud is enabled.',
      }),
    ),
    token: Type.Optional(
      Type.String({
        minLength: 16,
        description:
          'Per-hub secret sent as a bearer token over TLS. Prefer env GATEHOUSE_CLOUD_TOKEN or tokenFile.',
      }),
    ),
    tokenFile: Type.Optional(
      Type.String({ minLength: 1, description: 'File holding the per-hub token (first line, trimmed).' }),
    ),
    caFile: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'PEM CA bundle that signed the cloud’s certificate. Default: the system roots.',
      }),
    ),
    certFile: Type.Optional(
      Type.String({ minLength: 1, description: 'PEM client certificate for mutual TLS (with keyFile).' }),
    ),
    keyFile: Type.Optional(
      Type.String({ minLength: 1, description: 'PEM private key of the client certificate for mutual TLS.' }),
    ),
    serverName: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'Expected name in the cloud certificate, when it differs from the address host.',
      }),
    ),
    insecurePlaintext: Type.Boolean({
      default: false,
      description: 'Connect without TLS. Only for tests on loopback; never on a real network.',
    }),
    batchSize: Type.Integer({
      default: 500,
      minimum: 1,
      maximum: 5000,
      description: 'Events per batch sent to the cloud.',
    }),
    maxEventsPerSecond: Type.Integer({
      default: 10000,
      minimum: 100,
      maximum: 1000000,
      description:
        'Upper bound of the backlog drain rate. Pacing leaves CPU to door decisions while a long backlog goes out.',
    }),
    maxInFlightBatches: Type.Integer({
      default: 4,
      minimum: 1,
      maximum: 64,
      description:
        'Unacknowledged batches allowed on the wire (flow control: bounds memory when the cloud is slow).',
    }),
    backoff: Type.Object(
      {
        minMs: Type.Integer({ default: 1000, minimum: 10, description: 'First reconnect delay.' }),
        maxMs: Type.Integer({
          default: 300000,
          minimum: 10,
          description: 'Longest reconnect delay (5 min).',
        }),
      },
      { default: {}, description: 'Exponential back-off with jitter between reconnect attempts.' },
    ),
    keepaliveMs: Type.Integer({
      default: 15000,
      minimum: 100,
      description: 'Application ping interval. The link is dropped and re-dialled after 3 missed intervals.',
    }),
    ackTimeoutMs: Type.Integer({
      default: 30000,
      minimum: 100,
      description: 'Drop and re-dial the link when a sent batch is not acknowledged within this time.',
    }),
    connectTimeoutMs: Type.Integer({
      default: 10000,
      minimum: 100,
      description: 'Give up a dial attempt when the cloud has not welcomed the hub within this time.',
    }),
  },
  { default: {}, description: 'gRPC cloud mirror (docs/cloud-protocol.md).' },
);

export type CloudConfig = Static<typeof CloudConfigSchema>;

const checkConfig = Compile(CloudConfigSchema);

/** Fill defaults and validate; throws an Error listing every problem. */
export function parseCloudConfig(input: unknown): CloudConfig {
  const value = Value.Default(CloudConfigSchema, structuredClone(input ?? {}));
  if (!checkConfig.Check(value)) {
    const problems = checkConfig.Errors(value).map((e) => `cloud${e.instancePath || ''}: ${e.message}`);
    throw new Error(`invalid cloud config: ${problems.join('; ')}`);
  }
  if (value.enabled && !value.hubId)
    throw new Error('invalid cloud config: cloud.hubId is required when enabled');
  if (value.enabled && !value.token && !value.tokenFile && !value.certFile) {
    throw new Error(
      'invalid cloud config: set cloud.token (env GATEHOUSE_CLOUD_TOKEN), cloud.tokenFile or certFile',
    );
  }
  if (Boolean(value.certFile) !== Boolean(value.keyFile)) {
    throw new Error('invalid cloud config: cloud.certFile and cloud.keyFile go together');
  }
  if (value.backoff.maxMs < value.backoff.minMs) {
    throw new Error('invalid cloud config: cloud.backoff.maxMs must be >= minMs');
  }
  return value;
}
